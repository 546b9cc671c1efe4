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
 * @param addressesByCluster cluster → the service's virtual IPs there (clusters without any left
 *                        out): a ClusterIP is only meaningful where it was assigned
 * @param headless        {@code clusterIP: None} where it is defined: DNS names its pods
 * @param identitiesByPort service port number → the SPIFFE identities of every endpoint that
 *                        serves it, in every cluster and network (also those a gateway entry
 *                        stands for, and those not ready yet), sorted: who may answer for the
 *                        host on that port, as Istio's service accounts of a service
 */
public record ServiceView(
        String hostname,
        ServiceKey key,
        List<ServicePort> ports,
        Map<Integer, List<MeshEndpoint>> endpointsByPort,
        List<String> clusters,
        Map<String, List<String>> addressesByCluster,
        boolean headless,
        Map<Integer, List<String>> identitiesByPort) {

    public ServiceView {
        requireNonNull(hostname, "hostname");
        requireNonNull(key, "key");
        ports = List.copyOf(ports);
        endpointsByPort = Map.copyOf(endpointsByPort);
        clusters = List.copyOf(clusters);
        Map<String, List<String>> vips = new java.util.TreeMap<>();
        requireNonNull(addressesByCluster, "addressesByCluster")
                .forEach((cluster, ips) -> vips.put(cluster, List.copyOf(ips)));
        addressesByCluster = java.util.Collections.unmodifiableMap(vips);
        Map<Integer, List<String>> ids = new java.util.TreeMap<>();
        requireNonNull(identitiesByPort, "identitiesByPort")
                .forEach((port, list) -> ids.put(port, List.copyOf(new java.util.TreeSet<>(list))));
        identitiesByPort = java.util.Collections.unmodifiableMap(ids);
    }

    /** A view whose identities are those its endpoints name (the direct ones and headless gateway entries). */
    public ServiceView(String hostname, ServiceKey key, List<ServicePort> ports,
            Map<Integer, List<MeshEndpoint>> endpointsByPort, List<String> clusters,
            Map<String, List<String>> addressesByCluster, boolean headless) {
        this(hostname, key, ports, endpointsByPort, clusters, addressesByCluster, headless,
                identitiesOf(endpointsByPort));
    }

    /** A host without virtual IPs. */
    public ServiceView(String hostname, ServiceKey key, List<ServicePort> ports,
            Map<Integer, List<MeshEndpoint>> endpointsByPort, List<String> clusters) {
        this(hostname, key, ports, endpointsByPort, clusters, Map.of(), false);
    }

    /** This view with other ports and endpoints, its identity and VIPs kept (Sidecar scoping). */
    public ServiceView withPorts(List<ServicePort> kept, Map<Integer, List<MeshEndpoint>> endpoints) {
        return new ServiceView(hostname, key, kept, endpoints, clusters, addressesByCluster, headless,
                identitiesByPort);
    }

    public List<MeshEndpoint> endpoints(int port) {
        return endpointsByPort.getOrDefault(port, List.of());
    }

    /** The SPIFFE identities that may answer for this host on {@code port}; empty when none is known. */
    public List<String> identities(int port) {
        return identitiesByPort.getOrDefault(port, List.of());
    }

    private static Map<Integer, List<String>> identitiesOf(Map<Integer, List<MeshEndpoint>> endpointsByPort) {
        Map<Integer, List<String>> out = new java.util.HashMap<>();
        endpointsByPort.forEach((port, endpoints) -> {
            java.util.TreeSet<String> ids = new java.util.TreeSet<>();
            for (MeshEndpoint e : endpoints) {
                if (!e.identity().isEmpty()) {
                    ids.add(e.identity());
                }
            }
            if (!ids.isEmpty()) {
                out.put(port, List.copyOf(ids));
            }
        });
        return out;
    }
}
