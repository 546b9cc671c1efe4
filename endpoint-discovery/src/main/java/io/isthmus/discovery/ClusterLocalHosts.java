package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;

/**
 * Which hosts are cluster-local: served in each cluster only by that cluster's own endpoints, as
 * Istio's mesh config {@code serviceSettings[].settings.clusterLocal} makes them. By default
 * (as in Istio) {@code kubernetes.default.svc.<suffix>} and every service in {@code kube-system}:
 * a pod asking for its API server must reach its own cluster's.
 *
 * <p>A host matched by both lists follows the more specific pattern (an exact host, then the
 * longest {@code *.} suffix, then {@code *}); on a tie {@code notLocal} wins, so a
 * {@code clusterLocal: false} setting for {@code *.kube-system.svc.cluster.local} or for one host
 * in it overrides the default, as Istio documents ("to override, set {@code clusterLocal: false}
 * for those hosts").
 *
 * @param hosts    host patterns that are cluster-local: an exact host, or {@code *.} followed by
 *                 a suffix ({@code *.kube-system.svc.cluster.local}); {@code *} alone makes every
 *                 host local
 * @param notLocal host patterns explicitly not cluster-local ({@code clusterLocal: false}), same
 *                 syntax
 */
public record ClusterLocalHosts(List<String> hosts, List<String> notLocal) {

    private static final int EXACT = Integer.MAX_VALUE;
    private static final int NO_MATCH = -1;

    public ClusterLocalHosts {
        hosts = List.copyOf(hosts);
        notLocal = List.copyOf(notLocal);
        for (String host : hosts) {
            validate(host);
        }
        for (String host : notLocal) {
            validate(host);
        }
    }

    /** Only cluster-local patterns, none explicitly excluded. */
    public ClusterLocalHosts(List<String> hosts) {
        this(hosts, List.of());
    }

    /** Istio's default for a cluster domain. */
    public static ClusterLocalHosts defaults(String domainSuffix) {
        requireNonNull(domainSuffix, "domainSuffix");
        return new ClusterLocalHosts(List.of("kubernetes.default.svc." + domainSuffix,
                "*.kube-system.svc." + domainSuffix));
    }

    /** These rules plus {@code extra} cluster-local patterns. */
    public ClusterLocalHosts plus(List<String> extra) {
        List<String> all = new ArrayList<>(hosts);
        all.addAll(extra);
        return new ClusterLocalHosts(all, notLocal);
    }

    /** These rules plus {@code extra} patterns that are explicitly not cluster-local. */
    public ClusterLocalHosts except(List<String> extra) {
        List<String> all = new ArrayList<>(notLocal);
        all.addAll(extra);
        return new ClusterLocalHosts(hosts, all);
    }

    public boolean matches(String host) {
        requireNonNull(host, "host");
        int local = bestMatch(hosts, host);
        return local != NO_MATCH && local > bestMatch(notLocal, host);
    }

    /** How specifically the best of {@code patterns} matches {@code host}; {@link #NO_MATCH} if none does. */
    private static int bestMatch(List<String> patterns, String host) {
        int best = NO_MATCH;
        for (String pattern : patterns) {
            int score;
            if (pattern.equals(host)) {
                score = EXACT;
            } else if (pattern.equals("*")) {
                score = 0;
            } else if (pattern.startsWith("*.") && host.endsWith(pattern.substring(1))) {
                score = pattern.length();
            } else {
                continue;
            }
            best = Math.max(best, score);
        }
        return best;
    }

    private static void validate(String host) {
        requireNonNull(host, "host");
        if (host.isEmpty() || (host.contains("*") && !host.equals("*") && !host.startsWith("*."))
                || host.indexOf('*', 1) >= 0) {
            throw new IllegalArgumentException("cluster-local host: '" + host
                    + "' (expected: a host, '*.' followed by a suffix, or '*')");
        }
    }
}
