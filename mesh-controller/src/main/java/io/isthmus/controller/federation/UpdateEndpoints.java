package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.ServiceKey;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * An endpoint change in one cluster, as a delta: endpoints added or replaced (keyed by service and
 * address) and endpoints removed. Services and gateways are unchanged (a change to those travels
 * as a {@link PublishClusterState}). Every upsert and removal assigns, so resubmitting after a
 * timeout is safe. Rejected at apply time when the cluster has published no state yet or an
 * upserted endpoint names a service the cluster does not export.
 *
 * @param cluster  the publishing cluster; every upserted endpoint must carry it
 * @param upserted endpoints added or replaced
 * @param removed  endpoints removed (absent ones are ignored)
 */
public record UpdateEndpoints(String cluster, List<Endpoint> upserted, List<EndpointRef> removed)
        implements FederationCommand {

    /** Identifies an endpoint within a cluster. */
    public record EndpointRef(ServiceKey service, String address) {
        public EndpointRef {
            requireNonNull(service, "service");
            requireNonNull(address, "address");
        }

        static EndpointRef of(Endpoint endpoint) {
            return new EndpointRef(endpoint.service(), endpoint.address());
        }
    }

    public UpdateEndpoints {
        requireNonNull(cluster, "cluster");
        upserted = List.copyOf(upserted);
        removed = List.copyOf(removed);
        if (cluster.isEmpty()) {
            throw new IllegalArgumentException("cluster: '' (expected: a non-empty cluster name)");
        }
        Set<EndpointRef> seen = new HashSet<>();
        for (Endpoint endpoint : upserted) {
            if (!endpoint.cluster().equals(cluster)) {
                throw new IllegalArgumentException("endpoint " + endpoint.address() + " of " + endpoint.service()
                        + " has cluster '" + endpoint.cluster() + "' (expected: '" + cluster
                        + "', the publishing cluster)");
            }
            if (!seen.add(EndpointRef.of(endpoint))) {
                throw new IllegalArgumentException("endpoint " + endpoint.address() + " of " + endpoint.service()
                        + " appears twice (expected: each endpoint once per delta)");
            }
        }
        for (EndpointRef ref : removed) {
            if (!seen.add(ref)) {
                throw new IllegalArgumentException("endpoint " + ref.address() + " of " + ref.service()
                        + " is both upserted and removed, or removed twice (expected: once)");
            }
        }
    }

    @Override
    public String clusterName() {
        return cluster;
    }

    /**
     * The delta from {@code before} to {@code after}, or {@code null} when more than endpoints
     * changed (cluster, network, services or gateways): publish the whole state then.
     */
    public static UpdateEndpoints between(ClusterState before, ClusterState after) {
        requireNonNull(before, "before");
        requireNonNull(after, "after");
        if (!before.cluster().equals(after.cluster()) || !before.network().equals(after.network())
                || !before.services().equals(after.services()) || !before.gateways().equals(after.gateways())) {
            return null;
        }
        Map<EndpointRef, Endpoint> old = index(before.endpoints());
        Map<EndpointRef, Endpoint> now = index(after.endpoints());
        if (old == null || now == null) {
            return null;
        }
        List<Endpoint> upserted = new ArrayList<>();
        now.forEach((ref, endpoint) -> {
            if (!endpoint.equals(old.get(ref))) {
                upserted.add(endpoint);
            }
        });
        List<EndpointRef> removed = new ArrayList<>();
        old.keySet().forEach(ref -> {
            if (!now.containsKey(ref)) {
                removed.add(ref);
            }
        });
        return new UpdateEndpoints(after.cluster(), upserted, removed);
    }

    /** Endpoints by key in canonical order, or null if a key repeats (not expressible as a delta). */
    private static Map<EndpointRef, Endpoint> index(List<Endpoint> endpoints) {
        Map<EndpointRef, Endpoint> byRef = new TreeMap<>(ORDER);
        for (Endpoint endpoint : endpoints) {
            if (byRef.put(EndpointRef.of(endpoint), endpoint) != null) {
                return null;
            }
        }
        return byRef;
    }

    /** The order the cluster watcher emits: service ({@code namespace/name}), then address. */
    static final java.util.Comparator<EndpointRef> ORDER = EndpointMerge.ORDER;
}
