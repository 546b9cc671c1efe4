package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A minimal state-of-the-world ADS client over a real gRPC stream, for tests. */
public final class AdsClient implements AutoCloseable {

    public final BlockingQueue<DiscoveryResponse> responses = new LinkedBlockingQueue<>();
    public final CompletableFuture<Throwable> closed = new CompletableFuture<>();
    private final StreamObserver<DiscoveryRequest> requests;

    public AdsClient(ManagedChannel channel) {
        requests = AggregatedDiscoveryServiceGrpc.newStub(channel).streamAggregatedResources(new StreamObserver<>() {
            @Override
            public void onNext(DiscoveryResponse value) {
                responses.add(value);
            }

            @Override
            public void onError(Throwable t) {
                closed.complete(t);
            }

            @Override
            public void onCompleted() {
                closed.complete(null);
            }
        });
    }

    public void request(Node node, String typeUrl, List<String> names, String version, String nonce) {
        DiscoveryRequest.Builder request = DiscoveryRequest.newBuilder()
                .setTypeUrl(typeUrl)
                .addAllResourceNames(names)
                .setVersionInfo(version)
                .setResponseNonce(nonce);
        if (node != null) {
            request.setNode(node);
        }
        requests.onNext(request.build());
    }

    /** The first request of a stream: the node, and CDS as a wildcard. */
    public void subscribeClusters(Node node) {
        request(node, "type.googleapis.com/envoy.config.cluster.v3.Cluster", List.of(), "", "");
    }

    void send(DiscoveryRequest request) {
        requests.onNext(request);
    }

    /** ACKs {@code response} (same type, its version and nonce, the given names). */
    void ack(DiscoveryResponse response, List<String> names) {
        request(null, response.getTypeUrl(), names, response.getVersionInfo(), response.getNonce());
    }

    DiscoveryResponse next(Duration timeout) throws InterruptedException {
        DiscoveryResponse response = responses.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(response).as("a DiscoveryResponse within " + timeout).isNotNull();
        return response;
    }

    @Override
    public void close() {
        try {
            requests.onCompleted();
        } catch (IllegalStateException alreadyClosed) {
            // The server closed the stream first.
        }
    }
}
