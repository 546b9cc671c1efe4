package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.Locality;
import io.isthmus.discovery.Viewpoint;
import java.util.Map;

/**
 * Who is asking for configuration: the identity and placement of one connected proxy, as parsed
 * from its xDS node. Every field is an input of translation, so two equal nodes get equal
 * resources from the same mesh view.
 *
 * @param id             the xDS node id, e.g. {@code sidecar~127.102.1.1~curl-1.sample~sample.svc.cluster.local}
 * @param ip             the proxy's pod IP (the gateway's address for a router)
 * @param podName        the pod name; a sidecar finds its own workload's ports by it
 * @param serviceAccount the pod's service account (with {@code namespace}, its SPIFFE identity)
 * @param cluster        the mesh cluster the proxy runs in
 * @param network        the network the proxy runs on
 */
public record ProxyNode(
        String id,
        ProxyType type,
        String ip,
        String podName,
        String namespace,
        String serviceAccount,
        String cluster,
        String network,
        Locality locality,
        Map<String, String> labels) {

    public ProxyNode {
        requireNonNull(id, "id");
        requireNonNull(type, "type");
        requireNonNull(ip, "ip");
        requireNonNull(podName, "podName");
        requireNonNull(namespace, "namespace");
        requireNonNull(serviceAccount, "serviceAccount");
        requireNonNull(cluster, "cluster");
        requireNonNull(network, "network");
        requireNonNull(locality, "locality");
        labels = Map.copyOf(labels);
        if (id.isEmpty()) {
            throw new IllegalArgumentException("node id: '' (expected: non-empty)");
        }
        if (cluster.isEmpty()) {
            throw new IllegalArgumentException("node cluster: '' (expected: the proxy's cluster name)");
        }
    }

    /** Where this proxy stands in the mesh: the input to {@code MeshView.of}. */
    public Viewpoint viewpoint() {
        return new Viewpoint(cluster, network);
    }
}
