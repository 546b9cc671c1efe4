package io.isthmus.controller.federation;

import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.SpiffeTrustManager;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Metrics;
import java.security.cert.CertificateException;
import java.util.Set;

/**
 * The federation's rule on top of the mesh's peer verification ({@link SpiffeTrustManager}, which
 * checks the chain against the current trust bundle, the single SPIFFE URI SAN and the trust
 * domain): a peer must also be a mesh controller, i.e. its SPIFFE ID is one of {@code allowed}
 * ({@code spiffe://<td>/ns/istio-system/sa/istiod}). A sidecar with a valid mesh certificate is
 * refused: only controllers may append to the federation's log. Such refusals are counted in
 * {@code isthmus.federation.peers.rejected{reason="not_a_controller"}} (and, like every refused
 * peer, logged and counted by the trust manager); the TLS handshake fails, so nothing the peer
 * sent reaches Ratis.
 */
final class PeerTrust implements SpiffeTrustManager.PeerCheck {

    static final String REJECTED = "isthmus.federation.peers.rejected";

    private final Set<SpiffeId> allowed;

    PeerTrust(Set<SpiffeId> allowed) {
        this.allowed = Set.copyOf(allowed);
        if (this.allowed.isEmpty()) {
            throw new IllegalArgumentException("allowed: [] (expected: at least the controllers' SPIFFE ID)");
        }
    }

    @Override
    public void check(SpiffeId peer, boolean asServer) throws CertificateException {
        if (!allowed.contains(peer)) {
            Counter.builder(REJECTED)
                    .description("Federation peers refused at the TLS handshake, by reason")
                    .tag("reason", "not_a_controller")
                    .register(Metrics.globalRegistry)
                    .increment();
            throw new CertificateException("federation peer " + peer + " is not a controller (expected one of "
                    + allowed + ")");
        }
    }
}
