package io.isthmus.gateway;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static io.isthmus.proxy.testing.MeshResources.sni;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.Sidecar;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.internal.ServerNames;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.TrustBundle;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's cross-network hop on loopback: client sidecar (west) → eu's east-west gateway
 * (SNI passthrough, never terminating TLS) → eu's sidecar (mTLS, verifies the client's
 * SPIFFE identity) → app.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CrossNetworkTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SNI = sni(5000, HOST);
  private static final String GATEWAY_IP = "127.223.0.2";
  private static final String SERVER_POD = "127.223.1.1";
  private static final String SERVER_LOCAL = "127.223.2.1";
  private static final String CLIENT_POD = "127.222.1.1";
  private static final String CLIENT_LOCAL = "127.222.2.1";

  @TempDir
  static Path dir;

  private final TestPki pki = new TestPki();
  private final FakeAdsServer gatewayAds = new FakeAdsServer();
  private final FakeAdsServer serverAds = new FakeAdsServer();
  private final FakeAdsServer clientAds = new FakeAdsServer();
  private final ReservedPorts ports = new ReservedPorts();
  private HeaderEchoApp app;
  private Sidecar server;
  private Sidecar client;
  private Gateway gateway;

  @BeforeAll
  void start() throws Exception {
    Path root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    Path token = Files.writeString(dir.resolve("token"), "unused");
    CertificateAuthority eu = pki.intermediate("eu");
    CertificateAuthority west = pki.intermediate("west");
    app = new HeaderEchoApp(SERVER_LOCAL);
    int inboundPort = ports.on(SERVER_POD);

    serverAds.start();
    serverAds.set(XdsResourceType.CLUSTER, "1",
        List.of(MeshResources.inboundCluster(inboundPort, app.port())));
    serverAds.set(XdsResourceType.LISTENER, "1",
        List.of(MeshResources.virtualInbound(inboundPort)));
    server = Sidecar.start(options("sidecar", SERVER_POD, SERVER_LOCAL, "helloworld", "eu",
            serverAds.target(), root, token),
        WorkloadIdentity.fixed(pki.leaf(eu, "sample", "helloworld")), trust());

    gatewayAds.start();
    gatewayAds.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.gatewayCluster(SNI)));
    gatewayAds.set(XdsResourceType.ENDPOINT, "1", List.of(MeshResources.endpoints(SNI, "eu-west",
        new Ep(SERVER_POD, inboundPort, 1, "eu", false))));
    gateway = Gateway.start(options("router", GATEWAY_IP, GATEWAY_IP, "istio-eastwestgateway",
            "eu", gatewayAds.target(), root, token), 0,
        WorkloadIdentity.fixed(pki.leaf(eu, "istio-system", "istio-eastwestgateway")), trust(),
        GatewayLimits.DEFAULTS.withHandshakeTimeout(Duration.ofSeconds(2))
            .withIdleTimeout(Duration.ofSeconds(3)).withDrainTimeout(Duration.ofSeconds(2)));

    clientAds.start();
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.outboundCluster(5000, HOST)));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(MeshResources.endpoints(
        outboundName(5000, HOST), "eu-west",
        new Ep(GATEWAY_IP, gateway.address().getPort(), 1, "eu", true))));
    clientAds.set(XdsResourceType.LISTENER, "1", List.of(MeshResources.outboundListener(5000)));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of(MeshResources.routes(5000, HOST)));
    client = Sidecar.start(options("sidecar", CLIENT_POD, CLIENT_LOCAL, "curl", "west",
            clientAds.target(), root, token),
        WorkloadIdentity.fixed(pki.leaf(west, "sample", "curl")), trust());

    await().atMost(Duration.ofSeconds(60))
        .until(() -> server.ready() && gateway.ready() && client.ready());
  }

  @AfterAll
  void stop() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {client, gateway, server, clientAds, gatewayAds,
        serverAds, app, ports}) {
      if (c != null) {
        c.close();
      }
    }
  }

  @Test
  void requestCrossesTheGatewayWithEndToEndMutualTls() throws Exception {
    RawHttp.Response response = RawHttp.get(client.outboundAddress(), HOST + ":5000", "/hi");

    assertThat(response.status()).isEqualTo(200);
    // eu's sidecar verified the *client's* certificate: the gateway did not terminate TLS.
    assertThat(response.body())
        .contains("x-forwarded-client-cert: By=spiffe://cluster.local/ns/sample/sa/helloworld;"
            + "URI=spiffe://cluster.local/ns/sample/sa/curl")
        .contains("x-forwarded-for: " + GATEWAY_IP);
    assertThat(gateway.counter("istio_tcp_connections_opened")).isGreaterThanOrEqualTo(1);
    String metrics = RawHttp.get(gateway.adminAddress(), "admin", "/stats/prometheus").body();
    assertThat(metrics).contains("istio_tcp_connections_opened_total{")
        .contains("destination_service=\"" + HOST + "\"");
  }

  @Test
  void unknownSniIsClosedAndCounted() throws Exception {
    double before = gateway.counter("isthmus_gateway_rejected_connections", "reason", "unknown_sni");
    byte[] hello = clientHello("outbound_.5000_._.nosuch.sample.svc.cluster.local");
    assertThat(sendAndReadUntilClosed(hello)).isEmpty();
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(gateway.counter(
        "isthmus_gateway_rejected_connections", "reason", "unknown_sni")).isEqualTo(before + 1));
  }

  @Test
  void plaintextIsClosedAndCounted() throws Exception {
    byte[] http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    assertThat(sendAndReadUntilClosed(http)).isEmpty();
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(RawHttp.get(gateway.adminAddress(), "admin",
        "/stats/prometheus").body())
        .containsPattern("isthmus_gateway_rejected_connections_total\\{reason=\"not_tls\"\\} [1-9]"));
  }

  @Test
  void adminReportsReadinessAndConfig() throws Exception {
    assertThat(RawHttp.get(gateway.adminAddress(), "admin", "/ready").status()).isEqualTo(200);
    assertThat(RawHttp.get(gateway.adminAddress(), "admin", "/config_dump").body())
        .contains(SNI).contains(SERVER_POD);
  }

  private byte[] sendAndReadUntilClosed(byte[] bytes) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(gateway.address(), 5_000);
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(bytes);
      try {
        return socket.getInputStream().readAllBytes();
      } catch (SocketException reset) {
        return new byte[0];
      }
    }
  }

  private static byte[] clientHello(String sni) throws Exception {
    var context = SslContextBuilder.forClient()
        .sslProvider(OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK).build();
    SSLEngine engine = context.newEngine(io.netty.buffer.ByteBufAllocator.DEFAULT);
    try {
      ServerNames.set(engine, sni);
      ByteBuffer out = ByteBuffer.allocate(64 * 1024);
      engine.beginHandshake();
      engine.wrap(ByteBuffer.allocate(0), out);
      out.flip();
      byte[] bytes = new byte[out.remaining()];
      out.get(bytes);
      return bytes;
    } finally {
      io.netty.util.ReferenceCountUtil.release(engine);
    }
  }

  private MeshTrust trust() {
    return new MeshTrust(TrustBundle.ofPem("cluster.local", List.of(pki.rootPem())));
  }

  private static ProxyOptions options(String type, String podIp, String localhost, String sa,
      String cluster, String controller, Path root, Path token) {
    return new ProxyOptions(type, podIp, localhost, sa + "-abc", type.equals("router")
        ? "istio-system" : "sample", sa, cluster, "net1", "eu-west/eu-west-1a/",
        Map.of("app", sa), controller, root, token, Duration.ofHours(1), "cluster.local", true,
        0, 0, 0);
  }

  @SuppressWarnings("unused")
  private static String read(InputStream in) throws IOException {
    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
  }
}
