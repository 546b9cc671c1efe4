package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RateLimitResources;
import io.isthmus.proxy.testing.RateLimitResources.Rule;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.TrustBundle;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two real sidecars on loopback over mTLS: helloworld's inbound carries the local rate limit
 * RateLimitTranslator emits for "/hello*: burst 3, 3 per 2 s"; curl's sidecar calls it. After the
 * burst, the inbound sidecar answers 429 with the rate-limit headers and counts it with flag RL;
 * after the fill interval, requests pass again; other paths are never limited.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RateLimitLoopbackTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.236.1.1";
  private static final String SERVER_LOCAL = "127.236.2.1";
  private static final Duration FILL = Duration.ofSeconds(2);

  @TempDir
  static Path dir;

  private final TestPki pki = new TestPki();
  private FakeAdsServer serverAds;
  private FakeAdsServer clientAds;
  private HeaderEchoApp app;
  private Sidecar server;
  private Sidecar curl;
  private int inboundPort;

  @BeforeAll
  void startMesh() throws Exception {
    Path root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    Path token = Files.writeString(dir.resolve("token"), "unused");
    CertificateAuthority east = pki.intermediate("east");
    CertificateAuthority west = pki.intermediate("west");
    app = new HeaderEchoApp(SERVER_LOCAL);
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(SERVER_POD))) {
      inboundPort = s.getLocalPort();
    }
    serverAds = new FakeAdsServer().start();
    serverAds.set(XdsResourceType.CLUSTER, "1",
        List.of(MeshResources.inboundCluster(inboundPort, app.port())));
    serverAds.set(XdsResourceType.LISTENER, "1", List.of(virtualInbound()));
    serverAds.set(XdsResourceType.SECRET, "1", List.of(MeshResources.rootCa(pki.rootPem())));

    clientAds = new FakeAdsServer().start();
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.outboundCluster(5000, HOST)));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(MeshResources.endpoints(
        outboundName(5000, HOST), "us-east", new Ep(SERVER_POD, inboundPort, 1, "east", false))));
    clientAds.set(XdsResourceType.LISTENER, "1", List.of(MeshResources.outboundListener(5000)));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of(MeshResources.routes(5000, HOST)));
    clientAds.set(XdsResourceType.SECRET, "1", List.of(MeshResources.rootCa(pki.rootPem())));

    server = Sidecar.start(options(SERVER_POD, SERVER_LOCAL, "helloworld", serverAds.target(), root,
        token), WorkloadIdentity.fixed(pki.leaf(east, "sample", "helloworld")), trust());
    curl = Sidecar.start(options("127.237.1.1", "127.237.2.1", "curl", clientAds.target(), root,
        token), WorkloadIdentity.fixed(pki.leaf(west, "sample", "curl")), trust());
    await().atMost(Duration.ofSeconds(30)).until(() -> server.ready() && curl.ready());
  }

  @AfterAll
  void stopMesh() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {curl, server, clientAds, serverAds, app}) {
      if (c != null) {
        c.close();
      }
    }
  }

  private MeshTrust trust() {
    return new MeshTrust(TrustBundle.ofPem("cluster.local", List.of(pki.rootPem())));
  }

  private static ProxyOptions options(String podIp, String localhost, String sa, String controller,
      Path root, Path token) {
    return new ProxyOptions("sidecar", podIp, localhost, sa + "-v1-abc", "sample", sa, "east",
        "net1", "us-east/us-east-1a/", Map.of("app", sa, "version", "v1"), controller, root, token,
        Duration.ofHours(1), "cluster.local", true, 0, 0, 0);
  }

  private Listener virtualInbound() {
    String cluster = "inbound|" + inboundPort + "||";
    return Listener.newBuilder().setName("virtualInbound")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(15006)))
        .addFilterChains(FilterChain.newBuilder()
            .setFilterChainMatch(FilterChainMatch.newBuilder()
                .setDestinationPort(UInt32Value.of(inboundPort)).setTransportProtocol("tls"))
            .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
                .setTypedConfig(Any.pack(RateLimitResources.inboundHcm(cluster,
                    RateLimitResources.perRoute(false, true,
                        List.of(new Rule("hello", "/hello.*", 3, 3, FILL)))))))
            .setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
                .setTypedConfig(Any.pack(DownstreamTlsContext.newBuilder()
                    .setRequireClientCertificate(BoolValue.of(true)).build()))))
        .build();
  }

  private RawHttp.Response call(String path) throws Exception {
    return RawHttp.get(curl.outboundAddress(), HOST + ":5000", path);
  }

  @Test
  void afterTheBurstRequestsGet429WithHeadersUntilTheNextFill() throws Exception {
    int passed = 0;
    RawHttp.Response limited = null;
    for (int i = 0; i < 10 && limited == null; i++) {
      RawHttp.Response r = call("/hello?i=" + i);
      if (r.status() == 429) {
        limited = r;
      } else {
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        passed++;
      }
    }
    // The burst, plus at most one fill if the loop straddled a fill boundary.
    assertThat(passed).isBetween(3, 6);
    assertThat(limited).as("a 429 after the burst").isNotNull();
    assertThat(limited.body()).isEqualTo("local_rate_limited\n");
    assertThat(limited.headers()).containsEntry("x-ratelimit-limit", "3")
        .containsEntry("x-ratelimit-remaining", "0");
    assertThat(Long.parseLong(limited.headers().get("x-ratelimit-reset"))).isBetween(1L, 2L);
    assertThat(limited.headers().get("retry-after")).isEqualTo(limited.headers().get("x-ratelimit-reset"));

    assertThat(call("/other").status()).as("no rule for this path").isEqualTo(200);
    await().atMost(FILL.plusSeconds(3)).pollInterval(Duration.ofMillis(200))
        .until(() -> call("/hello").status() == 200);

    String metrics = RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body();
    assertThat(metrics).containsPattern("istio_requests_total\\{[^}]*response_code=\"429\""
        + "[^}]*response_flags=\"RL\"[^}]*} [1-9]");
    assertThat(metrics).containsPattern("isthmus_ratelimit_limited_total\\{enforced=\"true\","
        + "filter=\"" + RateLimitResources.FILTER + "\",port=\"" + inboundPort
        + "\",rule=\"rule=hello\"} [1-9]");
  }
}
