package io.isthmus.controller.admin;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.SyncTracker;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.function.Supplier;

/**
 * What the admin server shows.
 *
 * @param readiness  computed per {@code /ready} request
 * @param federation the {@code /debug/federation} document (a JSON-serializable value)
 * @param config     the {@code /debug/config} document: accepted and rejected Istio configuration
 */
public record AdminEndpoints(
        Supplier<Readiness> readiness,
        Supplier<Object> federation,
        MeshSnapshotCache snapshots,
        SyncTracker sync,
        PrometheusMeterRegistry metrics,
        Supplier<Object> config) {

    /** Without Istio configuration: {@code /debug/config} shows an empty document. */
    public AdminEndpoints(Supplier<Readiness> readiness, Supplier<Object> federation, MeshSnapshotCache snapshots,
            SyncTracker sync, PrometheusMeterRegistry metrics) {
        this(readiness, federation, snapshots, sync, metrics, java.util.Map::of);
    }

    public AdminEndpoints {
        requireNonNull(readiness, "readiness");
        requireNonNull(federation, "federation");
        requireNonNull(snapshots, "snapshots");
        requireNonNull(sync, "sync");
        requireNonNull(metrics, "metrics");
        requireNonNull(config, "config");
    }
}
