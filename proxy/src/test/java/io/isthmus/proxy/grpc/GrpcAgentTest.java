package io.isthmus.proxy.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.isthmus.proxy.testing.FakeController;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The proxyless agent against the real CSR service over TLS: what it writes for grpc-xds (the
 * bootstrap naming the files, a key that matches its chain, the mesh's roots), that it rotates the
 * files before the certificate expires, and its errors on bad input.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GrpcAgentTest {

  @TempDir
  Path dir;

  private final TestPki pki = new TestPki();
  private FakeController controller;
  private Path rootFile;
  private Path token;

  @BeforeEach
  void start() throws Exception {
    controller = new FakeController(pki.intermediate("east"),
        TrustBundle.ofPem("cluster.local", List.of(pki.rootPem())));
    rootFile = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    token = Files.writeString(dir.resolve("token"), controller.token("sample", "client", "client-1"));
  }

  @AfterEach
  void stop() throws InterruptedException {
    controller.close();
  }

  @Test
  void writesTheBootstrapAndAMatchingKeyChainAndRootsForTheWorkloadsIdentity() throws Exception {
    Path out = dir.resolve("grpc");
    try (GrpcAgent agent = GrpcAgent.start(options(out, Duration.ofHours(1)))) {
      agent.firstCertificate().get(30, TimeUnit.SECONDS);

      JsonNode bootstrap = JsonMapper.builder().build().readTree(Files.readString(agent.bootstrapFile()));
      assertThat(bootstrap.at("/xds_servers/0/server_uri").asString()).isEqualTo("127.0.0.1:15010");
      assertThat(bootstrap.at("/node/id").asString())
          .isEqualTo("sidecar~127.0.83.20~client-1.sample~sample.svc.cluster.local");
      assertThat(bootstrap.at("/node/metadata/GENERATOR").asString()).isEqualTo("grpc");
      assertThat(bootstrap.at("/node/metadata/CLUSTER_ID").asString()).isEqualTo("east");
      assertThat(bootstrap.at("/node/metadata/LABELS/app").asString()).isEqualTo("client");
      assertThat(bootstrap.at("/node/locality/zone").asString()).isEqualTo("us-east-1a");
      JsonNode provider = bootstrap.at("/certificate_providers/default");
      assertThat(provider.at("/plugin_name").asString()).isEqualTo("file_watcher");
      assertThat(provider.at("/config/certificate_file").asString())
          .isEqualTo(out.toAbsolutePath().resolve("cert-chain.pem").toString());
      assertThat(provider.at("/config/private_key_file").asString())
          .isEqualTo(out.toAbsolutePath().resolve("key.pem").toString());
      assertThat(provider.at("/config/ca_certificate_file").asString())
          .isEqualTo(out.toAbsolutePath().resolve("root-cert.pem").toString());
      assertThat(provider.at("/config/refresh_interval").asString()).isEqualTo("1s");
      assertThat(bootstrap.at("/server_listener_resource_name_template").asString())
          .isEqualTo("xds.istio.io/grpc/lds/inbound/%s");

      List<X509Certificate> chain = Pem.decodeCertificates(Files.readString(out.resolve("cert-chain.pem")));
      assertThat(MeshTls.identityOf(chain.get(0))).contains(SpiffeId.of("cluster.local", "sample", "client"));
      PrivateKey key = Pem.decodePrivateKey(Files.readString(out.resolve("key.pem")));
      assertMatches(key, chain.get(0));
      assertThat(Files.getPosixFilePermissions(out.resolve("key.pem")))
          .isEqualTo(PosixFilePermissions.fromString("rw-------"));
      assertThat(Pem.decodeCertificates(Files.readString(out.resolve("root-cert.pem"))))
          .containsExactly(pki.root.certificate());
      // Nothing left aside.
      try (var files = Files.list(out)) {
        assertThat(files.map(p -> p.getFileName().toString()))
            .containsExactlyInAnyOrder("grpc-bootstrap.json", "cert-chain.pem", "key.pem", "root-cert.pem");
      }
    }
  }

  @Test
  void replacesTheFilesBeforeTheCertificateExpires() throws Exception {
    Path out = dir.resolve("grpc");
    try (GrpcAgent agent = GrpcAgent.start(options(out, Duration.ofSeconds(10)))) {
      X509Certificate first = agent.firstCertificate().get(30, TimeUnit.SECONDS).leaf();
      // Renewal at half the lifetime: a new leaf (and key) lands while the first is still valid.
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
          .until(() -> !leaf(out).equals(first));
      assertThat(Instant.now()).isBefore(first.getNotAfter().toInstant());
      X509Certificate second = leaf(out);
      assertThat(second.getNotAfter()).isAfter(first.getNotAfter());
      assertMatches(Pem.decodePrivateKey(Files.readString(out.resolve("key.pem"))), leaf(out));
    }
  }

  @Test
  void refusesToStartWithoutReadableRootsAndNamesTheFile() {
    Path missing = dir.resolve("no-such-root.pem");
    GrpcAgentOptions options = options(dir.resolve("grpc"), Duration.ofHours(1));
    GrpcAgentOptions withMissingRoot = new GrpcAgentOptions(options.podIp(), options.podName(),
        options.namespace(), options.serviceAccount(), options.cluster(), options.network(),
        options.locality(), options.labels(), options.xdsServer(), options.caAddress(), missing,
        options.tokenFile(), options.trustDomain(), options.certTtl(), options.outputDir(),
        options.refreshInterval());
    assertThatThrownBy(() -> GrpcAgent.start(withMissingRoot)).isInstanceOf(IOException.class)
        .hasMessageContaining(missing.toString());
  }

  @Test
  void rejectsOptionsItCannotUseWithTheFieldAndWhatWasExpected() {
    assertThatThrownBy(() -> new GrpcAgentOptions("127.0.83.20", "client-1", "sample", "client", "east",
        "net1", "us-east/us-east-1a", Map.of(), "controller", controller.address(), rootFile, token,
        "cluster.local", Duration.ofHours(1), dir, Duration.ofSeconds(1)))
        .hasMessage("xdsServer: 'controller' (expected: host:port)");
    assertThatThrownBy(() -> new GrpcAgentOptions("127.0.83.20", "client-1", "sample", "client", "east",
        "net1", "us-east/us-east-1a", Map.of(), "127.0.0.1:15010", controller.address(), rootFile, token,
        "cluster.local", Duration.ofHours(1), dir, Duration.ofMillis(500)))
        .hasMessageContaining("refreshInterval: PT0.5S (expected: >= 1s");
  }

  private GrpcAgentOptions options(Path out, Duration ttl) {
    return new GrpcAgentOptions("127.0.83.20", "client-1", "sample", "client", "east", "net1",
        "us-east/us-east-1a", Map.of("app", "client"), "127.0.0.1:15010", controller.address(), rootFile,
        token, "cluster.local", ttl, out, Duration.ofSeconds(1));
  }

  private static X509Certificate leaf(Path out) throws IOException {
    return Pem.decodeCertificates(Files.readString(out.resolve("cert-chain.pem"))).get(0);
  }

  private static void assertMatches(PrivateKey key, X509Certificate leaf) throws Exception {
    byte[] data = "proxyless".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Signature signer = Signature.getInstance("SHA256withECDSA");
    signer.initSign(key);
    signer.update(data);
    byte[] signature = signer.sign();
    Signature verifier = Signature.getInstance("SHA256withECDSA");
    verifier.initVerify(leaf.getPublicKey());
    verifier.update(data);
    assertThat(verifier.verify(signature)).as("key.pem signs for cert-chain.pem's leaf").isTrue();
  }
}
