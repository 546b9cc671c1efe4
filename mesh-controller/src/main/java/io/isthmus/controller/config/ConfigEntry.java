package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

/**
 * An accepted configuration object: its provenance and its parsed, validated spec.
 *
 * @param cluster the primary cluster whose API server holds it
 */
public record ConfigEntry<S>(ConfigResource resource, String cluster, S spec) {

    public ConfigEntry {
        requireNonNull(resource, "resource");
        requireNonNull(cluster, "cluster");
        requireNonNull(spec, "spec");
    }

    public String namespace() {
        return resource.namespace();
    }

    public String name() {
        return resource.name();
    }
}
