package io.isthmus.controller.translate;

import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.Hosts;
import io.isthmus.controller.config.SidecarSpec;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

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

    /** {@code visible}, in its order, narrowed to what the applying Sidecar imports. */
    static List<ServiceView> scope(List<ServiceView> visible, List<ConfigEntry<SidecarSpec>> sidecars,
            ProxyNode node) {
        Optional<ConfigEntry<SidecarSpec>> sidecar = applying(sidecars, node);
        if (sidecar.isEmpty() || sidecar.get().spec().egress().isEmpty()) {
            return visible;
        }
        List<String> hosts = new ArrayList<>();
        sidecar.get().spec().egress().forEach(egress -> hosts.addAll(egress.hosts()));
        List<ServiceView> out = new ArrayList<>();
        for (ServiceView service : visible) {
            for (String pattern : hosts) {
                if (Hosts.sidecarEgressMatches(pattern, service.hostname(), service.key().namespace(),
                        node.namespace())) {
                    out.add(service);
                    break;
                }
            }
        }
        return out;
    }
}
