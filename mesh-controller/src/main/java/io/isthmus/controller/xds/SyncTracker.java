package io.isthmus.controller.xds;

import com.google.protobuf.Value;
import io.envoyproxy.controlplane.cache.Resources;
import io.envoyproxy.controlplane.server.DiscoveryServerCallbacks;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.isthmus.controller.xds.ProxySyncStatus.TypeStatus;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records, per proxy and resource type, the versions sent and acknowledged and the last NACK,
 * from the discovery server's callbacks. Thread-safe: streams call it concurrently; each
 * (proxy, type) cell is replaced atomically.
 */
public final class SyncTracker implements DiscoveryServerCallbacks {

    private static final Logger log = LoggerFactory.getLogger(SyncTracker.class);

    private static final Map<String, String> SHORT_NAMES = Map.of(
            Resources.V3.CLUSTER_TYPE_URL, "CDS",
            Resources.V3.ENDPOINT_TYPE_URL, "EDS",
            Resources.V3.LISTENER_TYPE_URL, "LDS",
            Resources.V3.ROUTE_TYPE_URL, "RDS",
            Resources.V3.SECRET_TYPE_URL, "SDS");

    private final Map<String, Map<String, TypeStatus>> byProxy = new ConcurrentHashMap<>();
    private final Map<String, String> clusterByProxy = new ConcurrentHashMap<>();
    private final MeterRegistry registry;

    public SyncTracker() {
        this(new SimpleMeterRegistry());
    }

    public SyncTracker(MeterRegistry registry) {
        this.registry = registry;
    }

    /** The status of one proxy, if it ever sent a request. */
    public Optional<ProxySyncStatus> status(String proxyId) {
        Map<String, TypeStatus> types = byProxy.get(proxyId);
        if (types == null) {
            return Optional.empty();
        }
        return Optional.of(new ProxySyncStatus(proxyId, clusterByProxy.getOrDefault(proxyId, ""),
                new TreeMap<>(types)));
    }

    /** Forget a proxy that disconnected. */
    public void remove(String proxyId) {
        byProxy.remove(proxyId);
        clusterByProxy.remove(proxyId);
    }

    @Override
    public void onV3StreamRequest(long streamId, DiscoveryRequest request) {
        String proxyId = request.getNode().getId();
        if (proxyId.isEmpty() || request.getResponseNonce().isEmpty()) {
            return;
        }
        String cluster = request.getNode().getMetadata().getFieldsMap()
                .getOrDefault(ProxyNodeParser.CLUSTER_ID, Value.getDefaultInstance())
                .getStringValue();
        clusterByProxy.put(proxyId, cluster);
        String type = shortName(request.getTypeUrl());
        if (request.hasErrorDetail()) {
            String error = request.getErrorDetail().getMessage();
            log.warn("proxy {} rejected {} (nonce {}): {}", proxyId, type, request.getResponseNonce(), error);
            Counter.builder("isthmus.xds.nacks").tag("type", type).register(registry).increment();
            update(proxyId, type, s -> new TypeStatus(s.sentVersion(), s.sentNonce(), s.ackedVersion(),
                    s.responses(), s.nacks() + 1, error, request.getVersionInfo()));
        } else {
            update(proxyId, type, s -> new TypeStatus(s.sentVersion(), s.sentNonce(),
                    request.getVersionInfo(), s.responses(), s.nacks(), s.lastNackError(), s.lastNackVersion()));
        }
    }

    @Override
    public void onV3StreamResponse(long streamId, DiscoveryRequest request, DiscoveryResponse response) {
        String proxyId = request.getNode().getId();
        if (proxyId.isEmpty()) {
            return;
        }
        String type = shortName(response.getTypeUrl());
        Counter.builder("isthmus.xds.responses").tag("type", type).register(registry).increment();
        update(proxyId, type, s -> new TypeStatus(response.getVersionInfo(), response.getNonce(), s.ackedVersion(),
                s.responses() + 1, s.nacks(), s.lastNackError(), s.lastNackVersion()));
    }

    @Override
    public void onV3StreamDeltaRequest(long streamId, DeltaDiscoveryRequest request) {
        String proxyId = request.getNode().getId();
        if (proxyId.isEmpty() || request.getResponseNonce().isEmpty()) {
            return;
        }
        String type = shortName(request.getTypeUrl());
        if (request.hasErrorDetail()) {
            String error = request.getErrorDetail().getMessage();
            log.warn("proxy {} rejected delta {} (nonce {}): {}", proxyId, type, request.getResponseNonce(), error);
            Counter.builder("isthmus.xds.nacks").tag("type", type).register(registry).increment();
            update(proxyId, type, s -> new TypeStatus(s.sentVersion(), s.sentNonce(), s.ackedVersion(),
                    s.responses(), s.nacks() + 1, error, s.ackedVersion()));
        } else {
            // Delta requests carry no version: an ACK accepts what the nonce named.
            update(proxyId, type, s -> new TypeStatus(s.sentVersion(), s.sentNonce(),
                    s.sentNonce().equals(request.getResponseNonce()) ? s.sentVersion() : s.ackedVersion(),
                    s.responses(), s.nacks(), s.lastNackError(), s.lastNackVersion()));
        }
    }

    @Override
    public void onV3StreamDeltaResponse(long streamId, DeltaDiscoveryRequest request, DeltaDiscoveryResponse response) {
        String proxyId = request.getNode().getId();
        if (proxyId.isEmpty()) {
            return;
        }
        String type = shortName(response.getTypeUrl());
        Counter.builder("isthmus.xds.responses").tag("type", type).register(registry).increment();
        update(proxyId, type, s -> new TypeStatus(response.getSystemVersionInfo(), response.getNonce(),
                s.ackedVersion(), s.responses() + 1, s.nacks(), s.lastNackError(), s.lastNackVersion()));
    }

    private void update(String proxyId, String type, UnaryOperator<TypeStatus> change) {
        byProxy.computeIfAbsent(proxyId, id -> new ConcurrentHashMap<>())
                .compute(type, (t, s) -> change.apply(s == null ? TypeStatus.EMPTY : s));
    }

    static String shortName(String typeUrl) {
        return SHORT_NAMES.getOrDefault(typeUrl, typeUrl);
    }
}
