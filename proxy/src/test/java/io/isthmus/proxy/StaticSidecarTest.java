package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Two sidecars started from files alone ({@code --static-config}, {@code --cert-chain},
 * {@code --key}), no controller: a request crosses their mTLS hop as it does in a mesh.
 */
class StaticSidecarTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.213.1.1";
  private static final String SERVER_LOCAL = "127.213.2.1";
  private static final String CLIENT_POD = "127.214.1.1";
  private static final String CLIENT_LOCAL = "127.214.2.1";

  @TempDir
  Path dir;

  private final TestPki pki = new TestPki();
  private final List<AutoCloseable> started = new ArrayList<>();

  @AfterEach
  void stop() throws Exception {
    for (int i = started.size() - 1; i >= 0; i--) {
      started.get(i).close();
    }
  }

  @Test
  void sidecarsFromStaticFilesCarryARequestOverMutualTls() throws Exception {
    HeaderEchoApp app = new HeaderEchoApp(SERVER_LOCAL);
    started.add(app);
    CertificateAuthority east = pki.intermediate("east");
    int inboundPort = 5000;
    Path serverConfig = Files.writeString(dir.resolve("server.json"), XdsStaticConfig.render(
        List.of(MeshResources.inboundCluster(inboundPort, app.port()),
            MeshResources.virtualInbound(inboundPort))));
    Path clientConfig = Files.writeString(dir.resolve("client.json"), XdsStaticConfig.render(
        List.of(MeshResources.outboundCluster(5000, HOST),
            MeshResources.endpoints(outboundName(5000, HOST), "us-east",
                new Ep(SERVER_POD, inboundPort, 1, "east", false)),
            MeshResources.outboundListener(5000), MeshResources.routes(5000, HOST))));

    Sidecar server = startFromFlags("helloworld", SERVER_POD, SERVER_LOCAL, serverConfig,
        pki.leaf(east, "sample", "helloworld"));
    Sidecar client = startFromFlags("curl", CLIENT_POD, CLIENT_LOCAL, clientConfig,
        pki.leaf(east, "sample", "curl"));

    assertThat(server.ready()).isTrue();
    assertThat(client.ready()).isTrue();
    assertThat(client.snapshot().versions()).containsValue(XdsStaticConfig.VERSION);
    RawHttp.Response response = RawHttp.get(client.outboundAddress(), HOST + ":5000", "/static");
    assertThat(response.status()).isEqualTo(200);
    assertThat(response.body()).contains("path: /static")
        .contains("x-forwarded-client-cert: By=spiffe://cluster.local/ns/sample/sa/helloworld;"
            + "URI=spiffe://cluster.local/ns/sample/sa/curl");
  }

  @Test
  void aBadResourceStopsTheStartNamingTheFileAndTheResource() throws Exception {
    Path config = Files.writeString(dir.resolve("bad.json"), "{\"resources\": [{\"@type\":"
        + " \"type.googleapis.com/envoy.config.cluster.v3.Cluster\", \"name\": \"x\","
        + " \"type\": \"STATIC\"}]}");

    assertThatThrownBy(() -> startFromFlags("curl", CLIENT_POD, CLIENT_LOCAL, config,
        pki.leaf(pki.intermediate("east"), "sample", "curl")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(config + ": resources[0]: cluster x: load_assignment has no endpoints");
  }

  @Test
  void flagsSayWhatIsMissingWithoutAControllerOrACertificate() {
    ProxyMain neither = new ProxyMain();
    new CommandLine(neither).parseArgs("--pod-ip", "127.0.0.1", "--pod-name", "p",
        "--namespace", "n", "--service-account", "s", "--cluster", "c", "--network", "n",
        "--root-cert", "root.pem");
    assertThatThrownBy(() -> neither.flags.toOptions(null))
        .hasMessageContaining("--controller and --token-file are required")
        .hasMessageContaining("--static-config");

    ProxyMain noKey = new ProxyMain();
    new CommandLine(noKey).parseArgs("--pod-ip", "127.0.0.1", "--pod-name", "p",
        "--namespace", "n", "--service-account", "s", "--cluster", "c", "--network", "n",
        "--root-cert", "root.pem", "--static-config", "x.json");
    assertThatThrownBy(() -> noKey.flags.staticBootstrap())
        .hasMessageContaining("--static-config x.json needs --cert-chain and --key");
  }

  /** Parses the flags a user would pass to ProxyMain and starts what they describe. */
  private Sidecar startFromFlags(String name, String podIp, String localhost, Path config,
      WorkloadCertificate cert) throws IOException, InterruptedException {
    Path root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    Path chain = Files.writeString(dir.resolve(name + "-chain.pem"), cert.chainPem());
    Path key = Files.writeString(dir.resolve(name + "-key.pem"),
        Pem.encodePrivateKey(cert.privateKey()));
    ProxyMain main = new ProxyMain();
    new CommandLine(main).parseArgs("--pod-ip", podIp, "--localhost", localhost,
        "--pod-name", name + "-v1-abc", "--namespace", "sample", "--service-account", name,
        "--cluster", "east", "--network", "net1", "--labels", "app=" + name,
        "--root-cert", root.toString(), "--static-config", config.toString(),
        "--cert-chain", chain.toString(), "--key", key.toString(),
        "--admin-port", "0", "--health-port", "0", "--stats-port", "0",
        "--outbound-port", "0");
    Sidecar sidecar = Sidecar.startStatic(main.flags.toOptions(null),
        main.flags.staticBootstrap().orElseThrow());
    started.add(sidecar);
    return sidecar;
  }
}
