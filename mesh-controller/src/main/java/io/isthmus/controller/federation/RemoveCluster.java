package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

/**
 * Removes a cluster from the registry together with its published state and trust roots.
 * Rejected at apply time when the cluster is not registered.
 */
public record RemoveCluster(String cluster) implements FederationCommand {

    public RemoveCluster {
        requireNonNull(cluster, "cluster");
        if (cluster.isEmpty()) {
            throw new IllegalArgumentException("cluster: '' (expected: a non-empty cluster name)");
        }
    }

    @Override
    public String clusterName() {
        return cluster;
    }
}
