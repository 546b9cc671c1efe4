package io.isthmus.controller.dashboard;

import java.util.Map;
import java.util.OptionalDouble;
import java.util.TreeMap;

/** Quantiles of a Prometheus histogram, computed as PromQL's {@code histogram_quantile} does. Pure. */
final class Quantiles {

    private Quantiles() {
    }

    /**
     * @param buckets cumulative counts by upper bound ({@code le}); {@code +Inf} holds the total
     * @return empty when there is no observation or no finite bucket to interpolate in
     */
    static OptionalDouble of(Map<Double, Double> buckets, double q) {
        if (q < 0 || q > 1) {
            throw new IllegalArgumentException("quantile: " + q + " (expected: 0..1)");
        }
        TreeMap<Double, Double> sorted = new TreeMap<>(buckets);
        if (sorted.isEmpty()) {
            return OptionalDouble.empty();
        }
        double total = sorted.lastEntry().getValue();
        if (!(total > 0)) {
            return OptionalDouble.empty();
        }
        double rank = q * total;
        double lowerBound = 0;
        double lowerCount = 0;
        for (Map.Entry<Double, Double> e : sorted.entrySet()) {
            double le = e.getKey();
            double count = e.getValue();
            if (count >= rank) {
                if (Double.isInfinite(le)) {
                    // Above the highest finite bucket: the best known bound is that bucket.
                    return lowerBound > 0 ? OptionalDouble.of(lowerBound) : OptionalDouble.empty();
                }
                double inBucket = count - lowerCount;
                if (inBucket <= 0) {
                    return OptionalDouble.of(le);
                }
                return OptionalDouble.of(lowerBound + (le - lowerBound) * (rank - lowerCount) / inBucket);
            }
            lowerBound = le;
            lowerCount = count;
        }
        return OptionalDouble.of(lowerBound);
    }
}
