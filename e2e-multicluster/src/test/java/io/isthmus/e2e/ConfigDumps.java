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
        for (JsonNode assignment : dump.path("endpoints")) {
            if (!assignment.path("clusterName").asString("").equals(cluster)) {
                continue;
            }
            for (JsonNode locality : assignment.path("endpoints")) {
                for (JsonNode lb : locality.path("lbEndpoints")) {
                    JsonNode socket = lb.path("endpoint").path("address").path("socketAddress");
                    found.add(socket.path("address").asString() + ':' + socket.path("portValue").asInt());
                }
            }
        }
        return found;
    }
}
