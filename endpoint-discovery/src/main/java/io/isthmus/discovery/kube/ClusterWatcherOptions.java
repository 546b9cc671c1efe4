package io.isthmus.discovery.kube;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * How to watch one cluster.
 *
 * @param clusterName    the cluster's mesh name; stamped on every endpoint and gateway
 * @param defaultNetwork the network of pods whose own and namespace labels name none
 * @param domainSuffix   the cluster domain that forms host names, e.g. {@code cluster.local}
 * @param debounce       quiet period after the last event before the state is rebuilt; a burst
 *                       never delays a rebuild by more than {@link #maxDelay()}
 */
public record ClusterWatcherOptions(String clusterName, String defaultNetwork, String domainSuffix, Duration debounce) {

    public static final Duration DEFAULT_DEBOUNCE = Duration.ofMillis(50);

    public ClusterWatcherOptions {
        requireNonNull(clusterName, "clusterName");
        requireNonNull(defaultNetwork, "defaultNetwork");
        requireNonNull(domainSuffix, "domainSuffix");
        requireNonNull(debounce, "debounce");
        if (clusterName.isEmpty()) {
            throw new IllegalArgumentException("clusterName: '' (expected: the cluster's mesh name, e.g. east)");
        }
        if (domainSuffix.isEmpty()) {
            throw new IllegalArgumentException("domainSuffix: '' (expected: e.g. cluster.local)");
        }
        if (debounce.isNegative()) {
            throw new IllegalArgumentException("debounce: " + debounce + " (expected: >= 0)");
        }
    }

    /** Options with the usual domain {@code cluster.local} and a 50 ms debounce. */
    public static ClusterWatcherOptions of(String clusterName, String defaultNetwork) {
        return new ClusterWatcherOptions(clusterName, defaultNetwork, "cluster.local", DEFAULT_DEBOUNCE);
    }

    /** The longest a steady stream of events can hold back a rebuild: 20 debounce periods, at least 1 s. */
    public Duration maxDelay() {
        Duration twenty = debounce.multipliedBy(20);
        return twenty.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : twenty;
    }
}
