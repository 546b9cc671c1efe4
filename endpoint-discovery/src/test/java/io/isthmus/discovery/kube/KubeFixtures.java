package io.isthmus.discovery.kube;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import java.util.Map;

/** Kubernetes objects shaped like the ones the local launcher writes (see docs/design/contracts.md). */
final class KubeFixtures {

    private KubeFixtures() {
    }

    static Namespace namespace(String name, String network) {
        NamespaceBuilder builder = new NamespaceBuilder().withNewMetadata().withName(name).endMetadata();
        if (network != null) {
            builder.editMetadata().addToLabels("topology.istio.io/network", network).endMetadata();
        }
        return builder.build();
    }

    static Node node(String name, String region, String zone) {
        return new NodeBuilder().withNewMetadata().withName(name)
                .addToLabels("topology.kubernetes.io/region", region)
                .addToLabels("topology.kubernetes.io/zone", zone)
                .endMetadata().build();
    }

    static Service service(String namespace, String name, String portName, int port, int targetPort) {
        return new ServiceBuilder()
                .withNewMetadata().withNamespace(namespace).withName(name).addToLabels("app", name).endMetadata()
                .withNewSpec().addToSelector("app", name)
                .addNewPort().withName(portName).withPort(port).withNewTargetPort(targetPort).endPort()
                .endSpec().build();
    }

    static Service gateway(String network, String address) {
        return new ServiceBuilder()
                .withNewMetadata().withNamespace("istio-system").withName("istio-eastwestgateway")
                .addToLabels("istio", "eastwestgateway").addToLabels("topology.istio.io/network", network)
                .endMetadata()
                .withNewSpec().addToExternalIPs(address)
                .addNewPort().withName("tls").withPort(15443).withNewTargetPort(15443).endPort()
                .endSpec().build();
    }

    static Pod pod(String namespace, String name, String app, String serviceAccount, String nodeName, String ip,
            Map<String, String> extraLabels) {
        return new PodBuilder()
                .withNewMetadata().withNamespace(namespace).withName(name)
                .addToLabels("app", app).addToLabels("version", "v1").addToLabels(extraLabels).endMetadata()
                .withNewSpec().withServiceAccountName(serviceAccount).withNodeName(nodeName)
                .addNewContainer().withName("app").withImage("echo").endContainer().endSpec()
                .withNewStatus().withPodIP(ip).withPhase("Running").endStatus()
                .build();
    }

    /** A slice for one pod of {@code service} with a named port, like the launcher's {@code <svc>-<cluster>}. */
    static EndpointSlice slice(String namespace, String name, String service, String portName, int port,
            String nodeName, EndpointSpec... endpoints) {
        EndpointSliceBuilder builder = new EndpointSliceBuilder()
                .withNewMetadata().withNamespace(namespace).withName(name)
                .addToLabels("kubernetes.io/service-name", service).endMetadata()
                .withAddressType("IPv4")
                .addNewPort().withName(portName).withPort(port).withProtocol("TCP").endPort();
        for (EndpointSpec endpoint : endpoints) {
            EndpointBuilder eb = new EndpointBuilder()
                    .withAddresses(endpoint.address())
                    .withNewConditions().withReady(endpoint.ready()).endConditions()
                    .withNodeName(nodeName);
            if (endpoint.pod() != null) {
                eb.withNewTargetRef().withKind("Pod").withNamespace(namespace).withName(endpoint.pod()).endTargetRef();
            }
            builder.addToEndpoints(eb.build());
        }
        return builder.build();
    }

    record EndpointSpec(String address, boolean ready, String pod) {
    }

    static EndpointSpec ep(String address, boolean ready, String pod) {
        return new EndpointSpec(address, ready, pod);
    }
}
