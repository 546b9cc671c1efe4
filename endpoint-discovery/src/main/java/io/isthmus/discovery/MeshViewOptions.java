package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/**
 * How {@link MeshView} names and scopes hosts: the mesh-wide settings of a merge.
 *
 * @param domainSuffix    the cluster domain that forms host names, e.g. {@code cluster.local}
 * @param trustDomain     the SPIFFE trust domain of workload identities, e.g. {@code cluster.local}
 * @param clusterLocal    hosts served only by the viewer's own cluster (Istio's
 *                        {@code serviceSettings[].settings.clusterLocal})
 * @param mcsClusterLocal as Istio's {@code ENABLE_MCS_CLUSTER_LOCAL}: when true, a Kubernetes
 *                        service's {@code <name>.<ns>.svc.<domainSuffix>} host is served by the
 *                        viewer's own cluster only, and {@code <name>.<ns>.svc.clusterset.local}
 *                        is the only way across clusters. When false (the default, and Istio's),
 *                        the {@code cluster.local} host keeps every cluster's endpoints and the
 *                        {@code clusterset.local} host adds a view of exactly the exporting
 *                        clusters
 */
public record MeshViewOptions(
        String domainSuffix, String trustDomain, ClusterLocalHosts clusterLocal, boolean mcsClusterLocal) {

    /** The host suffix of the Kubernetes multi-cluster services API (KEP-1645). */
    public static final String CLUSTERSET_SUFFIX = "clusterset.local";

    public MeshViewOptions {
        requireNonNull(domainSuffix, "domainSuffix");
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(clusterLocal, "clusterLocal");
        if (domainSuffix.isEmpty()) {
            throw new IllegalArgumentException("domainSuffix: '' (expected: a domain such as cluster.local)");
        }
        if (trustDomain.isEmpty()) {
            throw new IllegalArgumentException("trustDomain: '' (expected: a domain such as cluster.local)");
        }
        if (domainSuffix.equals(CLUSTERSET_SUFFIX)) {
            throw new IllegalArgumentException("domainSuffix: '" + domainSuffix
                    + "' (expected: a cluster domain other than clusterset.local, which the multi-cluster"
                    + " services API reserves)");
        }
    }

    /** Istio's defaults: the default cluster-local hosts, {@code cluster.local} hosts span clusters. */
    public static MeshViewOptions defaults(String domainSuffix, String trustDomain) {
        return new MeshViewOptions(domainSuffix, trustDomain, ClusterLocalHosts.defaults(domainSuffix), false);
    }
}
