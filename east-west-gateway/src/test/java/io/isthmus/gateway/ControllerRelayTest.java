package io.isthmus.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.trust.TrustBundle;
import java.io.IOException;
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
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A primary's gateway carrying the controller's ports for remote clusters, on loopback with real
 * sockets: bytes to the gateway's port reach the controller's same port and come back, counted
 * with Istio's TCP names under {@code istiod}; a port whose controller listener is down closes
 * the client at once, counted, while the other port keeps relaying. The "controller" is a plain
 * TCP echo server: the gateway relays bytes and never reads the controller's TLS.
 */
class ControllerRelayTest {

  private static final String GATEWAY_IP = "127.229.0.2";
  private static final String CONTROLLER_IP = "127.229.0.1";

  @TempDir
  Path dir;

  private final TestPki pki = new TestPki();
  private final FakeAdsServer ads = new FakeAdsServer();
  private final ExecutorService echoThreads = Executors.newCachedThreadPool();
  private final ReservedPorts ports = new ReservedPorts();
  private ServerSocket controller;
  private int downPort;
  private Gateway gateway;

  @BeforeEach
  void start() throws Exception {
    controller = new ServerSocket(0, 50, InetAddress.getByName(CONTROLLER_IP));
    echoThreads.execute(this::acceptEchoes);
    // Held, never listening: the controller's address refuses it for the whole test.
    downPort = ports.on(CONTROLLER_IP);
    ads.start();
    Path root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    Path token = Files.writeString(dir.resolve("token"), "unused");
    ProxyOptions options = new ProxyOptions("router", GATEWAY_IP, GATEWAY_IP,
        "istio-eastwestgateway-abc", "istio-system", "istio-eastwestgateway", "east", "net1",
        "us-east/us-east-1a/", Map.of("app", "istio-eastwestgateway"), ads.target(), root, token,
        Duration.ofHours(1), "cluster.local", true, 0, 0, 0);
    gateway = Gateway.start(options, 0,
        WorkloadIdentity.fixed(pki.leaf(pki.intermediate("east"), "istio-system",
            "istio-eastwestgateway")),
        new MeshTrust(TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()))),
        GatewayLimits.DEFAULTS,
        Optional.of(new ControllerRoute(CONTROLLER_IP, List.of(controller.getLocalPort(), downPort))));
  }

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) {
      gateway.close();
    }
    ads.close();
    controller.close();
    echoThreads.shutdownNow();
    ports.close();
  }

  @Test
  void relaysTheControllersPortBothWaysAndCountsItAsIstiod() throws Exception {
    try (Socket s = connect(controller.getLocalPort())) {
      byte[] sent = new byte[3000];
      for (int i = 0; i < sent.length; i++) {
        sent[i] = (byte) i;
      }
      s.getOutputStream().write(sent);
      assertThat(s.getInputStream().readNBytes(sent.length)).isEqualTo(sent);
    }
    String[] tags = {"destination_service", ControllerRelay.SERVICE, "destination_cluster", "east"};
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(gateway.counter("istio_tcp_connections_opened", tags)).isEqualTo(1);
      assertThat(gateway.counter("istio_tcp_received_bytes", tags)).isEqualTo(3000);
      assertThat(gateway.counter("istio_tcp_sent_bytes", tags)).isEqualTo(3000);
      assertThat(gateway.counter("istio_tcp_connections_closed", tags)).isEqualTo(1);
    });
  }

  @Test
  void aControllerPortWithNothingBehindItClosesTheClientAtOnceAndCountsIt() throws Exception {
    try (Socket s = connect(downPort)) {
      long started = System.nanoTime();
      assertThat(readUntilClosed(s)).isEmpty();
      assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(6));
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter(
        "isthmus_gateway_rejected_connections", "reason", "controller_unreachable")).isEqualTo(1));
    assertThat(RawHttp.get(gateway.adminAddress(), "admin", "/stats/prometheus").body())
        .contains("reason=\"controller_unreachable\"");
    // The other carried port is unaffected.
    try (Socket s = connect(controller.getLocalPort())) {
      s.getOutputStream().write("still there".getBytes());
      assertThat(new String(s.getInputStream().readNBytes(11))).isEqualTo("still there");
    }
  }

  @Test
  void drainClosesTheControllerListenersToo() throws Exception {
    gateway.drain();
    // The listeners close on their event loop, just after drain() returns.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThatThrownBy(
        () -> connect(controller.getLocalPort()).close()).isInstanceOf(IOException.class));
  }

  @Test
  void aRouteNeedsAnAddressAndDistinctPorts() {
    assertThatThrownBy(() -> new ControllerRoute(" ", List.of(15012)))
        .hasMessageContaining("controllerHost");
    assertThatThrownBy(() -> new ControllerRoute("10.0.0.1", List.of(15012, 15012)))
        .hasMessageContaining("each port once");
    assertThat(ControllerRoute.to("10.0.0.1").ports()).containsExactly(15012, 15017);
  }

  private static Socket connect(int port) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress(GATEWAY_IP, port), 10_000);
    s.setSoTimeout(10_000);
    return s;
  }

  private static byte[] readUntilClosed(Socket s) throws IOException {
    try {
      return s.getInputStream().readAllBytes();
    } catch (SocketException reset) {
      return new byte[0];
    }
  }

  private void acceptEchoes() {
    while (!controller.isClosed()) {
      try {
        Socket s = controller.accept();
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
