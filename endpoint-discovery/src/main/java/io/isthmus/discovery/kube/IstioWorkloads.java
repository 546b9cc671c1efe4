package io.isthmus.discovery.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Reads Istio's {@code ServiceEntry} and {@code WorkloadEntry} as discovery needs them: the hosts
 * and ports a ServiceEntry adds to the mesh, and the workloads (inline endpoints, WorkloadEntries,
 * pods) that serve it. Pure; the spec arrives as the untyped map fabric8 gives for custom
 * resources, so every field is checked for its type here.
 *
 * <p>Discovery makes mesh services of what the mesh dials with mTLS at known addresses:
 * {@code location: MESH_INTERNAL} with {@code resolution: STATIC}. Other entries (MESH_EXTERNAL,
 * DNS, DNS_ROUND_ROBIN, NONE) are the same from every cluster and are routed by the controller's
 * translation straight from the configuration; discovery leaves them with {@link NotDiscovered}.
 */
final class IstioWorkloads {

    static final String KIND_SERVICE_ENTRY = "ServiceEntry";
    static final String KIND_WORKLOAD_ENTRY = "WorkloadEntry";

    private IstioWorkloads() {}

    /** What a MESH_INTERNAL, STATIC ServiceEntry declares. */
    record ServiceEntryInfo(
            String namespace,
            String name,
            List<String> hosts,
            List<ServicePort> ports,
            Set<String> exportTo,
            List<WorkloadInfo> endpoints,
            Optional<Map<String, String>> selector,
            List<String> addresses) {

        ServiceEntryInfo {
            addresses = List.copyOf(addresses);
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
            hosts = List.copyOf(hosts);
            ports = List.copyOf(ports);
            exportTo = Set.copyOf(exportTo);
            endpoints = List.copyOf(endpoints);
            selector = selector.map(Map::copyOf);
        }

        boolean selects(Map<String, String> labels) {
            return selector.isPresent() && labels.entrySet().containsAll(selector.get().entrySet());
        }
    }

    /**
     * One workload: a ServiceEntry's inline endpoint or a WorkloadEntry.
     *
     * @param name  the WorkloadEntry's name; empty for an inline endpoint, which has none
     * @param ports port name → port on this workload; ports it does not name use the entry's own
     */
    record WorkloadInfo(
            String name,
            String address,
            Map<String, Integer> ports,
            Map<String, String> labels,
            Optional<String> network,
            Optional<Locality> locality,
            String serviceAccount) {

        WorkloadInfo {
            requireNonNull(name, "name");
            requireNonNull(address, "address");
            ports = Map.copyOf(ports);
            labels = Map.copyOf(labels);
            requireNonNull(network, "network");
            requireNonNull(locality, "locality");
            requireNonNull(serviceAccount, "serviceAccount");
        }
    }

