package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * A sidecar started with {@code --capture redirect} where no rule redirects anything (loopback,
 * no root needed): the inbound capture listener is the only inbound listener, a connection that
 * reaches it directly has no original destination (closed and counted), and the outbound entry
 * still serves explicit HTTP clients as without capture.
 */
class CaptureSidecarTest {

  private static final String POD_IP = "127.215.1.1";
  private static final String LOCALHOST = "127.215.2.1";

  @TempDir
  Path dir;

  private HeaderEchoApp upstream;
  private Sidecar sidecar;

  @AfterEach
  void stop() {
    if (sidecar != null) {
      sidecar.close();
    }
    if (upstream != null) {
      upstream.close();
    }
  }

  @Test
  void captureModeBindsOnlyTheCaptureListenerAndKeepsTheExplicitEntry() throws Exception {
    upstream = new HeaderEchoApp("127.215.3.1");
    String reviews = "outbound|9090||reviews.sample.svc.cluster.local";
    Path config = Files.writeString(dir.resolve("pod.json"), XdsStaticConfig.render(List.of(
        MeshResources.inboundCluster(8080, 8080), MeshResources.virtualInbound(8080),
        Cluster.newBuilder().setName(reviews).setType(Cluster.DiscoveryType.STATIC)
            .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName(reviews)
                .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(
                    LbEndpoint.newBuilder().setEndpoint(Endpoint.newBuilder().setAddress(
                        Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
                            .setAddress("127.215.3.1").setPortValue(upstream.port())))))))
            .build(),
        MeshResources.outboundListener(9090), MeshResources.routes(9090,
            "reviews.sample.svc.cluster.local"),
        MeshResources.passthroughCluster(), MeshResources.virtualOutbound(true))));
    sidecar = start(config);

    assertThat(sidecar.ready()).isTrue();
    assertThat(sidecar.inboundPorts()).as("per-port inbound listeners: the app owns its ports")
        .isEmpty();
    InetSocketAddress capture = sidecar.inboundCaptureAddress().orElseThrow();
    assertThat(capture.getAddress().isAnyLocalAddress()).isTrue();

    // Reached directly, not redirected: nowhere to send it.
    try (Socket direct = new Socket()) {
      direct.connect(new InetSocketAddress(POD_IP, capture.getPort()), 5_000);
      direct.setSoTimeout(10_000);
      InputStream in = direct.getInputStream();
      assertThat(in.read()).as("closed without an answer").isEqualTo(-1);
    }
    // Read over another connection: awaited, as nothing orders the count before the close.
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(RawHttp.get(sidecar.statsAddress().orElseThrow(), "x", "/stats/prometheus")
            .body()).contains(
                "isthmus_capture_no_original_destination_total{listener=\"inbound\"} 1.0"));

    // Not redirected either: the outbound entry is the explicit HTTP entry, Host port decides.
    RawHttp.Response explicit = RawHttp.get(sidecar.outboundAddress(), "reviews:9090", "/x");
    assertThat(explicit.status()).isEqualTo(200);
    assertThat(explicit.body()).contains("path: /x").contains("x-request-id: ");
  }

  @Test
  void anUnknownCaptureModeIsRefusedNamingTheFlag() {
    ProxyMain main = new ProxyMain();
    new CommandLine(main).parseArgs("--pod-ip", POD_IP, "--pod-name", "p", "--namespace", "n",
        "--service-account", "s", "--cluster", "c", "--network", "n", "--root-cert", "r.pem",
        "--static-config", "x.json", "--capture", "ebpf");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> main.flags.toOptions(null))
        .hasMessage("--capture: ebpf (expected: none, redirect or tproxy, as isthmus-proxy-init's"
            + " interception mode)");
  }

  private Sidecar start(Path config) throws Exception {
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "app");
    Path root = Files.writeString(dir.resolve("root.pem"), pki.rootPem());
    Path chain = Files.writeString(dir.resolve("chain.pem"), cert.chainPem());
    Path key = Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(cert.privateKey()));
    ProxyMain main = new ProxyMain();
    new CommandLine(main).parseArgs("--pod-ip", POD_IP, "--localhost", LOCALHOST,
        "--pod-name", "app-v1-abc", "--namespace", "sample", "--service-account", "app",
        "--cluster", "east", "--network", "net1", "--labels", "app=app",
        "--root-cert", root.toString(), "--static-config", config.toString(),
        "--cert-chain", chain.toString(), "--key", key.toString(),
        "--admin-port", "0", "--health-port", "0", "--stats-port", "0", "--outbound-port", "0",
        "--capture", "redirect", "--inbound-capture-port", "0");
    return Sidecar.startStatic(main.flags.toOptions(null),
        main.flags.staticBootstrap().orElseThrow());
  }
}
