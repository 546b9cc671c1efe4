package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

import io.grpc.netty.GrpcSslContexts;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;

/**
 * Netty TLS contexts for mesh mTLS: the workload certificate from a {@link RotatingKeyManager},
 * peers verified by a {@link SpiffeTrustManager} (no host name verification), TLS 1.3 and 1.2,
 * the JDK provider. Both suppliers are read per handshake, so one context serves across
 * certificate and root rotations. Contexts are immutable and thread-safe.
 *
 * <p>A client context caches TLS sessions per host and port, so a later connection may resume a
 * session whose peer was verified when it was made (within the session timeout); use a fresh
 * context where every connection must re-verify against the current bundle.
 */
public final class MeshTls {

    static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private MeshTls() {
    }

    /**
     * A server context. With {@code requireClientCert} the peer must present a valid mesh
     * certificate; without it a certificate is requested and verified if the peer sends one.
     *
     * @param alpn protocols to negotiate, in preference order; empty for no ALPN
     */
    public static SslContext serverContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            boolean requireClientCert, List<String> alpn) {
        return serverContext(certificate, bundle, requireClientCert, alpn, Metrics.globalRegistry);
    }

    public static SslContext serverContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            boolean requireClientCert, List<String> alpn, MeterRegistry registry) {
        return serverContext(certificate, bundle, requireClientCert, alpn, registry, SslProvider.JDK);
    }

    /**
     * With an explicit provider. The JDK provider refuses SNI names with underscores (Istio's
     * {@code outbound_.<port>_._.<host>}); pass {@link SslProvider#OPENSSL} (netty-tcnative on the
     * class path, see {@link #preferredProvider()}) where such SNI must be sent or received.
     */
    public static SslContext serverContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            boolean requireClientCert, List<String> alpn, MeterRegistry registry, SslProvider provider) {
        requireNonNull(alpn, "alpn");
        requireNonNull(provider, "provider");
        SslContextBuilder b = SslContextBuilder.forServer(new RotatingKeyManager(certificate))
                .trustManager(new SpiffeTrustManager(bundle, registry))
                .clientAuth(requireClientCert ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL)
                .sslProvider(provider)
                .protocols(PROTOCOLS);
        applyAlpn(b, alpn);
        return build(b, "server");
    }

    /**
     * A client context presenting the workload certificate and verifying the server's SPIFFE
     * identity against the bundle; host name verification is off.
     */
    public static SslContext clientContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            List<String> alpn) {
        return clientContext(certificate, bundle, alpn, Metrics.globalRegistry);
    }

    public static SslContext clientContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            List<String> alpn, MeterRegistry registry) {
        return clientContext(certificate, bundle, alpn, registry, SslProvider.JDK);
    }

    /** With an explicit provider; see {@link #serverContext(Supplier, Supplier, boolean, List, MeterRegistry, SslProvider)}. */
    public static SslContext clientContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            List<String> alpn, MeterRegistry registry, SslProvider provider) {
        requireNonNull(alpn, "alpn");
        requireNonNull(provider, "provider");
        SslContextBuilder b = SslContextBuilder.forClient()
                .keyManager(new RotatingKeyManager(certificate))
                .trustManager(new SpiffeTrustManager(bundle, registry))
                .endpointIdentificationAlgorithm(null)
                .sslProvider(provider)
                .protocols(PROTOCOLS);
        applyAlpn(b, alpn);
        return build(b, "client");
    }

    /**
     * A gRPC (HTTP/2) server context, e.g. for the controller's port 15012: its serving
     * certificate, client certificates verified against the bundle when sent (required if
     * {@code requireClientCert}).
     */
    public static SslContext grpcServerContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            boolean requireClientCert) {
        SslContextBuilder b = SslContextBuilder.forServer(new RotatingKeyManager(certificate))
                .trustManager(new SpiffeTrustManager(bundle))
                .clientAuth(requireClientCert ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL)
                .protocols(PROTOCOLS);
        return build(GrpcSslContexts.configure(b, SslProvider.JDK), "gRPC server");
    }

    /**
     * A gRPC (HTTP/2) client context that presents the workload certificate (if {@code certificate}
     * is non-null) and verifies the server's SPIFFE identity against the bundle.
     */
    public static SslContext grpcClientContext(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle) {
        SslContextBuilder b = SslContextBuilder.forClient()
                .trustManager(new SpiffeTrustManager(bundle))
                .endpointIdentificationAlgorithm(null)
                .protocols(PROTOCOLS);
        if (certificate != null) {
            b.keyManager(new RotatingKeyManager(certificate));
        }
        return build(GrpcSslContexts.configure(b, SslProvider.JDK), "gRPC client");
    }

    /** {@link SslProvider#OPENSSL} if netty-tcnative loads on this machine, else {@link SslProvider#JDK}. */
    public static SslProvider preferredProvider() {
        return OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
    }

    /** The SPIFFE ID of the verified peer of {@code session}, or empty if it has none. */
    public static Optional<SpiffeId> peerIdentity(SSLSession session) {
        requireNonNull(session, "session");
        Certificate[] peer;
        try {
            peer = session.getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            return Optional.empty();
        }
        if (peer == null || peer.length == 0 || !(peer[0] instanceof X509Certificate leaf)) {
            return Optional.empty();
        }
        return identityOf(leaf);
    }

    /** The single SPIFFE ID of {@code leaf}, or empty if it does not carry exactly one valid one. */
    public static Optional<SpiffeId> identityOf(X509Certificate leaf) {
        requireNonNull(leaf, "leaf");
        try {
            return Optional.of(Certificates.spiffeId(leaf));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    private static void applyAlpn(SslContextBuilder b, List<String> alpn) {
        if (!alpn.isEmpty()) {
            b.applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                    ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                    ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, List.copyOf(alpn)));
        }
    }

    private static SslContext build(SslContextBuilder b, String what) {
        try {
            return b.build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot build the mesh TLS " + what + " context", e);
        }
    }
}
