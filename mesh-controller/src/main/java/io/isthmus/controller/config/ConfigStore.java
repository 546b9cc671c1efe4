package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Istio configuration of this controller's own cluster: each object validated on its own as
 * it arrives; an invalid one is rejected (logged, counted in
 * {@code isthmus_config_rejected_total{kind}}, shown by {@link #debug}) and the last good
 * version of it stays in force.
 *
 * <p>The same object may be seen through several API versions (v1, v1beta1, v1alpha3); the
 * newest version present is the one that counts. Thread-safe; the listener is called outside
 * the lock, once synced, with the accepted objects whenever they change.
 */
public final class ConfigStore {

    private static final Logger log = LoggerFactory.getLogger(ConfigStore.class);

    private record Rejection(ConfigResource resource, List<String> errors) {}

    private final String cluster;
    private final MeterRegistry registry;
    private final Consumer<List<ConfigResource>> onAccepted;
    private final Map<String, Counter> rejectedByKind = new HashMap<>();

    // Guarded by this.
    private final Map<String, Map<String, ConfigResource>> observed = new HashMap<>();
    private final Map<String, ConfigResource> accepted = new TreeMap<>();
    private final Map<String, Rejection> rejected = new TreeMap<>();
    private final Map<String, List<String>> warnings = new TreeMap<>();
    private boolean synced;
    private List<ConfigResource> lastNotified;

    /**
     * @param onAccepted receives the accepted objects (sorted by key) after each change, from the
     *                   first {@link #markSynced()} on; called under this store's lock, so lists
     *                   arrive in the order they were computed (it must not block: hand them off)
     */
    public ConfigStore(String cluster, MeterRegistry registry, Consumer<List<ConfigResource>> onAccepted) {
        this.cluster = requireNonNull(cluster, "cluster");
        this.registry = requireNonNull(registry, "registry");
        this.onAccepted = requireNonNull(onAccepted, "onAccepted");
    }

    /** An object was added or changed, as read through {@code apiVersion}'s version. */
    public void upsert(ConfigResource resource) {
        requireNonNull(resource, "resource");
        synchronized (this) {
            observed.computeIfAbsent(resource.key(), k -> new HashMap<>()).put(resource.apiVersion(), resource);
            evaluate(resource.key());
            // Delivered under the lock: informers of different kinds call in on their own threads, and
            // a list delivered after the lock is released could overtake a newer one (which then lost
            // an object until its next change).
            deliver(changed());
        }
    }

    /** An object was deleted, as read through {@code apiVersion}'s version. */
    public void delete(ConfigResource resource) {
        requireNonNull(resource, "resource");
        synchronized (this) {
            Map<String, ConfigResource> versions = observed.get(resource.key());
            if (versions != null) {
                versions.remove(resource.apiVersion());
                if (versions.isEmpty()) {
                    observed.remove(resource.key());
                }
            }
            evaluate(resource.key());
            // Delivered under the lock: informers of different kinds call in on their own threads, and
            // a list delivered after the lock is released could overtake a newer one (which then lost
            // an object until its next change).
            deliver(changed());
        }
    }

    /** The initial lists are in: from now on the listener hears of changes. */
    public void markSynced() {
        synchronized (this) {
            synced = true;
            // Delivered under the lock: informers of different kinds call in on their own threads, and
            // a list delivered after the lock is released could overtake a newer one (which then lost
            // an object until its next change).
            deliver(changed());
        }
    }

    public synchronized boolean synced() {
        return synced;
    }

    /** The accepted objects, sorted by {@code kind/namespace/name}. */
    public synchronized List<ConfigResource> accepted() {
        return List.copyOf(accepted.values());
    }

    /** Rejected objects by key, with every reason. */
    public synchronized Map<String, List<String>> rejected() {
        Map<String, List<String>> out = new TreeMap<>();
        rejected.forEach((k, r) -> out.put(k, r.errors()));
        return out;
    }

    private void evaluate(String key) {
        ConfigResource current = preferred(observed.get(key));
        if (current == null) {
            accepted.remove(key);
            rejected.remove(key);
            warnings.remove(key);
            return;
        }
        try {
            ConfigParser.Parsed parsed = ConfigParser.parse(current);
            accepted.put(key, current);
            rejected.remove(key);
            if (parsed.warnings().isEmpty()) {
                warnings.remove(key);
            } else {
                warnings.put(key, parsed.warnings());
                parsed.warnings().forEach(w -> log.warn("config warning: {}", w));
            }
        } catch (ConfigException e) {
            Rejection previous = rejected.get(key);
            // The same object seen again (another API version, a resync) is one rejection, not several.
            if (previous == null || !sameObject(previous.resource(), current)) {
                counter(current.kind()).increment();
                log.warn("rejected {} (the last accepted version {}): {}", current.describe(),
                        accepted.containsKey(key) ? "stays in force" : "does not exist", e.getMessage());
            }
            rejected.put(key, new Rejection(current, e.errors()));
        }
    }

    private static boolean sameObject(ConfigResource a, ConfigResource b) {
        return a.spec().equals(b.spec()) && a.creationTimestamp().equals(b.creationTimestamp());
    }

    private static ConfigResource preferred(Map<String, ConfigResource> versions) {
        if (versions == null) {
            return null;
        }
        ConfigKind kind = ConfigKind.of(versions.values().iterator().next().kind()).orElseThrow();
        for (String version : kind.versions()) {
            ConfigResource r = versions.get(kind.group() + '/' + version);
            if (r != null) {
                return r;
            }
        }
        return versions.values().stream().min(java.util.Comparator.comparing(ConfigResource::apiVersion)).orElse(null);
    }

    private Counter counter(String kind) {
        return rejectedByKind.computeIfAbsent(kind, k -> Counter.builder("isthmus.config.rejected")
                .description("Istio configuration objects rejected by validation").tag("kind", k)
                .register(registry));
    }

    private List<ConfigResource> changed() {
        if (!synced) {
            return null;
        }
        List<ConfigResource> now = List.copyOf(accepted.values());
        if (now.equals(lastNotified)) {
            return null;
        }
        lastNotified = now;
        return now;
    }

    private void deliver(List<ConfigResource> resources) {
        if (resources != null) {
            onAccepted.accept(resources);
        }
    }

    /**
     * The {@code /debug/config} document: this cluster's accepted and rejected objects, and the
     * mesh configuration in force (merged from every primary) with its conflicts and warnings.
     */
    public Map<String, Object> debug(MeshConfig mesh) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("cluster", cluster);
        synchronized (this) {
            doc.put("synced", synced);
            List<Map<String, Object>> acc = new ArrayList<>();
            accepted.forEach((key, r) -> {
                Map<String, Object> e = describe(r);
                e.put("warnings", warnings.getOrDefault(key, List.of()));
                acc.add(e);
            });
            doc.put("accepted", acc);
            List<Map<String, Object>> rej = new ArrayList<>();
            rejected.forEach((key, r) -> {
                Map<String, Object> e = describe(r.resource());
                e.put("errors", r.errors());
                e.put("lastAcceptedInForce", accepted.containsKey(key));
                rej.add(e);
            });
            doc.put("rejected", rej);
        }
        if (mesh != null) {
            Map<String, Object> inForce = new LinkedHashMap<>();
            List<Map<String, Object>> entries = new ArrayList<>();
            for (ConfigEntry<?> entry : mesh.all()) {
                Map<String, Object> e = describe(entry.resource());
                e.put("fromCluster", entry.cluster());
                entries.add(e);
            }
            inForce.put("resources", entries);
            inForce.put("conflicts", mesh.conflicts());
            inForce.put("problems", mesh.problems());
            inForce.put("warnings", mesh.warnings());
            doc.put("mesh", inForce);
        }
        return doc;
    }

    private static Map<String, Object> describe(ConfigResource r) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("kind", r.kind());
        e.put("apiVersion", r.apiVersion());
        e.put("namespace", r.namespace());
        e.put("name", r.name());
        e.put("creationTimestamp", r.creationTimestamp());
        return e;
    }
}
