package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.stub.StreamObserver;
import io.isthmus.trust.nds.NameTable;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's NDS on one ADS stream: java-control-plane serves only Envoy's five types, so the name
 * table is served beside it. The first NDS request subscribes; every changed table is sent as a
 * state-of-the-world response with one unnamed {@code NameTable} resource, versioned by a hash of
 * its content; later requests are the proxy's ACKs and NACKs. Responses share the stream's
 * observer with java-control-plane, which sends while holding that observer's monitor: so does
 * this.
 */
final class NameTableStream {

    static final String TYPE_URL = "type.googleapis.com/" + NameTable.getDescriptor().getFullName();

    private static final Logger log = LoggerFactory.getLogger(NameTableStream.class);

    private final StreamObserver<DiscoveryResponse> responses;
    private final MeshSnapshotCache cache;
    private final String proxyId;
    private Runnable unsubscribe;
    private long nonce;
    private volatile boolean closed;

    NameTableStream(StreamObserver<DiscoveryResponse> responses, MeshSnapshotCache cache, String proxyId) {
        this.responses = requireNonNull(responses, "responses");
        this.cache = requireNonNull(cache, "cache");
        this.proxyId = requireNonNull(proxyId, "proxyId");
    }

    /** An NDS request of this stream (called serially, by gRPC). */
    void onRequest(DiscoveryRequest request) {
        if (request.hasErrorDetail()) {
            log.warn("proxy {} rejected name table version {}: {}", proxyId, request.getVersionInfo(),
                    request.getErrorDetail().getMessage());
        }
        if (unsubscribe == null && !closed) {
            unsubscribe = cache.watchNameTable(proxyId, this::send);
        }
    }

    private void send(NameTable table) {
        if (closed) {
            return;
        }
        DiscoveryResponse response;
        synchronized (this) {
            response = DiscoveryResponse.newBuilder()
                    .setTypeUrl(TYPE_URL)
                    .setVersionInfo(MeshSnapshotCache.version(List.of(table)))
                    .setNonce("nds-" + (++nonce))
                    .addResources(Any.pack(table))
                    .build();
        }
        try {
            synchronized (responses) {
                responses.onNext(response);
            }
        } catch (RuntimeException e) {
            // The stream is closing; its close will unsubscribe.
            log.debug("name table not sent to {}: {}", proxyId, e.toString());
        }
    }

    void close() {
        closed = true;
        if (unsubscribe != null) {
            unsubscribe.run();
        }
    }
}
