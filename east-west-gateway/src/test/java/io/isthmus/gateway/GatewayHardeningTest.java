package io.isthmus.gateway;

import static io.isthmus.proxy.testing.MeshResources.sni;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.trust.TrustBundle;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateway against clients that misbehave, on loopback with real sockets: slow hellos,
 * oversized SNIs, idle relayed connections and a graceful drain, each closed after a bounded
 * time and counted, while a well-behaved connection alongside keeps working. The upstream is a
 * plain TCP echo server: the gateway relays bytes and never looks past the ClientHello.
 */
class GatewayHardeningTest {

  private static final String HOST = "echo.sample.svc.cluster.local";
  private static final String SNI = sni(7000, HOST);
  private static final String GATEWAY_IP = "127.224.0.2";
  private static final String ECHO_IP = "127.224.1.1";
  // Generous for a loaded 2-core machine, short enough for a test.
  private static final Duration HANDSHAKE = Duration.ofSeconds(2);
  private static final Duration IDLE = Duration.ofSeconds(5);

  @TempDir
  Path dir;

  private final TestPki pki = new TestPki();
  private final FakeAdsServer ads = new FakeAdsServer();
  private final ExecutorService echoThreads = Executors.newCachedThreadPool();
  private ServerSocket echo;
  private Gateway gateway;

