package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

/**
 * One simulated Kubernetes cluster of a topology: its name (also the controller's Raft id), the
 * network it sits on (clusters on the same network reach each other's pods directly, others only
 * through east-west gateways) and its locality. {@code subzone} is empty when not set.
 *
 * <p>{@code primary} is empty for a primary cluster (it runs a controller of its own) and names
 * the primary cluster whose controller serves a <em>remote</em> cluster (primary-remote: the remote
 * runs no controller; its proxies fetch xDS and certificates from the primary, through the
 * primary's east-west gateway when the networks differ, and the primary watches the remote's API
 * server through a remote secret).
 */
public record ClusterSpec(String name, String network, String region, String zone, String subzone, String primary) {

    public ClusterSpec {
        Names.requireDnsLabel("name", name);
        Names.requireDnsLabel("network", network);
        Names.requireLocalityPart("region", region, false);
        Names.requireLocalityPart("zone", zone, false);
        requireNonNull(subzone, "subzone");
        Names.requireLocalityPart("subzone", subzone, true);
        requireNonNull(primary, "primary");
        if (!primary.isEmpty()) {
            Names.requireDnsLabel("primary", primary);
            if (primary.equals(name)) {
                throw new TopologyException("primary: '" + primary + "' is the cluster itself (expected: another"
                        + " cluster, whose controller serves this one; leave it out for a primary)");
            }
        }
    }

    /** A primary cluster, with a controller of its own. */
    public ClusterSpec(String name, String network, String region, String zone, String subzone) {
        this(name, network, region, zone, subzone, "");
    }

    /** Whether this is a remote cluster: no controller of its own, served by {@link #primary()}'s. */
    public boolean isRemote() {
        return !primary.isEmpty();
    }

    /** Istio's {@code region/zone/subzone} form, as the processes take it on their command lines. */
    public String locality() {
        return region + '/' + zone + '/' + subzone;
    }
}
