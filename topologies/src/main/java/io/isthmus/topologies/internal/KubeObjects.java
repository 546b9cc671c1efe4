package io.isthmus.topologies.internal;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.PortSpec;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes the Kubernetes objects of docs/design/contracts.md ("Kubernetes objects the launcher
 * writes") for one cluster: namespaces, node, CA secret, issuer config map, the east-west gateway
 * Service, and per workload its Service, ServiceAccount, Pod (with a Running, Ready status) and
 * EndpointSlice; and the changes of a pod's life after that: a pod started not ready, marked
 * ready, deleted ({@link #writeWorkload}, {@link #setReady}, {@link #deletePod}), as the kubelet
 * and the EndpointSlice controller would write them.
 */
public final class KubeObjects {

    public static final String NETWORK_LABEL = "topology.istio.io/network";
    public static final String GATEWAY_SERVICE = "istio-eastwestgateway";
    public static final int GATEWAY_PORT = 15443;

    private KubeObjects() {}

    /**
     * @param cacerts the cluster's {@code istio-system/cacerts} files; empty for a cluster that gets
     *                its intermediate later ({@code meshctl cluster join} issues it)
     */
    public static void write(KubernetesClient client, Topology topology, ClusterSpec cluster,
            Map<String, String> cacerts, String issuer, String jwksJson) {
        String nodeName = nodeName(cluster);
        Set<String> namespaces = new LinkedHashSet<>();
        namespaces.add("istio-system");
        List<WorkloadSpec> workloads = topology.workloadsIn(cluster.name());
        workloads.forEach(w -> namespaces.add(w.namespace()));
        for (String ns : namespaces) {
            var labels = new LinkedHashMap<String, String>();
            labels.put(NETWORK_LABEL, cluster.network());
            if (!ns.equals("istio-system")) {
                labels.put("istio-injection", "enabled");
            }
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).withLabels(labels)
                    .endMetadata().build()).create();
        }

        Map<String, String> nodeLabels = new LinkedHashMap<>();
        nodeLabels.put("kubernetes.io/hostname", nodeName);
        nodeLabels.put("topology.kubernetes.io/region", cluster.region());
        nodeLabels.put("topology.kubernetes.io/zone", cluster.zone());
        if (!cluster.subzone().isEmpty()) {
            nodeLabels.put("topology.istio.io/subzone", cluster.subzone());
        }
        client.nodes().resource(new NodeBuilder().withNewMetadata().withName(nodeName).withLabels(nodeLabels)
                .endMetadata().withNewStatus().addNewAddress().withType("InternalIP")
                .withAddress(topology.controllerAddress(cluster.name())).endAddress().endStatus().build()).create();

        if (!cacerts.isEmpty()) {
            Map<String, String> secretData = new LinkedHashMap<>();
            cacerts.forEach((k, v) -> secretData.put(k,
                    Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
            client.secrets().inNamespace("istio-system").resource(new SecretBuilder().withNewMetadata()
                    .withName("cacerts").withNamespace("istio-system").endMetadata().withType("Opaque")
                    .withData(secretData).build()).create();
        }
        client.configMaps().inNamespace("istio-system").resource(new ConfigMapBuilder().withNewMetadata()
                .withName("isthmus-sa-issuer").withNamespace("istio-system").endMetadata()
                .withData(Map.of("issuer", issuer, "jwks.json", jwksJson)).build()).create();

        String gateway = topology.gatewayAddress(cluster.name());
        client.services().inNamespace("istio-system").resource(new ServiceBuilder().withNewMetadata()
                .withName(GATEWAY_SERVICE).withNamespace("istio-system")
                .withLabels(Map.of("istio", "eastwestgateway", "app", GATEWAY_SERVICE, NETWORK_LABEL, cluster.network()))
                .endMetadata()
                .withNewSpec().withType("LoadBalancer").withSelector(Map.of("istio", "eastwestgateway"))
                .withExternalIPs(gateway)
                .withPorts(new ServicePortBuilder().withName("tls").withPort(GATEWAY_PORT).withProtocol("TCP")
                        .withNewTargetPort(GATEWAY_PORT).build())
                .endSpec().build()).create();

        Set<String> serviceAccounts = new LinkedHashSet<>();
        Map<String, List<WorkloadSpec>> byService = new LinkedHashMap<>();
        for (WorkloadSpec w : workloads) {
            if (serviceAccounts.add(w.namespace() + '/' + w.serviceAccount())) {
                client.serviceAccounts().inNamespace(w.namespace()).resource(new ServiceAccountBuilder().withNewMetadata()
                        .withName(w.serviceAccount()).withNamespace(w.namespace()).endMetadata().build()).create();
            }
            writePod(client, topology, cluster, w, true);
            w.service().ifPresent(s -> byService.computeIfAbsent(w.namespace() + '/' + s, k -> new ArrayList<>()).add(w));
        }
        byService.forEach((key, members) -> writeService(client, topology, cluster, members, true));
    }

    /**
     * One more pod in a running cluster: its ServiceAccount if new, the Pod (Running; Ready only if
     * {@code ready}) and its endpoint in the service's EndpointSlice with the same readiness
     * (the Service and slice are created if this is the service's first pod in the cluster).
     */
    public static void writeWorkload(KubernetesClient client, Topology topology, ClusterSpec cluster, WorkloadSpec w,
            boolean ready) {
        if (client.namespaces().withName(w.namespace()).get() == null) {
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(w.namespace())
                    .withLabels(Map.of(NETWORK_LABEL, cluster.network(), "istio-injection", "enabled"))
                    .endMetadata().build()).create();
        }
        if (client.serviceAccounts().inNamespace(w.namespace()).withName(w.serviceAccount()).get() == null) {
            client.serviceAccounts().inNamespace(w.namespace()).resource(new ServiceAccountBuilder().withNewMetadata()
                    .withName(w.serviceAccount()).withNamespace(w.namespace()).endMetadata().build()).create();
        }
        writePod(client, topology, cluster, w, ready);
        if (w.service().isEmpty()) {
            return;
        }
        EndpointSlice slice = slice(client, cluster, w);
        if (slice == null) {
            writeService(client, topology, cluster, List.of(w), ready);
            return;
        }
        List<Endpoint> endpoints = new ArrayList<>(slice.getEndpoints());
        endpoints.removeIf(e -> e.getAddresses().contains(topology.podIp(w)));
        endpoints.add(endpoint(topology, cluster, w, ready));
        slice.setEndpoints(endpoints);
        client.resource(slice).update();
    }

    /**
     * The kubelet's readiness probe changed: the Pod's Ready and ContainersReady conditions and its
     * endpoint's {@code ready}/{@code serving} conditions in the service's EndpointSlice.
     */
    public static void setReady(KubernetesClient client, Topology topology, ClusterSpec cluster, WorkloadSpec w,
            boolean ready) {
        Pod pod = client.pods().inNamespace(w.namespace()).withName(topology.podName(w)).get();
        if (pod == null) {
            throw new IllegalArgumentException("workload: '" + w.name() + "' has no Pod " + w.namespace() + '/'
                    + topology.podName(w) + " in cluster " + cluster.name() + " (expected: a running workload)");
        }
        pod.setStatus(podStatus(topology, cluster, w, ready));
        client.pods().inNamespace(w.namespace()).resource(pod).updateStatus();
        if (w.service().isEmpty()) {
            return;
        }
        EndpointSlice slice = slice(client, cluster, w);
        if (slice == null) {
            throw new IllegalStateException("no EndpointSlice " + w.namespace() + '/' + sliceName(cluster, w)
                    + " in cluster " + cluster.name() + " for workload '" + w.name() + "'");
        }
        List<Endpoint> endpoints = new ArrayList<>();
        for (Endpoint e : slice.getEndpoints()) {
            endpoints.add(e.getAddresses().contains(topology.podIp(w)) ? endpoint(topology, cluster, w, ready) : e);
        }
        slice.setEndpoints(endpoints);
        client.resource(slice).update();
    }

    /** The pod is deleted: the Pod, and its endpoint from the service's EndpointSlice. */
    public static void deletePod(KubernetesClient client, Topology topology, ClusterSpec cluster, WorkloadSpec w) {
        client.pods().inNamespace(w.namespace()).withName(topology.podName(w)).delete();
        if (w.service().isEmpty()) {
            return;
        }
        EndpointSlice slice = slice(client, cluster, w);
        if (slice != null) {
            List<Endpoint> endpoints = new ArrayList<>(slice.getEndpoints());
            endpoints.removeIf(e -> e.getAddresses().contains(topology.podIp(w)));
            slice.setEndpoints(endpoints);
            client.resource(slice).update();
        }
    }

    private static EndpointSlice slice(KubernetesClient client, ClusterSpec cluster, WorkloadSpec w) {
        return client.resources(EndpointSlice.class).inNamespace(w.namespace()).withName(sliceName(cluster, w)).get();
    }

    private static String sliceName(ClusterSpec cluster, WorkloadSpec w) {
        return w.service().orElseThrow() + '-' + cluster.name();
    }

    /**
     * Writes the remote secret of {@code remoteCluster} into a primary's API server, as
     * {@code istioctl create-remote-secret} would: {@code istio-system/istio-remote-secret-<remote>},
     * labelled {@code istio/multiCluster=true}, annotated {@code networking.istio.io/cluster=<remote>},
     * the kubeconfig under the key {@code <remote>}.
     */
    public static void writeRemoteSecret(KubernetesClient primary, String remoteCluster, String kubeconfig) {
        primary.secrets().inNamespace("istio-system").resource(new SecretBuilder().withNewMetadata()
                .withName("istio-remote-secret-" + remoteCluster).withNamespace("istio-system")
                .withLabels(Map.of("istio/multiCluster", "true"))
                .withAnnotations(Map.of("networking.istio.io/cluster", remoteCluster))
                .endMetadata().withType("Opaque")
                .withData(Map.of(remoteCluster, Base64.getEncoder().encodeToString(
                        kubeconfig.getBytes(StandardCharsets.UTF_8))))
                .build()).create();
    }

    public static String nodeName(ClusterSpec cluster) {
        return cluster.name() + "-node-1";
    }

    private static PodStatus podStatus(Topology topology, ClusterSpec cluster, WorkloadSpec w, boolean ready) {
        String podIp = topology.podIp(w);
        String condition = ready ? "True" : "False";
        return new PodStatusBuilder()
                .withPhase("Running")
                .withPodIP(podIp)
                .addNewPodIP().withIp(podIp).endPodIP()
                .withHostIP(topology.controllerAddress(cluster.name()))
                .addNewCondition().withType("Ready").withStatus(condition).endCondition()
                .addNewCondition().withType("ContainersReady").withStatus(condition).endCondition()
                .build();
    }

    private static void writePod(KubernetesClient client, Topology topology, ClusterSpec cluster, WorkloadSpec w,
            boolean ready) {
        String podName = topology.podName(w);
        String podIp = topology.podIp(w);
        PodStatus status = podStatus(topology, cluster, w, ready);
        Pod pod = new PodBuilder()
                .withNewMetadata().withName(podName).withNamespace(w.namespace()).withLabels(w.labels())
                .addToAnnotations("sidecar.istio.io/status",
                        "{\"initContainers\":null,\"containers\":[\"istio-proxy\"],\"volumes\":null,\"imagePullSecrets\":null}")
                // Istio's merged metrics: Prometheus scrapes the sidecar on 15020.
                .addToAnnotations("prometheus.io/scrape", "true")
                .addToAnnotations("prometheus.io/port", "15020")
                .addToAnnotations("prometheus.io/path", "/stats/prometheus")
                .endMetadata()
                .withNewSpec().withServiceAccountName(w.serviceAccount()).withNodeName(nodeName(cluster))
                .addNewContainer().withName("app").withImage("isthmus/echo").endContainer()
                .addNewContainer().withName("istio-proxy").withImage("isthmus/proxy").endContainer()
                .endSpec()
                .withStatus(status)
                .build();
        Pod created = client.pods().inNamespace(w.namespace()).resource(pod).create();
        if (created.getStatus() == null || !podIp.equals(created.getStatus().getPodIP())) {
            created.setStatus(status);
            client.pods().inNamespace(w.namespace()).resource(created).updateStatus();
        }
    }

    private static void writeService(KubernetesClient client, Topology topology, ClusterSpec cluster,
            List<WorkloadSpec> members, boolean ready) {
        WorkloadSpec first = members.get(0);
        String service = first.service().orElseThrow();
        List<ServicePort> ports = new ArrayList<>();
        List<EndpointPort> slicePorts = new ArrayList<>();
        for (PortSpec p : first.ports()) {
            ports.add(new ServicePortBuilder().withName(p.name()).withPort(p.port()).withProtocol("TCP")
                    .withNewTargetPort(p.targetPort()).build());
            slicePorts.add(new EndpointPortBuilder().withName(p.name()).withPort(p.targetPort()).withProtocol("TCP").build());
        }
        client.services().inNamespace(first.namespace()).resource(new ServiceBuilder().withNewMetadata()
                .withName(service).withNamespace(first.namespace())
                .withLabels(Map.of("app", first.app(), "service", service)).endMetadata()
                .withNewSpec().withType("ClusterIP").withSelector(Map.of("app", first.app())).withPorts(ports).endSpec()
                .build()).create();
        List<Endpoint> endpoints = new ArrayList<>();
        for (WorkloadSpec w : members) {
            endpoints.add(endpoint(topology, cluster, w, ready));
        }
        client.resources(EndpointSlice.class).inNamespace(first.namespace())
                .resource(new EndpointSliceBuilder().withNewMetadata().withName(sliceName(cluster, first))
                        .withNamespace(first.namespace())
                        .withLabels(Map.of("kubernetes.io/service-name", service,
                                "endpointslice.kubernetes.io/managed-by", "isthmus-launcher"))
                        .endMetadata()
                        .withAddressType("IPv4").withEndpoints(endpoints).withPorts(slicePorts).build())
                .create();
    }

    private static Endpoint endpoint(Topology topology, ClusterSpec cluster, WorkloadSpec w, boolean ready) {
        return new EndpointBuilder()
                .withAddresses(topology.podIp(w))
                .withNewConditions().withReady(ready).withServing(ready).withTerminating(false).endConditions()
                .withNewTargetRef().withKind("Pod").withName(topology.podName(w)).withNamespace(w.namespace())
                .endTargetRef()
                .withNodeName(nodeName(cluster))
                .withZone(cluster.zone())
                .build();
    }
}
