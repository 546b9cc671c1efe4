package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.dashboard.DashboardData.LocalityServing;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Follows, for each client workload and service, which clusters (and so which localities) answer
 * it, and when that last changed: locality failover as it happens. A client that sent nothing in
 * the window keeps its last known answer. Not thread-safe: owned by the collector's thread.
 */
final class LocalityTracker {

    private record Key(String client, String clientCluster, String service) {}

    private record Serving(List<String> servedFrom, List<String> previous, Instant since) {}

    private final Map<Key, Serving> serving = new HashMap<>();

    /**
     * @param edges     this round's edges (only the client side's reports are used)
     * @param localities cluster name → its locality, for the labels
     */
    List<LocalityServing> update(List<EdgeStats> edges, Map<String, String> localities, Instant now) {
        requireNonNull(now, "now");
        Map<Key, TreeSet<String>> current = new TreeMap<>(java.util.Comparator.comparing(Key::toString));
        for (EdgeStats e : edges) {
            EdgeKey k = e.key();
            if (k.reporter().equals("destination") || e.requests() <= 0) {
                continue;
            }
            current.computeIfAbsent(new Key(k.sourceWorkload(), k.sourceCluster(), k.destinationService()),
                    x -> new TreeSet<>()).add(label(k.destinationCluster(), localities));
        }
        current.forEach((key, clusters) -> {
            List<String> answered = List.copyOf(clusters);
            Serving before = serving.get(key);
            if (before == null) {
                serving.put(key, new Serving(answered, List.of(), now));
            } else if (!before.servedFrom().equals(answered)) {
                serving.put(key, new Serving(answered, before.servedFrom(), now));
            }
        });
        List<LocalityServing> out = new ArrayList<>();
        Map<Key, Serving> sorted = new TreeMap<>(java.util.Comparator.comparing(Key::toString));
        sorted.putAll(serving);
        sorted.forEach((k, s) -> out.add(new LocalityServing(k.client(), k.clientCluster(),
                        localities.getOrDefault(k.clientCluster(), EdgeKey.UNKNOWN), k.service(), s.servedFrom(),
                        s.previous(), s.since().toString())));
        return out;
    }

    private static String label(String cluster, Map<String, String> localities) {
        String locality = localities.get(cluster);
        return locality == null || locality.isBlank() ? cluster : cluster + " (" + locality + ")";
    }
}
