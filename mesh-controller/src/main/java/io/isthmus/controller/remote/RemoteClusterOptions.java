package io.isthmus.controller.remote;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * How a controller watches the remote clusters named by remote secrets.
 *
 * @param ownCluster        this controller's cluster; a remote secret naming it is refused
 * @param secretNamespace   where remote secrets live ({@code istio-system})
 * @param defaultNetwork    a remote cluster's network when its {@code istio-system} namespace has no
 *                          {@code topology.istio.io/network} label (Istio's rule)
 * @param domainSuffix      the clusters' DNS suffix ({@code cluster.local})
 * @param controllerAddress host:port of this controller's xDS/CA endpoint, which the remote
 *                          cluster's proxies use (primary-remote)
 * @param syncTimeout       after this long without a first full sync, a remote shows {@code timeout}
 */
public record RemoteClusterOptions(String ownCluster, String secretNamespace, String defaultNetwork,
        String domainSuffix, String controllerAddress, Duration syncTimeout) {

    public static final Duration DEFAULT_SYNC_TIMEOUT = Duration.ofSeconds(30);

    public RemoteClusterOptions {
        requireNonNull(ownCluster, "ownCluster");
        requireNonNull(secretNamespace, "secretNamespace");
        requireNonNull(defaultNetwork, "defaultNetwork");
        requireNonNull(domainSuffix, "domainSuffix");
        requireNonNull(controllerAddress, "controllerAddress");
        requireNonNull(syncTimeout, "syncTimeout");
        if (syncTimeout.isNegative() || syncTimeout.isZero()) {
            throw new IllegalArgumentException("syncTimeout: " + syncTimeout + " (expected: positive)");
        }
    }
}
