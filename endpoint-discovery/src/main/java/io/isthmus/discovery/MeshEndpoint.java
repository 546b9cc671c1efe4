package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * An endpoint as one viewpoint must dial it. On the viewer's network it is the pod's address; on
 * another network it is that network's east-west gateway, standing for {@code weight} endpoints in
 * {@code cluster} and {@code locality}, dialled with the service's SNI.
 *
 * @param identity   SPIFFE URI of the workload behind it, or empty for a gateway aggregate
 * @param workload   the pod name, or empty for a gateway aggregate
 * @param viaGateway true when {@code address:port} is a remote network's east-west gateway
 * @param weight     how many endpoints this entry stands for (1 for a direct endpoint)
 */
public record MeshEndpoint(
        String address,
        int port,
        Locality locality,
        String cluster,
        String network,
        String identity,
        String workload,
        Map<String, String> labels,
        boolean healthy,
        boolean viaGateway,
        int weight) {

    public MeshEndpoint {
        requireNonNull(address, "address");
        requireNonNull(locality, "locality");
        requireNonNull(cluster, "cluster");
        requireNonNull(network, "network");
        requireNonNull(identity, "identity");
        requireNonNull(workload, "workload");
        labels = Map.copyOf(labels);
        if (weight < 1) {
            throw new IllegalArgumentException("weight: " + weight + " (expected: > 0)");
        }
    }
}
