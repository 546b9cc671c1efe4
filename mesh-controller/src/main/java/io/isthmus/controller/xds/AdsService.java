package io.isthmus.controller.xds;

import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.isthmus.controller.translate.ProxyNode;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ADS endpoint in front of java-control-plane's: admits a stream on its first request
 * (node parsed, caller authorized, proxy registered with the cache) and then fills the node into
 * every later request, since xDS clients (gRPC-Java among them) send it only once per stream while
 * the snapshot cache looks the node up on each request.
 */
final class AdsService extends AggregatedDiscoveryServiceImplBase {

    private static final Logger log = LoggerFactory.getLogger(AdsService.class);

    private final AggregatedDiscoveryServiceImplBase delegate;
    private final MeshSnapshotCache cache;
    private final PeerAuthorizer authorizer;

    AdsService(AggregatedDiscoveryServiceImplBase delegate, MeshSnapshotCache cache, PeerAuthorizer authorizer) {
        this.delegate = delegate;
        this.cache = cache;
        this.authorizer = authorizer;
    }

    @Override
    public StreamObserver<DiscoveryRequest> streamAggregatedResources(StreamObserver<DiscoveryResponse> responses) {
        // The caller's identity is in the gRPC context now, while the call starts.
        PeerAuthorizer.Peer peer = authorizer.currentPeer();
        return new AdmittingObserver<>(delegate.streamAggregatedResources(responses), peer,
                DiscoveryRequest::hasNode, DiscoveryRequest::getNode,
                (request, node) -> request.toBuilder().setNode(node).build(), responses);
    }

    @Override
    public StreamObserver<DeltaDiscoveryRequest> deltaAggregatedResources(
            StreamObserver<DeltaDiscoveryResponse> responses) {
        PeerAuthorizer.Peer peer = authorizer.currentPeer();
        return new AdmittingObserver<>(delegate.deltaAggregatedResources(responses), peer,
                DeltaDiscoveryRequest::hasNode, DeltaDiscoveryRequest::getNode,
                (request, node) -> request.toBuilder().setNode(node).build(), null);
    }

    /** Serialized by gRPC (one message at a time per call), so its fields need no locking. */
    private final class AdmittingObserver<T> implements StreamObserver<T> {
        private final StreamObserver<T> inner;
        private final PeerAuthorizer.Peer peer;
        private final Predicate<T> hasNode;
        private final Function<T, Node> getNode;
        private final BiFunction<T, Node, T> withNode;
        // State-of-the-world streams only: where NDS responses go.
        private final StreamObserver<DiscoveryResponse> sotwResponses;
        private Node node;
        private ProxyNode proxy;
        private NameTableStream nameTables;
        private boolean closed;

        AdmittingObserver(StreamObserver<T> inner, PeerAuthorizer.Peer peer, Predicate<T> hasNode,
                Function<T, Node> getNode, BiFunction<T, Node, T> withNode,
                StreamObserver<DiscoveryResponse> sotwResponses) {
            this.inner = inner;
            this.peer = peer;
            this.hasNode = hasNode;
            this.getNode = getNode;
            this.withNode = withNode;
            this.sotwResponses = sotwResponses;
        }

        @Override
        public void onNext(T request) {
            if (closed) {
                return;
            }
            if (node == null) {
                if (!hasNode.test(request)) {
                    reject(Status.INVALID_ARGUMENT.withDescription(
                            "the first request of an ADS stream must carry the node (expected: node.id and metadata)"));
                    return;
                }
                ProxyNode parsed;
                try {
                    parsed = ProxyNodeParser.parse(getNode.apply(request));
                } catch (IllegalArgumentException e) {
                    reject(Status.INVALID_ARGUMENT.withDescription("malformed node: " + e.getMessage()));
                    return;
                }
                Status denied = authorizer.authorize(peer, parsed);
                if (denied != null) {
                    log.warn("refused ADS stream of {}: {}", parsed.id(), denied.getDescription());
                    reject(denied);
                    return;
                }
                node = getNode.apply(request);
                proxy = parsed;
                log.info("proxy connected: {} (cluster {}, network {})", proxy.id(), proxy.cluster(), proxy.network());
                cache.connect(proxy);
            } else if (!hasNode.test(request)) {
                request = withNode.apply(request, node);
            } else if (!getNode.apply(request).getId().equals(node.getId())) {
                reject(Status.INVALID_ARGUMENT.withDescription("node id changed within a stream: '"
                        + getNode.apply(request).getId() + "' (expected: '" + node.getId() + "')"));
                return;
            }
            if (sotwResponses != null && request instanceof DiscoveryRequest sotw
                    && sotw.getTypeUrl().equals(NameTableStream.TYPE_URL)) {
                // Istio's NDS, which java-control-plane does not know: served here.
                if (nameTables == null) {
                    nameTables = new NameTableStream(sotwResponses, cache, proxy.id());
                }
                nameTables.onRequest(sotw);
                return;
            }
            inner.onNext(request);
        }

        @Override
        public void onError(Throwable t) {
            if (closed) {
                return;
            }
            closed = true;
            inner.onError(t);
            gone();
        }

        @Override
        public void onCompleted() {
            if (closed) {
                return;
            }
            closed = true;
            inner.onCompleted();
            gone();
        }

        private void reject(Status status) {
            closed = true;
            StatusRuntimeException error = status.asRuntimeException();
            // The library's onError closes the call with this status and cancels its watches.
            inner.onError(error);
            gone();
        }

        private void gone() {
            if (nameTables != null) {
                nameTables.close();
                nameTables = null;
            }
            if (proxy != null) {
                log.info("proxy disconnected: {}", proxy.id());
                cache.disconnect(proxy);
                proxy = null;
            }
        }
    }
}
