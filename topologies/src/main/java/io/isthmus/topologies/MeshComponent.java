package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.util.Optional;

/**
 * One process of a running local mesh: what it is, where it logs, and where its admin endpoint
 * answers ({@code readyUrl} is empty for the echo apps, which are ready when their port accepts).
 */
public record MeshComponent(String name, String cluster, Kind kind, Path log, Optional<String> adminUrl,
        Optional<String> readyUrl) {

    /** The kinds of processes a local mesh runs. */
    public enum Kind {
        CONTROLLER,
        GATEWAY,
        SIDECAR,
        APP
    }

    public MeshComponent {
        requireNonNull(name, "name");
        requireNonNull(cluster, "cluster");
        requireNonNull(kind, "kind");
        requireNonNull(log, "log");
        requireNonNull(adminUrl, "adminUrl");
        requireNonNull(readyUrl, "readyUrl");
    }

    /** {@code <cluster>/<name>}, how the launcher names a component in messages. */
    public String displayName() {
        return cluster + '/' + name;
    }
}
