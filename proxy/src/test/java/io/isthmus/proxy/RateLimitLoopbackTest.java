package io.isthmus.proxy;

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
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RateLimitResources;
import io.isthmus.proxy.testing.RateLimitResources.Rule;
import io.isthmus.proxy.testing.RawHttp;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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
  // Long enough that the burst loop below sees at most one fill even when a loaded machine takes
  // most of a second per request.
  private static final Duration FILL = Duration.ofSeconds(5);

  @TempDir
  static Path dir;

  private TwoSidecars mesh;
  private HeaderEchoApp app;
  private Sidecar server;
  private Sidecar curl;
  private int inboundPort;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = mesh.own(new HeaderEchoApp(SERVER_LOCAL));
    inboundPort = mesh.port(SERVER_POD);
    mesh.serveInbound(virtualInbound(), inboundPort, app.port());
    mesh.routeHttp(5000, HOST, new Ep(SERVER_POD, inboundPort, 1, "east", false));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "helloworld");
    // The client claims cluster east too: only its certificate comes from west.
    curl = mesh.start(mesh.options("127.237.1.1", "127.237.2.1", "curl", "east", mesh.clientAds()),
        mesh.west());
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
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
        // Let through: the bucket's state rides on the response too (DRAFT_VERSION_03).
        assertThat(r.headers()).containsEntry("x-ratelimit-limit", "3")
            .containsKey("x-ratelimit-remaining").containsKey("x-ratelimit-reset");
        passed++;
      }
    }
    // The burst, plus at most one fill if the loop straddled a fill boundary.
    assertThat(passed).isBetween(3, 6);
    assertThat(limited).as("a 429 after the burst").isNotNull();
    assertThat(limited.body()).isEqualTo("local_rate_limited\n");
    assertThat(limited.headers()).containsEntry("x-ratelimit-limit", "3")
        .containsEntry("x-ratelimit-remaining", "0");
    assertThat(Long.parseLong(limited.headers().get("x-ratelimit-reset")))
        .isBetween(1L, FILL.toSeconds());
    assertThat(limited.headers().get("retry-after")).isEqualTo(limited.headers().get("x-ratelimit-reset"));

    RawHttp.Response other = call("/other");
    assertThat(other.status()).as("no rule for this path").isEqualTo(200);
    assertThat(other.headers()).as("no bucket taken, no headers").doesNotContainKey("x-ratelimit-limit");
    await().atMost(FILL.plusSeconds(30)).pollInterval(Duration.ofMillis(200))
        .until(() -> call("/hello").status() == 200);

    String metrics = RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body();
    assertThat(metrics).containsPattern("istio_requests_total\\{[^}]*response_code=\"429\""
        + "[^}]*response_flags=\"RL\"[^}]*} [1-9]");
    assertThat(metrics).containsPattern("isthmus_ratelimit_limited_total\\{enforced=\"true\","
        + "filter=\"" + RateLimitResources.FILTER + "\",port=\"" + inboundPort
        + "\",rule=\"rule=hello\"} [1-9]");
  }
}
