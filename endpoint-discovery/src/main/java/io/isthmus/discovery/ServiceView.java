package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;

/**
 * One mesh host as a viewpoint sees it: merged across every cluster that defines it.
 *
 * @param endpointsByPort service port number → endpoints to dial for that port, in a canonical
 *                        order
 * @param clusters        the clusters that define this service, sorted
 */
public record ServiceView(
        String hostname,
        ServiceKey key,
        List<ServicePort> ports,
        Map<Integer, List<MeshEndpoint>> endpointsByPort,
        List<String> clusters) {

    public ServiceView {
        requireNonNull(hostname, "hostname");
        requireNonNull(key, "key");
        ports = List.copyOf(ports);
        endpointsByPort = Map.copyOf(endpointsByPort);
        clusters = List.copyOf(clusters);
    }

    public List<MeshEndpoint> endpoints(int port) {
        return endpointsByPort.getOrDefault(port, List.of());
    }
}
