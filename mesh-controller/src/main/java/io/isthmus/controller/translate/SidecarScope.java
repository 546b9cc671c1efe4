package io.isthmus.controller.translate;

import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.Hosts;
import io.isthmus.controller.config.SidecarSpec;
import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Istio's {@code Sidecar} scoping: of the services exported to a proxy's namespace, those its
 * Sidecar's egress hosts import. The Sidecar that applies is, as in Istio, the oldest one in the
 * proxy's namespace whose {@code workloadSelector} matches the proxy's labels, else the oldest
 * one there without a selector, else the oldest one without a selector in the root namespace
 * ({@code istio-system}); with none, the proxy keeps every exported service. In a root-namespace
 * Sidecar, {@code .} means the proxy's own namespace. Pure.
 */
final class SidecarScope {

    private SidecarScope() {}

    static Optional<ConfigEntry<SidecarSpec>> applying(List<ConfigEntry<SidecarSpec>> sidecars, ProxyNode node) {
        Optional<ConfigEntry<SidecarSpec>> selecting = SecurityTranslator.oldest(sidecars.stream()
                .filter(e -> e.namespace().equals(node.namespace()) && e.spec().hasSelector()
                        && e.spec().selects(node.labels()))
                .toList());
        if (selecting.isPresent()) {
            return selecting;
        }
        Optional<ConfigEntry<SidecarSpec>> namespaceDefault = SecurityTranslator.oldest(sidecars.stream()
                .filter(e -> e.namespace().equals(node.namespace()) && !e.spec().hasSelector()).toList());
        if (namespaceDefault.isPresent()) {
            return namespaceDefault;
        }
        return SecurityTranslator.oldest(sidecars.stream()
                .filter(e -> e.namespace().equals(SecurityTranslator.ROOT_NAMESPACE) && !e.spec().hasSelector())
                .toList());
    }

    /**
     * {@code visible}, in its order, narrowed to what the applying Sidecar imports: a service its
     * egress hosts match, on every port when a matching egress listener has no {@code port}, else
     * on the ports ({@code port.number}) of the matching listeners only, as Istio builds one
     * listener per egress port.
     */
    static List<ServiceView> scope(List<ServiceView> visible, List<ConfigEntry<SidecarSpec>> sidecars,
            ProxyNode node) {
        Optional<ConfigEntry<SidecarSpec>> sidecar = applying(sidecars, node);
        if (sidecar.isEmpty() || sidecar.get().spec().egress().isEmpty()) {
            return visible;
        }
        List<ServiceView> out = new ArrayList<>();
        for (ServiceView service : visible) {
            boolean allPorts = false;
            Set<Integer> ports = new TreeSet<>();
            for (SidecarSpec.Egress egress : sidecar.get().spec().egress()) {
                boolean matches = egress.hosts().stream().anyMatch(pattern -> Hosts.sidecarEgressMatches(pattern,
                        service.hostname(), service.key().namespace(), node.namespace()));
                if (!matches) {
                    continue;
                }
                OptionalInt port = egressPort(egress);
                if (port.isEmpty()) {
                    allPorts = true;
                } else {
                    ports.add(port.getAsInt());
                }
            }
            if (allPorts) {
                out.add(service);
            } else if (!ports.isEmpty()) {
                List<ServicePort> kept = service.ports().stream().filter(p -> ports.contains(p.port())).toList();
                if (!kept.isEmpty()) {
                    Map<Integer, List<MeshEndpoint>> endpoints = new TreeMap<>(service.endpointsByPort());
                    endpoints.keySet().retainAll(ports);
                    out.add(service.withPorts(kept, endpoints));
                }
            }
        }
        return out;
    }

    /** An egress listener's {@code port.number}; the validator has checked it is 1–65535. */
    static OptionalInt egressPort(SidecarSpec.Egress egress) {
        if (egress.port() == null || !egress.port().path("number").isIntegralNumber()) {
            return OptionalInt.empty();
        }
        return OptionalInt.of(egress.port().path("number").asInt());
    }

    /** The applying Sidecar's {@code outboundTrafficPolicy.mode}, if it sets one. */
    static Optional<String> outboundTrafficMode(List<ConfigEntry<SidecarSpec>> sidecars, ProxyNode node) {
        return applying(sidecars, node)
                .map(e -> e.spec().outboundTrafficPolicy())
                .filter(p -> p != null && p.path("mode").isString())
                .map(p -> p.path("mode").asString());
    }
}
