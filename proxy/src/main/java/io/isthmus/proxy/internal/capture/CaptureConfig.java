package io.isthmus.proxy.internal.capture;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.proxy.policy.TcpRoute;
import io.isthmus.proxy.xds.XdsResources;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.net.InetAddress;
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
 * <p>Within one listener, its filter chains as Envoy's {@code filter_chain_match} picks them, one
 * criterion after the other: {@code destination_port} (chains naming the port, else those naming
 * none), then {@code prefix_ranges} on the original destination address (the chains with the
 * longest range that holds it, else those with none), then, among what is left, an HTTP connection
 * manager (RDS) takes what starts as HTTP/1.1 or h2c; a {@code tcp_proxy} chain matched on
 * {@code server_names} takes a TLS connection whose ClientHello names that server (exactly, or by
 * a {@code *.suffix} wildcard, the longest suffix first); the {@code tcp_proxy} chain that matches
 * anything else (or the {@code default_filter_chain}) takes the rest, else the rest is treated as
 * an unknown destination. A {@code tcp_proxy} is a {@link TcpRoute}: one cluster, or weighted
 * clusters picked per connection. A listener with only that TCP chain is relayed at once, without
 * waiting for the client's first bytes (server-first protocols).
 *
 * @param byAddress {@code ip:port} → its listener's chains, for listeners bound to one address
 * @param byPort port → its listener's chains, for listeners on {@code 0.0.0.0}
 * @param passthrough whether unknown destinations are relayed as they are (ALLOW_ANY)
 * @param bound {@code ip:port} → the chains of an outbound listener the sidecar binds itself
 *     ({@code bind_to_port: true}, Istio's egress {@code captureMode: NONE}), for apps that dial it
 */
public record CaptureConfig(Map<String, Chains> byAddress, Map<Integer, Chains> byPort,
    boolean passthrough, Map<String, Chains> bound) {

  public static final String PASSTHROUGH_CLUSTER = "PassthroughCluster";
  public static final String BLACK_HOLE_CLUSTER = "BlackHoleCluster";
  static final String VIRTUAL_OUTBOUND = "virtualOutbound";
  static final String VIRTUAL_INBOUND = "virtualInbound";

  public static final CaptureConfig EMPTY = new CaptureConfig(Map.of(), Map.of(), false);

  public CaptureConfig {
    byAddress = Map.copyOf(requireNonNull(byAddress, "byAddress"));
    byPort = Map.copyOf(requireNonNull(byPort, "byPort"));
    bound = Map.copyOf(requireNonNull(bound, "bound"));
  }

  public CaptureConfig(Map<String, Chains> byAddress, Map<Integer, Chains> byPort,
      boolean passthrough) {
    this(byAddress, byPort, passthrough, Map.of());
  }

  /**
   * Where a connection accepted by the explicit listener on {@code address} ({@code ip:port}, one
   * of {@link #bound()}) goes: its chains as for a captured connection whose destination is the
   * listener's own address. Such a connection has no other destination to fall back to, so
   * traffic no chain takes is refused ({@link Decision.BlackHole}), never passed through to
   * itself.
   */
  public Decision explicit(String address, InetSocketAddress local) {
    requireNonNull(address, "address");
    requireNonNull(local, "local");
    Chains chains = bound.get(address);
    if (chains == null) {
      return new Decision.BlackHole();
    }
    return decide(chains.select(local), new Decision.BlackHole());
  }

  /** An IP block of a {@code prefix_ranges} entry. */
  public record Prefix(InetAddress network, int length) {
    public Prefix {
      requireNonNull(network, "network");
      int max = network.getAddress().length * 8;
      if (length < 0 || length > max) {
        throw new IllegalArgumentException("prefix_len: " + length + " (expected: 0-" + max + ")");
      }
    }

    /** Whether {@code address} is in this block (never across address families). */
    public boolean contains(InetAddress address) {
      byte[] a = address.getAddress();
      byte[] n = network.getAddress();
      if (a.length != n.length) {
        return false;
      }
      int full = length / 8;
      for (int i = 0; i < full; i++) {
        if (a[i] != n[i]) {
          return false;
        }
      }
      int rest = length % 8;
      if (rest == 0) {
        return true;
      }
      int mask = (0xff << (8 - rest)) & 0xff;
      return (a[full] & mask) == (n[full] & mask);
    }
  }

  /**
   * One filter chain, as far as capture reads it.
   *
   * @param prefixRanges its {@code prefix_ranges}; empty: any destination address
   * @param destinationPort its {@code destination_port}; 0: any
   * @param serverNames its {@code server_names} (lower case); empty: any
   * @param routeConfig the route configuration of its HTTP connection manager, or null
   * @param tcp its {@code tcp_proxy}, or null
   */
  public record Chain(List<Prefix> prefixRanges, int destinationPort, List<String> serverNames,
      String routeConfig, TcpRoute tcp) {
    public Chain {
      prefixRanges = List.copyOf(requireNonNull(prefixRanges, "prefixRanges"));
      serverNames = List.copyOf(requireNonNull(serverNames, "serverNames"));
    }

    /** The longest of its ranges that holds {@code address}; -1 for none. */
    int longestMatch(InetAddress address) {
      int best = -1;
      for (Prefix prefix : prefixRanges) {
        if (prefix.length() > best && prefix.contains(address)) {
          best = prefix.length();
        }
      }
      return best;
    }
  }

  /**
   * One outbound listener's chains, in order, and its {@code default_filter_chain} (null for
   * none). Chains to PassthroughCluster or BlackHoleCluster are left out: Istio's
   * PassthroughFilterChain means the same as no chain, which {@link #notInMesh()} covers.
   */
  public record Chains(List<Chain> chains, Chain defaultChain, java.time.Duration detectionTimeout) {
    public Chains {
      chains = List.copyOf(requireNonNull(chains, "chains"));
      requireNonNull(detectionTimeout, "detectionTimeout");
    }

    /** This listener's chains, then {@code other}'s; this one's default chain and timeout first. */
    Chains merge(Chains other) {
      List<Chain> all = new ArrayList<>(chains);
      all.addAll(other.chains);
      return new Chains(all, defaultChain != null ? defaultChain : other.defaultChain,
          detectionTimeout);
    }

    /**
     * What the connection to {@code original} may still become once Envoy's port and address
     * criteria have narrowed the chains: its HTTP, SNI and match-all TCP chains.
     */
    Target select(InetSocketAddress original) {
      List<Chain> candidates = chains.stream()
          .filter(c -> c.destinationPort() == original.getPort()).toList();
      if (candidates.isEmpty()) {
        candidates = chains.stream().filter(c -> c.destinationPort() == 0).toList();
      }
      InetAddress address = original.getAddress();
      int best = -1;
      if (address != null) {
        for (Chain chain : candidates) {
          best = Math.max(best, chain.longestMatch(address));
        }
      }
      int longest = best;
      candidates = longest >= 0
          ? candidates.stream().filter(c -> c.longestMatch(address) == longest).toList()
          : candidates.stream().filter(c -> c.prefixRanges().isEmpty()).toList();
      String routeConfig = null;
      Map<String, TcpRoute> sni = new TreeMap<>();
      TcpRoute tcp = null;
      for (Chain chain : candidates) {
        if (chain.routeConfig() != null) {
          if (routeConfig == null) {
            routeConfig = chain.routeConfig();
          }
        } else if (chain.serverNames().isEmpty()) {
          if (tcp == null) {
            tcp = chain.tcp();
          }
        } else {
          for (String name : chain.serverNames()) {
            sni.putIfAbsent(name, chain.tcp());
          }
        }
      }
      if (tcp == null && defaultChain != null) {
        tcp = defaultChain.tcp();
      }
      return new Target(routeConfig, sni, tcp, detectionTimeout);
    }
  }

  /**
   * What one listener's filter chains do for one connection, once its destination is known.
   *
   * @param routeConfig the route configuration of its HTTP chain, or null
   * @param routeByServerName server name (or {@code *.suffix}) → route, its SNI chains
   * @param tcp the route of its chain that matches any other connection, or null
   * @param detectionTimeout how long to wait for the first bytes that tell HTTP or TLS apart
   *     (the listener's {@code listener_filters_timeout}; zero: as long as it takes)
   */
  public record Target(String routeConfig, Map<String, TcpRoute> routeByServerName, TcpRoute tcp,
      java.time.Duration detectionTimeout) {
    public Target {
      routeByServerName = Map.copyOf(requireNonNull(routeByServerName, "routeByServerName"));
      requireNonNull(detectionTimeout, "detectionTimeout");
    }
  }

  /** What to do with one captured outbound connection. */
  public sealed interface Decision {
    /**
     * Sniff: HTTP/1.1 or h2c is routed with this route configuration; anything else goes
     * {@code otherwise}, with the bytes read so far.
     */
    record Http(String routeConfig, Decision otherwise, java.time.Duration timeout)
        implements Decision {
      public Http {
        requireNonNull(routeConfig, "routeConfig");
        requireNonNull(otherwise, "otherwise");
        requireNonNull(timeout, "timeout");
      }
    }

    /**
     * Read the TLS ClientHello without consuming it: its SNI picks the route; no SNI, no
     * match, or not TLS at all goes {@code otherwise}.
     */
    record Tls(Map<String, TcpRoute> routeByServerName, Decision otherwise,
        java.time.Duration timeout) implements Decision {
      public Tls {
        routeByServerName = Map.copyOf(requireNonNull(routeByServerName, "routeByServerName"));
        requireNonNull(otherwise, "otherwise");
        requireNonNull(timeout, "timeout");
      }

      /** Envoy's {@code server_names} match: exact, else the longest {@code *.suffix}. */
      public Decision forServerName(String serverName) {
        if (serverName == null || serverName.isEmpty()) {
          return otherwise;
        }
        String name = serverName.toLowerCase(java.util.Locale.ROOT);
        TcpRoute exact = routeByServerName.get(name);
        if (exact != null) {
          return new Tcp(exact);
        }
        for (int dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
          TcpRoute wildcard = routeByServerName.get("*" + name.substring(dot));
          if (wildcard != null) {
            return new Tcp(wildcard);
          }
        }
        return otherwise;
      }
    }

    /** Raw TCP to one endpoint of the route's cluster (a weighted route picks one first). */
    record Tcp(TcpRoute route) implements Decision {
      public Tcp {
        requireNonNull(route, "route");
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
    Chains chains = byAddress.get(ip + ":" + port);
    if (chains == null) {
      chains = byPort.get(port);
    }
    return chains == null ? notInMesh() : decide(chains.select(original), notInMesh());
  }

  private Decision decide(Target target, Decision unclaimed) {
    Decision decision = target.tcp() != null ? new Decision.Tcp(target.tcp()) : unclaimed;
    if (!target.routeByServerName().isEmpty()) {
      decision = new Decision.Tls(target.routeByServerName(), decision, target.detectionTimeout());
    }
    if (target.routeConfig() != null) {
      decision = new Decision.Http(target.routeConfig(), decision, target.detectionTimeout());
    }
    return decision;
  }

  /** For a destination no listener claims, or traffic its listener cannot carry. */
  public Decision notInMesh() {
    return passthrough ? new Decision.Passthrough() : new Decision.BlackHole();
  }

  /**
   * Compiles the snapshot's outbound listeners. Their {@code tcp_proxy} filters were validated
   * when they arrived; one that does not compile is left out here, as a chain that matches nothing.
   */
  public static CaptureConfig from(XdsSnapshot snapshot) {
    requireNonNull(snapshot, "snapshot");
    Map<String, Chains> byAddress = new TreeMap<>();
    Map<Integer, Chains> byPort = new TreeMap<>();
    Map<String, Chains> bound = new TreeMap<>();
    boolean passthrough = false;
    // By name: two listeners on one key merge the same way whatever the map's order.
    for (Listener listener : new TreeMap<>(snapshot.listeners()).values()) {
      if (listener.getName().equals(VIRTUAL_INBOUND)
          || listener.getTrafficDirection() == TrafficDirection.INBOUND) {
        continue;
      }
      if (listener.getName().equals(VIRTUAL_OUTBOUND)) {
        List<FilterChain> all = new ArrayList<>(listener.getFilterChainsList());
        if (listener.hasDefaultFilterChain()) {
          all.add(listener.getDefaultFilterChain());
        }
        passthrough = all.stream()
            .flatMap(chain -> tcpProxy(chain).stream())
            .anyMatch(route -> isPassthrough(route.firstCluster(), snapshot));
        continue;
      }
      if (!listener.hasAddress() || !listener.getAddress().hasSocketAddress()) {
        continue;
      }
      var address = listener.getAddress().getSocketAddress();
      int port = address.getPortValue();
      boolean wildcard = address.getAddress().isEmpty() || address.getAddress().equals("0.0.0.0")
          || address.getAddress().equals("::");
      Chains chains = chains(listener);
      if (chains.chains().isEmpty() && chains.defaultChain() == null) {
        continue;
      }
      if (bindsToPort(listener)) {
        // Istio's captureMode NONE: a socket of its own, which the app dials.
        bound.merge((wildcard ? "0.0.0.0" : address.getAddress()) + ":" + port, chains,
            Chains::merge);
      }
      if (wildcard) {
        byPort.merge(port, chains, Chains::merge);
      } else {
        byAddress.merge(address.getAddress() + ":" + port, chains, Chains::merge);
      }
    }
    return new CaptureConfig(byAddress, byPort, passthrough, bound);
  }

  /**
   * Whether the sidecar binds {@code listener}'s address itself: {@code bind_to_port} set to true.
   * Unset counts as false here (Envoy: true), because Isthmus' controller marks every listener it
   * means to be bound, and captured listeners were sent without the field before.
   */
  public static boolean bindsToPort(Listener listener) {
    return listener.hasBindToPort() && listener.getBindToPort().getValue();
  }

  private static Chains chains(Listener listener) {
    List<Chain> chains = new ArrayList<>();
    for (FilterChain chain : listener.getFilterChainsList()) {
      chain(chain).ifPresent(chains::add);
    }
    Chain defaultChain = listener.hasDefaultFilterChain()
        ? chain(listener.getDefaultFilterChain()).orElse(null) : null;
    return new Chains(chains, defaultChain, detectionTimeout(listener));
  }

  /** Envoy's default {@code listener_filters_timeout}, for a listener that does not set one. */
  static final java.time.Duration DEFAULT_DETECTION_TIMEOUT = java.time.Duration.ofSeconds(15);

  /**
   * How long the listener's inspection waits for the first bytes: {@code listener_filters_timeout}
   * (zero: no limit; Istio sends its mesh config's {@code protocolDetectionTimeout}, 0 by default),
   * unset: Envoy's 15 s. Silence then takes the listener's non-HTTP, non-SNI path, as with
   * {@code continue_on_listener_filters_timeout}, which Istio always sets (false is not honoured).
   */
  static java.time.Duration detectionTimeout(Listener listener) {
    if (!listener.hasListenerFiltersTimeout()) {
      return DEFAULT_DETECTION_TIMEOUT;
    }
    var d = listener.getListenerFiltersTimeout();
    return d.getSeconds() < 0 || d.getNanos() < 0 ? DEFAULT_DETECTION_TIMEOUT
        : java.time.Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }

  private static Optional<Chain> chain(FilterChain chain) {
    var match = chain.getFilterChainMatch();
    List<Prefix> prefixes = new ArrayList<>();
    for (var range : match.getPrefixRangesList()) {
      Optional<Prefix> prefix = prefix(range);
      if (prefix.isEmpty()) {
        // Validated on arrival; a chain whose range cannot be read matches nothing.
        return Optional.empty();
      }
      prefixes.add(prefix.get());
    }
    int port = match.hasDestinationPort() ? match.getDestinationPort().getValue() : 0;
    List<String> names = match.getServerNamesList().stream()
        .map(n -> n.toLowerCase(java.util.Locale.ROOT)).toList();
    var hcm = XdsResources.httpConnectionManager(chain);
    if (hcm.isPresent()) {
      return hcm.get().hasRds()
          ? Optional.of(new Chain(prefixes, port, names, hcm.get().getRds().getRouteConfigName(), null))
          : Optional.empty();
    }
    Optional<TcpRoute> route = tcpProxy(chain);
    if (route.isEmpty() || route.get().firstCluster().equals(PASSTHROUGH_CLUSTER)
        || route.get().firstCluster().equals(BLACK_HOLE_CLUSTER)) {
      // Istio's PassthroughFilterChain: the same as no chain, which notInMesh() covers.
      return Optional.empty();
    }
    return Optional.of(new Chain(prefixes, port, names, null, route.get()));
  }

  /**
   * A {@code prefix_ranges} entry; empty when its address is not an IP literal (never looked up)
   * or its length is out of range. An unset length is the whole address, as in Envoy.
   */
  public static Optional<Prefix> prefix(io.envoyproxy.envoy.config.core.v3.CidrRange range) {
    byte[] bytes = io.netty.util.NetUtil.createByteArrayFromIpAddressString(range.getAddressPrefix());
    if (bytes == null) {
      return Optional.empty();
    }
    try {
      int length = range.hasPrefixLen() ? range.getPrefixLen().getValue() : bytes.length * 8;
      return Optional.of(new Prefix(InetAddress.getByAddress(bytes), length));
    } catch (java.net.UnknownHostException | IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  private static boolean isPassthrough(String cluster, XdsSnapshot snapshot) {
    if (cluster.equals(PASSTHROUGH_CLUSTER)) {
      return true;
    }
    Cluster found = snapshot.clusters().get(cluster);
    return found != null && found.getType() == Cluster.DiscoveryType.ORIGINAL_DST;
  }

  /** The chain's {@code tcp_proxy}, compiled; empty without one or when it does not compile. */
  public static Optional<TcpRoute> tcpProxy(FilterChain chain) {
    for (var filter : chain.getFiltersList()) {
      if (filter.getTypedConfig().is(TcpProxy.class)) {
        try {
          return Optional.of(TcpRoute.of(filter.getTypedConfig().unpack(TcpProxy.class)));
        } catch (com.google.protobuf.InvalidProtocolBufferException | IllegalArgumentException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }
}
