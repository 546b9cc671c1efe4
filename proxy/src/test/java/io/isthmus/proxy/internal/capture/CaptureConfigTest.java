package io.isthmus.proxy.internal.capture;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import io.isthmus.proxy.internal.capture.CaptureConfig.Decision;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Where a captured outbound connection goes, by its original destination (Istio's order). */
class CaptureConfigTest {

  private static final String REVIEWS = "outbound|9080||reviews.default.svc.cluster.local";
  private static final String MYSQL = "outbound|3306||mysql.default.svc.cluster.local";
  private static final String REDIS = "outbound|6379||redis.default.svc.cluster.local";

  private static CaptureConfig config(boolean allowAny) {
    Map<String, Listener> listeners = List.of(
            MeshResources.outboundListener(9080),
            // Port 3306: HTTP for every address but one TCP service's ClusterIP.
            MeshResources.outboundListener(3306),
            MeshResources.outboundTcpListener("10.96.0.33", 3306, MYSQL),
            MeshResources.outboundTcpListener(6379, REDIS),
            MeshResources.virtualOutbound(allowAny),
            MeshResources.virtualInbound(8080))
        .stream().collect(Collectors.toMap(Listener::getName, Function.identity()));
    Map<String, Cluster> clusters = Map.of("PassthroughCluster",
        MeshResources.passthroughCluster());
    return CaptureConfig.from(new XdsSnapshot(clusters, Map.of(), listeners, Map.of(), Map.of(),
        Map.of()));
  }

  @ParameterizedTest(name = "{0}:{1} → {2}")
  @CsvSource({
      "10.96.0.10, 9080, http 9080",
      "10.96.0.33, 3306, tcp " + MYSQL,
      "10.96.0.34, 3306, http 3306",
      "10.96.0.50, 6379, tcp " + REDIS,
      "93.184.216.34, 443, passthrough",
      // The inbound capture's chain for 8080 says nothing about outbound 8080.
      "10.96.0.10, 8080, passthrough",
  })
  void allowAnyRelaysUnknownDestinations(String ip, int port, String expected) {
    assertThat(describe(config(true).outbound(new InetSocketAddress(ip, port))))
        .isEqualTo(expected);
  }

  @Test
  void registryOnlyClosesUnknownDestinationsAndKeepsKnownOnes() {
    CaptureConfig registryOnly = config(false);
    assertThat(registryOnly.passthrough()).isFalse();
    assertThat(registryOnly.outbound(new InetSocketAddress("93.184.216.34", 443)))
        .isEqualTo(new Decision.BlackHole());
    assertThat(describe(registryOnly.outbound(new InetSocketAddress("10.96.0.10", 9080))))
        .isEqualTo("http 9080");
  }

  @Test
  void aVirtualOutboundWithoutChainsIsRegistryOnlyAsTheControllerSendsIt() {
    Listener bare = Listener.newBuilder().setName("virtualOutbound").build();
    CaptureConfig config = CaptureConfig.from(new XdsSnapshot(Map.of(), Map.of(),
        Map.of("virtualOutbound", bare), Map.of(), Map.of(), Map.of()));
    assertThat(config.notInMesh()).isEqualTo(new Decision.BlackHole());
  }

  private static final String HTTPBIN = "outbound|443||httpbin.org";
  private static final String EXAMPLE = "outbound|443||*.example.com";
  private static final String API = "outbound|443||api.example.com";
  private static final String LEGACY = "outbound|8000||legacy.default.svc.cluster.local";

  /** As the controller sends them: TLS hosts without VIP on 0.0.0.0_443, a sniffed VIP port. */
  private static CaptureConfig tlsAndSniffed(boolean allowAny) {
    Map<String, Listener> listeners = List.of(
            MeshResources.sniListener(443, Map.of("httpbin.org", HTTPBIN,
                "*.example.com", EXAMPLE, "api.example.com", API)),
            MeshResources.sniffedListener("10.96.0.40", 8000, "legacy.default.svc.cluster.local:8000",
                LEGACY),
            MeshResources.virtualOutbound(allowAny))
        .stream().collect(Collectors.toMap(Listener::getName, Function.identity()));
    return CaptureConfig.from(new XdsSnapshot(Map.of("PassthroughCluster",
        MeshResources.passthroughCluster()), Map.of(), listeners, Map.of(), Map.of(), Map.of()));
  }

  @ParameterizedTest(name = "{0}:{1} SNI {2} → {3}")
  @CsvSource(nullValues = "null", value = {
      // Exact server names first, then the longest wildcard suffix; case does not matter.
      "93.184.216.34, 443, httpbin.org, tcp " + HTTPBIN,
      "93.184.216.34, 443, HTTPBIN.org, tcp " + HTTPBIN,
      "93.184.216.34, 443, api.example.com, tcp " + API,
      "93.184.216.34, 443, www.example.com, tcp " + EXAMPLE,
      "93.184.216.34, 443, a.b.example.com, tcp " + EXAMPLE,
      // The wildcard needs a label before the suffix: example.com itself is not *.example.com.
      "93.184.216.34, 443, example.com, passthrough",
      "93.184.216.34, 443, other.org, passthrough",
      // No SNI, or not TLS at all: the listener's default chain (PassthroughCluster).
      "93.184.216.34, 443, null, passthrough",
  })
  void theClientHellosServerNamePicksTheChain(String ip, int port, String serverName, String expected) {
    Decision decision = tlsAndSniffed(true).outbound(new InetSocketAddress(ip, port));
    assertThat(decision).isInstanceOf(Decision.Tls.class);
    assertThat(describe(((Decision.Tls) decision).forServerName(serverName))).isEqualTo(expected);
  }

  @Test
  void anSniListenerSniffsTheHelloAndFallsToTheModeOfVirtualOutbound() {
    assertThat(describe(tlsAndSniffed(true).outbound(new InetSocketAddress("1.2.3.4", 443))))
        .isEqualTo("sni {*.example.com=" + EXAMPLE + ", api.example.com=" + API
            + ", httpbin.org=" + HTTPBIN + "} else passthrough");
    Decision registryOnly = tlsAndSniffed(false).outbound(new InetSocketAddress("1.2.3.4", 443));
    assertThat(((Decision.Tls) registryOnly).forServerName("unknown.org"))
        .isEqualTo(new Decision.BlackHole());
  }

  @Test
  void aSniffedVipPortIsHttpByItsOwnRoutesElseTcpToItsService() {
    CaptureConfig config = tlsAndSniffed(false);
    assertThat(describe(config.outbound(new InetSocketAddress("10.96.0.40", 8000))))
        .isEqualTo("http legacy.default.svc.cluster.local:8000 else tcp " + LEGACY);
    // Another address on the port: no listener claims it.
    assertThat(config.outbound(new InetSocketAddress("10.96.0.41", 8000)))
        .isEqualTo(new Decision.BlackHole());
  }

  @Test
  void anHttpAndATcpListenerOnOnePortAreOneSniffedTarget() {
    Map<String, Listener> listeners = Map.of("0.0.0.0_9000", MeshResources.outboundListener(9000)
        .toBuilder().setDefaultFilterChain(io.envoyproxy.envoy.config.listener.v3.FilterChain
            .newBuilder().addFilters(MeshResources.outboundTcpListener(9000, REDIS)
                .getFilterChains(0).getFilters(0))).build());
    CaptureConfig config = CaptureConfig.from(new XdsSnapshot(Map.of(), Map.of(), listeners,
        Map.of(), Map.of(), Map.of()));
    assertThat(describe(config.outbound(new InetSocketAddress("10.1.1.1", 9000))))
        .isEqualTo("http 9000 else tcp " + REDIS);
  }

  @Test
  void originalDestinationIsReadFromSockaddrIn() {
    ByteBuffer raw = ByteBuffer.allocate(16);
    raw.order(ByteOrder.nativeOrder()).putShort(0, (short) 2);
    raw.put(2, (byte) 0x1f).put(3, (byte) 0x90); // 8080, network order
    raw.put(4, (byte) 10).put(5, (byte) 96).put(6, (byte) 0).put(7, (byte) 10);
    assertThat(OriginalDestination.parse(raw))
        .contains(new InetSocketAddress("10.96.0.10", 8080));

    ByteBuffer ipv6 = ByteBuffer.allocate(16);
    ipv6.order(ByteOrder.nativeOrder()).putShort(0, (short) 10);
    assertThat(OriginalDestination.parse(ipv6)).isEmpty();
  }

  private static io.envoyproxy.envoy.config.listener.v3.FilterChain tcpChain(
      io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.Builder match,
      io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy proxy) {
    return io.envoyproxy.envoy.config.listener.v3.FilterChain.newBuilder()
        .setFilterChainMatch(match)
        .addFilters(io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder()
            .setName("envoy.filters.network.tcp_proxy")
            .setTypedConfig(com.google.protobuf.Any.pack(proxy)))
        .build();
  }

  private static io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy to(
      String cluster) {
    return io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.newBuilder()
        .setStatPrefix(cluster).setCluster(cluster).build();
  }

  private static io.envoyproxy.envoy.config.core.v3.CidrRange range(String ip, int length) {
    return io.envoyproxy.envoy.config.core.v3.CidrRange.newBuilder().setAddressPrefix(ip)
        .setPrefixLen(com.google.protobuf.UInt32Value.of(length)).build();
  }

  private static final String PG_NARROW = "outbound|5432||pg-narrow.example.com";
  private static final String PG_WIDE = "outbound|5432||pg-wide.example.com";
  private static final String VAULT = "outbound|5432||vault.example.com";

  /**
   * As the controller sends ServiceEntry ranges and VirtualService routes: chains on 0.0.0.0_5432
   * matched on prefix ranges (one also on SNI), a weighted one on a VIP, and one on the port.
   */
  private static CaptureConfig ranges() {
    var fcm = io.envoyproxy.envoy.config.listener.v3.FilterChainMatch.newBuilder();
    Listener wildcard = MeshResources.outboundTcpListener(5432, PG_WIDE).toBuilder()
        .clearFilterChains()
        .addFilterChains(tcpChain(fcm.clone().addPrefixRanges(range("10.20.0.0", 16)), to(PG_WIDE)))
        .addFilterChains(tcpChain(fcm.clone().addPrefixRanges(range("10.20.0.0", 24))
            .addPrefixRanges(range("10.21.0.9", 32)), to(PG_NARROW)))
        .addFilterChains(tcpChain(fcm.clone().addPrefixRanges(range("10.30.0.0", 16))
            .setTransportProtocol("tls").addServerNames("vault.example.com"), to(VAULT)))
        .setDefaultFilterChain(tcpChain(fcm.clone(), to("PassthroughCluster")))
        .build();
    Listener weighted = MeshResources.outboundTcpListener("10.96.0.50", 5432, MYSQL).toBuilder()
        .clearFilterChains()
        .addFilterChains(tcpChain(fcm.clone(),
            io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.newBuilder()
                .setStatPrefix(MYSQL).setWeightedClusters(
                    io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
                        .WeightedCluster.newBuilder()
                        .addClusters(io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3
                            .TcpProxy.WeightedCluster.ClusterWeight.newBuilder()
                            .setName(PG_NARROW).setWeight(80))
                        .addClusters(io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3
                            .TcpProxy.WeightedCluster.ClusterWeight.newBuilder()
                            .setName(PG_WIDE).setWeight(20)))
                .build()))
        .build();
    // destination_port is Envoy's first criterion: the chain naming the port beats the ranges.
    Listener byPort = MeshResources.outboundTcpListener(6379, REDIS).toBuilder()
        .clearFilterChains()
        .addFilterChains(tcpChain(fcm.clone().addPrefixRanges(range("10.20.0.0", 16)), to(PG_WIDE)))
        .addFilterChains(tcpChain(fcm.clone().setDestinationPort(
            com.google.protobuf.UInt32Value.of(6379)), to(REDIS)))
        .build();
    Map<String, Listener> listeners = List.of(wildcard, weighted, byPort,
            MeshResources.virtualOutbound(true))
        .stream().collect(Collectors.toMap(Listener::getName, Function.identity()));
    return CaptureConfig.from(new XdsSnapshot(Map.of("PassthroughCluster",
        MeshResources.passthroughCluster()), Map.of(), listeners, Map.of(), Map.of(), Map.of()));
  }

  @ParameterizedTest(name = "{0}:{1} → {2}")
  @CsvSource(delimiter = '#', value = {
      // The longest range that holds the destination wins; a /32 is one address.
      "10.20.0.7   # 5432 # tcp " + PG_NARROW,
      "10.21.0.9   # 5432 # tcp " + PG_NARROW,
      "10.20.1.0   # 5432 # tcp " + PG_WIDE,
      "10.20.200.1 # 5432 # tcp " + PG_WIDE,
      // In the TLS range: its SNI chain, else the default chain (none here but Passthrough).
      "10.30.1.1   # 5432 # sni {vault.example.com=" + VAULT + "} else passthrough",
      // Outside every range: no chain matches; the default chain is PassthroughCluster.
      "10.99.0.1   # 5432 # passthrough",
      // A VIP's own listener comes first; its route weighs two clusters.
      "10.96.0.50  # 5432 # tcp {" + PG_NARROW + "=80, " + PG_WIDE + "=20}",
      "10.20.0.1   # 6379 # tcp " + REDIS,
  })
  void prefixRangesAndTheDestinationPortNarrowTheChainsAsEnvoyDoes(String ip, int port,
      String expected) {
    assertThat(describe(ranges().outbound(new InetSocketAddress(ip, port)))).isEqualTo(expected);
  }

  @Test
  void aWeightedRouteSplitsConnectionsByWeight() {
    Decision decision = ranges().outbound(new InetSocketAddress("10.96.0.50", 5432));
    var route = ((Decision.Tcp) decision).route();
    java.util.random.RandomGenerator random = new java.util.SplittableRandom(42);
    Map<String, Long> picks = java.util.stream.IntStream.range(0, 10_000)
        .mapToObj(i -> route.pick(random))
        .collect(Collectors.groupingBy(Function.identity(), Collectors.counting()));
    // 8,000 expected; 10 standard deviations (40 each) either way: a seeded generator, never flaky.
    assertThat(picks.get(PG_NARROW)).isBetween(7_600L, 8_400L);
    assertThat(picks.get(PG_NARROW) + picks.get(PG_WIDE)).isEqualTo(10_000L);
  }

  private static String describe(Decision decision) {
    if (decision instanceof Decision.Http http) {
      boolean fallsOut = http.otherwise() instanceof Decision.Passthrough
          || http.otherwise() instanceof Decision.BlackHole;
      return "http " + http.routeConfig() + (fallsOut ? "" : " else " + describe(http.otherwise()));
    }
    if (decision instanceof Decision.Tls tls) {
      java.util.Map<String, String> names = new java.util.TreeMap<>();
      tls.routeByServerName().forEach((name, route) -> names.put(name, route(route)));
      return "sni " + names + " else " + describe(tls.otherwise());
    }
    if (decision instanceof Decision.Tcp tcp) {
      return "tcp " + route(tcp.route());
    }
    return decision instanceof Decision.Passthrough ? "passthrough" : "blackhole";
  }

  /** A route's cluster, or {@code {cluster=weight, ...}} for weighted clusters. */
  private static String route(io.isthmus.proxy.policy.TcpRoute route) {
    return route.weighted() ? route.clusters().stream().map(c -> c.name() + "=" + c.weight())
        .collect(Collectors.joining(", ", "{", "}")) : route.firstCluster();
  }
}
