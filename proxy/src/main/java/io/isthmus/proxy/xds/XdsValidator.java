package io.isthmus.proxy.xds;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.isthmus.trust.nds.NameTable;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.util.List;

/**
 * Checks one resource on its own. Throws {@link IllegalArgumentException} naming the
 * resource and the field when it cannot be used; a rejected resource never reaches the
 * data plane.
 */
final class XdsValidator {

  private XdsValidator() {}

  static void validate(com.google.protobuf.Message resource) {
    if (resource instanceof Cluster cluster) {
      validateCluster(cluster);
    } else if (resource instanceof ClusterLoadAssignment cla) {
      validateEndpoints(cla);
    } else if (resource instanceof Listener listener) {
      validateListener(listener);
    } else if (resource instanceof RouteConfiguration routes) {
      validateRoutes(routes);
    } else if (resource instanceof Secret secret) {
      validateSecret(secret);
    } else if (resource instanceof NameTable table) {
      validateNameTable(table);
    } else {
      throw new IllegalArgumentException("unsupported resource " + resource.getClass());
    }
  }

  private static void validateCluster(Cluster cluster) {
    String name = requireName(cluster.getName(), "cluster");
    switch (cluster.getType()) {
      case EDS -> { }
      case STATIC, STRICT_DNS, LOGICAL_DNS -> {
        if (cluster.getLoadAssignment().getEndpointsCount() == 0) {
          throw new IllegalArgumentException(
              "cluster " + name + ": load_assignment has no endpoints (expected: at least one"
                  + " for type " + cluster.getType() + ")");
        }
        validateLocalities(name, cluster.getLoadAssignment());
      }
      // Istio's PassthroughCluster: with traffic capture, a relay to the original destination;
      // its lb_policy (CLUSTER_PROVIDED) and endpoints are not ours to pick.
      case ORIGINAL_DST -> {
        return;
      }
      default -> throw new IllegalArgumentException("cluster " + name + ": type "
          + cluster.getType() + " (expected: EDS, STATIC, STRICT_DNS, LOGICAL_DNS or"
          + " ORIGINAL_DST)");
    }
    // Circuit breakers, outlier detection and lb_policy: rejected here, not at request time.
    io.isthmus.proxy.policy.ClusterPolicy.of(cluster);
    if (cluster.hasConnectTimeout() && (cluster.getConnectTimeout().getSeconds() < 0
        || cluster.getConnectTimeout().getNanos() < 0
        || (cluster.getConnectTimeout().getSeconds() == 0 && cluster.getConnectTimeout().getNanos() == 0))) {
      throw new IllegalArgumentException("cluster " + name + ": connect_timeout "
          + cluster.getConnectTimeout().getSeconds() + "s " + cluster.getConnectTimeout().getNanos()
          + "ns (expected: > 0, as Envoy requires; Istio's connectionPool.tcp.connectTimeout defaults to 10s)");
    }
    if (cluster.hasTransportSocket()) {
      String typeUrl = cluster.getTransportSocket().getTypedConfig().getTypeUrl();
      if (typeUrl.equals(XdsResources.PROXY_PROTOCOL_TYPE_URL)) {
        var wrapper = XdsResources.unpack(cluster.getTransportSocket().getTypedConfig(),
            io.envoyproxy.envoy.extensions.transport_sockets.proxy_protocol.v3
                .ProxyProtocolUpstreamTransport.class);
        var version = wrapper.getConfig().getVersion();
        if (version != io.envoyproxy.envoy.config.core.v3.ProxyProtocolConfig.Version.V1
            && version != io.envoyproxy.envoy.config.core.v3.ProxyProtocolConfig.Version.V2) {
          throw new IllegalArgumentException("cluster " + name + ": transport_socket"
              + " upstream_proxy_protocol config.version " + version + " (expected: V1 or V2)");
        }
        String inner = wrapper.getTransportSocket().getTypedConfig().getTypeUrl();
        if (!inner.equals(XdsResources.UPSTREAM_TLS_TYPE_URL)
            && !inner.equals(XdsResources.RAW_BUFFER_TYPE_URL)) {
          throw new IllegalArgumentException("cluster " + name + ": transport_socket"
              + " upstream_proxy_protocol.transport_socket " + inner + " (expected: "
              + XdsResources.UPSTREAM_TLS_TYPE_URL + " or " + XdsResources.RAW_BUFFER_TYPE_URL + ")");
        }
        typeUrl = inner;
      }
      if (!typeUrl.equals(XdsResources.UPSTREAM_TLS_TYPE_URL)
          && !(typeUrl.equals(XdsResources.RAW_BUFFER_TYPE_URL)
              && cluster.getTransportSocket().getTypedConfig().getTypeUrl()
                  .equals(XdsResources.PROXY_PROTOCOL_TYPE_URL))) {
        throw new IllegalArgumentException("cluster " + name + ": transport_socket " + typeUrl
            + " (expected: " + XdsResources.UPSTREAM_TLS_TYPE_URL + ", or "
            + XdsResources.PROXY_PROTOCOL_TYPE_URL + " around it or around raw_buffer)");
      }
      XdsResources.upstreamTlsContext(cluster).ifPresent(ctx -> {
        try {
          io.isthmus.proxy.policy.UpstreamTlsPolicy.of(ctx, "transport_socket");
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("cluster " + name + ": " + e.getMessage(), e);
        }
      });
    }
  }

