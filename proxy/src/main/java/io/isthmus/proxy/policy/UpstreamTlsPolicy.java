package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A cluster's {@code UpstreamTlsContext}, compiled: either the mesh's own mTLS (the workload
 * certificate and trust bundle from SDS {@code default} / {@code ROOTCA}, Istio's
 * {@code ISTIO_MUTUAL}) or TLS originated toward a server outside the mesh (Istio's
 * {@code SIMPLE} and {@code MUTUAL}, recognised by certificate material of their own: a
 * {@code validation_context} or {@code tls_certificates}): the server verified against {@code trusted_ca} (a file or
 * inline PEM) and, when given, {@code match_typed_subject_alt_names} (DNS or URI, exact), with the
 * client presenting {@code tls_certificates[0]} for MUTUAL. Files are read here, once per
 * compiled context, so a missing or unreadable one NACKs the cluster with its path.
 *
 * @param sni           the SNI to send; empty for none
 * @param alpn          ALPN to offer (empty: none for an originated context)
 * @param mesh          the mesh's mTLS: every other field but {@code sni}, {@code alpn} and
 *                      {@code uriSubjectAltNames} is empty
 * @param trustedCas    the roots to verify the server with; empty with {@code mesh}, or without
 *                      {@code verify}
 * @param verify        false when the validation context says {@code trust_chain_verification:
 *                      ACCEPT_UNTRUSTED} (Istio's {@code insecureSkipVerify}), or when there is
 *                      none (client certificates only: Envoy then verifies nothing)
 * @param subjectAltNames DNS names the server certificate may carry (one of these or of
 *                      {@code uriSubjectAltNames} must match); both empty for any
 * @param uriSubjectAltNames URIs (a SPIFFE ID) the server certificate may carry; for the mesh's
 *                      mTLS, the SPIFFE IDs that may answer for the cluster (pilot's
 *                      {@code combined_validation_context.default_validation_context}
 *                      {@code match_subject_alt_names}), empty for any identity of the mesh
 * @param clientChainPem the client certificate chain (PEM), for MUTUAL
 * @param clientKeyPem   its private key (PKCS#8 PEM), for MUTUAL
 */
public record UpstreamTlsPolicy(String sni, List<String> alpn, boolean mesh, List<X509Certificate> trustedCas,
    boolean verify, List<String> subjectAltNames, List<String> uriSubjectAltNames,
    Optional<String> clientChainPem, Optional<String> clientKeyPem) {

  public UpstreamTlsPolicy {
    requireNonNull(sni, "sni");
    alpn = List.copyOf(alpn);
    trustedCas = List.copyOf(trustedCas);
    subjectAltNames = List.copyOf(subjectAltNames);
    uriSubjectAltNames = List.copyOf(uriSubjectAltNames);
    requireNonNull(clientChainPem, "clientChainPem");
    requireNonNull(clientKeyPem, "clientKeyPem");
  }

  /**
   * Compiles {@code context}.
   *
   * @param where the field path to name in errors, e.g. {@code transport_socket}
   * @throws IllegalArgumentException naming the field (and the file) that cannot be used
   */
  public static UpstreamTlsPolicy of(UpstreamTlsContext context, String where) {
    CommonTlsContext common = context.getCommonTlsContext();
    String at = where + ".common_tls_context";
    // A context with no certificate material of its own is the mesh's (the workload certificate
    // and trust bundle the sidecar holds), as the controller and the gateway have always sent it.
    boolean mesh = common.getTlsCertificateSdsSecretConfigsCount() > 0 || common.hasValidationContextSdsSecretConfig()
        || common.hasCombinedValidationContext()
        || (!common.hasValidationContext() && common.getTlsCertificatesCount() == 0);
    if (mesh) {
      return new UpstreamTlsPolicy(context.getSni(), common.getAlpnProtocolsList(), true, List.of(), true, List.of(),
          meshIdentities(common, at), Optional.empty(), Optional.empty());
    }
    List<X509Certificate> cas = List.of();
    List<String> sans = new ArrayList<>();
    List<String> uris = new ArrayList<>();
    var validation = common.getValidationContext();
    boolean verify = common.hasValidationContext() && validation.getTrustChainVerification()
        != io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext
            .TrustChainVerification.ACCEPT_UNTRUSTED;
    if (verify) {
      if (!validation.hasTrustedCa()) {
        throw new IllegalArgumentException(at + ".validation_context.trusted_ca: missing (expected: the CA"
            + " certificates to verify the server with, as a filename or inline PEM)");
      }
      cas = certificates(read(validation.getTrustedCa(), at + ".validation_context.trusted_ca"),
          at + ".validation_context.trusted_ca");
      for (int i = 0; i < validation.getMatchTypedSubjectAltNamesCount(); i++) {
        SubjectAltNameMatcher m = validation.getMatchTypedSubjectAltNames(i);
        String f = at + ".validation_context.match_typed_subject_alt_names[" + i + "]";
        boolean uri = m.getSanType() == SubjectAltNameMatcher.SanType.URI;
        if ((m.getSanType() != SubjectAltNameMatcher.SanType.DNS && !uri) || !m.getMatcher().hasExact()) {
          throw new IllegalArgumentException(f + ": " + m.getSanType() + " " + m.getMatcher().getMatchPatternCase()
              + " (expected: san_type DNS or URI with an exact matcher)");
        }
        (uri ? uris : sans).add(m.getMatcher().getExact());
      }
    }
    Optional<String> chain = Optional.empty();
    Optional<String> key = Optional.empty();
    if (common.getTlsCertificatesCount() > 0) {
      var cert = common.getTlsCertificates(0);
      String f = at + ".tls_certificates[0]";
      chain = Optional.of(read(cert.getCertificateChain(), f + ".certificate_chain"));
      certificates(chain.get(), f + ".certificate_chain");
      key = Optional.of(read(cert.getPrivateKey(), f + ".private_key"));
      if (!key.get().contains("PRIVATE KEY-----")) {
        throw new IllegalArgumentException(f + ".private_key: holds no PEM private key (expected: a PKCS#8"
            + " '-----BEGIN PRIVATE KEY-----' block)");
      }
    }
    return new UpstreamTlsPolicy(context.getSni(), common.getAlpnProtocolsList(), false, cas, verify, sans, uris,
        chain, key);
  }

  /**
   * The SPIFFE IDs the mesh's mTLS asks the server for, as pilot writes them: exact
   * {@code match_subject_alt_names} (or URI {@code match_typed_subject_alt_names}) of the
   * combined validation context's default one.
   */
  @SuppressWarnings("deprecation") // pilot writes match_subject_alt_names for ISTIO_MUTUAL
  private static List<String> meshIdentities(CommonTlsContext common, String at) {
    if (!common.hasCombinedValidationContext()) {
      return List.of();
    }
    var defaults = common.getCombinedValidationContext().getDefaultValidationContext();
    String f = at + ".combined_validation_context.default_validation_context";
    List<String> out = new ArrayList<>();
    for (int i = 0; i < defaults.getMatchSubjectAltNamesCount(); i++) {
      var m = defaults.getMatchSubjectAltNames(i);
      if (!m.hasExact() || m.getExact().isEmpty()) {
        throw new IllegalArgumentException(f + ".match_subject_alt_names[" + i + "]: " + m.getMatchPatternCase()
            + " (expected: an exact SPIFFE ID, as the controller sends for the mesh's mTLS)");
      }
      out.add(m.getExact());
    }
    for (int i = 0; i < defaults.getMatchTypedSubjectAltNamesCount(); i++) {
      SubjectAltNameMatcher m = defaults.getMatchTypedSubjectAltNames(i);
      if (m.getSanType() != SubjectAltNameMatcher.SanType.URI || !m.getMatcher().hasExact()) {
        throw new IllegalArgumentException(f + ".match_typed_subject_alt_names[" + i + "]: " + m.getSanType() + " "
            + m.getMatcher().getMatchPatternCase() + " (expected: san_type URI with an exact SPIFFE ID)");
      }
      out.add(m.getMatcher().getExact());
    }
    return out;
  }

  private static String read(DataSource source, String where) {
    return switch (source.getSpecifierCase()) {
      case FILENAME -> {
        try {
          yield Files.readString(Path.of(source.getFilename()), StandardCharsets.US_ASCII);
        } catch (IOException | RuntimeException e) {
          throw new IllegalArgumentException(where + ".filename: " + source.getFilename() + " cannot be read ("
              + e + "; expected: a readable PEM file in the proxy's file system)", e);
        }
      }
      case INLINE_STRING -> source.getInlineString();
      case INLINE_BYTES -> source.getInlineBytes().toString(StandardCharsets.US_ASCII);
      default -> throw new IllegalArgumentException(where + ": " + source.getSpecifierCase()
          + " (expected: filename, inline_string or inline_bytes)");
    };
  }

  private static List<X509Certificate> certificates(String pem, String where) {
    try {
      List<X509Certificate> out = new ArrayList<>();
      for (var c : CertificateFactory.getInstance("X.509").generateCertificates(
          new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
        out.add((X509Certificate) c);
      }
      if (out.isEmpty()) {
        throw new IllegalArgumentException(where + ": holds no certificate (expected: PEM certificates)");
      }
      return out;
    } catch (CertificateException e) {
      throw new IllegalArgumentException(where + ": not PEM certificates (" + e.getMessage() + ")", e);
    }
  }
}
