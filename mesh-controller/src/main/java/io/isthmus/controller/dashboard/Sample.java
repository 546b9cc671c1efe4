package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * One line of Prometheus text exposition: a metric name, its labels and the value.
 *
 * @param name   the sample's name as written, e.g. {@code istio_requests_total} or
 *               {@code istio_request_duration_milliseconds_bucket}
 * @param labels label name → value; a label the exporter did not write is absent
 */
public record Sample(String name, Map<String, String> labels, double value) {

    public Sample {
        requireNonNull(name, "name");
        labels = Map.copyOf(labels);
    }

    /** The label's value, or {@code fallback} when the exporter did not write it. */
    public String label(String label, String fallback) {
        return labels.getOrDefault(label, fallback);
    }
}
