package io.isthmus.controller.xds;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.SpiffeId;
import javax.net.ssl.SSLSession;

/**
 * Who may open an ADS stream for which node. On the plaintext port anyone may (it exists for
 * tests and for the loopback demo); on the TLS port the caller must present a verified client
 * certificate whose SPIFFE namespace and service account are the node's.
 */
final class PeerAuthorizer {

    private static final Context.Key<SSLSession> SSL_SESSION = Context.key("isthmus-xds-ssl-session");

    static final PeerAuthorizer PLAINTEXT = new PeerAuthorizer(false);
    static final PeerAuthorizer MUTUAL_TLS = new PeerAuthorizer(true);

    /** The caller of one stream: its verified identity, or why it has none. */
    record Peer(SpiffeId identity, String problem) {}

    private final boolean requireIdentity;

    private PeerAuthorizer(boolean requireIdentity) {
        this.requireIdentity = requireIdentity;
    }

    /** Puts the call's TLS session into the gRPC context, where {@link #currentPeer()} finds it. */
    static ServerInterceptor sslSessionInterceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(
                    ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
                return Contexts.interceptCall(Context.current().withValue(SSL_SESSION, session), call, headers, next);
            }
        };
    }

    Peer currentPeer() {
        if (!requireIdentity) {
            return new Peer(null, "plaintext");
        }
        SSLSession session = SSL_SESSION.get();
        if (session == null) {
            return new Peer(null, "the connection is not TLS");
        }
        // The handshake already verified the chain (SpiffeTrustManager); this reads its identity.
        return MeshTls.peerIdentity(session)
                .map(id -> new Peer(id, ""))
                .orElseGet(() -> new Peer(null, "no client certificate with exactly one SPIFFE ID was presented"));
    }

    /** Null when allowed; otherwise the status to close the stream with. */
    Status authorize(Peer peer, ProxyNode node) {
        if (!requireIdentity) {
            return null;
        }
        if (peer.identity() == null) {
            return Status.PERMISSION_DENIED.withDescription("ADS on the TLS port needs a client certificate: "
                    + peer.problem());
        }
        SpiffeId id = peer.identity();
        if (!id.namespace().equals(node.namespace()) || !id.serviceAccount().equals(node.serviceAccount())) {
            return Status.PERMISSION_DENIED.withDescription("client certificate identity " + id.uri()
                    + " may not ask for node " + node.id() + " (expected: namespace " + node.namespace()
                    + ", service account " + node.serviceAccount() + ")");
        }
        return null;
    }
}
