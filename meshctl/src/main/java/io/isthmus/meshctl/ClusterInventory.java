package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What {@code meshctl analyze} read from one cluster, as plain values: the analysis over it is a pure
 * function ({@link MeshAnalyzer}), and tests build inventories in memory. Reachability of gateways and
 * remote secrets is measured by the collector ({@link InventoryCollector}) and recorded here as results.
 *
 * @param name          the cluster's name (its run-directory name or kubeconfig context)
 * @param unreachable   why the API server could not be read; when present the other fields are empty
 * @param network       the {@code topology.istio.io/network} label of namespace istio-system, if any
 * @param primary       false when istio-system is annotated {@code topology.istio.io/controlPlaneClusters}
 *                      (Istio's mark of a remote cluster, whose config no controller reads)
 * @param cacerts       the files of Secret istio-system/cacerts (PEM text by file name), if present
 */
record ClusterInventory(String name, Optional<String> unreachable, Optional<String> network, boolean primary,
        List<ServiceDef> services, List<ConfigObject> configs, List<GatewayDef> gateways,
        Optional<Map<String, String>> cacerts, List<RemoteSecretCheck> remoteSecrets) {

    ClusterInventory {
        requireNonNull(name, "name");
        requireNonNull(unreachable, "unreachable");
        requireNonNull(network, "network");
        services = List.copyOf(services);
        configs = List.copyOf(configs);
        gateways = List.copyOf(gateways);
        cacerts = cacerts.map(Map::copyOf);
        remoteSecrets = List.copyOf(remoteSecrets);
    }

    static ClusterInventory unreachable(String name, String reason) {
        return new ClusterInventory(name, Optional.of(reason), Optional.empty(), true, List.of(), List.of(), List.of(),
                Optional.empty(), List.of());
    }

    /** One port of a Service: its name, number and the protocol the mesh infers for it. */
    record PortDef(String name, int port, String protocol) {
        PortDef {
            requireNonNull(name, "name");
            requireNonNull(protocol, "protocol");
        }

        @Override
        public String toString() {
            return (name.isEmpty() ? "" : name + ' ') + port + '/' + protocol;
        }
    }

    /** A Kubernetes Service as the mesh merges it across clusters (by namespace and name). */
    record ServiceDef(String namespace, String name, List<PortDef> ports) {
        ServiceDef {
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
            ports = List.copyOf(ports);
        }
    }

    /**
     * An Istio configuration object as read from the API server.
     *
     * @param object the whole object (apiVersion, kind, metadata, spec) as maps and lists
     */
    record ConfigObject(String kind, String namespace, String name, String creationTimestamp, Map<String, Object> object) {
        ConfigObject {
            requireNonNull(kind, "kind");
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
            requireNonNull(creationTimestamp, "creationTimestamp");
            requireNonNull(object, "object");
        }
    }

    /**
     * An east-west gateway Service (labelled {@code istio=eastwestgateway}).
     *
     * @param network     its {@code topology.istio.io/network} label, else the cluster's network
     * @param address     its external address {@code host:port}; empty while none is assigned
     * @param unreachable why a TCP connection to the address failed; empty when it connected
     */
    record GatewayDef(String namespace, String name, Optional<String> network, Optional<String> address,
            Optional<String> unreachable) {
        GatewayDef {
            requireNonNull(namespace, "namespace");
            requireNonNull(name, "name");
            requireNonNull(network, "network");
            requireNonNull(address, "address");
            requireNonNull(unreachable, "unreachable");
        }
    }

    /**
     * One cluster entry of a remote secret and what happened when its kubeconfig was used.
     *
     * @param secret  {@code namespace/name} of the Secret
     * @param cluster the data key: the remote cluster's name
     * @param server  the API server URL in its kubeconfig, empty if it did not parse
     * @param invalid why the kubeconfig is unusable (does not parse, no server, no credentials)
     * @param failure why the API server could not be read with it (unreachable, token rejected)
     */
    record RemoteSecretCheck(String secret, String cluster, Optional<String> server, Optional<String> invalid,
            Optional<String> failure) {
        RemoteSecretCheck {
            requireNonNull(secret, "secret");
            requireNonNull(cluster, "cluster");
            requireNonNull(server, "server");
            requireNonNull(invalid, "invalid");
            requireNonNull(failure, "failure");
        }
    }
}