    /**
     * A well-formed entry that translation routes from the configuration (MESH_EXTERNAL, or a
     * resolution other than STATIC): not an error, and not a mesh service of this cluster.
     */
    static final class NotDiscovered extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        NotDiscovered(String message) {
            super(message);
        }
    }

    /** A well-formed entry that uses something discovery does not route. */
    static final class Unsupported extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        Unsupported(String message) {
            super(message);
        }
    }

    /**
     * @throws NotDiscovered            for an entry translation routes from the configuration
     * @throws Unsupported              for a wildcard host of a MESH_INTERNAL, STATIC entry
     * @throws IllegalArgumentException naming the field for a malformed entry
     */
    static ServiceEntryInfo serviceEntry(GenericKubernetesResource resource) {
        String namespace = namespaceOf(resource);
        Map<String, Object> spec = spec(resource);
        String location = string(spec, "location", "spec.location").orElse("MESH_EXTERNAL");
        if (!location.equals("MESH_INTERNAL")) {
            throw new NotDiscovered("spec.location: " + location + " (routed by translation, not a mesh service)");
        }
        String resolution = string(spec, "resolution", "spec.resolution").orElse("NONE");
        if (!resolution.equals("STATIC")) {
            throw new NotDiscovered("spec.resolution: " + resolution + " (routed by translation, not a mesh service)");
        }
        List<String> hosts = new ArrayList<>();
        for (Object host : list(spec, "hosts", "spec.hosts")) {
            if (!(host instanceof String h) || h.isBlank()) {
                throw new IllegalArgumentException("spec.hosts: " + host + " (expected: a host name)");
            }
            if (h.startsWith("*")) {
                throw new Unsupported("spec.hosts: " + h + " (a wildcard host of a MESH_INTERNAL, STATIC entry"
                        + " is not routed; use resolution NONE for wildcard hosts)");
            }
            hosts.add(h.trim());
        }
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException("spec.hosts: empty (expected: at least one host)");
        }
        List<ServicePort> ports = new ArrayList<>();
        List<Object> portList = list(spec, "ports", "spec.ports");
        for (int i = 0; i < portList.size(); i++) {
            ports.add(port(portList.get(i), "spec.ports[" + i + "]"));
        }
        if (ports.isEmpty()) {
            throw new IllegalArgumentException("spec.ports: empty (expected: at least one port)");
        }
        List<WorkloadInfo> endpoints = new ArrayList<>();
        List<Object> endpointList = list(spec, "endpoints", "spec.endpoints");
        for (int i = 0; i < endpointList.size(); i++) {
            String where = "spec.endpoints[" + i + "]";
            endpoints.add(workload("", map(endpointList.get(i), where), where));
        }
        Optional<Map<String, String>> selector = Optional.empty();
        Object workloadSelector = spec.get("workloadSelector");
        if (workloadSelector != null) {
            selector = Optional.of(stringMap(map(workloadSelector, "spec.workloadSelector").get("labels"),
                    "spec.workloadSelector.labels"));
        }
        if (!endpoints.isEmpty() && selector.isPresent()) {
            throw new IllegalArgumentException(
                    "spec: both endpoints and workloadSelector (expected: one of them, as Istio requires)");
        }
        Set<String> exportTo = new TreeSet<>();
        for (Object value : list(spec, "exportTo", "spec.exportTo")) {
            if (!(value instanceof String s) || s.isBlank()) {
                throw new IllegalArgumentException("spec.exportTo: " + value + " (expected: '*', '.' or a namespace)");
            }
            exportTo.add(s.equals(".") ? namespace : s.trim());
        }
        return new ServiceEntryInfo(namespace, resource.getMetadata().getName(), hosts, ports,
                exportTo.isEmpty() ? Set.of("*") : exportTo, endpoints, selector, addresses(spec));
    }

    /**
     * {@code spec.addresses}: the entry's VIPs. A CIDR is valid there but is no address to answer
     * DNS with, so only single IPs are kept (as Istio's name table does).
     */
    private static List<String> addresses(Map<String, Object> spec) {
        List<String> out = new ArrayList<>();
        for (Object value : list(spec, "addresses", "spec.addresses")) {
            if (!(value instanceof String s) || s.isBlank()) {
                throw new IllegalArgumentException("spec.addresses: " + value + " (expected: an IP address or CIDR)");
            }
            String address = s.trim().endsWith("/32") || s.trim().endsWith("/128")
                    ? s.trim().substring(0, s.trim().indexOf('/')) : s.trim();
            if (KubeConventions.isIpAddress(address)) {
                out.add(address);
            }
        }
        return out;
    }

    /** @throws IllegalArgumentException naming the field for a malformed WorkloadEntry */
    static WorkloadInfo workloadEntry(GenericKubernetesResource resource) {
        namespaceOf(resource);
        return workload(resource.getMetadata().getName(), spec(resource), "spec");
    }

    private static WorkloadInfo workload(String name, Map<String, Object> spec, String where) {
        String address = string(spec, "address", where + ".address")
                .orElseThrow(() -> new IllegalArgumentException(where + ".address: missing (expected: an IP address)"));
        if (!KubeConventions.isIpAddress(address)) {
            throw new IllegalArgumentException(where + ".address: " + address
                    + " (expected: an IP address; host names need resolution DNS, which is not routed)");
        }
        Map<String, Integer> ports = new TreeMap<>();
        Object portMap = spec.get("ports");
        if (portMap != null) {
            for (Map.Entry<String, Object> e : map(portMap, where + ".ports").entrySet()) {
                ports.put(e.getKey(), portNumber(e.getValue(), where + ".ports." + e.getKey()));
            }
        }
        Optional<Locality> locality = Optional.empty();
        Optional<String> value = string(spec, "locality", where + ".locality");
        if (value.isPresent()) {
            try {
                locality = Optional.of(Locality.parse(value.get()));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + "." + e.getMessage(), e);
            }
        }
        return new WorkloadInfo(
                name,
                address,
                ports,
                stringMap(spec.get("labels"), where + ".labels"),
                string(spec, "network", where + ".network"),
                locality,
                string(spec, "serviceAccount", where + ".serviceAccount").orElse("default"));
    }

    private static ServicePort port(Object value, String where) {
        Map<String, Object> port = map(value, where);
        int number = portNumber(port.get("number"), where + ".number");
        String name = string(port, "name", where + ".name")
                .orElseThrow(() -> new IllegalArgumentException(where + ".name: missing (expected: a port name)"));
        int target = port.get("targetPort") == null ? number : portNumber(port.get("targetPort"), where + ".targetPort");
        String protocol = string(port, "protocol", where + ".protocol").orElse("");
        return new ServicePort(name, number, target, KubeConventions.protocolOf(number, name, protocol, "TCP"));
    }

    private static int portNumber(Object value, String where) {
        long number;
        if (value instanceof Number n) {
            number = n.longValue();
        } else {
            throw new IllegalArgumentException(where + ": " + value + " (expected: a port number 1-65535)");
        }
        if (number < 1 || number > 65535) {
            throw new IllegalArgumentException(where + ": " + number + " (expected: 1-65535)");
        }
        return (int) number;
    }

    private static String namespaceOf(GenericKubernetesResource resource) {
        if (resource.getMetadata() == null || isBlank(resource.getMetadata().getNamespace())
                || isBlank(resource.getMetadata().getName())) {
            throw new IllegalArgumentException("metadata: namespace and name are required");
        }
        return resource.getMetadata().getNamespace();
    }

    private static Map<String, Object> spec(GenericKubernetesResource resource) {
        Object spec = resource.getAdditionalProperties().get("spec");
        if (spec == null) {
            throw new IllegalArgumentException("spec: missing");
        }
        return map(spec, "spec");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value, String where) {
        if (!(value instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException(where + ": " + value + " (expected: an object)");
        }
        for (Object key : m.keySet()) {
            if (!(key instanceof String)) {
                throw new IllegalArgumentException(where + ": key " + key + " (expected: a string)");
            }
        }
        return (Map<String, Object>) m;
    }

    private static List<Object> list(Map<String, Object> parent, String field, String where) {
        Object value = parent.get(field);
        if (value == null) {
            return List.of();
        }
        if (!(value instanceof List<?> l)) {
            throw new IllegalArgumentException(where + ": " + value + " (expected: a list)");
        }
        return new ArrayList<>(l);
    }

    private static Optional<String> string(Map<String, Object> parent, String field, String where) {
        Object value = parent.get(field);
        if (value == null) {
            return Optional.empty();
        }
        if (!(value instanceof String s)) {
            throw new IllegalArgumentException(where + ": " + value + " (expected: a string)");
        }
        return s.isBlank() ? Optional.empty() : Optional.of(s.trim());
    }

    private static Map<String, String> stringMap(Object value, String where) {
        if (value == null) {
            return Map.of();
        }
        Map<String, String> out = new TreeMap<>();
        for (Map.Entry<String, Object> e : map(value, where).entrySet()) {
            if (!(e.getValue() instanceof String s)) {
                throw new IllegalArgumentException(where + "." + e.getKey() + ": " + e.getValue()
                        + " (expected: a string)");
            }
            out.put(e.getKey(), s);
        }
        return out;
    }

    private static boolean isBlank(String value) {
        return value == null || value.isBlank();
    }
}
