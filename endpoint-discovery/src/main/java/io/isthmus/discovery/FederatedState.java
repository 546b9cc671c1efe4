package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;

/**
 * The mesh-wide truth as replicated by the federation: registered clusters, each cluster's
 * exported state, and the trust bundle's roots (PEM). Immutable; a new value per applied change.
 *
 * @param appliedIndex the federation log index this value reflects
 */
public record FederatedState(
        long appliedIndex,
        Map<String, ClusterInfo> clusters,
        Map<String, ClusterState> clusterStates,
        List<String> trustRootsPem) {

    public static final FederatedState EMPTY = new FederatedState(0, Map.of(), Map.of(), List.of());

    public FederatedState {
        clusters = Map.copyOf(clusters);
        clusterStates = Map.copyOf(clusterStates);
        trustRootsPem = List.copyOf(trustRootsPem);
        requireNonNull(clusters, "clusters");
    }
}
