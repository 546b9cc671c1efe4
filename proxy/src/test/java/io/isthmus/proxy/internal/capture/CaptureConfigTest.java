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

  private static String describe(Decision decision) {
    if (decision instanceof Decision.Http http) {
      boolean fallsOut = http.otherwise() instanceof Decision.Passthrough
          || http.otherwise() instanceof Decision.BlackHole;
      return "http " + http.routeConfig() + (fallsOut ? "" : " else " + describe(http.otherwise()));
    }
    if (decision instanceof Decision.Tls tls) {
      return "sni " + new java.util.TreeMap<>(tls.clusterByServerName()) + " else "
          + describe(tls.otherwise());
    }
    if (decision instanceof Decision.Tcp tcp) {
      return "tcp " + tcp.cluster();
    }
    return decision instanceof Decision.Passthrough ? "passthrough" : "blackhole";
  }
}
