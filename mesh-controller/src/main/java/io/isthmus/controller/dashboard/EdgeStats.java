package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

/**
 * What the dashboard shows on one edge, over the collection window.
 *
 * @param requestsPerSecond requests per second over the window
 * @param errorRate         share of those answered with 5xx, 0..1 (0 when there were none)
 * @param p99Millis         99th percentile latency in ms, or {@code null} when no histogram was seen
 * @param security          {@code mutual_tls}, {@code none}, {@code mixed} or {@code unknown}
 */
public record EdgeStats(EdgeKey key, double requestsPerSecond, double errorRate, Double p99Millis,
        double requests, String security) {

    public EdgeStats {
        requireNonNull(key, "key");
        requireNonNull(security, "security");
        if (!(requestsPerSecond >= 0) || !(errorRate >= 0 && errorRate <= 1)) {
            throw new IllegalArgumentException("edge " + key + ": rate " + requestsPerSecond + ", error rate "
                    + errorRate + " (expected: rate >= 0, error rate in 0..1)");
        }
    }
}
