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
 */
public record ServiceView(
        String hostname,
        ServiceKey key,
        List<ServicePort> ports,
        Map<Integer, List<MeshEndpoint>> endpointsByPort,
        List<String> clusters,
        Map<String, List<String>> addressesByCluster,
        boolean headless) {

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
    }

    /** A host without virtual IPs. */
    public ServiceView(String hostname, ServiceKey key, List<ServicePort> ports,
            Map<Integer, List<MeshEndpoint>> endpointsByPort, List<String> clusters) {
        this(hostname, key, ports, endpointsByPort, clusters, Map.of(), false);
    }

    /** This view with other ports and endpoints, its identity and VIPs kept (Sidecar scoping). */
    public ServiceView withPorts(List<ServicePort> kept, Map<Integer, List<MeshEndpoint>> endpoints) {
        return new ServiceView(hostname, key, kept, endpoints, clusters, addressesByCluster, headless);
    }

    public List<MeshEndpoint> endpoints(int port) {
        return endpointsByPort.getOrDefault(port, List.of());
    }
}
