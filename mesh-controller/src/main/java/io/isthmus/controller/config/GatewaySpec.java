package io.isthmus.controller.config;

import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/** The spec of an Istio {@code Gateway}: accepted and validated, not translated yet. */
public record GatewaySpec(List<Server> servers, Map<String, String> selector) {

    public GatewaySpec {
        servers = Specs.list(servers);
        selector = Specs.map(selector);
    }

    public record Server(Port port, String bind, List<String> hosts, JsonNode tls, String defaultEndpoint,
            String name) {

        public Server {
            hosts = Specs.list(hosts);
        }
    }

    public record Port(Integer number, String protocol, String name, Integer targetPort) {}
}
