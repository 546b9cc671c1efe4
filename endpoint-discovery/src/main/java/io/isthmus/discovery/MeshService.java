package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A service as one cluster defines it.
 *
 * @param exportTo namespaces the service is visible to ({@code networking.istio.io/exportTo});
 *                 {@code ["*"]} when unset
 * @param headless true for {@code clusterIP: None}: endpoints keep per-pod host names
 */
public record MeshService(
        ServiceKey key,
        String hostname,
        List<ServicePort> ports,
        Map<String, String> labels,
        Set<String> exportTo,
        boolean headless) {

    public MeshService {
        requireNonNull(key, "key");
        requireNonNull(hostname, "hostname");
        ports = List.copyOf(ports);
        labels = Map.copyOf(labels);
        exportTo = Set.copyOf(exportTo);
    }
}
