package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.DestinationRuleSpec;
import io.isthmus.controller.config.SidecarSpec;
import io.isthmus.controller.config.VirtualServiceSpec;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.ServiceView;
import io.isthmus.discovery.Viewpoint;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Translation work shared by the proxies of one push: the outbound side of a sidecar (clusters,
 * endpoints, outbound listeners, routes) is computed once per {@link OutboundKey}, the inputs it
 * is a function of, and reused by every proxy with the same key; only the inbound side and the
 * capture listeners are computed per proxy. The result is equal, resource for resource, to
 * {@link XdsTranslator#translate(MeshView, ProxyNode, List, MeshPolicies)} (a test compares both over many
 * proxy shapes).
 *
 * <p>One instance belongs to one push: one {@link MeshPolicies} value (or none) and one
 * {@link MeshView} per viewpoint. An entry remembers the view it was computed from and is
 * recomputed if a different view instance comes for its viewpoint, so a stale entry is never
 * served. Not thread-safe: the push thread owns it.
 */
public final class SharedTranslation {

    private final MeshPolicies policies;
    /** The label keys any Sidecar or DestinationRule workloadSelector or VirtualService sourceLabels match reads. */
    private final Set<String> selectorKeys;
    private final Map<OutboundKey, Entry> outbound = new HashMap<>();
    private final Map<MeshView, List<ServiceView>> sortedServices = new IdentityHashMap<>();
    /** view → workload name → the target ports of its direct endpoints in the view's own cluster. */
    private final Map<MeshView, Map<String, SortedMap<Integer, List<SidecarTranslator.InboundService>>>> inboundServices =
            new IdentityHashMap<>();
    private long hits;
    private long misses;

    /**
     * What a sidecar's outbound side depends on besides the view and the policies: the viewpoint
     * (which view), the namespace (exportTo, Sidecar, rule precedence, {@code sourceNamespace}),
     * the locality (locality load balancing) and the labels some selector reads.
     */
    record OutboundKey(Viewpoint viewpoint, String namespace, Locality locality, Map<String, String> labels) {}

    private record Entry(MeshView view, SidecarTranslator.Outbound outbound) {}

    private SharedTranslation(MeshPolicies policies) {
        this.policies = policies;
        this.selectorKeys = policies == null ? Set.of() : selectorKeys(policies);
    }

    /** Sharing for a push with the mesh's Istio configuration. */
    public static SharedTranslation of(MeshPolicies policies) {
        return new SharedTranslation(requireNonNull(policies, "policies"));
    }

    /** Sharing for a push without Istio configuration. */
    public static SharedTranslation withoutPolicies() {
        return new SharedTranslation(null);
    }

    /** The policies this push translates with; null without configuration. */
    MeshPolicies policies() {
        return policies;
    }

    /** How many translations reused a shared outbound side, and how many computed one. */
    public long hits() {
        return hits;
    }

    public long misses() {
        return misses;
    }

    OutboundKey keyOf(ProxyNode node) {
        Map<String, String> read = new TreeMap<>();
        for (String key : selectorKeys) {
            String value = node.labels().get(key);
            if (value != null) {
                read.put(key, value);
            }
        }
        return new OutboundKey(node.viewpoint(), node.namespace(), node.locality(), read);
    }

    /** Every host of {@code view}, sorted by name: the same list for every proxy of the view. */
    List<ServiceView> sortedServices(MeshView view) {
        return sortedServices.computeIfAbsent(view, v -> {
            List<ServiceView> copy = new ArrayList<>(v.services());
            copy.sort(Comparator.comparing(ServiceView::hostname));
            return List.copyOf(copy);
        });
    }

    /**
     * The ports {@code node}'s own workload serves with their services, as
     * {@link SidecarTranslator#inboundServices} finds them, from an index built once per view
     * instead of a scan of every endpoint per proxy.
     */
    SortedMap<Integer, List<SidecarTranslator.InboundService>> inboundServices(MeshView view, ProxyNode node) {
        Map<String, SortedMap<Integer, List<SidecarTranslator.InboundService>>> byWorkload =
                inboundServices.computeIfAbsent(view, v -> {
            Map<String, SortedMap<Integer, List<SidecarTranslator.InboundService>>> index = new HashMap<>();
            for (ServiceView service : sortedServices(v)) {
                for (var port : service.ports()) {
                    for (var endpoint : service.endpoints(port.port())) {
                        if (!endpoint.viaGateway() && endpoint.cluster().equals(v.viewpoint().cluster())
                                && !endpoint.workload().isEmpty()) {
                            List<SidecarTranslator.InboundService> services = index
                                    .computeIfAbsent(endpoint.workload(), w -> new TreeMap<>())
                                    .computeIfAbsent(endpoint.port(), p -> new ArrayList<>());
                            if (services.isEmpty() || services.get(services.size() - 1).service() != service
                                    || services.get(services.size() - 1).servicePort() != port.port()) {
                                services.add(new SidecarTranslator.InboundService(service, port.port()));
                            }
                        }
                    }
                }
            }
            return index;
        });
        SortedMap<Integer, List<SidecarTranslator.InboundService>> ports = byWorkload.get(node.podName());
        return node.podName().isEmpty() || ports == null || !node.cluster().equals(view.viewpoint().cluster())
                ? new TreeMap<>() : new TreeMap<>(ports);
    }

    SidecarTranslator.Outbound outbound(MeshView view, ProxyNode node,
            java.util.function.Supplier<SidecarTranslator.Outbound> compute) {
        OutboundKey key = keyOf(node);
        Entry entry = outbound.get(key);
        if (entry != null && entry.view() == view) {
            hits++;
            return entry.outbound();
        }
        misses++;
        SidecarTranslator.Outbound computed = compute.get();
        outbound.put(key, new Entry(view, computed));
        return computed;
    }

    private static Set<String> selectorKeys(MeshPolicies policies) {
        Set<String> keys = new TreeSet<>();
        for (ConfigEntry<SidecarSpec> sidecar : policies.config().sidecars()) {
            if (sidecar.spec().workloadSelector() != null) {
                keys.addAll(sidecar.spec().workloadSelector().labels().keySet());
            }
        }
        for (ConfigEntry<DestinationRuleSpec> dr : policies.config().destinationRules()) {
            if (dr.spec().workloadSelector() != null) {
                keys.addAll(dr.spec().workloadSelector().matchLabels().keySet());
            }
        }
        for (ConfigEntry<VirtualServiceSpec> vs : policies.config().virtualServices()) {
            for (VirtualServiceSpec.HttpRoute route : vs.spec().http()) {
                for (VirtualServiceSpec.MatchRequest match : route.match()) {
                    keys.addAll(match.sourceLabels().keySet());
                }
            }
            for (VirtualServiceSpec.TcpRoute route : vs.spec().tcp()) {
                route.match().forEach(m -> keys.addAll(m.sourceLabels().keySet()));
            }
            for (VirtualServiceSpec.TlsRoute route : vs.spec().tls()) {
                route.match().forEach(m -> keys.addAll(m.sourceLabels().keySet()));
            }
        }
        return Set.copyOf(keys);
    }
}
