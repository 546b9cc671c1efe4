package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Turns one mesh view into the Envoy xDS v3 resources of one proxy.
 *
 * <p>A pure function: no I/O, no clock, no randomness, and every input is an argument, so the
 * same view, node and roots always give equal resources (which the xDS layer relies on to skip
 * no-op pushes). Resource names and shapes follow {@code docs/design/contracts.md}, "xDS served by
 * the controller". Thread-safe (stateless).
 */
public final class XdsTranslator {

    private XdsTranslator() {}

    /**
     * Computes every resource {@code node} needs.
     *
     * @param view          the mesh as seen from {@code node}'s cluster and network
     * @param trustRootsPem every trust root of the federation (PEM); served as SDS {@code ROOTCA}
     */
    public static ProxyResources translate(MeshView view, ProxyNode node, List<String> trustRootsPem) {
        requireNonNull(view, "view");
        requireNonNull(node, "node");
        requireNonNull(trustRootsPem, "trustRootsPem");
        return switch (node.type()) {
            // A sidecar dials only what is exported to its namespace, but serves its own
            // workload's ports whatever their exportTo says.
            case SIDECAR -> SidecarTranslator.translate(
                    sorted(view.visibleFrom(node.namespace())), sorted(view.services()), node, trustRootsPem);
            // The gateway relays for callers from every namespace of every cluster, but only to
            // services exported to the mesh (exportTo '~' keeps a service off it).
            case ROUTER -> RouterTranslator.translate(sorted(view.exportedToMesh()), node, trustRootsPem);
            case GRPC -> GrpcTranslator.withServer(GrpcTranslator.fromSidecar(SidecarTranslator.translate(
                    sorted(view.visibleFrom(node.namespace())), sorted(view.services()), node, trustRootsPem),
                    view.services()), ownPorts(view, node), node, null);
        };
    }

    /**
     * Computes every resource {@code node} needs, with the mesh's Istio configuration applied:
     * DestinationRule subsets and traffic policies on clusters and endpoints, VirtualService
     * http routes on the route configurations, and the fault filter on outbound listeners. See
     * {@code docs/reference/supported-config.md} for exactly which fields are translated.
     */
    public static ProxyResources translate(MeshView view, ProxyNode node, List<String> trustRootsPem,
            MeshPolicies policies) {
        requireNonNull(view, "view");
        requireNonNull(node, "node");
        requireNonNull(trustRootsPem, "trustRootsPem");
        requireNonNull(policies, "policies");
        return switch (node.type()) {
            case SIDECAR -> SidecarTranslator.translate(scoped(view, node, policies), sorted(view.services()), node,
                    trustRootsPem, policies);
            case ROUTER -> RouterTranslator.translate(sorted(view.exportedToMesh()), node, trustRootsPem, policies);
            case GRPC -> GrpcTranslator.withServer(GrpcTranslator.fromSidecar(SidecarTranslator.translate(
                    scoped(view, node, policies), sorted(view.services()), node, trustRootsPem, policies),
                    view.services(), policies.config()), ownPorts(view, node), node, policies);
        };
    }

    /**
     * As {@link #translate(MeshView, ProxyNode, List, MeshPolicies)} (or, when {@code shared}
     * holds no policies, {@link #translate(MeshView, ProxyNode, List)}), with the outbound side
     * of a sidecar or proxyless client taken from {@code shared} when another proxy of the same
     * push already computed it for the same {@link SharedTranslation.OutboundKey}. The result is
     * equal to the unshared translation's.
     */
    public static ProxyResources translate(MeshView view, ProxyNode node, List<String> trustRootsPem,
            SharedTranslation shared) {
        requireNonNull(view, "view");
        requireNonNull(node, "node");
        requireNonNull(trustRootsPem, "trustRootsPem");
        requireNonNull(shared, "shared");
        MeshPolicies policies = shared.policies();
        if (node.type() == ProxyType.ROUTER) {
            return policies == null ? translate(view, node, trustRootsPem)
                    : translate(view, node, trustRootsPem, policies);
        }
        List<ServiceView> all = shared.sortedServices(view);
        SidecarTranslator.Outbound outbound = shared.outbound(view, node, () -> SidecarTranslator.outbound(
                policies == null ? sorted(view.visibleFrom(node.namespace())) : scoped(view, node, policies),
                all, node, policies));
        ProxyResources sidecar = SidecarTranslator.assemble(outbound, shared.inboundServices(view, node), node,
                trustRootsPem, policies);
        if (node.type() != ProxyType.GRPC) {
            return sidecar;
        }
        return GrpcTranslator.withServer(GrpcTranslator.fromSidecar(sidecar, all,
                policies == null ? io.isthmus.controller.config.MeshConfig.EMPTY : policies.config()),
                ownPorts(shared.inboundServices(view, node)), node, policies);
    }

    /**
     * The name table (Istio's NDS) of a sidecar: the hosts it may dial (exported to its namespace,
     * narrowed by its Sidecar when {@code policies} is given, else not) with the addresses its DNS
     * proxy answers; see {@link NameTableTranslator}.
     *
     * @param policies the mesh's Istio configuration, or {@code null} when there is none
     */
    public static io.isthmus.trust.nds.NameTable nameTable(MeshView view, ProxyNode node, MeshPolicies policies) {
        requireNonNull(view, "view");
        requireNonNull(node, "node");
        List<ServiceView> scoped = policies == null ? sorted(view.visibleFrom(node.namespace()))
                : scoped(view, node, policies);
        return NameTableTranslator.translate(scoped, view.services(), node);
    }

    /** As {@link #nameTable(MeshView, ProxyNode, MeshPolicies)} with the push's policies. */
    public static io.isthmus.trust.nds.NameTable nameTable(MeshView view, ProxyNode node, SharedTranslation shared) {
        return nameTable(view, node, requireNonNull(shared, "shared").policies());
    }

    /** The target ports of the proxy's own workload. */
    private static java.util.SortedSet<Integer> ownPorts(java.util.SortedMap<Integer, ?> inboundServices) {
        return new java.util.TreeSet<>(inboundServices.keySet());
    }

    private static java.util.SortedSet<Integer> ownPorts(MeshView view, ProxyNode node) {
        return ownPorts(SidecarTranslator.inboundServices(view.services(), node));
    }

    /** What the proxy dials: exported to its namespace, then narrowed by its Sidecar resource. */
    private static List<ServiceView> scoped(MeshView view, ProxyNode node, MeshPolicies policies) {
        return SidecarScope.scope(sorted(view.visibleFrom(node.namespace())), policies.config().sidecars(), node);
    }

    private static List<ServiceView> sorted(List<ServiceView> services) {
        List<ServiceView> copy = new ArrayList<>(services);
        copy.sort(Comparator.comparing(ServiceView::hostname));
        return copy;
    }
}
