package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/**
 * A registered cluster, as the federation knows it.
 *
 * @param controllerAddress host:port of the cluster's controller xDS/CA endpoint, or empty for a
 *                          remote cluster watched by a primary
 */
public record ClusterInfo(String name, String network, Locality locality, String controllerAddress) {

    public ClusterInfo {
        requireNonNull(name, "name");
        requireNonNull(network, "network");
        requireNonNull(locality, "locality");
        requireNonNull(controllerAddress, "controllerAddress");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("cluster name: '' (expected: non-empty)");
        }
    }
}
