package io.isthmus.controller.config;

import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The spec of an Istio {@code Sidecar} (networking.istio.io): which services a workload's proxy
 * can reach. Translation honours {@code workloadSelector}, the {@code hosts} and {@code port} of
 * {@code egress} and {@code outboundTrafficPolicy.mode}; {@code ingress},
 * {@code inboundConnectionPool} and an egress listener's {@code bind} and {@code captureMode} are
 * accepted and kept as raw JSON (see docs/reference/supported-config.md).
 */
public record SidecarSpec(
        Selector workloadSelector,
        List<JsonNode> ingress,
        List<Egress> egress,
        JsonNode outboundTrafficPolicy,
        JsonNode inboundConnectionPool) {

    public SidecarSpec {
        ingress = Specs.list(ingress);
        egress = Specs.list(egress);
    }

    /** {@code workloadSelector}: the pods whose labels include every entry. */
    public record Selector(Map<String, String> labels) {

        public Selector {
            labels = Specs.map(labels);
        }
    }

    /** One egress listener; its {@code hosts} are {@code namespace/dnsName} patterns. */
    public record Egress(JsonNode port, String bind, String captureMode, List<String> hosts) {

        public Egress {
            hosts = Specs.list(hosts);
        }
    }

    /** True without a selector (the namespace's default), or when {@code labels} carry every entry. */
    public boolean selects(Map<String, String> labels) {
        if (workloadSelector == null) {
            return true;
        }
        for (var e : workloadSelector.labels().entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    public boolean hasSelector() {
        return workloadSelector != null && !workloadSelector.labels().isEmpty();
    }
}
