package io.isthmus.e2e;

import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.JsonNode;

/** Reads a sidecar's or gateway's {@code /config_dump} (the proxy's admin port). */
final class ConfigDumps {

    private ConfigDumps() {}

    /** The {@code address:port} of every endpoint the proxy holds for an EDS cluster. */
    static List<String> endpoints(JsonNode dump, String cluster) {
        List<String> found = new ArrayList<>();
        forEachEndpoint(dump, cluster, (address, lb) -> found.add(address));
        return found;
    }

    /**
     * The health status of every endpoint the proxy holds for an EDS cluster, by {@code address:port}
     * ({@code HEALTHY}, {@code UNHEALTHY}, ...; {@code UNKNOWN} when the field is absent, protobuf's default).
     */
    static java.util.Map<String, String> health(JsonNode dump, String cluster) {
        java.util.Map<String, String> found = new java.util.TreeMap<>();
        forEachEndpoint(dump, cluster, (address, lb) -> found.put(address, lb.path("healthStatus").asString("UNKNOWN")));
        return found;
    }

    private static void forEachEndpoint(JsonNode dump, String cluster,
            java.util.function.BiConsumer<String, JsonNode> action) {
        for (JsonNode assignment : dump.path("endpoints")) {
            if (!assignment.path("clusterName").asString("").equals(cluster)) {
                continue;
            }
            for (JsonNode locality : assignment.path("endpoints")) {
                for (JsonNode lb : locality.path("lbEndpoints")) {
                    JsonNode socket = lb.path("endpoint").path("address").path("socketAddress");
                    action.accept(socket.path("address").asString() + ':' + socket.path("portValue").asInt(), lb);
                }
            }
        }
    }
}
