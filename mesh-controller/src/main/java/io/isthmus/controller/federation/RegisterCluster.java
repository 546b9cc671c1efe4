package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.ClusterInfo;

/**
 * Adds a cluster to the registry, or replaces its registration (e.g. a new controller address).
 * Moving a cluster that has published state to another network is rejected at apply time:
 * remove it first.
 */
public record RegisterCluster(ClusterInfo cluster) implements FederationCommand {

    public RegisterCluster {
        requireNonNull(cluster, "cluster");
    }

    @Override
    public String clusterName() {
        return cluster.name();
    }
}
