package io.isthmus.proxy.internal.capture;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.proxy.xds.XdsResources;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Where a captured outbound connection goes, compiled once per xDS snapshot from the outbound
 * listeners that the capture listener ({@code virtualOutbound}) hands connections to by their
 * original destination, as Envoy's {@code use_original_dst} does. Pure and immutable. Public for
 * the data plane only; not an API.
 *
 * <p>The order, Istio's: a TCP listener on exactly that {@code ip:port} (a service's ClusterIP);
 * else an HTTP listener on {@code 0.0.0.0:port} (its route configuration, then the Host header,
 * pick the service); else a TCP listener on {@code 0.0.0.0:port}; else {@code virtualOutbound}'s
 * own filter chain: {@code PassthroughCluster} (or any {@code ORIGINAL_DST} cluster) relays to the
 * original destination (meshConfig {@code outboundTrafficPolicy: ALLOW_ANY}); anything else,
 * including no chain at all, is the black hole ({@code REGISTRY_ONLY}).
 *
 * @param tcpByAddress {@code ip:port} → cluster, from listeners bound to one address
 * @param httpByPort port → route configuration name, from HTTP listeners on {@code 0.0.0.0}
 * @param tcpByPort port → cluster, from TCP listeners on {@code 0.0.0.0}
 * @param passthrough whether unknown destinations are relayed as they are (ALLOW_ANY)
 */
public record CaptureConfig(Map<String, String> tcpByAddress, Map<Integer, String> httpByPort,
    Map<Integer, String> tcpByPort, boolean passthrough) {

  public static final String PASSTHROUGH_CLUSTER = "PassthroughCluster";
  public static final String BLACK_HOLE_CLUSTER = "BlackHoleCluster";
  static final String VIRTUAL_OUTBOUND = "virtualOutbound";
  static final String VIRTUAL_INBOUND = "virtualInbound";

  public static final CaptureConfig EMPTY = new CaptureConfig(Map.of(), Map.of(), Map.of(), false);

  public CaptureConfig {
    tcpByAddress = Map.copyOf(requireNonNull(tcpByAddress, "tcpByAddress"));
    httpByPort = Map.copyOf(requireNonNull(httpByPort, "httpByPort"));
    tcpByPort = Map.copyOf(requireNonNull(tcpByPort, "tcpByPort"));
  }

  /** What to do with one captured outbound connection. */
  public sealed interface Decision {
    /** HTTP: sniff, then route with this route configuration. */
    record Http(String routeConfig) implements Decision {}
    /** Raw TCP to one endpoint of this cluster. */
    record Tcp(String cluster) implements Decision {}
    /** Raw TCP to the original destination, as it is (PassthroughCluster). */
    record Passthrough() implements Decision {}
    /** Closed (BlackHoleCluster): the destination is not in the mesh and ALLOW_ANY is off. */
    record BlackHole() implements Decision {}
  }

  /** Where a connection the app opened to {@code original} goes. */
  public Decision outbound(InetSocketAddress original) {
    requireNonNull(original, "original");
    int port = original.getPort();
    String ip = original.getAddress() == null ? original.getHostString()
        : original.getAddress().getHostAddress();
    String exact = tcpByAddress.get(ip + ":" + port);
    if (exact != null) {
      return new Decision.Tcp(exact);
    }
    String routes = httpByPort.get(port);
    if (routes != null) {
      return new Decision.Http(routes);
    }
    String tcp = tcpByPort.get(port);
    if (tcp != null) {
      return new Decision.Tcp(tcp);
    }
    return notInMesh();
  }

  /** For a destination no listener claims, or traffic its listener cannot carry. */
  public Decision notInMesh() {
    return passthrough ? new Decision.Passthrough() : new Decision.BlackHole();
  }

  public static CaptureConfig from(XdsSnapshot snapshot) {
    requireNonNull(snapshot, "snapshot");
    Map<String, String> tcpByAddress = new TreeMap<>();
    Map<Integer, String> httpByPort = new TreeMap<>();
    Map<Integer, String> tcpByPort = new TreeMap<>();
    boolean passthrough = false;
    for (Listener listener : snapshot.listeners().values()) {
      if (listener.getName().equals(VIRTUAL_INBOUND)
          || listener.getTrafficDirection() == TrafficDirection.INBOUND) {
        continue;
      }
      if (listener.getName().equals(VIRTUAL_OUTBOUND)) {
        passthrough = chains(listener).stream()
            .flatMap(chain -> tcpProxyCluster(chain).stream())
            .anyMatch(cluster -> isPassthrough(cluster, snapshot));
        continue;
      }
      if (!listener.hasAddress() || !listener.getAddress().hasSocketAddress()) {
        continue;
      }
      var address = listener.getAddress().getSocketAddress();
      int port = address.getPortValue();
      boolean wildcard = address.getAddress().isEmpty() || address.getAddress().equals("0.0.0.0")
          || address.getAddress().equals("::");
      for (FilterChain chain : listener.getFilterChainsList()) {
        var hcm = XdsResources.httpConnectionManager(chain);
        if (hcm.isPresent()) {
          if (wildcard && hcm.get().hasRds()) {
            httpByPort.putIfAbsent(port, hcm.get().getRds().getRouteConfigName());
          }
          continue;
        }
        Optional<String> cluster = tcpProxyCluster(chain);
        if (cluster.isPresent()) {
          if (wildcard) {
            tcpByPort.putIfAbsent(port, cluster.get());
          } else {
            tcpByAddress.putIfAbsent(address.getAddress() + ":" + port, cluster.get());
          }
        }
      }
    }
    return new CaptureConfig(tcpByAddress, httpByPort, tcpByPort, passthrough);
  }

  private static List<FilterChain> chains(Listener listener) {
    List<FilterChain> chains = new ArrayList<>(listener.getFilterChainsList());
    if (listener.hasDefaultFilterChain()) {
      chains.add(listener.getDefaultFilterChain());
    }
    return chains;
  }

  private static boolean isPassthrough(String cluster, XdsSnapshot snapshot) {
    if (cluster.equals(PASSTHROUGH_CLUSTER)) {
      return true;
    }
    Cluster found = snapshot.clusters().get(cluster);
    return found != null && found.getType() == Cluster.DiscoveryType.ORIGINAL_DST;
  }

  private static Optional<String> tcpProxyCluster(FilterChain chain) {
    for (var filter : chain.getFiltersList()) {
      if (filter.getTypedConfig().is(TcpProxy.class)) {
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
