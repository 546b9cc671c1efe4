package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

/**
 * One edge of the traffic graph as a reporter saw it: from a workload in a cluster to a service
 * in a cluster. A label the exporter left out (or wrote as {@code unknown}) is {@value #UNKNOWN}.
 *
 * @param reporter {@code source} (the client's sidecar) or {@code destination} (the server's)
 */
public record EdgeKey(
        String reporter,
        String sourceWorkload,
        String sourceNamespace,
        String sourceCluster,
        String destinationService,
        String destinationCluster) implements Comparable<EdgeKey> {

    public static final String UNKNOWN = "unknown";

    public EdgeKey {
        reporter = known(reporter);
        sourceWorkload = known(sourceWorkload);
        sourceNamespace = known(sourceNamespace);
        sourceCluster = known(sourceCluster);
        destinationService = known(destinationService);
        destinationCluster = known(destinationCluster);
    }

    /** The edge of an {@code istio_requests_total} or {@code istio_request_duration_milliseconds_*} sample. */
    public static EdgeKey of(Sample sample) {
        requireNonNull(sample, "sample");
        return new EdgeKey(
                sample.label("reporter", UNKNOWN),
                sample.label("source_workload", UNKNOWN),
                sample.label("source_workload_namespace", UNKNOWN),
                sample.label("source_cluster", UNKNOWN),
                sample.label("destination_service", UNKNOWN),
                sample.label("destination_cluster", UNKNOWN));
    }

    private static String known(String value) {
        return value == null || value.isBlank() ? UNKNOWN : value;
    }

    @Override
    public int compareTo(EdgeKey o) {
        return toString().compareTo(o.toString());
    }
}
