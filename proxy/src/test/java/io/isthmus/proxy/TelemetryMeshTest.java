package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Telemetry through two real sidecars (mTLS, metadata exchange): Istio's metrics with both
 * reporters on the 15020 port, access logs in both formats, and trace context propagation.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TelemetryMeshTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.213.1.1";
  private static final String SERVER_LOCAL = "127.213.2.1";
  private static final String CLIENT_POD = "127.214.1.1";
  private static final String CLIENT_LOCAL = "127.214.2.1";
  private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String CALLER_SPAN = "00f067aa0ba902b7";

  @TempDir
  static Path dir;

  private TwoSidecars mesh;
  private HeaderEchoApp app;
  private Sidecar server;
  private Sidecar client;
  private int inboundPort;
  private Path clientLog;
  private Path serverLog;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = mesh.own(new HeaderEchoApp(SERVER_LOCAL));
    inboundPort = mesh.port(SERVER_POD);
    clientLog = dir.resolve("client-access.log");
    serverLog = dir.resolve("server-access.log");
    mesh.serveInbound(MeshResources.virtualInbound(inboundPort), inboundPort, app.port());
    mesh.routeHttp(5000, HOST, new Ep(SERVER_POD, inboundPort, 1, "east", false));

    // Tracing on, towards a collector that is not there: spans are dropped by the exporter,
    // headers must still carry this hop's context.
    int noCollector = mesh.port("127.0.0.1");
    server = mesh.start(mesh.options(SERVER_POD, SERVER_LOCAL, "helloworld", "helloworld-v1-7c9d2",
            "east", mesh.serverAds()).withTelemetry(
                new TelemetryOptions(0, "127.0.0.1:" + noCollector, 100, serverLog.toString(), "json",
                    100)),
        mesh.east());
    client = mesh.start(mesh.options(CLIENT_POD, CLIENT_LOCAL, "curl", "curl-v1-5f6e1", "west",
            mesh.clientAds()).withTelemetry(
                new TelemetryOptions(0, "127.0.0.1:" + noCollector, 100, clientLog.toString(), "text",
                    100)),
        mesh.west());
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void bothReportersCountTheRequestWithIstiosLabelsOnPort15020() throws Exception {
    assertThat(RawHttp.get(client.outboundAddress(), HOST + ":5000", "/metrics-check").status())
        .isEqualTo(200);

    // Awaited: a reporter may count the request after the response went out (when the
    // upstream is known only then).
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      String source = scrape(client);
      assertThat(sample(source, "istio_requests_total", "reporter=\"source\""))
          .contains("source_workload=\"curl-v1\"", "source_workload_namespace=\"sample\"",
              "source_principal=\"spiffe://cluster.local/ns/sample/sa/curl\"",
              "source_app=\"curl\"", "source_version=\"v1\"", "source_cluster=\"west\"",
              "destination_workload=\"helloworld-v1\"", "destination_app=\"helloworld\"",
              "destination_version=\"v1\"", "destination_cluster=\"east\"",
              "destination_service=\"" + HOST + "\"", "destination_service_name=\"helloworld\"",
              "destination_service_namespace=\"sample\"", "request_protocol=\"http\"",
              "response_code=\"200\"", "response_flags=\"-\"",
              "connection_security_policy=\"unknown\"");
      assertThat(source).contains("istio_request_duration_milliseconds_bucket{")
          .contains("istio_request_bytes_bucket{").contains("istio_response_bytes_bucket{");

      String destination = scrape(server);
      assertThat(sample(destination, "istio_requests_total", "reporter=\"destination\""))
          .contains("source_workload=\"curl-v1\"", "source_cluster=\"west\"",
              "source_principal=\"spiffe://cluster.local/ns/sample/sa/curl\"",
              "destination_workload=\"helloworld-v1\"", "destination_cluster=\"east\"",
              "destination_principal=\"spiffe://cluster.local/ns/sample/sa/helloworld\"",
              "destination_service=\"" + HOST + "\"", "response_code=\"200\"",
              "connection_security_policy=\"mutual_tls\"");
    });
    // The admin port serves the same registry.
    assertThat(RawHttp.get(client.adminAddress(), "admin", "/stats/prometheus").body())
        .contains("istio_requests_total{");
  }

  @Test
  void unroutedRequestsCarryTheirResponseFlag() throws Exception {
    assertThat(RawHttp.get(client.outboundAddress(), "nowhere.sample.svc.cluster.local:5000", "/")
        .status()).isEqualTo(404);
    // A request no route took is reported on the task after its response is written.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(sample(scrape(client), "istio_requests_total", "response_code=\"404\""))
            .contains("response_flags=\"NR\"",
                "destination_service=\"nowhere.sample.svc.cluster.local\""));
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Files.readString(clientLog)).contains("\"GET / HTTP/1.1\" 404 NR"));
  }

  @Test
  void traceContextIsPropagatedHopByHopAndB3PassesThrough() throws Exception {
    String body = get(client.outboundAddress(), "/traced", Map.of(
        "traceparent", "00-" + TRACE_ID + "-" + CALLER_SPAN + "-01",
        "x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7",
        "x-b3-spanid", "e457b5a2e4d86bd1",
        "x-b3-sampled", "1"));

    Matcher traceparent = Pattern.compile("traceparent: 00-([0-9a-f]{32})-([0-9a-f]{16})-01")
        .matcher(body);
    assertThat(traceparent.find()).as(body).isTrue();
    assertThat(traceparent.group(1)).isEqualTo(TRACE_ID);
    // The app's parent is the server sidecar's span, not the caller's.
    assertThat(traceparent.group(2)).isNotEqualTo(CALLER_SPAN).isNotEqualTo("0".repeat(16));
    assertThat(body).contains("x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7")
        .contains("x-b3-spanid: e457b5a2e4d86bd1")
        .doesNotContain("x-envoy-peer-metadata");
  }

  @Test
  void accessLogsHaveOneLinePerRequestWithFlagsAndUpstreamCluster() throws Exception {
    RawHttp.Response response = RawHttp.get(client.outboundAddress(), HOST + ":5000", "/logged");
    assertThat(response.status()).isEqualTo(200);
    assertThat(response.headers()).doesNotContainKey("x-envoy-peer-metadata");

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(Files.readAllLines(clientLog)).anySatisfy(line -> assertThat(line)
          .matches("\\[\\S+Z\\] \"GET /logged HTTP/1.1\" 200 - .* \"" + HOST + ":5000\" \""
              + SERVER_POD + ":" + inboundPort + "\" outbound\\|5000\\|\\|" + HOST + " .*"));
      assertThat(Files.readAllLines(serverLog)).anySatisfy(line -> assertThat(line)
          .contains("\"path\":\"/logged\"").contains("\"response_code\":200")
          .contains("\"upstream_cluster\":\"inbound|" + inboundPort + "||\"")
          .contains("\"response_flags\":\"-\""));
    });
  }

  private static String scrape(Sidecar sidecar) throws IOException {
    InetSocketAddress stats = sidecar.statsAddress().orElseThrow();
    RawHttp.Response r = RawHttp.get(stats, "stats", "/stats/prometheus");
    assertThat(r.status()).isEqualTo(200);
    return r.body();
  }

  /** The first sample line of {@code metric} whose labels contain {@code must}. */
  private static String sample(String scrape, String metric, String must) {
    return scrape.lines().filter(l -> l.startsWith(metric + "{") && l.contains(must))
        .findFirst().orElseThrow(() -> new AssertionError("no " + metric + " with " + must
            + " in:\n" + scrape));
  }

  private static String get(InetSocketAddress address, String path, Map<String, String> headers)
      throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(address, 5_000);
      socket.setSoTimeout(10_000);
      StringBuilder request = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: " + HOST
          + ":5000\r\nConnection: close\r\n");
      headers.forEach((k, v) -> request.append(k).append(": ").append(v).append("\r\n"));
      socket.getOutputStream().write((request + "\r\n").getBytes(StandardCharsets.US_ASCII));
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      socket.getInputStream().transferTo(out);
      return out.toString(StandardCharsets.ISO_8859_1);
    }
  }
}
