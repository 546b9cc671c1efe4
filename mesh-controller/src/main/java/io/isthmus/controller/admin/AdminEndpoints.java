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
 */
public record AdminEndpoints(
        Supplier<Readiness> readiness,
        Supplier<Object> federation,
        MeshSnapshotCache snapshots,
        SyncTracker sync,
        PrometheusMeterRegistry metrics) {

    public AdminEndpoints {
        requireNonNull(readiness, "readiness");
        requireNonNull(federation, "federation");
        requireNonNull(snapshots, "snapshots");
        requireNonNull(sync, "sync");
        requireNonNull(metrics, "metrics");
    }
}
