package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/**
 * Where a workload runs: Kubernetes region and zone, and Istio's subzone. Empty parts are
 * empty strings, never null, so localities compare and sort by value.
 */
public record Locality(String region, String zone, String subzone) implements Comparable<Locality> {

    public static final Locality UNKNOWN = new Locality("", "", "");

    public Locality {
        requireNonNull(region, "region");
        requireNonNull(zone, "zone");
        requireNonNull(subzone, "subzone");
        if (region.contains("/") || zone.contains("/") || subzone.contains("/")) {
            throw new IllegalArgumentException(
                    "locality parts must not contain '/': " + region + '/' + zone + '/' + subzone);
        }
    }

    /**
     * Parses Istio's {@code region/zone/subzone} form (as in the {@code topology.istio.io/locality}
     * label, where Istio also accepts {@code .} as the separator). Missing parts are empty.
     *
     * @throws IllegalArgumentException if there are more than three parts
     */
    public static Locality parse(String value) {
        requireNonNull(value, "value");
        String normalized = value.indexOf('/') >= 0 ? value : value.replace('.', '/');
        String[] parts = normalized.split("/", -1);
        if (parts.length > 3) {
            throw new IllegalArgumentException(
                    "locality: '" + value + "' (expected: region[/zone[/subzone]])");
        }
        return new Locality(parts[0], parts.length > 1 ? parts[1] : "", parts.length > 2 ? parts[2] : "");
    }

    public boolean isUnknown() {
        return region.isEmpty() && zone.isEmpty() && subzone.isEmpty();
    }

    @Override
    public int compareTo(Locality other) {
        int c = region.compareTo(other.region);
        if (c != 0) {
            return c;
        }
        c = zone.compareTo(other.zone);
        return c != 0 ? c : subzone.compareTo(other.subzone);
    }

    @Override
    public String toString() {
        return region + '/' + zone + '/' + subzone;
    }
}
