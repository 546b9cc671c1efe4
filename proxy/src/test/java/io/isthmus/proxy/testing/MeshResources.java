package io.isthmus.proxy.testing;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Struct;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import java.util.List;

/** Envoy resources shaped like the controller's (contracts.md), for tests. */
public final class MeshResources {

  private MeshResources() {}

  /**
   * {@code config} with a retry policy on its first route: {@code retryOn} (Envoy's conditions),
   * 3 retries, a 5 ms base back-off, and the {@code previous_hosts} predicate Istio always adds.
   */
  public static RouteConfiguration withRetries(RouteConfiguration config, String retryOn) {
    var builder = config.toBuilder();
    builder.getVirtualHostsBuilder(0).getRoutesBuilder(0).getRouteBuilder()
        .setRetryPolicy(RetryPolicy.newBuilder()
            .setRetryOn(retryOn)
            .setNumRetries(UInt32Value.of(3))
            .addRetryHostPredicate(previousHosts())
            .setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder()
                .setBaseInterval(com.google.protobuf.Duration.newBuilder().setNanos(5_000_000))));
    return builder.build();
  }

  /** Envoy's {@code previous_hosts} retry host predicate: a retry avoids hosts already tried. */
  public static RetryPolicy.RetryHostPredicate previousHosts() {
    return RetryPolicy.RetryHostPredicate.newBuilder()
        .setName("envoy.retry_host_predicates.previous_hosts")
        .setTypedConfig(com.google.protobuf.Any.pack(io.envoyproxy.envoy.extensions.retry.host
            .previous_hosts.v3.PreviousHostsPredicate.getDefaultInstance()))
        .build();
  }

  public static String outboundName(int port, String host) {
    return "outbound|" + port + "||" + host;
  }

  public static String sni(int port, String host) {
    return "outbound_." + port + "_._." + host;
  }

  public static Cluster outboundCluster(int port, String host) {
    String name = outboundName(port, host);
    return Cluster.newBuilder()
        .setName(name)
        .setType(Cluster.DiscoveryType.EDS)
        .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder()
            .setServiceName(name)
            .setEdsConfig(ads()))
        .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
        .setTransportSocket(TransportSocket.newBuilder()
            .setName("envoy.transport_sockets.tls")
            .setTypedConfig(Any.pack(UpstreamTlsContext.newBuilder()
                .setSni(sni(port, host))
                .setCommonTlsContext(CommonTlsContext.newBuilder().addAlpnProtocols("http/1.1"))
                .build())))
        .build();
  }

  /** A gateway cluster: named after the SNI, EDS, no transport socket. */
  public static Cluster gatewayCluster(String sni) {
    return Cluster.newBuilder()
        .setName(sni)
        .setType(Cluster.DiscoveryType.EDS)
        .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setServiceName(sni)
            .setEdsConfig(ads()))
        .build();
  }

  public static Cluster inboundCluster(int port, int targetPort) {
    return Cluster.newBuilder()
        .setName("inbound|" + port + "||")
        .setType(Cluster.DiscoveryType.STATIC)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder()
            .setClusterName("inbound|" + port + "||")
            .addEndpoints(LocalityLbEndpoints.newBuilder()
                .addLbEndpoints(lbEndpoint("127.0.0.1", targetPort, 1, "", false))))
        .build();
  }

  /** One endpoint as the controller sends it, with istio metadata. */
  public record Ep(String address, int port, int weight, String cluster, boolean viaGateway) {}

  public static ClusterLoadAssignment endpoints(String clusterName, String region, Ep... eps) {
    LocalityLbEndpoints.Builder locality = LocalityLbEndpoints.newBuilder()
        .setLocality(Locality.newBuilder().setRegion(region).setZone(region + "-1a"))
        .setLoadBalancingWeight(UInt32Value.of(Math.max(1, eps.length)));
    for (Ep ep : eps) {
      locality.addLbEndpoints(lbEndpoint(ep.address(), ep.port(), ep.weight(), ep.cluster(),
          ep.viaGateway()));
    }
    return ClusterLoadAssignment.newBuilder().setClusterName(clusterName)
        .addEndpoints(locality).build();
  }

  static LbEndpoint lbEndpoint(String address, int port, int weight, String cluster,
      boolean viaGateway) {
    return LbEndpoint.newBuilder()
        .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(address).setPortValue(port))))
        .setLoadBalancingWeight(UInt32Value.of(weight))
        .setMetadata(Metadata.newBuilder().putFilterMetadata("istio", Struct.newBuilder()
            .putFields("cluster", Value.newBuilder().setStringValue(cluster).build())
            .putFields("network", Value.newBuilder().setStringValue("net1").build())
            .putFields("workload", Value.newBuilder().setStringValue("w").build())
            .putFields("via_gateway", Value.newBuilder().setBoolValue(viaGateway).build())
            .build()))
        .build();
  }

  public static Listener outboundListener(int port) {
    return Listener.newBuilder()
        .setName("0.0.0.0_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(port)))
        .addFilterChains(FilterChain.newBuilder().addFilters(Filter.newBuilder()
            .setName("envoy.filters.network.http_connection_manager")
            .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                .setStatPrefix("outbound_0.0.0.0_" + port)
                .setRds(Rds.newBuilder().setRouteConfigName(Integer.toString(port))
                    .setConfigSource(ads()))
                .build()))))
        .build();
  }

  /**
   * {@code listener} with {@code upgrade_configs: [{upgrade_type: websocket}]} on each of its HTTP
   * connection managers, as Istio sends on every one.
   */
  public static Listener withWebsocket(Listener listener) {
    Listener.Builder builder = listener.toBuilder();
    for (FilterChain.Builder chain : builder.getFilterChainsBuilderList()) {
      for (Filter.Builder filter : chain.getFiltersBuilderList()) {
        if (filter.getTypedConfig().is(HttpConnectionManager.class)) {
          try {
            filter.setTypedConfig(Any.pack(filter.getTypedConfig()
                .unpack(HttpConnectionManager.class).toBuilder()
                .addUpgradeConfigs(HttpConnectionManager.UpgradeConfig.newBuilder()
                    .setUpgradeType("websocket"))
                .build()));
          } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
          }
        }
      }
    }
    return builder.build();
  }

  public static Listener virtualInbound(int... ports) {
    Listener.Builder listener = Listener.newBuilder()
        .setName("virtualInbound")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(15006)));
    for (int port : ports) {
      String cluster = "inbound|" + port + "||";
      listener.addFilterChains(FilterChain.newBuilder()
          .setFilterChainMatch(FilterChainMatch.newBuilder()
              .setDestinationPort(UInt32Value.of(port)))
          .setTransportSocket(TransportSocket.newBuilder()
              .setName("envoy.transport_sockets.tls")
              .setTypedConfig(Any.pack(DownstreamTlsContext.newBuilder()
                  .setRequireClientCertificate(BoolValue.of(true))
                  .build())))
          .addFilters(Filter.newBuilder()
              .setName("envoy.filters.network.http_connection_manager")
              .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                  .setStatPrefix(cluster)
                  .setRouteConfig(RouteConfiguration.newBuilder().setName(cluster)
                      .addVirtualHosts(VirtualHost.newBuilder().setName(cluster).addDomains("*")
                          .addRoutes(route(cluster))))
                  .build()))));
    }
    return listener.build();
  }

  /** An inbound mTLS filter chain whose filter is tcp_proxy: raw bytes to the app. */
  public static Listener virtualInboundTcp(int port) {
    String cluster = "inbound|" + port + "||";
    return Listener.newBuilder()
        .setName("virtualInbound")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(15006)))
        .addFilterChains(FilterChain.newBuilder()
            .setFilterChainMatch(FilterChainMatch.newBuilder()
                .setDestinationPort(UInt32Value.of(port)))
            .setTransportSocket(TransportSocket.newBuilder()
                .setName("envoy.transport_sockets.tls")
                .setTypedConfig(Any.pack(DownstreamTlsContext.newBuilder()
                    .setRequireClientCertificate(BoolValue.of(true))
                    .build())))
            .addFilters(tcpProxy(cluster)))
        .build();
  }

  /** An outbound listener on {@code port} whose filter is tcp_proxy to {@code cluster}. */
  public static Listener outboundTcpListener(int port, String cluster) {
    return Listener.newBuilder()
        .setName("0.0.0.0_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(port)))
        .addFilterChains(FilterChain.newBuilder().addFilters(tcpProxy(cluster)))
        .build();
  }

  /**
   * Istio's listener for TLS hosts without VIP on one port ({@code 0.0.0.0_<port>}): a chain per
   * server name (SNI) to its cluster, and the default chain to PassthroughCluster.
   */
  public static Listener sniListener(int port, java.util.Map<String, String> clusterByServerName) {
    Listener.Builder listener = Listener.newBuilder()
        .setName("0.0.0.0_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(port)));
    clusterByServerName.forEach((name, cluster) -> listener.addFilterChains(FilterChain.newBuilder()
        .setFilterChainMatch(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder()
            .setTransportProtocol("tls").addServerNames(name))
        .addFilters(tcpProxy(cluster))));
    return listener.setDefaultFilterChain(FilterChain.newBuilder()
        .setName("PassthroughFilterChain").addFilters(tcpProxy("PassthroughCluster"))).build();
  }

  /**
   * Istio's listener for a port whose protocol is detected, on one address: an HTTP chain
   * (route configuration {@code routeConfig}) for HTTP/1.1 and h2c, the default chain to
   * {@code cluster} for anything else.
   */
  public static Listener sniffedListener(String ip, int port, String routeConfig, String cluster) {
    return Listener.newBuilder()
        .setName(ip + "_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(ip).setPortValue(port)))
        .addFilterChains(FilterChain.newBuilder()
            .setFilterChainMatch(io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder()
                .setTransportProtocol("raw_buffer").addApplicationProtocols("http/1.1")
                .addApplicationProtocols("h2c"))
            .addFilters(Filter.newBuilder()
                .setName("envoy.filters.network.http_connection_manager")
                .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                    .setStatPrefix("outbound_" + ip + "_" + port)
                    .setRds(Rds.newBuilder().setRouteConfigName(routeConfig)
                        .setConfigSource(ads()))
                    .build()))))
        .setDefaultFilterChain(FilterChain.newBuilder().addFilters(tcpProxy(cluster)))
        .build();
  }

  /** An outbound TCP listener bound to one address (a service's ClusterIP), as Istio's. */
  public static Listener outboundTcpListener(String ip, int port, String cluster) {
    return Listener.newBuilder()
        .setName(ip + "_" + port)
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress(ip).setPortValue(port)))
        .addFilterChains(FilterChain.newBuilder().addFilters(tcpProxy(cluster)))
        .build();
  }

  /** Istio's PassthroughCluster: connections go where they were going. */
  public static Cluster passthroughCluster() {
    return Cluster.newBuilder()
        .setName("PassthroughCluster")
        .setType(Cluster.DiscoveryType.ORIGINAL_DST)
        .setLbPolicy(Cluster.LbPolicy.CLUSTER_PROVIDED)
        .build();
  }

  /**
   * The outbound capture listener: with {@code allowAny}, its default chain relays unknown
   * destinations through PassthroughCluster (ALLOW_ANY); else to BlackHoleCluster.
   */
  public static Listener virtualOutbound(boolean allowAny) {
    return Listener.newBuilder()
        .setName("virtualOutbound")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(15001)))
        .setUseOriginalDst(BoolValue.of(true))
        .setDefaultFilterChain(FilterChain.newBuilder().setName("PassthroughFilterChain")
            .addFilters(tcpProxy(allowAny ? "PassthroughCluster" : "BlackHoleCluster")))
        .build();
  }

  static Filter tcpProxy(String cluster) {
    return Filter.newBuilder()
        .setName("envoy.filters.network.tcp_proxy")
        .setTypedConfig(Any.pack(
            io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.newBuilder()
                .setStatPrefix(cluster).setCluster(cluster).build()))
        .build();
  }

  public static RouteConfiguration routes(int port, String... hosts) {
    RouteConfiguration.Builder config = RouteConfiguration.newBuilder()
        .setName(Integer.toString(port));
    for (String host : hosts) {
      String shortName = host.substring(0, host.indexOf('.'));
      config.addVirtualHosts(VirtualHost.newBuilder()
          .setName(host + ":" + port)
          .addDomains(host).addDomains(host + ":" + port)
          .addDomains(shortName).addDomains(shortName + ":" + port)
          .addRoutes(route(outboundName(port, host))));
    }
    return config.build();
  }

  static Route route(String cluster) {
    return Route.newBuilder()
        .setMatch(RouteMatch.newBuilder().setPrefix("/"))
        .setRoute(RouteAction.newBuilder().setCluster(cluster))
        .build();
  }

  public static Secret rootCa(String pem) {
    return Secret.newBuilder()
        .setName("ROOTCA")
        .setValidationContext(CertificateValidationContext.newBuilder()
            .setTrustedCa(DataSource.newBuilder().setInlineString(pem)))
        .build();
  }

  static ConfigSource ads() {
    return ConfigSource.newBuilder().setAds(AggregatedConfigSource.getDefaultInstance()).build();
  }

  public static List<Any> none() {
    return List.of();
  }
}
