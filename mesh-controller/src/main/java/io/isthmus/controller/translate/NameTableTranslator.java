package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.ServiceView;
import io.isthmus.trust.nds.NameTable;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Istio's name table (NDS, {@code istio.networking.nds.v1.NameTable}) for one sidecar: every host
 * it may dial, as its Sidecar scope and {@code exportTo} leave them, including hosts that only
 * other clusters define, with the address its DNS proxy answers:
 *
 * <ul>
 *   <li>the host's VIP in the proxy's own cluster (a Service's ClusterIP, a ServiceEntry's
 *       {@code addresses}), else its VIP in the first other cluster (by name) that has one, as
 *       Istio answers a host that only a remote cluster defines: the connection is captured by
 *       that address, whatever network it would route on;
 *   <li>for a headless Service, the addresses of its endpoints on the proxy's network;
 *   <li>else a VIP auto-allocated from {@code 240.240.0.0/16} ({@link VipAllocator}), as Istio's
 *       {@code DNS_AUTO_ALLOCATE} gives ServiceEntries without addresses; here also Services whose
 *       API server assigned no ClusterIP (the embedded one assigns none).
 * </ul>
 *
 * <p>A Kubernetes host carries its {@code shortname} and {@code namespace}, from which the
 * sidecar derives {@code name}, {@code name.ns} and {@code name.ns.svc}, as istio-agent does
 * (not for {@code clusterset.local} hosts, which would collide with the cluster.local ones);
 * other hosts are registry {@code External}. Pure.
 */
public final class NameTableTranslator {

    static final String REGISTRY_KUBERNETES = "Kubernetes";
    static final String REGISTRY_EXTERNAL = "External";
    private static final String CLUSTERSET_SUFFIX = ".svc.clusterset.local";

    private NameTableTranslator() {}

    /**
     * @param scoped the services {@code node} may dial, in any order
     * @param all every service of the proxy's mesh view: auto-allocation runs over all of them,
     *            so a host's VIP does not depend on which proxy asks
     */
    public static NameTable translate(List<ServiceView> scoped, List<ServiceView> all, ProxyNode node) {
        requireNonNull(scoped, "scoped");
        requireNonNull(all, "all");
        requireNonNull(node, "node");
        Map<String, String> allocated = allocated(all);
        NameTable.Builder table = NameTable.newBuilder();
        for (ServiceView service : scoped) {
            List<String> ips = addresses(service, node, allocated);
            if (ips.isEmpty()) {
                continue;
            }
            NameTable.NameInfo.Builder info = NameTable.NameInfo.newBuilder().addAllIps(ips);
            if (service.key().isServiceEntryHost()) {
                info.setRegistry(REGISTRY_EXTERNAL);
            } else {
                info.setRegistry(REGISTRY_KUBERNETES);
                if (!service.hostname().endsWith(CLUSTERSET_SUFFIX)) {
                    info.setShortname(service.key().name()).setNamespace(service.key().namespace());
                }
            }
            table.putTable(service.hostname(), info.build());
        }
        return table.build();
    }

    /**
     * The VIP this proxy reaches {@code service} by: its own cluster's, another cluster's, or the
     * auto-allocated one; empty for a headless service or a wildcard host.
     */
    static Optional<String> vip(ServiceView service, ProxyNode node, Map<String, String> allocated) {
        List<String> own = service.addressesByCluster().get(node.cluster());
        if (own != null && !own.isEmpty()) {
            return Optional.of(own.get(0));
        }
        for (List<String> other : service.addressesByCluster().values()) {
            if (!other.isEmpty()) {
                return Optional.of(other.get(0));
            }
        }
        return Optional.ofNullable(allocated.get(service.hostname()));
    }

    /** Every host of {@code all} that needs an auto-allocated VIP, with it. */
    static Map<String, String> allocated(List<ServiceView> all) {
        List<String> hosts = new ArrayList<>();
        for (ServiceView service : all) {
            if (service.addressesByCluster().isEmpty() && !service.headless()) {
                hosts.add(service.hostname());
            }
        }
        return VipAllocator.allocate(hosts);
    }

    private static List<String> addresses(ServiceView service, ProxyNode node, Map<String, String> allocated) {
        if (!service.addressesByCluster().isEmpty() || !service.headless()) {
            // Every VIP of the chosen cluster (a dual-stack Service has two).
            List<String> own = service.addressesByCluster().get(node.cluster());
            if (own != null && !own.isEmpty()) {
                return own;
            }
            return vip(service, node, allocated).map(List::of).orElse(List.of());
        }
        // Headless: the pods themselves, those this proxy can reach directly (a gateway cannot
        // carry a connection to a pod address it does not know).
        Set<String> ips = new LinkedHashSet<>();
        if (!service.ports().isEmpty()) {
            ServicePort first = service.ports().get(0);
            for (MeshEndpoint endpoint : service.endpoints(first.port())) {
                if (!endpoint.viaGateway()) {
                    ips.add(endpoint.address());
                }
            }
        }
        return List.copyOf(ips);
    }
}
