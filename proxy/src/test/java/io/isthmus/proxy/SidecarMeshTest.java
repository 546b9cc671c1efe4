package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.xds.XdsResourceType;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two real sidecars on loopback with real certificates from one mesh root (different
 * intermediates): client → outbound 15001 → mTLS with Istio SNI → inbound → app.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SidecarMeshTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String CLUSTER = outboundName(5000, HOST);
  private static final String FLAKY = "flaky.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.211.1.1";
  private static final String SERVER_LOCAL = "127.211.2.1";
  private static final String CLIENT_POD = "127.212.1.1";
  private static final String CLIENT_LOCAL = "127.212.2.1";

  @TempDir
  static Path dir;

  private TwoSidecars mesh;
  private HeaderEchoApp app;
  private Sidecar server;
  private Sidecar client;
  private int inboundPort;
  private int deadPort;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = mesh.own(new HeaderEchoApp(SERVER_LOCAL));
    inboundPort = mesh.port(SERVER_POD);
    mesh.serveInbound(MeshResources.virtualInbound(inboundPort), inboundPort, app.port());

    FakeAdsServer clientAds = mesh.clientAds();
    deadPort = mesh.port(SERVER_POD);
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.outboundCluster(5000, HOST),
        MeshResources.outboundCluster(6000, "empty.sample.svc.cluster.local"),
        MeshResources.outboundCluster(7000, FLAKY).toBuilder().setOutlierDetection(
            io.envoyproxy.envoy.config.cluster.v3.OutlierDetection.newBuilder()
                .setConsecutive5Xx(com.google.protobuf.UInt32Value.of(1))
                .setMaxEjectionPercent(com.google.protobuf.UInt32Value.of(50))).build()));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(
        MeshResources.endpoints(CLUSTER, "us-east", new Ep(SERVER_POD, inboundPort, 1, "east", false)),
        MeshResources.endpoints(outboundName(6000, "empty.sample.svc.cluster.local"), "us-east"),
        MeshResources.endpoints(outboundName(7000, FLAKY), "us-east",
            new Ep(SERVER_POD, deadPort, 1, "east", false),
            new Ep(SERVER_POD, inboundPort, 1, "east", false))));
    clientAds.set(XdsResourceType.LISTENER, "1", List.of(MeshResources.outboundListener(5000),
        MeshResources.outboundListener(6000), MeshResources.outboundListener(7000)));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of(MeshResources.routes(5000, HOST),
        MeshResources.routes(6000, "empty.sample.svc.cluster.local"),
        MeshResources.routes(7000, FLAKY)));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "helloworld");
    client = mesh.startClient(CLIENT_POD, CLIENT_LOCAL, "curl");
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void requestCrossesMutualTlsAndReachesTheAppWithTheCallersIdentity() throws Exception {
    RawHttp.Response response = RawHttp.get(client.outboundAddress(), HOST + ":5000", "/hello");

    assertThat(response.status()).isEqualTo(200);
    assertThat(response.body())
        .contains("path: /hello")
        .contains("x-forwarded-client-cert: By=spiffe://cluster.local/ns/sample/sa/helloworld;"
            + "URI=spiffe://cluster.local/ns/sample/sa/curl")
        .contains("x-forwarded-for: " + CLIENT_POD)
        .containsPattern("x-request-id: [0-9a-f-]{36}");
    assertThat(response.body()).contains("host: " + HOST + ":5000");
  }

  @Test
  void keepAliveConnectionsCarrySeveralRequests() throws Exception {
    try (Socket socket = RawHttp.connect(client.outboundAddress(), Duration.ofSeconds(10))) {
      for (int i = 0; i < 3; i++) {
        String request = "GET /n" + i + " HTTP/1.1\r\nHost: helloworld:5000\r\n\r\n";
        socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        RawHttp.Response response = RawHttp.readResponse(socket.getInputStream());
        assertThat(response.status()).isEqualTo(200);
        assertThat(response.body()).contains("path: /n" + i);
      }
    }
  }

  @Test
  void aConnectFailureIsRetriedOnceOnAnotherEndpoint() throws Exception {
    // One of the two endpoints refuses connections; round robin hits it every other time.
    for (int i = 0; i < 4; i++) {
      assertThat(RawHttp.get(client.outboundAddress(), FLAKY + ":7000", "/r" + i).status())
          .isEqualTo(200);
    }
  }

  @Test
  void aHostThatFailsToConnectIsEjectedAndShownInConfigDump() throws Exception {
    for (int i = 0; i < 4; i++) {
      assertThat(RawHttp.get(client.outboundAddress(), FLAKY + ":7000", "/e" + i).status())
          .isEqualTo(200);
    }
    String dump = RawHttp.get(client.adminAddress(), "admin", "/config_dump").body();
    assertThat(dump).containsPattern("\"ejected_endpoints\"\\s*:\\s*\\[")
        .contains(SERVER_POD + ":" + deadPort).contains("EJECTED");
  }

  @Test
  void unknownHostIs404AndAClusterWithoutEndpointsIs503() throws Exception {
    assertThat(RawHttp.get(client.outboundAddress(), "nowhere.sample.svc.cluster.local:5000", "/")
        .status()).isEqualTo(404);
    RawHttp.Response empty = RawHttp.get(client.outboundAddress(),
        "empty.sample.svc.cluster.local:6000", "/");
    assertThat(empty.status()).isEqualTo(503);
    assertThat(empty.body()).contains("no healthy upstream");
  }

  @Test
  void plaintextToTheInboundPortIsRefusedAndCounted() throws Exception {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(SERVER_POD, inboundPort), 5_000);
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(
          ("GET / HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      byte[] answer;
      try {
        answer = socket.getInputStream().readAllBytes();
      } catch (SocketException reset) {
        answer = new byte[0];
      }
      assertThat(new String(answer, StandardCharsets.ISO_8859_1)).doesNotContain("HTTP/1.1");
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body())
            .containsPattern("isthmus_inbound_handshake_failures_total\\{port=\"" + inboundPort
                + "\"\\} [1-9]"));
  }

  @Test
  void adminServesReadinessConfigDumpCertsAndMetrics() throws Exception {
    assertThat(RawHttp.get(client.adminAddress(), "admin", "/ready").status()).isEqualTo(200);
    assertThat(RawHttp.get(server.healthAddress(), "admin", "/healthz/ready").status())
        .isEqualTo(200);
    String dump = RawHttp.get(client.adminAddress(), "admin", "/config_dump").body();
    assertThat(dump).contains("\"versions\"").contains(CLUSTER).contains(SERVER_POD)
        .containsPattern("\"cluster\"\\s*:\\s*\"east\"");
    String certs = RawHttp.get(client.adminAddress(), "admin", "/certs").body();
    assertThat(certs).contains("spiffe://cluster.local/ns/sample/sa/curl").contains("notAfter");

    RawHttp.get(client.outboundAddress(), HOST + ":5000", "/count");
    // Awaited: nothing orders the count before the client's answer.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(RawHttp.get(client.adminAddress(), "admin", "/stats/prometheus").body())
            .contains("istio_requests_total{").contains("response_code=\"200\"")
            .contains("destination_cluster=\"east\"").contains("reporter=\"source\""));
  }
}
