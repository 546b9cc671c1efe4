package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * Which hosts are cluster-local: served in each cluster only by that cluster's own endpoints, as
 * Istio's mesh config {@code serviceSettings[].settings.clusterLocal} makes them. By default
 * (as in Istio) {@code kubernetes.default.svc.<suffix>} and every service in {@code kube-system}:
 * a pod asking for its API server must reach its own cluster's.
 *
 * @param hosts host patterns: an exact host, or {@code *.} followed by a suffix
 *              ({@code *.kube-system.svc.cluster.local}); {@code *} alone makes every host local
 */
public record ClusterLocalHosts(List<String> hosts) {

    public ClusterLocalHosts {
        hosts = List.copyOf(hosts);
        for (String host : hosts) {
            requireNonNull(host, "host");
            if (host.isEmpty() || (host.contains("*") && !host.equals("*") && !host.startsWith("*."))
                    || host.indexOf('*', 1) >= 0) {
                throw new IllegalArgumentException("cluster-local host: '" + host
                        + "' (expected: a host, '*.' followed by a suffix, or '*')");
            }
        }
    }

    /** Istio's default for a cluster domain. */
    public static ClusterLocalHosts defaults(String domainSuffix) {
        requireNonNull(domainSuffix, "domainSuffix");
        return new ClusterLocalHosts(List.of("kubernetes.default.svc." + domainSuffix,
                "*.kube-system.svc." + domainSuffix));
    }

    /** The defaults plus {@code extra}. */
    public ClusterLocalHosts plus(List<String> extra) {
        List<String> all = new java.util.ArrayList<>(hosts);
        all.addAll(extra);
        return new ClusterLocalHosts(all);
    }

    public boolean matches(String host) {
        for (String pattern : hosts) {
            if (pattern.equals("*") || pattern.equals(host)
                    || (pattern.startsWith("*.") && host.endsWith(pattern.substring(1)))) {
                return true;
            }
        }
        return false;
    }
}
