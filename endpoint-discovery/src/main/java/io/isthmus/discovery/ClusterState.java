package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * Immutable snapshot of what one cluster exports to the mesh: its services, their endpoints and
 * its network gateways. Lists are kept in a canonical order by whoever builds the snapshot, so
 * two snapshots of the same cluster state are {@code equals} and no-op pushes are skipped.
 */
public record ClusterState(
        String cluster,
        String network,
        List<MeshService> services,
        List<Endpoint> endpoints,
        List<NetworkGateway> gateways) {

    public ClusterState {
        requireNonNull(cluster, "cluster");
        requireNonNull(network, "network");
        services = List.copyOf(services);
        endpoints = List.copyOf(endpoints);
        gateways = List.copyOf(gateways);
    }

    public static ClusterState empty(String cluster, String network) {
        return new ClusterState(cluster, network, List.of(), List.of(), List.of());
    }
}
