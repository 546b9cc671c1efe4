package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.xds.XdsResourceType;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Raw TCP through two real sidecars: an explicit outbound TCP listener (tcp_proxy) relays to
 * the peer's inbound mTLS port, whose tcp_proxy chain relays to the app. Bytes arrive exactly
 * as sent, and a half-close travels end to end: the app answers after it has read the whole
 * request to EOF, and its answer still comes back.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TcpSidecarTest {

  private static final String DB = "db.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.218.1.1";
  private static final String SERVER_LOCAL = "127.218.2.1";
  private static final String CLIENT_POD = "127.219.1.1";
  private static final String CLIENT_LOCAL = "127.219.2.1";

  @TempDir
  static Path dir;

  private final AtomicReference<String> appPeer = new AtomicReference<>();
  private TwoSidecars mesh;
  private ServerSocket app;
  private Thread appThread;
  private Sidecar server;
  private Sidecar client;
  private int listenerPort;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = mesh.own(new ServerSocket(0, 16, InetAddress.getByName(SERVER_LOCAL)));
    appThread = new Thread(this::serveReverseAfterEof, "tcp-app");
    appThread.setDaemon(true);
    appThread.start();
    int inbound = mesh.port(SERVER_POD);
    listenerPort = mesh.port(CLIENT_LOCAL);
    mesh.serveInbound(MeshResources.virtualInboundTcp(inbound), inbound, app.getLocalPort());

    FakeAdsServer clientAds = mesh.clientAds();
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.outboundCluster(9000, DB)));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(MeshResources.endpoints(
        outboundName(9000, DB), "us-east", new Ep(SERVER_POD, inbound, 1, "east", false))));
    clientAds.set(XdsResourceType.LISTENER, "1",
        List.of(MeshResources.outboundTcpListener(listenerPort, outboundName(9000, DB))));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of());

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "db");
    client = mesh.startClient(CLIENT_POD, CLIENT_LOCAL, "curl");
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  /** Reads to EOF, then answers the bytes reversed and closes: only works with half-close. */
  private void serveReverseAfterEof() {
    while (!app.isClosed()) {
      try (Socket socket = app.accept()) {
        appPeer.set(socket.getInetAddress().getHostAddress());
        byte[] all = socket.getInputStream().readAllBytes();
        byte[] reversed = new byte[all.length];
        for (int i = 0; i < all.length; i++) {
          reversed[i] = all[all.length - 1 - i];
        }
        socket.getOutputStream().write(reversed);
        socket.shutdownOutput();
      } catch (IOException e) {
        // Closed by the test, or a connection that went away: take the next one.
      }
    }
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
    if (appThread != null) {
      appThread.join(5_000);
    }
  }

  @Test
  void aMegabyteCrossesByteForByteAndTheHalfCloseCarriesTheAnswerBack() throws Exception {
    byte[] sent = new byte[1 << 20];
    new Random(7).nextBytes(sent);
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(CLIENT_LOCAL, listenerPort), 5_000);
      socket.setSoTimeout(20_000);
      // Written from another thread: the app reads everything before it answers.
      Thread writer = new Thread(() -> {
        try {
          socket.getOutputStream().write(sent);
          socket.shutdownOutput();
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
      });
      writer.start();
      byte[] received = socket.getInputStream().readAllBytes();
      writer.join(10_000);

      assertThat(received).hasSize(sent.length);
      for (int i = 0; i < sent.length; i++) {
        if (received[i] != sent[sent.length - 1 - i]) {
          throw new AssertionError("byte " + i + " differs");
        }
      }
    }
    assertThat(appPeer.get()).as("the app's peer: the server sidecar's localhost")
        .isEqualTo(SERVER_LOCAL);
  }

  @Test
  void severalConnectionsInARowEachGetTheirOwnAnswer() throws Exception {
    for (int i = 0; i < 5; i++) {
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(CLIENT_LOCAL, listenerPort), 5_000);
        socket.setSoTimeout(10_000);
        socket.getOutputStream().write(("abc" + i).getBytes(StandardCharsets.US_ASCII));
        socket.shutdownOutput();
        InputStream in = socket.getInputStream();
        assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII))
            .isEqualTo(i + "cba");
      }
    }
  }

  @Test
  void bothSidecarsCountTheConnectionAndItsBytesInIstiosTcpMetrics() throws Exception {
    String source = "reporter=\"source\"";
    String destination = "reporter=\"destination\"";
    String db = "destination_service=\"" + DB + "\"";
    double sentBefore = sum(client, "istio_tcp_sent_bytes_total", source, db);
    double receivedBefore = sum(client, "istio_tcp_received_bytes_total", source, db);
    double closedBefore = sum(client, "istio_tcp_connections_closed_total", source, db);
    double openedBefore = sum(client, "istio_tcp_connections_opened_total", source, db);
    double inboundReceivedBefore = sum(server, "istio_tcp_received_bytes_total", destination);
    double inboundClosedBefore = sum(server, "istio_tcp_connections_closed_total", destination);

    byte[] request = new byte[70_000];
    new Random(3).nextBytes(request);
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(CLIENT_LOCAL, listenerPort), 5_000);
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(request);
      socket.shutdownOutput();
      assertThat(socket.getInputStream().readAllBytes()).hasSize(request.length);
    }

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(sum(client, "istio_tcp_connections_closed_total", source, db) - closedBefore)
          .isEqualTo(1);
      assertThat(sum(server, "istio_tcp_connections_closed_total", destination)
          - inboundClosedBefore).isEqualTo(1);
    });
    assertThat(sum(client, "istio_tcp_connections_opened_total", source, db) - openedBefore)
        .isEqualTo(1);
    // The client side: from the app (received) and back to it (sent), payload bytes.
    assertThat(sum(client, "istio_tcp_received_bytes_total", source, db) - receivedBefore)
        .isEqualTo(request.length);
    assertThat(sum(client, "istio_tcp_sent_bytes_total", source, db) - sentBefore)
        .isEqualTo(request.length);
    assertThat(sum(server, "istio_tcp_received_bytes_total", destination) - inboundReceivedBefore)
        .isEqualTo(request.length);

    String clientScrape = scrape(client);
    assertThat(clientScrape).containsPattern("istio_tcp_sent_bytes_total\\{[^}]*"
        + "destination_cluster=\"east\"[^}]*" + db + "[^}]*source_cluster=\"west\"[^}]*"
        + "source_workload=\"curl");
    assertThat(scrape(server)).containsPattern("istio_tcp_received_bytes_total\\{"
        + "[^}]*connection_security_policy=\"mutual_tls\"[^}]*destination_cluster=\"east\""
        + "[^}]*reporter=\"destination\"[^}]*"
        + "source_principal=\"spiffe://cluster.local/ns/sample/sa/curl\"");
    // Istio's TCP metrics carry no response code.
    assertThat(clientScrape).doesNotContainPattern("istio_tcp_[a-z_]+\\{[^}]*response_code");
  }

  @Test
  void theWorkloadCertificatesTimeLeftIsExportedAsIstioAgentsGauge() throws Exception {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "istio_agent_cert_expiry_seconds\\{resource_name=\"default\"\\} (\\S+)").matcher(scrape(client));
    assertThat(m.find()).as("istio_agent_cert_expiry_seconds in the client's metrics").isTrue();
    double left = Double.parseDouble(m.group(1));
    java.time.Instant notAfter = java.time.Instant.parse(
        new tools.jackson.databind.json.JsonMapper().readTree(admin(client, "/certs")).path("notAfter").asString());
    assertThat(left).isPositive()
        .isCloseTo(java.time.Duration.between(java.time.Instant.now(), notAfter).toSeconds(),
            org.assertj.core.data.Offset.offset(30.0));
  }

  private static String admin(Sidecar sidecar, String path) throws Exception {
    InetSocketAddress admin = sidecar.adminAddress();
    var http = java.net.http.HttpClient.newHttpClient();
    return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://"
            + admin.getAddress().getHostAddress() + ":" + admin.getPort() + path)).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
  }

  private static String scrape(Sidecar sidecar) throws Exception {
    InetSocketAddress admin = sidecar.adminAddress();
    var http = java.net.http.HttpClient.newHttpClient();
    var response = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://"
            + admin.getAddress().getHostAddress() + ":" + admin.getPort() + "/stats/prometheus"))
        .build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    return response.body();
  }

  /** The sum of {@code metric}'s samples whose labels contain every fragment. */
  private static double sum(Sidecar sidecar, String metric, String... fragments) throws Exception {
    double total = 0;
    for (String line : scrape(sidecar).split("\n")) {
      if (!line.startsWith(metric + "{")) {
        continue;
      }
      String labels = line.substring(0, line.lastIndexOf('}') + 1);
      if (java.util.Arrays.stream(fragments).allMatch(labels::contains)) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return total;
  }
}
