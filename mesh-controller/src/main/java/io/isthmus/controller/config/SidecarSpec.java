package io.isthmus.controller.config;

import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The spec of an Istio {@code Sidecar} (networking.istio.io): which services a workload's proxy
 * can reach and how its listeners are laid out. Translation honours {@code workloadSelector},
 * {@code egress} ({@code hosts}, {@code port}, {@code bind}, {@code captureMode}),
 * {@code ingress} ({@code port}, {@code bind}, {@code captureMode}, {@code defaultEndpoint},
 * {@code connectionPool}), {@code inboundConnectionPool} and {@code outboundTrafficPolicy.mode};
 * an ingress listener's {@code tls} is accepted and not translated (see
 * docs/reference/supported-config.md).
 */
public record SidecarSpec(
        Selector workloadSelector,
        List<Ingress> ingress,
        List<Egress> egress,
        JsonNode outboundTrafficPolicy,
        DestinationRuleSpec.ConnectionPool inboundConnectionPool) {

    /** Istio's {@code CaptureMode}: the proxy's default, iptables, or a listener bound to a real port. */
    public static final List<String> CAPTURE_MODES = List.of("DEFAULT", "IPTABLES", "NONE");

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

        /** {@code captureMode: NONE}: a listener the app dials on {@code bind} (127.0.0.1 by default). */
        public boolean bindsToPort() {
            return "NONE".equals(captureMode);
        }
    }

    /**
     * One ingress listener: traffic for {@code port.number} goes to {@code defaultEndpoint}
     * ({@code 127.0.0.1:<port>}, {@code 0.0.0.0:<port>} for the pod's IP, or {@code unix://path});
     * with {@code captureMode: NONE} the proxy binds {@code bind} (the pod's IP by default)
     * itself.
     */
    public record Ingress(JsonNode port, String bind, String captureMode, String defaultEndpoint, JsonNode tls,
            DestinationRuleSpec.ConnectionPool connectionPool) {

        public boolean bindsToPort() {
            return "NONE".equals(captureMode);
        }

        /** {@code port.number}; 0 when missing (the validator rejects that). */
        public int portNumber() {
            return port == null ? 0 : port.path("number").asInt(0);
        }

        /** {@code port.protocol}, upper case; empty when not given. */
        public String protocol() {
            return port == null || !port.path("protocol").isString() ? ""
                    : port.path("protocol").asString().toUpperCase(java.util.Locale.ROOT);
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

    /**
     * The port of an ingress {@code defaultEndpoint} of Istio's forms ({@code 127.0.0.1:<port>},
     * {@code 0.0.0.0:<port>}, {@code [::1]:<port>}, {@code [::]:<port>}), or -1 when it is none of them.
     */
    public static int defaultEndpointPort(String endpoint) {
        for (String host : List.of("127.0.0.1:", "0.0.0.0:", "[::1]:", "[::]:")) {
            if (endpoint.startsWith(host)) {
                String port = endpoint.substring(host.length());
                if (port.matches("[0-9]{1,5}") && Integer.parseInt(port) >= 1 && Integer.parseInt(port) <= 65535) {
                    return Integer.parseInt(port);
                }
                return -1;
            }
        }
        return -1;
    }
}
