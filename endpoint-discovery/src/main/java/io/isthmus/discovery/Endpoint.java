package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * One address serving a service in one cluster, with where it runs and who it is.
 *
 * @param ports          service port name → port on this endpoint (from the EndpointSlice)
 * @param serviceAccount the pod's service account: with the namespace, its SPIFFE identity
 * @param workload       the pod (or WorkloadEntry) name; provenance travels as a field, never
 *                       parsed back out of a generated name
 */
public record Endpoint(
        ServiceKey service,
        String address,
        Map<String, Integer> ports,
        boolean ready,
        Locality locality,
        String cluster,
        String network,
        String serviceAccount,
        String workload,
        Map<String, String> labels) {

    public Endpoint {
        requireNonNull(service, "service");
        requireNonNull(address, "address");
        ports = Map.copyOf(ports);
        requireNonNull(locality, "locality");
        requireNonNull(cluster, "cluster");
        requireNonNull(network, "network");
        requireNonNull(serviceAccount, "serviceAccount");
        requireNonNull(workload, "workload");
        labels = Map.copyOf(labels);
    }
}
