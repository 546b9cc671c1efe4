package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Mutual TLS between federation peers: the key manager presents this controller's mesh
 * certificate (client and server side alike), the trust manager accepts only peers whose chain
 * ends at a mesh root and whose certificate carries a SPIFFE identity of the mesh (see
 * {@link PeerTrust}). Both are consulted per handshake, so a manager that swaps its material
 * (certificate rotation, a new federated root) takes effect on the next connection.
 */
public record PeerTls(X509ExtendedKeyManager keyManager, X509ExtendedTrustManager trustManager) {

    public PeerTls {
        requireNonNull(keyManager, "keyManager");
        requireNonNull(trustManager, "trustManager");
    }
}
