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
 * <p>The order, Istio's: the listener on exactly that {@code ip:port} (a service's VIP, a
 * headless service's pod); else the one on {@code 0.0.0.0:port}; else {@code virtualOutbound}'s
 * own filter chain: {@code PassthroughCluster} (or any {@code ORIGINAL_DST} cluster) relays to the
 * original destination (meshConfig {@code outboundTrafficPolicy: ALLOW_ANY}); anything else,
 * including no chain at all, is the black hole ({@code REGISTRY_ONLY}).
 *
 * <p>Within one listener, its filter chains as Envoy picks them: an HTTP connection manager
 * (RDS) takes what starts as HTTP/1.1 or h2c; a {@code tcp_proxy} chain matched on
 * {@code server_names} takes a TLS connection whose ClientHello names that server (exactly, or by
 * a {@code *.suffix} wildcard, the longest suffix first); the {@code tcp_proxy} chain that matches
 * anything (in {@code filter_chains} or the {@code default_filter_chain}) takes the rest, else the
 * rest is treated as an unknown destination. A listener with only that TCP chain is relayed at
 * once, without waiting for the client's first bytes (server-first protocols).
 *
 * @param byAddress {@code ip:port} → its listener, for listeners bound to one address
 * @param byPort port → its listener, for listeners on {@code 0.0.0.0}
 * @param passthrough whether unknown destinations are relayed as they are (ALLOW_ANY)
 */
public record CaptureConfig(Map<String, Target> byAddress, Map<Integer, Target> byPort,
    boolean passthrough) {

  public static final String PASSTHROUGH_CLUSTER = "PassthroughCluster";
  public static final String BLACK_HOLE_CLUSTER = "BlackHoleCluster";
  static final String VIRTUAL_OUTBOUND = "virtualOutbound";
  static final String VIRTUAL_INBOUND = "virtualInbound";

  public static final CaptureConfig EMPTY = new CaptureConfig(Map.of(), Map.of(), false);

  public CaptureConfig {
    byAddress = Map.copyOf(requireNonNull(byAddress, "byAddress"));
    byPort = Map.copyOf(requireNonNull(byPort, "byPort"));
  }

  /**
   * What one outbound listener's filter chains do.
   *
   * @param routeConfig the route configuration of its HTTP chain, or null
   * @param clusterByServerName server name (or {@code *.suffix}) → cluster, its SNI chains
   * @param tcpCluster the cluster of its chain that matches any connection, or null
   */
  public record Target(String routeConfig, Map<String, String> clusterByServerName, String tcpCluster) {
    public Target {
      clusterByServerName = Map.copyOf(requireNonNull(clusterByServerName, "clusterByServerName"));
    }

    /** This listener's chains with {@code other}'s added where this one has none. */
    Target merge(Target other) {
      Map<String, String> sni = new TreeMap<>(other.clusterByServerName);
      sni.putAll(clusterByServerName);
      return new Target(routeConfig != null ? routeConfig : other.routeConfig, sni,
          tcpCluster != null ? tcpCluster : other.tcpCluster);
    }
  }

  /** What to do with one captured outbound connection. */
  public sealed interface Decision {
    /**
     * Sniff: HTTP/1.1 or h2c is routed with this route configuration; anything else goes
     * {@code otherwise}, with the bytes read so far.
     */
    record Http(String routeConfig, Decision otherwise) implements Decision {
      public Http {
        requireNonNull(routeConfig, "routeConfig");
        requireNonNull(otherwise, "otherwise");
      }
    }

    /**
     * Read the TLS ClientHello without consuming it: its SNI picks the cluster; no SNI, no
     * match, or not TLS at all goes {@code otherwise}.
     */
    record Tls(Map<String, String> clusterByServerName, Decision otherwise) implements Decision {
      public Tls {
        clusterByServerName = Map.copyOf(requireNonNull(clusterByServerName, "clusterByServerName"));
        requireNonNull(otherwise, "otherwise");
      }

      /** Envoy's {@code server_names} match: exact, else the longest {@code *.suffix}. */
      public Decision forServerName(String serverName) {
        if (serverName == null || serverName.isEmpty()) {
          return otherwise;
        }
        String name = serverName.toLowerCase(java.util.Locale.ROOT);
        String exact = clusterByServerName.get(name);
        if (exact != null) {
          return new Tcp(exact);
        }
        for (int dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
          String wildcard = clusterByServerName.get("*" + name.substring(dot));
          if (wildcard != null) {
            return new Tcp(wildcard);
          }
        }
        return otherwise;
      }
    }

    /** Raw TCP to one endpoint of this cluster. */
    record Tcp(String cluster) implements Decision {
      public Tcp {
        requireNonNull(cluster, "cluster");
      }
    }

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
    Target target = byAddress.get(ip + ":" + port);
    if (target == null) {
      target = byPort.get(port);
    }
    return target == null ? notInMesh() : decide(target);
  }

  private Decision decide(Target target) {
    Decision decision = target.tcpCluster() != null ? new Decision.Tcp(target.tcpCluster())
        : notInMesh();
    if (!target.clusterByServerName().isEmpty()) {
      decision = new Decision.Tls(target.clusterByServerName(), decision);
    }
    if (target.routeConfig() != null) {
      decision = new Decision.Http(target.routeConfig(), decision);
    }
    return decision;
  }

  /** For a destination no listener claims, or traffic its listener cannot carry. */
  public Decision notInMesh() {
    return passthrough ? new Decision.Passthrough() : new Decision.BlackHole();
  }

  public static CaptureConfig from(XdsSnapshot snapshot) {
    requireNonNull(snapshot, "snapshot");
    Map<String, Target> byAddress = new TreeMap<>();
    Map<Integer, Target> byPort = new TreeMap<>();
    boolean passthrough = false;
    // By name: two listeners on one key merge the same way whatever the map's order.
    for (Listener listener : new TreeMap<>(snapshot.listeners()).values()) {
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
      Target target = target(listener);
      if (target.routeConfig() == null && target.clusterByServerName().isEmpty()
          && target.tcpCluster() == null) {
        continue;
      }
      if (wildcard) {
        byPort.merge(port, target, Target::merge);
      } else {
        byAddress.merge(address.getAddress() + ":" + port, target, Target::merge);
      }
    }
    return new CaptureConfig(byAddress, byPort, passthrough);
  }

  private static Target target(Listener listener) {
    String routeConfig = null;
    Map<String, String> sni = new TreeMap<>();
    String tcp = null;
    for (FilterChain chain : chains(listener)) {
      var hcm = XdsResources.httpConnectionManager(chain);
      if (hcm.isPresent()) {
        if (routeConfig == null && hcm.get().hasRds()) {
          routeConfig = hcm.get().getRds().getRouteConfigName();
        }
        continue;
      }
      Optional<String> cluster = tcpProxyCluster(chain);
      if (cluster.isEmpty() || cluster.get().equals(PASSTHROUGH_CLUSTER)
          || cluster.get().equals(BLACK_HOLE_CLUSTER)) {
        // Istio's PassthroughFilterChain: the same as no chain, which notInMesh() covers.
        continue;
      }
      List<String> names = chain.getFilterChainMatch().getServerNamesList();
      if (names.isEmpty()) {
        if (tcp == null) {
          tcp = cluster.get();
        }
      } else {
        for (String name : names) {
          sni.putIfAbsent(name.toLowerCase(java.util.Locale.ROOT), cluster.get());
        }
      }
    }
    return new Target(routeConfig, sni, tcp);
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
