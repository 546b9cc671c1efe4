package io.isthmus.controller.dashboard;

import java.util.Map;
import java.util.TreeMap;

/**
 * Counts of one edge (cumulative, or the difference of two cumulative values over a window).
 *
 * @param errors    requests answered with a 5xx code
 * @param mutualTls requests whose {@code connection_security_policy} was {@code mutual_tls}
 * @param plaintext requests whose {@code connection_security_policy} was {@code none}
 * @param buckets   {@code istio_request_duration_milliseconds_bucket}: upper bound {@code le} → count
 */
public record EdgeTotals(double requests, double errors, double mutualTls, double plaintext,
        Map<Double, Double> buckets) {

    public static final EdgeTotals ZERO = new EdgeTotals(0, 0, 0, 0, Map.of());

    public EdgeTotals {
        buckets = Map.copyOf(buckets);
    }

    EdgeTotals plus(EdgeTotals o) {
        Map<Double, Double> b = new TreeMap<>(buckets);
        o.buckets.forEach((le, c) -> b.merge(le, c, Double::sum));
        return new EdgeTotals(requests + o.requests, errors + o.errors, mutualTls + o.mutualTls,
                plaintext + o.plaintext, b);
    }

    EdgeTotals minus(EdgeTotals o) {
        Map<Double, Double> b = new TreeMap<>(buckets);
        o.buckets.forEach((le, c) -> b.merge(le, -c, Double::sum));
        return new EdgeTotals(requests - o.requests, errors - o.errors, mutualTls - o.mutualTls,
                plaintext - o.plaintext, b);
    }

    /** {@code mutual_tls}, {@code none}, {@code mixed}, or {@code unknown} when no request said. */
    public String security() {
        if (mutualTls > 0 && plaintext > 0) {
            return "mixed";
        }
        if (mutualTls > 0) {
            return "mutual_tls";
        }
        return plaintext > 0 ? "none" : EdgeKey.UNKNOWN;
    }
}
