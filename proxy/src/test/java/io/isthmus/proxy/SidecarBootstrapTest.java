package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.FakeController;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.trust.TrustBundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The production start path: flags parsed as {@link ProxyMain} does, the certificate from
 * the CA's CSR API with a service-account token, then xDS over mTLS to the same port.
 */
class SidecarBootstrapTest {

  @TempDir
  Path dir;

  @Test
  void getsItsCertificateFromTheCaThenItsConfigOverMutualTls() throws Exception {
    TestPki pki = new TestPki();
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    try (FakeController controller = new FakeController(pki.intermediate("west"), bundle)) {
      controller.ads().set(XdsResourceType.CLUSTER, "v1", List.of());
      controller.ads().set(XdsResourceType.LISTENER, "v1", List.of());
      controller.ads().set(XdsResourceType.SECRET, "v1", List.of(MeshResources.rootCa(pki.rootPem())));
      Path root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
      Path token = Files.writeString(dir.resolve("token"),
          controller.token("sample", "curl", "curl-1"));

      ProxyMain main = new ProxyMain();
      new CommandLine(main).parseArgs(
          "--pod-ip", "127.214.1.1", "--localhost", "127.214.2.1", "--pod-name", "curl-1",
          "--namespace", "sample", "--service-account", "curl", "--cluster", "west",
          "--network", "net1", "--locality", "us-west/us-west-1a/", "--labels",
          "app=curl,version=v1", "--controller", controller.address(), "--root-cert",
          root.toString(), "--token-file", token.toString(), "--cert-ttl", "1h",
          "--admin-port", "0", "--outbound-port", "0", "--health-port", "0",
          "--trust-domain-aliases", "old.example.com");
      ProxyOptions options = main.flags.toOptions(null);
      // The aliases reach the bundle every inbound and outbound handshake is verified against.
      assertThat(io.isthmus.proxy.internal.ProxyBootstrap.trust(options).get().accepts("old.example.com")).isTrue();
      assertThat(io.isthmus.proxy.internal.ProxyBootstrap.trust(options).get().accepts("other.example.com")).isFalse();
      assertThat(options.labels()).containsEntry("version", "v1");
      assertThat(options.certTtl()).isEqualTo(Duration.ofHours(1));

      try (Sidecar sidecar = Sidecar.start(options)) {
        await().atMost(Duration.ofSeconds(60)).until(sidecar::ready);
        assertThat(RawHttp.get(sidecar.adminAddress(), "admin", "/certs").body())
            .contains("spiffe://cluster.local/ns/sample/sa/curl");
        assertThat(controller.ads().requests()).first().satisfies(r ->
            assertThat(r.getNode().getId())
                .isEqualTo("sidecar~127.214.1.1~curl-1.sample~sample.svc.cluster.local"));
      }
    }
  }
}
