package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.SpiffeTrustManager;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Metrics;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Set;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Accepts a Raft peer only if it is a mesh controller: its chain verifies to the mesh trust
 * bundle and its SPIFFE ID is one of {@code allowed} (the controllers' own identity,
 * {@code spiffe://<td>/ns/istio-system/sa/istiod}). A sidecar with a valid mesh certificate is
 * still refused: only controllers may append to the federation's log. Refusals are logged and
 * counted in {@code isthmus.federation.peers.rejected{reason}} (plus the trust module's
 * {@code isthmus.peer.verification.failures}); the TLS handshake fails, so nothing the peer sent
 * reaches Ratis.
 */
final class PeerTrust extends X509ExtendedTrustManager {

    private static final Logger log = LoggerFactory.getLogger(PeerTrust.class);
    static final String REJECTED = "isthmus.federation.peers.rejected";

    private final SpiffeTrustManager delegate;
    private final Set<SpiffeId> allowed;

    PeerTrust(SpiffeTrustManager delegate, Set<SpiffeId> allowed) {
        this.delegate = requireNonNull(delegate, "delegate");
        this.allowed = Set.copyOf(allowed);
        if (this.allowed.isEmpty()) {
            throw new IllegalArgumentException("allowed: [] (expected: at least the controllers' SPIFFE ID)");
        }
    }

    private void check(X509Certificate[] chain, boolean peerIsServer) throws CertificateException {
        SpiffeId id;
        try {
            id = delegate.verify(chain, peerIsServer);
        } catch (CertificateException e) {
            refuse("untrusted", e.getMessage());
            throw e;
        }
        if (!allowed.contains(id)) {
            String message = "federation peer " + id + " is not a controller (expected one of " + allowed + ")";
            refuse("not_a_controller", message);
            throw new CertificateException(message);
        }
    }

    private static void refuse(String reason, String message) {
        Counter.builder(REJECTED)
                .description("Federation peers refused at the TLS handshake, by reason")
                .tag("reason", reason)
                .register(Metrics.globalRegistry)
                .increment();
        log.warn("Refused a federation peer ({}): {}", reason, message);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, false);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, true);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check(chain, false);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        check(chain, true);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check(chain, false);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        check(chain, true);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return delegate.getAcceptedIssuers();
    }
}
