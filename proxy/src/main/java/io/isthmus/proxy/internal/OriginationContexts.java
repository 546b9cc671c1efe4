package io.isthmus.proxy.internal;

import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.isthmus.proxy.policy.UpstreamTlsPolicy;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * The client TLS contexts of clusters that originate TLS toward servers outside the mesh
 * (Istio's DestinationRule {@code SIMPLE} and {@code MUTUAL}), built once per distinct
 * {@code UpstreamTlsContext} and kept while configs name it, so pooled connections stay pooled
 * across pushes. Certificates are checked as Envoy does: the chain against {@code trusted_ca},
 * then, when the context lists subject alt names, one of the certificate's DNS names must match
 * one of them; the peer's host name itself is not checked (the proxy dials an address).
 * Thread-safe.
 */
final class OriginationContexts {

  private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

  private final Map<UpstreamTlsContext, Optional<DataPlaneConfig.OriginatedTls>> cache =
      new ConcurrentHashMap<>();

  /**
   * The originated contexts for {@code context}, or empty when it is the mesh's mTLS.
   *
   * @throws IllegalArgumentException naming the field or file that cannot be used
   */
  Optional<DataPlaneConfig.OriginatedTls> get(UpstreamTlsContext context) {
    Optional<DataPlaneConfig.OriginatedTls> known = cache.get(context);
    if (known != null) {
      return known;
    }
    Optional<DataPlaneConfig.OriginatedTls> built = build(UpstreamTlsPolicy.of(context, "transport_socket"));
    cache.put(context, built);
    return built;
  }

  /** Forgets contexts no config names any more. */
  void retain(java.util.Set<UpstreamTlsContext> live) {
    cache.keySet().retainAll(live);
  }

  static Optional<DataPlaneConfig.OriginatedTls> build(UpstreamTlsPolicy policy) {
    if (policy.mesh()) {
      return Optional.empty();
    }
    try {
      return Optional.of(new DataPlaneConfig.OriginatedTls(context(policy, "http/1.1"), context(policy, "h2")));
    } catch (SSLException | GeneralSecurityException e) {
      throw new IllegalArgumentException("transport_socket: cannot build the TLS context (" + e.getMessage()
          + ")", e);
    }
  }

  private static SslContext context(UpstreamTlsPolicy policy, String alpn)
      throws SSLException, GeneralSecurityException {
    SslContextBuilder builder = SslContextBuilder.forClient()
        .sslProvider(MeshContexts.provider())
        .protocols(PROTOCOLS)
        // Envoy checks subject alt names, not the dialled host (an IP address here).
        .endpointIdentificationAlgorithm(null)
        .applicationProtocolConfig(MeshContexts.alpn(alpn));
    if (!policy.verify()) {
      builder.trustManager(InsecureTrustManagerFactory.INSTANCE);
    } else {
      builder.trustManager(new SanCheckingTrustManager(pkix(policy.trustedCas()), policy.subjectAltNames(),
          policy.uriSubjectAltNames(), policy.crls(), policy.trustedCas()));
    }
    if (policy.clientChainPem().isPresent()) {
      builder.keyManager(
          new ByteArrayInputStream(policy.clientChainPem().get().getBytes(StandardCharsets.US_ASCII)),
          new ByteArrayInputStream(policy.clientKeyPem().orElseThrow().getBytes(StandardCharsets.US_ASCII)));
    }
    return builder.build();
  }

  private static X509TrustManager pkix(List<X509Certificate> roots) throws GeneralSecurityException {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    try {
      store.load(null, null);
    } catch (java.io.IOException e) {
      throw new GeneralSecurityException(e);
    }
    for (int i = 0; i < roots.size(); i++) {
      store.setCertificateEntry("ca-" + i, roots.get(i));
    }
    TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    factory.init(store);
    for (TrustManager tm : factory.getTrustManagers()) {
      if (tm instanceof X509TrustManager x509) {
        return x509;
      }
    }
    throw new GeneralSecurityException("no X509TrustManager for the trusted CAs");
  }

  /**
   * The chain against the roots, then against the CRLs (when there are any), then the server
   * certificate's DNS names against {@code sans}.
   */
  static final class SanCheckingTrustManager extends X509ExtendedTrustManager {
    private final X509TrustManager chain;
    private final List<String> sans;
    private final List<String> uris;
    private final List<X509CRL> crls;
    private final List<X509Certificate> roots;

    SanCheckingTrustManager(X509TrustManager chain, List<String> sans, List<String> uris) {
      this(chain, sans, uris, List.of(), List.of());
    }

    SanCheckingTrustManager(X509TrustManager chain, List<String> sans, List<String> uris, List<X509CRL> crls,
        List<X509Certificate> roots) {
      this.chain = chain;
      this.sans = List.copyOf(sans);
      this.uris = List.copyOf(uris);
      this.crls = List.copyOf(crls);
      this.roots = List.copyOf(roots);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] certs, String authType) throws CertificateException {
      chain.checkServerTrusted(certs, authType);
      checkRevocation(certs);
      checkSans(certs[0]);
    }

    /**
     * Every certificate the server presented, but a self-signed root, against its issuer's CRL,
     * as Envoy does with {@code crl} set (BoringSSL's {@code X509_V_FLAG_CRL_CHECK_ALL}): a
     * revoked one is refused, and so is one whose issuer has no CRL among them (Envoy: "a CRL
     * must be provided for all certificate authorities in that chain").
     */
    private void checkRevocation(X509Certificate[] certs) throws CertificateException {
      if (crls.isEmpty()) {
        return;
      }
      for (int i = 0; i < certs.length; i++) {
        X509Certificate cert = certs[i];
        var issuer = cert.getIssuerX500Principal();
        if (issuer.equals(cert.getSubjectX500Principal())) {
          continue;
        }
        X509Certificate issuerCert = i + 1 < certs.length && certs[i + 1].getSubjectX500Principal().equals(issuer)
            ? certs[i + 1] : roots.stream().filter(r -> r.getSubjectX500Principal().equals(issuer)).findFirst()
                .orElse(null);
        X509CRL crl = null;
        for (X509CRL candidate : crls) {
          if (candidate.getIssuerX500Principal().equals(issuer) && signedBy(candidate, issuerCert)) {
            crl = candidate;
            break;
          }
        }
        if (crl == null) {
          throw new CertificateException("unable to get certificate CRL: no CRL of " + issuer.getName()
              + " (the issuer of " + cert.getSubjectX500Principal().getName() + ") among the cluster's caCrl;"
              + " with a CRL, every CA of the chain needs one");
        }
        if (crl.isRevoked(cert)) {
          var entry = crl.getRevokedCertificate(cert);
          throw new CertificateException("certificate revoked: " + cert.getSubjectX500Principal().getName()
              + " (serial " + cert.getSerialNumber().toString(16) + ") is revoked by the CRL of " + issuer.getName()
              + (entry != null && entry.getRevocationReason() != null
                  ? " (" + entry.getRevocationReason() + ")" : ""));
        }
      }
    }

    private static boolean signedBy(X509CRL crl, X509Certificate issuer) {
      if (issuer == null) {
        return false;
      }
      try {
        crl.verify(issuer.getPublicKey());
        return true;
      } catch (GeneralSecurityException e) {
        return false;
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] certs, String authType, Socket socket)
        throws CertificateException {
      checkServerTrusted(certs, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] certs, String authType, SSLEngine engine)
        throws CertificateException {
      checkServerTrusted(certs, authType);
    }

    private void checkSans(X509Certificate leaf) throws CertificateException {
      if (sans.isEmpty() && uris.isEmpty()) {
        return;
      }
      List<String> names = names(leaf, DNS_NAME);
      for (String wanted : sans) {
        for (String name : names) {
          if (matches(name, wanted)) {
            return;
          }
        }
      }
      List<String> certUris = names(leaf, URI_NAME);
      for (String wanted : uris) {
        if (certUris.contains(wanted)) {
          return;
        }
      }
      List<String> all = new java.util.ArrayList<>(names);
      all.addAll(certUris);
      List<String> wantedAll = new java.util.ArrayList<>(sans);
      wantedAll.addAll(uris);
      throw new UpstreamTlsFailure.SanMismatch("server certificate names " + all + " match none of the"
          + " subject alt names " + wantedAll + " the DestinationRule's subjectAltNames ask for");
    }

    private static final Integer DNS_NAME = 2;
    private static final Integer URI_NAME = 6;

    /** DNS names lower-cased (they compare case-insensitively), URIs as they are. */
    private static List<String> names(X509Certificate cert, Integer type) throws CertificateParsingException {
      var all = cert.getSubjectAlternativeNames();
      if (all == null) {
        return List.of();
      }
      return all.stream().filter(e -> type.equals(e.get(0)))
          .map(e -> type.equals(DNS_NAME) ? String.valueOf(e.get(1)).toLowerCase(Locale.ROOT)
              : String.valueOf(e.get(1))).toList();
    }

    /** A certificate name {@code *.example.com} covers exactly one label, as RFC 6125 says. */
    static boolean matches(String certName, String wanted) {
      String w = wanted.toLowerCase(Locale.ROOT);
      if (certName.equals(w)) {
        return true;
      }
      if (certName.startsWith("*.")) {
        int dot = w.indexOf('.');
        return dot > 0 && w.substring(dot).equals(certName.substring(1));
      }
      return false;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] certs, String authType) throws CertificateException {
      throw new CertificateException("an upstream client context does not verify clients");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] certs, String authType, Socket socket)
        throws CertificateException {
      checkClientTrusted(certs, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] certs, String authType, SSLEngine engine)
        throws CertificateException {
      checkClientTrusted(certs, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return chain.getAcceptedIssuers();
    }
  }
}
