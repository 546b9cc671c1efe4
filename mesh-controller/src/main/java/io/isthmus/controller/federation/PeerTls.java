package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.RotatingKeyManager;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.SpiffeTrustManager;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import java.util.Set;
import java.util.function.Supplier;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Mutual TLS between federation peers: the key manager presents this controller's mesh
 * certificate (client and server side alike), the trust manager accepts only peers whose chain
 * ends at a mesh root, whose certificate carries a SPIFFE identity of the mesh, and who is a
 * controller ({@link SpiffeTrustManager} with {@code PeerTrust} as its peer check). Both are consulted per handshake, so a manager that swaps its material
 * (certificate rotation, a new federated root) takes effect on the next connection.
 */
public record PeerTls(X509ExtendedKeyManager keyManager, X509ExtendedTrustManager trustManager) {

    public PeerTls {
        requireNonNull(keyManager, "keyManager");
        requireNonNull(trustManager, "trustManager");
    }

    /**
     * Peers present {@code certificate} (read per handshake, so renewals apply to new
     * connections) and accept only chains to {@code bundle} whose SPIFFE ID is one of
     * {@code controllers}.
     */
    public static PeerTls of(Supplier<WorkloadCertificate> certificate, Supplier<TrustBundle> bundle,
            Set<SpiffeId> controllers) {
        return new PeerTls(new RotatingKeyManager(requireNonNull(certificate, "certificate")),
                new SpiffeTrustManager(requireNonNull(bundle, "bundle")).withPeerCheck(new PeerTrust(controllers)));
    }
}
