package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

/**
 * One simulated Kubernetes cluster of a topology: its name (also the controller's Raft id), the
 * network it sits on (clusters on the same network reach each other's pods directly, others only
 * through east-west gateways) and its locality. {@code subzone} is empty when not set.
 */
public record ClusterSpec(String name, String network, String region, String zone, String subzone) {

    public ClusterSpec {
        Names.requireDnsLabel("name", name);
        Names.requireDnsLabel("network", network);
        Names.requireLocalityPart("region", region, false);
        Names.requireLocalityPart("zone", zone, false);
        requireNonNull(subzone, "subzone");
        Names.requireLocalityPart("subzone", subzone, true);
    }

    /** Istio's {@code region/zone/subzone} form, as the processes take it on their command lines. */
    public String locality() {
        return region + '/' + zone + '/' + subzone;
    }
}
