package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/** Where a proxy stands when it looks at the mesh: its cluster and network. */
public record Viewpoint(String cluster, String network) {

    public Viewpoint {
        requireNonNull(cluster, "cluster");
        requireNonNull(network, "network");
    }
}
