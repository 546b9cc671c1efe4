package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which upstream TLS contexts are the mesh's and which originate TLS, and what is refused. */
class UpstreamTlsPolicyTest {

  private static UpstreamTlsContext context(CommonTlsContext.Builder common) {
    return UpstreamTlsContext.newBuilder().setSni("api.example.com").setCommonTlsContext(common).build();
  }

  @Test
  void sdsSecretsOrNoMaterialAreTheMeshsMtls() {
    assertThat(UpstreamTlsPolicy.of(context(CommonTlsContext.newBuilder().addAlpnProtocols("http/1.1")), "t").mesh())
        .isTrue();
    assertThat(UpstreamTlsPolicy.of(context(CommonTlsContext.newBuilder()
        .addTlsCertificateSdsSecretConfigs(SdsSecretConfig.newBuilder().setName("default"))
        .setValidationContextSdsSecretConfig(SdsSecretConfig.newBuilder().setName("ROOTCA"))), "t").mesh()).isTrue();
  }

  @Test
  void aTrustedCaFileOriginatesVerifiedTls(@TempDir Path dir) throws Exception {
    Path ca = dir.resolve("ca.pem");
    Files.writeString(ca, new io.isthmus.proxy.testing.TestPki().rootPem());
    UpstreamTlsPolicy policy = UpstreamTlsPolicy.of(context(CommonTlsContext.newBuilder().setValidationContext(
        CertificateValidationContext.newBuilder().setTrustedCa(DataSource.newBuilder().setFilename(ca.toString()))
            .addMatchTypedSubjectAltNames(SubjectAltNameMatcher.newBuilder()
                .setSanType(SubjectAltNameMatcher.SanType.DNS)
                .setMatcher(StringMatcher.newBuilder().setExact("api.example.com"))))), "t");
    assertThat(policy.mesh()).isFalse();
    assertThat(policy.verify()).isTrue();
    assertThat(policy.trustedCas()).hasSize(1);
    assertThat(policy.subjectAltNames()).containsExactly("api.example.com");
    assertThat(policy.sni()).isEqualTo("api.example.com");
  }

  @Test
  void acceptUntrustedSkipsVerification() {
    UpstreamTlsPolicy policy = UpstreamTlsPolicy.of(context(CommonTlsContext.newBuilder().setValidationContext(
        CertificateValidationContext.newBuilder().setTrustChainVerification(
            CertificateValidationContext.TrustChainVerification.ACCEPT_UNTRUSTED))), "t");
    assertThat(policy.mesh()).isFalse();
    assertThat(policy.verify()).isFalse();
  }

  @Test
  void anUnreadableFileOrAMissingCaIsRefusedNamingTheField(@TempDir Path dir) {
    String missing = dir.resolve("nope.pem").toString();
    assertThatThrownBy(() -> UpstreamTlsPolicy.of(context(CommonTlsContext.newBuilder().setValidationContext(
        CertificateValidationContext.newBuilder().setTrustedCa(DataSource.newBuilder().setFilename(missing)))),
        "transport_socket"))
        .hasMessageContaining("transport_socket.common_tls_context.validation_context.trusted_ca.filename: "
            + missing + " cannot be read");
    assertThatThrownBy(() -> UpstreamTlsPolicy.of(context(CommonTlsContext.newBuilder().setValidationContext(
        CertificateValidationContext.newBuilder().addMatchTypedSubjectAltNames(SubjectAltNameMatcher.newBuilder()
            .setSanType(SubjectAltNameMatcher.SanType.DNS)
            .setMatcher(StringMatcher.newBuilder().setExact("a"))))), "transport_socket"))
        .hasMessageContaining("validation_context.trusted_ca: missing");
    assertThatThrownBy(() -> UpstreamTlsPolicy.of(context(CommonTlsContext.newBuilder().addTlsCertificates(
        TlsCertificate.newBuilder().setCertificateChain(DataSource.newBuilder().setInlineString("garbage"))
            .setPrivateKey(DataSource.newBuilder().setInlineString("k")))), "transport_socket"))
        .hasMessageContaining("tls_certificates[0].certificate_chain");
  }
}
