package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.ConfigResource;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Replaces the accepted Istio configuration a cluster contributes to the mesh (every primary
 * holds the same mesh configuration; conflicts between primaries are settled when it is read,
 * see {@code MeshConfig.merge}). An empty list withdraws it all.
 *
 * @param resources sorted by {@code kind/namespace/name}, one per key
 */
public record PublishMeshConfig(String cluster, List<ConfigResource> resources) implements FederationCommand {

    public PublishMeshConfig {
        requireNonNull(cluster, "cluster");
        List<ConfigResource> sorted = new ArrayList<>(requireNonNull(resources, "resources"));
        sorted.sort(Comparator.comparing(ConfigResource::key));
        Set<String> keys = new HashSet<>();
        for (ConfigResource r : sorted) {
            if (!keys.add(r.key())) {
                throw new IllegalArgumentException("resources: " + r.key() + " appears twice (expected: one per kind/namespace/name)");
            }
        }
        resources = List.copyOf(sorted);
        if (cluster.isEmpty()) {
            throw new IllegalArgumentException("cluster: '' (expected: the publishing cluster's name)");
        }
    }

    @Override
    public String clusterName() {
        return cluster;
    }
}
