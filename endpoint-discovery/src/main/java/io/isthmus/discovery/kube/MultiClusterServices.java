package io.isthmus.discovery.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.isthmus.discovery.ServiceKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads the Kubernetes multi-cluster services API ({@code multicluster.x-k8s.io/v1alpha1},
 * KEP-1645) as discovery needs it. Pure; fabric8 gives custom resources as untyped maps, so each
 * field's type is checked here.
 *
 * <p>A {@code ServiceExport} has no spec that matters: its namespace and name say which Service
 * of the cluster joins the clusterset. A {@code ServiceImport} is what an MCS controller writes
 * into each consuming cluster (type, ports, the clusterset VIPs); discovery validates it and
 * keeps it for status, but derives the clusterset host from the exports, as Istio does.
 */
final class MultiClusterServices {

    static final String GROUP = "multicluster.x-k8s.io";
    static final String VERSION = "v1alpha1";
    static final String KIND_SERVICE_EXPORT = "ServiceExport";
    static final String KIND_SERVICE_IMPORT = "ServiceImport";
    static final Map<String, String> PLURALS = Map.of(
            KIND_SERVICE_EXPORT, "serviceexports",
            KIND_SERVICE_IMPORT, "serviceimports");

    private MultiClusterServices() {}

    /**
     * A ServiceImport's spec.
     *
     * @param type  {@code ClusterSetIP} or {@code Headless}
     * @param ips   the clusterset VIPs (none for Headless)
     * @param ports the service ports (port numbers)
     */
    record ServiceImportInfo(ServiceKey key, String type, List<String> ips, List<Integer> ports) {
        ServiceImportInfo {
            requireNonNull(key, "key");
            requireNonNull(type, "type");
            ips = List.copyOf(ips);
            ports = List.copyOf(ports);
        }
    }

    /** The Service a ServiceExport exports: the same namespace and name. */
    static ServiceKey serviceExport(GenericKubernetesResource resource) {
        return keyOf(resource);
    }

    /** @throws IllegalArgumentException naming the field for a malformed ServiceImport */
    static ServiceImportInfo serviceImport(GenericKubernetesResource resource) {
        ServiceKey key = keyOf(resource);
        Object specValue = resource.getAdditionalProperties().get("spec");
        if (!(specValue instanceof Map<?, ?> spec)) {
            throw new IllegalArgumentException("spec: " + specValue + " (expected: an object with type and ports)");
        }
        Object type = spec.get("type");
        if (!"ClusterSetIP".equals(type) && !"Headless".equals(type)) {
            throw new IllegalArgumentException("spec.type: " + type + " (expected: ClusterSetIP or Headless)");
        }
        List<String> ips = new ArrayList<>();
        for (Object ip : list(spec.get("ips"), "spec.ips")) {
            if (!(ip instanceof String s) || s.isBlank()) {
                throw new IllegalArgumentException("spec.ips: " + ip + " (expected: an IP address)");
            }
            ips.add(s.trim());
        }
        List<Integer> ports = new ArrayList<>();
        List<Object> portList = list(spec.get("ports"), "spec.ports");
        for (int i = 0; i < portList.size(); i++) {
            Object port = portList.get(i) instanceof Map<?, ?> p ? p.get("port") : null;
            if (!(port instanceof Number n) || n.doubleValue() != n.intValue() || n.intValue() < 1
                    || n.intValue() > 65535) {
                throw new IllegalArgumentException("spec.ports[" + i + "].port: " + port + " (expected: 1-65535)");
            }
            ports.add(n.intValue());
        }
        return new ServiceImportInfo(key, (String) type, ips, ports);
    }

    private static ServiceKey keyOf(GenericKubernetesResource resource) {
        if (resource.getMetadata() == null || isBlank(resource.getMetadata().getNamespace())
                || isBlank(resource.getMetadata().getName())) {
            throw new IllegalArgumentException("metadata: namespace and name are required");
        }
        return new ServiceKey(resource.getMetadata().getNamespace(), resource.getMetadata().getName());
    }

    private static List<Object> list(Object value, String where) {
        if (value == null) {
            return List.of();
        }
        if (!(value instanceof List<?> l)) {
            throw new IllegalArgumentException(where + ": " + value + " (expected: a list)");
        }
        return new ArrayList<>(l);
    }

    private static boolean isBlank(String value) {
        return value == null || value.isBlank();
    }
}
