package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.proxy.policy.ClusterPolicy;
import io.isthmus.proxy.policy.TcpRoute;
import io.isthmus.proxy.xds.XdsResources;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;
import io.netty.handler.ssl.SslContext;
import org.slf4j.LoggerFactory;

/**
 * What the data plane acts on, compiled once per {@link XdsSnapshot}: the outbound route
 * table, the upstream clusters with their pickers and TLS settings, and the inbound ports.
 * Immutable; swapped atomically when a new snapshot arrives.
 */
public record DataPlaneConfig(
    XdsSnapshot snapshot,
    RouteTable routes,
    Map<String, UpstreamCluster> clusters,
    Map<Integer, InboundPort> inboundPorts,
    Map<Integer, TcpRoute> outboundTcp) {

  public static final String VIRTUAL_INBOUND = "virtualInbound";

  public static final DataPlaneConfig EMPTY =
      new DataPlaneConfig(XdsSnapshot.EMPTY, RouteTable.EMPTY, Map.of(), Map.of(), Map.of());

  public DataPlaneConfig {
    requireNonNull(snapshot, "snapshot");
    requireNonNull(routes, "routes");
    clusters = Map.copyOf(requireNonNull(clusters, "clusters"));
    inboundPorts = Map.copyOf(requireNonNull(inboundPorts, "inboundPorts"));
    outboundTcp = Map.copyOf(requireNonNull(outboundTcp, "outboundTcp"));
  }

  public DataPlaneConfig(XdsSnapshot snapshot, RouteTable routes,
      Map<String, UpstreamCluster> clusters, Map<Integer, InboundPort> inboundPorts) {
    this(snapshot, routes, clusters, inboundPorts, Map.of());
  }

  /** How an inbound port's traffic is handled once mTLS is done. */
  public enum PortProtocol {
    /** HTTP/1.1 or HTTP/2 (by ALPN), request by request. */
    HTTP,
    /** Raw bytes to the app (a {@code tcp_proxy} filter chain). */
    TCP
  }

  /**
   * TLS toward an upstream: the SNI to send, ALPN to offer, and for TLS originated toward a
   * server outside the mesh (Istio's DestinationRule {@code SIMPLE}/{@code MUTUAL}) its own
   * contexts; without them, the mesh's mTLS, whose server must present one of
   * {@code peerIdentities} (the SPIFFE IDs that may answer for the cluster; empty: any identity
   * the mesh's roots vouch for). Absent for plaintext clusters.
   */
  public record UpstreamTls(String sni, List<String> alpn, Optional<OriginatedTls> originated,
      List<String> peerIdentities) {
    public UpstreamTls {
      requireNonNull(sni, "sni");
      alpn = List.copyOf(requireNonNull(alpn, "alpn"));
      requireNonNull(originated, "originated");
      peerIdentities = List.copyOf(requireNonNull(peerIdentities, "peerIdentities"));
    }

    public UpstreamTls(String sni, List<String> alpn, Optional<OriginatedTls> originated) {
      this(sni, alpn, originated, List.of());
    }

    /** The mesh's mTLS with this SNI and ALPN, any identity of the mesh accepted. */
    public UpstreamTls(String sni, List<String> alpn) {
      this(sni, alpn, Optional.empty());
    }

    /** The client context to dial with: the originated one, else the mesh's. */
    SslContext context(TlsContexts mesh, boolean h2) {
      if (originated.isPresent()) {
        return h2 ? originated.get().h2() : originated.get().http1();
      }
      return h2 ? mesh.upstreamClientH2() : mesh.upstreamClient();
    }
  }

  /** Client contexts of an originated TLS: one offering ALPN {@code http/1.1}, one {@code h2}. */
  public record OriginatedTls(SslContext http1, SslContext h2) {
    public OriginatedTls {
      requireNonNull(http1, "http1");
      requireNonNull(h2, "h2");
    }
  }

  /**
   * One upstream cluster as the data plane uses it, with its resilience policy and the HTTP
   * version to speak to it.
   */
  public record UpstreamCluster(String name, Optional<UpstreamTls> tls, EndpointPicker picker,
      ClusterPolicy policy, UpstreamProtocol protocol, UpstreamConnections connections) {
    public UpstreamCluster {
      requireNonNull(name, "name");
      requireNonNull(tls, "tls");
      requireNonNull(picker, "picker");
      requireNonNull(policy, "policy");
      requireNonNull(protocol, "protocol");
      requireNonNull(connections, "connections");
    }

    public UpstreamCluster(String name, Optional<UpstreamTls> tls, EndpointPicker picker,
        ClusterPolicy policy, UpstreamProtocol protocol) {
      this(name, tls, picker, policy, protocol, UpstreamConnections.DEFAULT);
    }

    public UpstreamCluster(String name, Optional<UpstreamTls> tls, EndpointPicker picker,
        ClusterPolicy policy) {
      this(name, tls, picker, policy, UpstreamProtocol.DOWNSTREAM);
    }

    public UpstreamCluster(String name, Optional<UpstreamTls> tls, EndpointPicker picker) {
      this(name, tls, picker, ClusterPolicy.DEFAULT);
    }
  }

  static final String HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

  /**
   * The cluster's upstream HTTP version: {@code HttpProtocolOptions} (explicit HTTP/2 or
   * HTTP/1.1, or use-downstream) or the legacy {@code http2_protocol_options}. A cluster that
   * says nothing follows the downstream (Envoy would default to HTTP/1.1; Istio always says,
   * and following the downstream is what keeps gRPC working through a controller that does not).
   */
  static UpstreamProtocol protocolOf(Cluster cluster) {
    var any = cluster.getTypedExtensionProtocolOptionsMap().get(HTTP_PROTOCOL_OPTIONS);
    if (any != null && any.is(HttpProtocolOptions.class)) {
      try {
        HttpProtocolOptions options = any.unpack(HttpProtocolOptions.class);
        if (options.hasExplicitHttpConfig()) {
          return options.getExplicitHttpConfig().hasHttp2ProtocolOptions()
              ? UpstreamProtocol.HTTP2 : UpstreamProtocol.HTTP1;
        }
        return UpstreamProtocol.DOWNSTREAM;
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        return UpstreamProtocol.DOWNSTREAM;
      }
    }
    @SuppressWarnings("deprecation")
    boolean legacyH2 = cluster.hasHttp2ProtocolOptions();
    return legacyH2 ? UpstreamProtocol.HTTP2 : UpstreamProtocol.DOWNSTREAM;
  }

  /**
   * One inbound port: the sidecar binds {@code podIp:port} with mTLS and forwards to the
   * app's {@code targetPort} on the pod's localhost; {@code websocket}: its connection manager's
   * {@code upgrade_configs} enable WebSocket upgrades.
   *
   * @param targetHost where the app listens when not on the pod's localhost (an inbound
   *     cluster's endpoint other than 127.0.0.1, e.g. the pod's IP for Istio's
   *     {@code defaultEndpoint: 0.0.0.0:<port>}); empty: the localhost
   * @param bindAddress the address of the inbound listener that binds this port itself
   *     ({@code bind_to_port: true}, Istio's ingress {@code captureMode: NONE}), bound with or
   *     without capture; empty: a {@code virtualInbound} chain, bound on the pod's IP only
   *     without capture
   */
  public record InboundPort(int port, String cluster, int targetPort, PortProtocol protocol,
      boolean websocket, java.time.Duration maxStreamDuration, Optional<String> targetHost,
      Optional<String> bindAddress) {
    public InboundPort {
      requireNonNull(cluster, "cluster");
      requireNonNull(protocol, "protocol");
      requireNonNull(maxStreamDuration, "maxStreamDuration");
      requireNonNull(targetHost, "targetHost");
      requireNonNull(bindAddress, "bindAddress");
    }

    public InboundPort(int port, String cluster, int targetPort, PortProtocol protocol,
        boolean websocket, java.time.Duration maxStreamDuration) {
      this(port, cluster, targetPort, protocol, websocket, maxStreamDuration, Optional.empty(),
          Optional.empty());
    }

    public InboundPort(int port, String cluster, int targetPort, PortProtocol protocol,
        boolean websocket) {
      this(port, cluster, targetPort, protocol, websocket, java.time.Duration.ZERO);
    }

    public InboundPort(int port, String cluster, int targetPort, PortProtocol protocol) {
      this(port, cluster, targetPort, protocol, false);
    }

    public InboundPort(int port, String cluster, int targetPort) {
      this(port, cluster, targetPort, PortProtocol.HTTP);
    }
  }

  /**
   * Whether {@code hcm} lets WebSocket upgrades through: an {@code upgrade_configs} entry of type
   * {@code websocket} (case-insensitive, as Envoy compares it) that is not disabled.
   */
  static boolean websocketEnabled(
      io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          hcm) {
    for (var upgrade : hcm.getUpgradeConfigsList()) {
      if (upgrade.getUpgradeType().equalsIgnoreCase(UpgradeRelay.WEBSOCKET)
          && (!upgrade.hasEnabled() || upgrade.getEnabled().getValue())) {
        return true;
      }
    }
    return false;
  }

  /**
   * {@code hcm}'s {@code common_http_protocol_options.max_stream_duration}, zero when unset (a
   * negative one, which the xDS validator NACKs, counts as unset).
   */
  static java.time.Duration maxStreamDuration(
      io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          hcm) {
    if (!hcm.hasCommonHttpProtocolOptions()
        || !hcm.getCommonHttpProtocolOptions().hasMaxStreamDuration()) {
      return java.time.Duration.ZERO;
    }
    var d = hcm.getCommonHttpProtocolOptions().getMaxStreamDuration();
    if (d.getSeconds() < 0 || d.getNanos() < 0) {
      return java.time.Duration.ZERO;
    }
    return java.time.Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }

  public static DataPlaneConfig from(XdsSnapshot snapshot) {
    return from(snapshot, name -> Optional.empty(), new OriginationContexts());
  }

  /**
   * As {@link #from(XdsSnapshot)}, with a DNS cluster's endpoints as {@code dns} last resolved
   * them (none before its first answer: the data plane never dials a name) and originated TLS
   * contexts from {@code origination}.
   */
  static DataPlaneConfig from(XdsSnapshot snapshot,
      Function<String, Optional<ClusterLoadAssignment>> dns, OriginationContexts origination) {
    Map<String, UpstreamCluster> clusters = new HashMap<>();
    for (Cluster cluster : snapshot.clusters().values()) {
      if (cluster.getType() == Cluster.DiscoveryType.ORIGINAL_DST) {
        // No endpoints to pick: captured connections are relayed to where they were going.
        continue;
      }
      ClusterLoadAssignment assignment = switch (cluster.getType()) {
        case EDS -> snapshot.endpoints().get(XdsResources.edsServiceName(cluster));
        case STRICT_DNS, LOGICAL_DNS -> dns.apply(cluster.getName()).orElse(null);
        default -> cluster.getLoadAssignment();
      };
      EndpointPicker picker = assignment == null ? EndpointPicker.EMPTY
          : EndpointPicker.of(assignment);
      Optional<UpstreamTls> tls;
      try {
        tls = XdsResources.upstreamTlsContext(cluster).map(ctx -> upstreamTls(ctx, origination));
      } catch (IllegalArgumentException e) {
        // Validated when it arrived; a CA or key file that has gone since leaves no cluster
        // (requests get 503 NC) rather than a plaintext one.
        LoggerFactory.getLogger(DataPlaneConfig.class).warn("cluster {}: {}", cluster.getName(),
            e.getMessage());
        continue;
      }
      clusters.put(cluster.getName(), new UpstreamCluster(cluster.getName(), tls, picker,
          ClusterPolicy.of(cluster), protocolOf(cluster), UpstreamConnections.of(cluster)));
    }
    Map<Integer, InboundPort> inbound = new TreeMap<>();
    for (InboundChain bound : inboundChains(snapshot)) {
      FilterChain chain = bound.chain();
      int port = chain.getFilterChainMatch().hasDestinationPort()
          ? chain.getFilterChainMatch().getDestinationPort().getValue() : bound.listenerPort();
      if (port <= 0 || inbound.containsKey(port)) {
        continue;
      }
      String clusterName = inboundCluster(chain).orElse("inbound|" + port + "||");
      UpstreamCluster target = clusters.get(clusterName);
      int targetPort = port;
      Optional<String> targetHost = Optional.empty();
      if (target != null && !target.picker().endpoints().isEmpty()) {
        targetPort = target.picker().endpoints().get(0).port();
        String host = target.picker().endpoints().get(0).host();
        // 127.0.0.1 is the pod's localhost, whatever address the sidecar knows it by.
        if (!host.equals("127.0.0.1") && !host.equals("::1")) {
          targetHost = Optional.of(host);
        }
      }
      var hcm = XdsResources.httpConnectionManager(chain);
      PortProtocol protocol = hcm.isEmpty()
          && tcpProxyCluster(chain).isPresent() ? PortProtocol.TCP : PortProtocol.HTTP;
      inbound.put(port, new InboundPort(port, clusterName, targetPort, protocol,
          hcm.map(DataPlaneConfig::websocketEnabled).orElse(false),
          hcm.map(DataPlaneConfig::maxStreamDuration).orElse(java.time.Duration.ZERO),
          targetHost, Optional.ofNullable(bound.bindAddress())));
    }
    // Explicit outbound TCP listeners: an outbound listener whose filter chain is tcp_proxy.
    Map<Integer, TcpRoute> outboundTcp = new TreeMap<>();
    // Route configurations whose outbound connection manager accepts WebSocket upgrades, and
    // those whose connection manager limits its streams' duration.
    java.util.Set<String> websocket = new java.util.HashSet<>();
    Map<String, java.time.Duration> streamLimits = new HashMap<>();
    for (Listener listener : snapshot.listeners().values()) {
      if (listener.getTrafficDirection()
          != io.envoyproxy.envoy.config.core.v3.TrafficDirection.INBOUND) {
        for (FilterChain chain : listener.getFilterChainsList()) {
          XdsResources.httpConnectionManager(chain).filter(h -> h.hasRds()).ifPresent(h -> {
            if (websocketEnabled(h)) {
              websocket.add(h.getRds().getRouteConfigName());
            }
            java.time.Duration limit = maxStreamDuration(h);
            if (!limit.isZero()) {
              streamLimits.putIfAbsent(h.getRds().getRouteConfigName(), limit);
            }
          });
        }
      }
    }
    for (Listener listener : snapshot.listeners().values()) {
      if (listener.getName().equals(VIRTUAL_INBOUND) || !listener.hasAddress()
          // Bound where it says by the sidecar itself (CaptureConfig.bound).
          || io.isthmus.proxy.internal.capture.CaptureConfig.bindsToPort(listener)
          || !listener.getAddress().hasSocketAddress()
          || listener.getTrafficDirection()
              == io.envoyproxy.envoy.config.core.v3.TrafficDirection.INBOUND) {
        continue;
      }
      int port = listener.getAddress().getSocketAddress().getPortValue();
      String bind = listener.getAddress().getSocketAddress().getAddress();
      // Only a plain TCP listener on 0.0.0.0 becomes an explicit <localhost>:<port> one. A VIP's
      // or a pod's listener, an SNI chain or a sniffed port is told apart by where the
      // connection was going, which only capture knows.
      boolean plainTcp = listener.getFilterChainsList().stream().allMatch(chain ->
          XdsResources.httpConnectionManager(chain).isEmpty()
              && chain.getFilterChainMatch().getServerNamesCount() == 0);
      if (!plainTcp || !(bind.isEmpty() || bind.equals("0.0.0.0") || bind.equals("::"))) {
        continue;
      }
      for (FilterChain chain : listener.getFilterChainsList()) {
        // A chain for some destinations only (a ServiceEntry's range) needs the original
        // destination to be chosen: not an explicit listener's.
        if (chain.getFilterChainMatch().getPrefixRangesCount() == 0
            && !chain.getFilterChainMatch().hasDestinationPort()) {
          io.isthmus.proxy.internal.capture.CaptureConfig.tcpProxy(chain)
              .ifPresent(route -> outboundTcp.putIfAbsent(port, route));
        }
      }
    }
    return new DataPlaneConfig(snapshot,
        new RouteTable(snapshot.routes(), websocket, streamLimits), clusters, inbound,
        outboundTcp);
  }

  /**
   * One inbound filter chain and where it is served: {@code bindAddress} null for a chain of
   * {@code virtualInbound}, else the address of the inbound listener that binds it itself.
   */
  record InboundChain(FilterChain chain, String bindAddress, int listenerPort) {
    InboundChain {
      requireNonNull(chain, "chain");
    }
  }

  /**
   * Every inbound filter chain: {@code virtualInbound}'s, then those of each inbound listener with
   * {@code bind_to_port: true} (Istio's ingress {@code captureMode: NONE}), by listener name. The
   * inbound ports, their security and their rate limits are read from these.
   */
  static List<InboundChain> inboundChains(XdsSnapshot snapshot) {
    List<InboundChain> out = new java.util.ArrayList<>();
    Listener virtualInbound = snapshot.listeners().get(VIRTUAL_INBOUND);
    if (virtualInbound != null) {
      for (FilterChain chain : virtualInbound.getFilterChainsList()) {
        out.add(new InboundChain(chain, null, 0));
      }
    }
    for (Listener listener : new TreeMap<>(snapshot.listeners()).values()) {
      if (listener.getName().equals(VIRTUAL_INBOUND)
          || listener.getTrafficDirection()
              != io.envoyproxy.envoy.config.core.v3.TrafficDirection.INBOUND
          || !io.isthmus.proxy.internal.capture.CaptureConfig.bindsToPort(listener)
          || !listener.getAddress().hasSocketAddress()) {
        continue;
      }
      var address = listener.getAddress().getSocketAddress();
      for (FilterChain chain : listener.getFilterChainsList()) {
        out.add(new InboundChain(chain, address.getAddress(), address.getPortValue()));
      }
    }
    return out;
  }

  private static UpstreamTls upstreamTls(UpstreamTlsContext ctx, OriginationContexts origination) {
    List<String> alpn = ctx.getCommonTlsContext().getAlpnProtocolsList().isEmpty()
        ? List.of("http/1.1") : ctx.getCommonTlsContext().getAlpnProtocolsList();
    Optional<OriginatedTls> originated = origination.get(ctx);
    // The mesh's policy reads no files: compiling it again costs only the SAN list.
    List<String> identities = originated.isPresent() ? List.of()
        : io.isthmus.proxy.policy.UpstreamTlsPolicy.of(ctx, "transport_socket").uriSubjectAltNames();
    return new UpstreamTls(ctx.getSni(), alpn, originated, identities);
  }

  /**
   * This config with the DNS clusters' endpoints as {@code dns} resolves them now: the rest
   * (routes, other clusters, their pickers' state) stays as it is.
   */
  DataPlaneConfig withDns(Function<String, Optional<ClusterLoadAssignment>> dns) {
    Map<String, UpstreamCluster> next = new HashMap<>(clusters);
    for (Cluster cluster : snapshot.clusters().values()) {
      UpstreamCluster current = clusters.get(cluster.getName());
      if (current == null || (cluster.getType() != Cluster.DiscoveryType.STRICT_DNS
          && cluster.getType() != Cluster.DiscoveryType.LOGICAL_DNS)) {
        continue;
      }
      EndpointPicker picker = dns.apply(cluster.getName()).map(EndpointPicker::of)
          .orElse(EndpointPicker.EMPTY);
      next.put(cluster.getName(), new UpstreamCluster(current.name(), current.tls(), picker,
          current.policy(), current.protocol()));
    }
    return new DataPlaneConfig(snapshot, routes, next, inboundPorts, outboundTcp);
  }

  private static Optional<String> tcpProxyCluster(FilterChain chain) {
    for (var filter : chain.getFiltersList()) {
      if (filter.getTypedConfig().getTypeUrl().endsWith(TcpProxy.getDescriptor().getFullName())) {
        try {
          return Optional.of(filter.getTypedConfig().unpack(TcpProxy.class).getCluster())
              .filter(c -> !c.isEmpty());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }

  private static Optional<String> inboundCluster(FilterChain chain) {
    Optional<String> viaHttp = XdsResources.httpConnectionManager(chain)
        .filter(hcm -> hcm.hasRouteConfig())
        .flatMap(hcm -> hcm.getRouteConfig().getVirtualHostsList().stream()
            .flatMap(v -> v.getRoutesList().stream())
            .filter(r -> r.hasRoute() && !r.getRoute().getCluster().isEmpty())
            .map(r -> r.getRoute().getCluster())
            .findFirst());
    if (viaHttp.isPresent()) {
      return viaHttp;
    }
    for (var filter : chain.getFiltersList()) {
      if (filter.getTypedConfig().getTypeUrl().endsWith(TcpProxy.getDescriptor().getFullName())) {
        try {
          return Optional.of(filter.getTypedConfig().unpack(TcpProxy.class).getCluster())
              .filter(c -> !c.isEmpty());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }
}
