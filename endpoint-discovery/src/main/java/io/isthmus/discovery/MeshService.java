package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A service as one cluster defines it.
 *
 * @param exportTo       namespaces the service is visible to ({@code networking.istio.io/exportTo});
 *                       {@code ["*"]} when unset
 * @param headless       true for {@code clusterIP: None}: endpoints keep per-pod host names
 * @param clusterSetExport true when the cluster has a {@code ServiceExport}
 *                       ({@code multicluster.x-k8s.io}, KEP-1645) of the same namespace and name:
 *                       the service's endpoints in this cluster then serve
 *                       {@code <name>.<ns>.svc.clusterset.local}
 * @param addresses      the service's virtual IPs in this cluster: a Service's {@code clusterIPs},
 *                       a ServiceEntry's {@code addresses} (IPs only); empty when it has none
 *                       (headless, a ServiceEntry without addresses, or an API server that
 *                       assigns none). Left out of the federation's JSON when empty, so states
 *                       without VIPs encode as before.
 */
public record MeshService(
        ServiceKey key,
        String hostname,
        List<ServicePort> ports,
        Map<String, String> labels,
        Set<String> exportTo,
        boolean headless,
        boolean clusterSetExport,
        @JsonInclude(JsonInclude.Include.NON_EMPTY) List<String> addresses) {

    public MeshService {
        requireNonNull(key, "key");
        requireNonNull(hostname, "hostname");
        ports = List.copyOf(ports);
        labels = Map.copyOf(labels);
        exportTo = Set.copyOf(exportTo);
        // Absent from entries written before VIPs were carried.
        addresses = addresses == null ? List.of() : List.copyOf(addresses);
    }

    /** A service without virtual IPs. */
    public MeshService(ServiceKey key, String hostname, List<ServicePort> ports, Map<String, String> labels,
            Set<String> exportTo, boolean headless, boolean clusterSetExport) {
        this(key, hostname, ports, labels, exportTo, headless, clusterSetExport, List.of());
    }

    /** A service no ServiceExport names. */
    public MeshService(ServiceKey key, String hostname, List<ServicePort> ports, Map<String, String> labels,
            Set<String> exportTo, boolean headless) {
        this(key, hostname, ports, labels, exportTo, headless, false);
    }

    /** This service with its {@code ServiceExport} present or not. */
    public MeshService withClusterSetExport(boolean exported) {
        return exported == clusterSetExport ? this
                : new MeshService(key, hostname, ports, labels, exportTo, headless, exported, addresses);
    }
}
