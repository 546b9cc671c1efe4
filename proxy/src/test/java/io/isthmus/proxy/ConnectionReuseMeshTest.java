package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sidecar → mTLS → sidecar reuses its connections: a TLS handshake per new pooled connection,
 * never one per request, however many concurrent keep-alive clients share the event loops.
 */
class ConnectionReuseMeshTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.247.1.1";
  private static final String SERVER_LOCAL = "127.247.2.1";
  private static final String CLIENT_POD = "127.248.1.1";
  private static final String CLIENT_LOCAL = "127.248.2.1";
  private static final int CLIENTS = 16;
  private static final int REQUESTS_PER_CLIENT = 10;

  @TempDir
  Path dir;

  @Test
  void handshakesOnlyForNewConnectionsNotPerRequest() throws Exception {
    try (TwoSidecars mesh = new TwoSidecars(dir)) {
      HeaderEchoApp app = mesh.own(new HeaderEchoApp(SERVER_LOCAL));
      int inboundPort = mesh.port(SERVER_POD);
      mesh.serveInbound(MeshResources.virtualInbound(inboundPort), inboundPort, app.port());
      mesh.routeHttp(5000, HOST, new Ep(SERVER_POD, inboundPort, 1, "east", false));
      Sidecar server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "helloworld");
      Sidecar client = mesh.startClient(CLIENT_POD, CLIENT_LOCAL, "curl");
      mesh.awaitReady(Duration.ofSeconds(60));

      load(client);
      // Each side counts a handshake as it completes on that side, the server last: awaited
      // until both agree.
      double[] counted = new double[2];
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        counted[0] = count(client, "isthmus_upstream_tls_handshakes_total");
        counted[1] = count(server, "isthmus_inbound_tls_handshakes_total");
        assertThat(counted[1]).as("server sidecar's inbound handshakes").isEqualTo(counted[0]);
      });
      double upstream = counted[0];
      double inbound = counted[1];
      // At most one connection per concurrent request: the pool keeps every idle connection.
      assertThat(upstream).as("client sidecar's upstream handshakes after %d requests",
          CLIENTS * REQUESTS_PER_CLIENT).isBetween(1.0, (double) CLIENTS);

      load(client);
      assertThat(count(client, "isthmus_upstream_tls_handshakes_total"))
          .as("handshakes of a second round on warm pools").isEqualTo(upstream);
      assertThat(count(server, "isthmus_inbound_tls_handshakes_total")).isEqualTo(inbound);
    }
  }

  /** {@link #CLIENTS} keep-alive connections at once, each sending its requests in turn. */
  private static void load(Sidecar client) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int c = 0; c < CLIENTS; c++) {
        done.add(pool.submit(() -> {
          try (Socket socket = RawHttp.connect(client.outboundAddress(), Duration.ofSeconds(10))) {
            for (int i = 0; i < REQUESTS_PER_CLIENT; i++) {
              socket.getOutputStream().write(("GET /r" + i + " HTTP/1.1\r\nHost: " + HOST
                  + ":5000\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
              assertThat(RawHttp.readResponse(socket.getInputStream()).status()).isEqualTo(200);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static double count(Sidecar sidecar, String metric) throws IOException {
    String scrape = RawHttp.get(sidecar.adminAddress(), "admin", "/stats/prometheus").body();
    double sum = 0;
    for (String line : scrape.split("\n")) {
      if (line.startsWith(metric + "{") || line.startsWith(metric + " ")) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }
}
