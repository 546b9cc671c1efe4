package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;

/**
 * Verifies a TLS peer as a mesh workload, for both client and server side: the chain must verify
 * (PKIX, with the intermediates the peer sent) to a root of the current {@link TrustBundle}, the
 * leaf must carry exactly one URI SAN, a valid SPIFFE ID, in the bundle's trust domain or an alias,
 * and its extended key usage (if present) must allow the peer's role. Host names are deliberately
 * not checked: mesh identities are SPIFFE URIs.
 *
 * <p>The bundle supplier is read on every handshake, so root rotation takes effect without
 * rebuilding TLS contexts. Rejections are logged with their reason and counted in
 * {@code isthmus_peer_verification_failures_total{reason}} (e.g. {@code foreign_trust_domain} for a
 * peer whose trust domain is neither the bundle's nor one of its aliases).
 * Thread-safe.
 */
public final class SpiffeTrustManager extends X509ExtendedTrustManager {

    /** Micrometer name; Prometheus exposes it as {@code isthmus_peer_verification_failures_total}. */
    public static final String FAILURES_METRIC = "isthmus.peer.verification.failures";

    private static final String EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final String EKU_ANY = "2.5.29.37.0";

    private static final Logger log = LoggerFactory.getLogger(SpiffeTrustManager.class);

    /**
     * A further rule on a peer that passed every mesh check, e.g. that only the controllers'
     * identity may join the federation. Called on the handshake thread; must not block.
     */
    @FunctionalInterface
    public interface PeerCheck {
        /**
         * @param peer     the peer's verified SPIFFE ID
         * @param asServer true if the peer is the TLS server
         * @throws CertificateException with the reason, if {@code peer} may not connect
         */
        void check(SpiffeId peer, boolean asServer) throws CertificateException;
    }

    private final Supplier<TrustBundle> bundle;
    private final MeterRegistry registry;
    private final Clock clock;
    private final PeerCheck peerCheck;

    /** Counts into {@link Metrics#globalRegistry}. */
    public SpiffeTrustManager(Supplier<TrustBundle> bundle) {
        this(bundle, Metrics.globalRegistry, Clock.systemUTC());
    }

    public SpiffeTrustManager(Supplier<TrustBundle> bundle, MeterRegistry registry) {
        this(bundle, registry, Clock.systemUTC());
    }

    public SpiffeTrustManager(Supplier<TrustBundle> bundle, MeterRegistry registry, Clock clock) {
        this(bundle, registry, clock, null);
    }

    private SpiffeTrustManager(Supplier<TrustBundle> bundle, MeterRegistry registry, Clock clock, PeerCheck peerCheck) {
        this.bundle = requireNonNull(bundle, "bundle");
        this.registry = requireNonNull(registry, "registry");
        this.clock = requireNonNull(clock, "clock");
        this.peerCheck = peerCheck;
    }

    /**
     * This manager with {@code check} applied after the mesh checks; a peer it refuses is counted
     * with reason {@code peer_not_allowed}.
     */
    public SpiffeTrustManager withPeerCheck(PeerCheck check) {
        return new SpiffeTrustManager(bundle, registry, clock, requireNonNull(check, "check"));
    }

    /**
     * Verifies {@code chain} (leaf first) as a peer in the given role and returns its SPIFFE ID.
     *
     * @param asServer true if the peer is the TLS server
     * @throws CertificateException with the reason, after counting it
     */
    public SpiffeId verify(X509Certificate[] chain, boolean asServer) throws CertificateException {
        try {
            return doVerify(chain, asServer);
        } catch (Rejection r) {
            log.warn("TLS peer rejected ({}): {}", r.reason, r.getMessage());
            Counter.builder(FAILURES_METRIC)
                    .description("TLS peers rejected by SPIFFE verification, by reason")
                    .tag("reason", r.reason)
                    .register(registry)
                    .increment();
            throw new CertificateException("peer rejected (" + r.reason + "): " + r.getMessage(), r.getCause());
        }
    }

    private SpiffeId doVerify(X509Certificate[] chain, boolean asServer) throws Rejection {
        if (chain == null || chain.length == 0) {
            throw new Rejection("empty_chain", "the peer sent no certificate", null);
        }
        TrustBundle current;
        try {
            current = bundle.get();
        } catch (RuntimeException e) {
            throw new Rejection("no_trust_bundle", "trust bundle unavailable: " + e.getMessage(), e);
        }
        if (current == null) {
            throw new Rejection("no_trust_bundle", "trust bundle not loaded yet", null);
        }
        X509Certificate leaf = chain[0];
        List<String> uris;
        try {
            uris = Certificates.uriSans(leaf);
        } catch (IllegalArgumentException e) {
            throw new Rejection("malformed_san", e.getMessage(), e);
        }
        if (uris.isEmpty()) {
            throw new Rejection("no_spiffe_id", "leaf " + leaf.getSubjectX500Principal() + " has no URI SAN", null);
        }
        if (uris.size() > 1) {
            throw new Rejection("multiple_uri_sans", "leaf has " + uris.size() + " URI SANs (expected: exactly 1)", null);
        }
        SpiffeId id;
        try {
            id = SpiffeId.parse(uris.get(0));
        } catch (IllegalArgumentException e) {
            throw new Rejection("invalid_spiffe_id", e.getMessage(), e);
        }
        if (!current.accepts(id.trustDomain())) {
            throw new Rejection("foreign_trust_domain", "peer " + id + " is in trust domain " + id.trustDomain()
                    + " (expected: " + current.trustDomain()
                    + (current.trustDomainAliases().isEmpty() ? "" : " or one of " + current.trustDomainAliases()) + ")", null);
        }
        checkExtendedKeyUsage(leaf, asServer);
        try {
            Certificates.verifyChain(Arrays.asList(chain), current.roots(), clock.instant());
        } catch (CertificateException e) {
            throw new Rejection("untrusted_chain", "peer " + id + ": " + e.getMessage(), e);
        }
        if (peerCheck != null) {
            try {
                peerCheck.check(id, asServer);
            } catch (CertificateException e) {
                throw new Rejection("peer_not_allowed", e.getMessage(), e);
            }
        }
        return id;
    }

    private static void checkExtendedKeyUsage(X509Certificate leaf, boolean asServer) throws Rejection {
        List<String> eku;
        try {
            eku = leaf.getExtendedKeyUsage();
        } catch (CertificateParsingException e) {
            throw new Rejection("bad_key_usage", "extended key usage is malformed: " + e.getMessage(), e);
        }
        String needed = asServer ? EKU_SERVER_AUTH : EKU_CLIENT_AUTH;
        if (eku != null && !eku.contains(needed) && !eku.contains(EKU_ANY)) {
            throw new Rejection("bad_key_usage", "leaf extended key usage " + eku + " lacks "
                    + (asServer ? "serverAuth" : "clientAuth"), null);
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain, false);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain, true);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        verify(chain, false);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        verify(chain, true);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        verify(chain, false);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        verify(chain, true);
    }

    /**
     * Empty on purpose: advertising the roots as acceptable issuers would make peers' key
     * managers filter by issuer name, and workload leaves are issued by intermediates.
     */
    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }

    private static final class Rejection extends Exception {
        private static final long serialVersionUID = 1L;
        final String reason;

        Rejection(String reason, String message, Throwable cause) {
            super(message, cause, false, false);
            this.reason = reason;
        }
    }
}
