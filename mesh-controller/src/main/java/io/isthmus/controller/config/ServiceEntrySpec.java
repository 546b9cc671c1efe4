package io.isthmus.controller.config;

import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/** The spec of an Istio {@code ServiceEntry}: accepted and validated, not translated yet. */
public record ServiceEntrySpec(
        List<String> hosts,
        List<String> addresses,
        List<GatewaySpec.Port> ports,
        String location,
        String resolution,
        List<JsonNode> endpoints,
        JsonNode workloadSelector,
        List<String> exportTo,
        List<String> subjectAltNames) {

    public ServiceEntrySpec {
        hosts = Specs.list(hosts);
        addresses = Specs.list(addresses);
        ports = Specs.list(ports);
        endpoints = Specs.list(endpoints);
        exportTo = Specs.list(exportTo);
        subjectAltNames = Specs.list(subjectAltNames);
    }
}
