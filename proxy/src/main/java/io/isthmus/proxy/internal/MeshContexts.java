package io.isthmus.proxy.internal;

import io.isthmus.trust.MeshTls;
import io.isthmus.trust.RotatingKeyManager;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.SpiffeTrustManager;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the data plane's mTLS contexts from the trust module's rotating key manager and
 * SPIFFE trust manager.
 *
 * <p>Why not {@code MeshTls.clientContext}: Istio's SNI ({@code outbound_.5000_._.host})
 * has underscores, which the JDK's TLS refuses to send ({@code SNIHostName} rejects non-LDH
 * names, and the JDK server aborts a handshake that carries one). BoringSSL (netty-tcnative)
 * accepts it, so the data plane uses it whenever it loads. Public for the gateway module.
 */
public final class MeshContexts {

  private static final Logger log = LoggerFactory.getLogger(MeshContexts.class);
  private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

  private MeshContexts() {}

  public static SslProvider provider() {
    return OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
  }

  /**
   * Data-plane contexts over a rotating certificate and trust bundle: clients offer ALPN
   * {@code http/1.1} or {@code h2}, the inbound server accepts both and prefers {@code h2}.
   */
  public static TlsContexts dataPlane(Supplier<WorkloadCertificate> certificate,
      Supplier<TrustBundle> bundle, MeterRegistry registry) {
    if (provider() == SslProvider.JDK) {
      log.warn("netty-tcnative (BoringSSL) is not available: falling back to the JDK TLS,"
          + " which cannot carry Istio SNI names; cross-network traffic will fail");
    }
    try {
      SslContext client = client(certificate, bundle, registry, alpn("http/1.1"));
      SslContext clientH2 = client(certificate, bundle, registry, alpn("h2"));
      SslContext server = SslContextBuilder.forServer(new RotatingKeyManager(certificate))
          .trustManager(new SpiffeTrustManager(bundle, registry))
          .clientAuth(ClientAuth.REQUIRE)
          .sslProvider(provider())
          .protocols(PROTOCOLS)
          .applicationProtocolConfig(alpn("h2", "http/1.1"))
          .build();
      return new TlsContexts(client, server,
          session -> MeshTls.peerIdentity(session).map(SpiffeId::uri),
          () -> {
            try {
              return Optional.of(certificate.get().identity().uri());
            } catch (RuntimeException e) {
              return Optional.empty();
            }
          }, clientH2);
    } catch (SSLException e) {
      throw new IllegalStateException("cannot build the data-plane TLS contexts", e);
    }
  }

  private static SslContext client(Supplier<WorkloadCertificate> certificate,
      Supplier<TrustBundle> bundle, MeterRegistry registry, ApplicationProtocolConfig alpn)
      throws SSLException {
    return SslContextBuilder.forClient()
        .keyManager(new RotatingKeyManager(certificate))
        .trustManager(new SpiffeTrustManager(bundle, registry))
        .endpointIdentificationAlgorithm(null)
        .sslProvider(provider())
        .protocols(PROTOCOLS)
        .applicationProtocolConfig(alpn)
        .build();
  }

  static ApplicationProtocolConfig alpn(String... protocols) {
    return new ApplicationProtocolConfig(
        ApplicationProtocolConfig.Protocol.ALPN,
        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, List.of(protocols));
  }
}
