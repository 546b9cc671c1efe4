package io.isthmus.proxy.internal;

import io.isthmus.trust.MeshTls;
import io.isthmus.trust.SpiffeId;
import java.util.List;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSession;

/**
 * Who answered an upstream mTLS handshake, against who may answer for the cluster: Envoy's
 * {@code match_subject_alt_names} check of the server certificate's URI SAN, which pilot fills
 * with the service accounts of the destination's endpoints in every cluster. The mesh's client
 * context is shared by every cluster (its trust manager checks the chain and the trust domain),
 * so this runs when the handshake completes, before any request byte is written; a connection
 * that fails it is closed and never pooled. Through an east-west gateway the handshake is the
 * final pod's own (the gateway passes TLS through), so the pod's identity is what is checked.
 */
final class UpstreamIdentity {

  private UpstreamIdentity() {}

  /**
   * Null when the peer of {@code session} is one of {@code expected} (or {@code expected} is
   * empty); else the failure to fail the connection with, whose cause is a
   * {@link UpstreamTlsFailure.SanMismatch} naming both sides.
   */
  static SSLHandshakeException check(SSLSession session, List<String> expected) {
    if (expected.isEmpty()) {
      return null;
    }
    String presented = MeshTls.peerIdentity(session).map(SpiffeId::uri).orElse(null);
    if (presented != null && expected.contains(presented)) {
      return null;
    }
    SSLHandshakeException failure = new SSLHandshakeException("upstream identity refused");
    failure.initCause(new UpstreamTlsFailure.SanMismatch("upstream presented "
        + (presented == null ? "no SPIFFE ID" : presented) + ", expected one of " + expected));
    return failure;
  }
}