  private static void validateEndpoints(ClusterLoadAssignment cla) {
    String name = requireName(cla.getClusterName(), "cluster load assignment");
    validateLocalities(name, cla);
  }

  private static void validateLocalities(String name, ClusterLoadAssignment cla) {
    for (LocalityLbEndpoints locality : cla.getEndpointsList()) {
      for (LbEndpoint lb : locality.getLbEndpointsList()) {
        Address address = lb.getEndpoint().getAddress();
        if (!address.hasSocketAddress()) {
          throw new IllegalArgumentException(
              "endpoints " + name + ": endpoint without socket_address");
        }
        var socket = address.getSocketAddress();
        if (socket.getAddress().isEmpty()) {
          throw new IllegalArgumentException("endpoints " + name + ": empty address");
        }
        int port = socket.getPortValue();
        if (port <= 0 || port > 65535) {
          throw new IllegalArgumentException(
              "endpoints " + name + ": port " + port + " (expected: 1..65535)");
        }
      }
    }
  }

  private static void validateListener(Listener listener) {
    String name = requireName(listener.getName(), "listener");
    List<FilterChain> chains = new java.util.ArrayList<>(listener.getFilterChainsList());
    if (listener.hasDefaultFilterChain()) {
      chains.add(listener.getDefaultFilterChain());
    }
    for (int i = 0; i < chains.size(); i++) {
      String where = "listener " + name + ": "
          + (i < listener.getFilterChainsCount() ? "filter_chains[" + i + "]" : "default_filter_chain");
      FilterChain chain = chains.get(i);
      var ranges = chain.getFilterChainMatch().getPrefixRangesList();
      for (int r = 0; r < ranges.size(); r++) {
        byte[] address = io.netty.util.NetUtil.createByteArrayFromIpAddressString(
            ranges.get(r).getAddressPrefix());
        int length = ranges.get(r).hasPrefixLen() ? ranges.get(r).getPrefixLen().getValue() : 0;
        if (address == null || length > address.length * 8) {
          throw new IllegalArgumentException(where + ".filter_chain_match.prefix_ranges[" + r + "]: '"
              + ranges.get(r).getAddressPrefix() + "/" + length
              + "' (expected: an IP address and a prefix length within it)");
        }
      }
      for (Filter filter : chain.getFiltersList()) {
        if (filter.getTypedConfig().is(
            io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.class)) {
          try {
            io.isthmus.proxy.policy.TcpRoute.of(XdsResources.unpack(filter.getTypedConfig(),
                io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.class));
          } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
          }
        }
      }
    }
    for (FilterChain chain : listener.getFilterChainsList()) {
      for (Filter filter : chain.getFiltersList()) {
        if (filter.getTypedConfig().getTypeUrl().equals(XdsResources.HCM_TYPE_URL)) {
          HttpConnectionManager hcm;
          try {
            hcm = XdsResources.unpack(filter.getTypedConfig(), HttpConnectionManager.class);
          } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("listener " + name + ": " + e.getMessage(), e);
          }
          if (hcm.hasRds() && hcm.getRds().getRouteConfigName().isEmpty()) {
            throw new IllegalArgumentException(
                "listener " + name + ": rds.route_config_name is empty");
          }
          if (!hcm.hasRds() && !hcm.hasRouteConfig()) {
            throw new IllegalArgumentException(
                "listener " + name + ": http_connection_manager has neither rds nor route_config");
          }
          if (hcm.hasRouteConfig()) {
            try {
              io.isthmus.proxy.policy.RouteRules.compile(hcm.getRouteConfig());
              io.isthmus.proxy.policy.Authorization.of(hcm, "http_connection_manager");
            } catch (IllegalArgumentException e) {
              throw new IllegalArgumentException("listener " + name + ": " + e.getMessage(), e);
            }
          }
          try {
            io.isthmus.proxy.policy.RateLimits.compile(hcm, "http_connection_manager",
                io.isthmus.proxy.policy.RateLimits.Buckets.fresh(System::nanoTime));
          } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("listener " + name + ": " + e.getMessage(), e);
          }
        }
      }
      if (chain.hasTransportSocket()) {
        String typeUrl = chain.getTransportSocket().getTypedConfig().getTypeUrl();
        if (!typeUrl.equals(XdsResources.DOWNSTREAM_TLS_TYPE_URL)) {
          throw new IllegalArgumentException("listener " + name + ": transport_socket " + typeUrl
              + " (expected: " + XdsResources.DOWNSTREAM_TLS_TYPE_URL + ")");
        }
        XdsResources.downstreamTlsContext(chain);
      }
    }
  }

  private static void validateRoutes(RouteConfiguration routes) {
    requireName(routes.getName(), "route configuration");
    // Compiling checks every matcher, regex, action, fault and header operation.
    io.isthmus.proxy.policy.RouteRules.compile(routes);
  }

  private static void validateSecret(Secret secret) {
    String name = requireName(secret.getName(), "secret");
    if (!secret.hasValidationContext()) {
      return;
    }
    String pem = XdsResources.trustedCaPem(secret);
    if (pem.isBlank()) {
      throw new IllegalArgumentException("secret " + name + ": trusted_ca is empty");
    }
    try {
      var certs = CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
      if (certs.isEmpty()) {
        throw new IllegalArgumentException("secret " + name + ": trusted_ca holds no certificate");
      }
    } catch (CertificateException e) {
      throw new IllegalArgumentException(
          "secret " + name + ": trusted_ca is not PEM certificates: " + e.getMessage(), e);
    }
  }

  private static void validateNameTable(NameTable table) {
    for (var entry : table.getTableMap().entrySet()) {
      String host = entry.getKey();
      if (host.isEmpty() || host.length() > 253 || host.startsWith(".") || host.contains("..")) {
        throw new IllegalArgumentException("name table: host '" + host
            + "' (expected: a DNS name of at most 253 characters)");
      }
      for (String ip : entry.getValue().getIpsList()) {
        if (!io.netty.util.NetUtil.isValidIpV4Address(ip)
            && !io.netty.util.NetUtil.isValidIpV6Address(ip)) {
          throw new IllegalArgumentException("name table: table[" + host + "].ips: '" + ip
              + "' (expected: an IPv4 or IPv6 address)");
        }
      }
    }
  }

  private static String requireName(String name, String what) {
    if (name.isEmpty()) {
      throw new IllegalArgumentException(what + ": empty name (expected: a resource name)");
    }
    return name;
  }
}