  @BeforeEach
  void start() throws Exception {
    echo = new ServerSocket(0, 50, InetAddress.getByName(ECHO_IP));
    echoThreads.execute(this::acceptEchoes);
    ads.start();
    ads.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.gatewayCluster(SNI)));
    ads.set(XdsResourceType.ENDPOINT, "1", List.of(MeshResources.endpoints(SNI, "eu-west",
        new Ep(ECHO_IP, echo.getLocalPort(), 1, "eu", false))));
    Path root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    Path token = Files.writeString(dir.resolve("token"), "unused");
    ProxyOptions options = new ProxyOptions("router", GATEWAY_IP, GATEWAY_IP,
        "istio-eastwestgateway-abc", "istio-system", "istio-eastwestgateway", "eu", "net2",
        "eu-west/eu-west-1a/", Map.of("app", "istio-eastwestgateway"), ads.target(), root, token,
        Duration.ofHours(1), "cluster.local", true, 0, 0, 0);
    gateway = Gateway.start(options, 0,
        WorkloadIdentity.fixed(pki.leaf(pki.intermediate("eu"), "istio-system",
            "istio-eastwestgateway")),
        new MeshTrust(TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()))),
        new GatewayLimits(HANDSHAKE, IDLE, Duration.ofMillis(3500)));
    await().atMost(Duration.ofSeconds(60)).until(gateway::ready);
    // CDS may arrive before EDS: a connection in between is rejected as no_endpoint.
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(
        RawHttp.get(gateway.adminAddress(), "admin", "/config_dump").body()).contains(ECHO_IP));
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) {
      gateway.close();
    }
    ads.close();
    echo.close();
    echoThreads.shutdownNow();
  }

  @Test
  void relaysBytesBothWaysAndCountsThemWithIstiosNames() throws Exception {
    try (Socket s = relayed()) {
      s.getOutputStream().write(new byte[1000]);
      readFully(s.getInputStream(), 1000);
    }
    byte[] hello = SniSnifferTest.clientHello(SNI);
    String[] tags = {"destination_service", HOST, "destination_cluster", "eu"};
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(gateway.counter("istio_tcp_received_bytes", tags))
          .isEqualTo(hello.length + 1000);
      assertThat(gateway.counter("istio_tcp_sent_bytes", tags)).isEqualTo(hello.length + 1000);
      assertThat(gateway.counter("istio_tcp_connections_opened", tags)).isEqualTo(1);
      assertThat(gateway.counter("istio_tcp_connections_closed", tags)).isEqualTo(1);
    });
    assertThat(RawHttp.get(gateway.adminAddress(), "admin", "/stats/prometheus").body())
        .contains("istio_tcp_sent_bytes_total{destination_cluster=\"eu\",destination_service=\""
            + HOST + "\"");
  }

  @Test
  void slowLorisIsClosedAfterTheHandshakeTimeoutWhileAnotherConnectionWorks() throws Exception {
    byte[] hello = SniSnifferTest.clientHello(SNI);
    try (Socket loris = connect(); Socket good = relayed()) {
      long started = System.nanoTime();
      // One byte every 200 ms: each arrives well within any per-read timeout, the whole
      // hello never within the bound. The good connection echoes a byte each time meanwhile
      // (and so never idles out, however slow the machine).
      OutputStream out = loris.getOutputStream();
      for (int i = 0; i < 20; i++) {
        try {
          out.write(hello[i]);
          out.flush();
        } catch (SocketException closed) {
          break;
        }
        good.getOutputStream().write(i);
        assertThat(readFully(good.getInputStream(), 1)).containsExactly(i);
        Thread.sleep(200);
      }
      assertThat(readUntilClosed(loris)).isEmpty();
      assertThat(Duration.ofNanos(System.nanoTime() - started))
          .isBetween(HANDSHAKE.minusMillis(100), HANDSHAKE.plusSeconds(10));
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(
          gateway.counter("isthmus_gateway_rejected_connections", "reason", "timeout"))
          .isEqualTo(1));
      good.getOutputStream().write("still here".getBytes());
      assertThat(new String(readFully(good.getInputStream(), 10))).isEqualTo("still here");
    }
  }

  @Test
  void oversizedSniIsClosedAtOnceAndCounted() throws Exception {
    try (Socket s = connect()) {
      s.getOutputStream().write(SniSnifferTest.helloWithServerName("a".repeat(300)));
      assertThat(readUntilClosed(s)).isEmpty();
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter(
        "isthmus_gateway_rejected_connections", "reason", "sni_too_long")).isEqualTo(1));
  }

  @Test
  void helloWithoutSniIsClosedAtOnceAndCountedWhileARelayedConnectionKeepsWorking() throws Exception {
    byte[] noSni = SniSnifferTest.clientHello(null);
    try (Socket good = relayed(); Socket s = connect()) {
      s.getOutputStream().write(noSni);
      assertThat(readUntilClosed(s)).isEmpty();
      good.getOutputStream().write(new byte[] {1, 2, 3});
      assertThat(readFully(good.getInputStream(), 3)).containsExactly(1, 2, 3);
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter(
        "isthmus_gateway_rejected_connections", "reason", "no_sni")).isEqualTo(1));
    // At once, not by the handshake timeout: the reason tells the two apart, where a clock
    // cannot on a loaded machine.
    assertThat(gateway.counter("isthmus_gateway_rejected_connections", "reason", "timeout"))
        .isZero();
  }

  @Test
  void silentConnectionThatNeverSaysHelloIsClosedAfterTheHandshakeTimeout() throws Exception {
    try (Socket s = connect()) {
      long started = System.nanoTime();
      assertThat(readUntilClosed(s)).isEmpty();
      assertThat(Duration.ofNanos(System.nanoTime() - started))
          .isBetween(HANDSHAKE.minusMillis(100), HANDSHAKE.plusSeconds(10));
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter(
        "isthmus_gateway_rejected_connections", "reason", "timeout")).isEqualTo(1));
  }

  @Test
  void halfClosedClientIsClosedBothWaysWithoutWaitingForTheIdleTimeout() throws Exception {
    try (Socket s = relayed()) {
      // FIN from the client: the gateway does not keep the relay (and its upstream) open.
      s.shutdownOutput();
      long started = System.nanoTime();
      readUntilClosed(s);
      assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(IDLE);
    }
    String[] tags = {"destination_service", HOST, "destination_cluster", "eu"};
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter("istio_tcp_connections_closed", tags))
        .isEqualTo(1));
    assertThat(gateway.openConnections()).isZero();
  }

  @Test
  void idleRelayedConnectionIsClosedAfterTheIdleTimeout() throws Exception {
    try (Socket s = relayed()) {
      long started = System.nanoTime();
      assertThat(readUntilClosed(s)).isEmpty();
      assertThat(Duration.ofNanos(System.nanoTime() - started))
          .isBetween(IDLE.minusMillis(100), IDLE.plusSeconds(10));
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter(
        "isthmus_gateway_closed_connections", "reason", "idle_timeout")).isEqualTo(1));
  }

  @Test
  void drainStopsAcceptingKeepsRelayingUntilTheDeadlineAndReportsNotReady() throws Exception {
    try (Socket open = relayed()) {
      assertThat(RawHttp.get(gateway.adminAddress(), "admin", "/drain_listeners").body())
          .startsWith("draining");
      assertThat(gateway.ready()).isFalse();
      assertThat(RawHttp.get(gateway.adminAddress(), "admin", "/ready").status()).isEqualTo(503);
      assertThatThrownBy(this::connect).isInstanceOf(IOException.class);
      // Keeps relaying until the deadline.
      for (int i = 0; i < 3; i++) {
        open.getOutputStream().write(("ping" + i).getBytes());
        assertThat(new String(readFully(open.getInputStream(), 5))).isEqualTo("ping" + i);
        Thread.sleep(300);
      }
      assertThat(readUntilClosed(open)).isEmpty();
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter(
        "isthmus_gateway_closed_connections", "reason", "drain_deadline")).isEqualTo(1));
    assertThat(gateway.openConnections()).isZero();
  }

  private Socket connect() throws IOException {
    Socket s = new Socket();
    s.connect(gateway.address(), 10_000);
    s.setSoTimeout(30_000);
    return s;
  }

  /** A connection the gateway relays to the echo server (the hello comes back first). */
  private Socket relayed() throws Exception {
    // Built before connecting: the first one loads the TLS provider, which may take longer
    // than the handshake timeout on a loaded machine.
    byte[] hello = SniSnifferTest.clientHello(SNI);
    Socket s = connect();
    s.getOutputStream().write(hello);
    assertThat(readFully(s.getInputStream(), hello.length)).isEqualTo(hello);
    return s;
  }

  private static byte[] readFully(InputStream in, int n) throws IOException {
    byte[] b = in.readNBytes(n);
    assertThat(b).hasSize(n);
    return b;
  }

  private static byte[] readUntilClosed(Socket s) throws IOException {
    try {
      return s.getInputStream().readAllBytes();
    } catch (SocketException reset) {
      return new byte[0];
    }
  }

  private void acceptEchoes() {
    while (!echo.isClosed()) {
      try {
        Socket s = echo.accept();
        echoThreads.execute(() -> {
          try (s) {
            s.getInputStream().transferTo(s.getOutputStream());
          } catch (IOException ignored) {
            // the gateway closed it
          }
        });
      } catch (IOException | java.util.concurrent.RejectedExecutionException e) {
        return;
      }
    }
  }
}
