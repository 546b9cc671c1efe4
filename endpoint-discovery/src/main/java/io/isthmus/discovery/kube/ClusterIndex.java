package io.isthmus.discovery.kube;

import static io.isthmus.discovery.kube.KubeConventions.labels;
import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.ObjectReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.kube.IstioWorkloads.ServiceEntryInfo;
import io.isthmus.discovery.kube.IstioWorkloads.WorkloadInfo;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The queue thread's picture of one cluster: the last good parsed form of every object the
 * informers delivered, and the {@link ClusterState} it adds up to. Not thread-safe: one thread
 * applies events and builds.
 *
 * <p>Each object is validated on its own when its event arrives. A malformed one is reported to
 * the {@link RejectionListener} (once per resourceVersion) and the last good version of it, if
 * any, stays in place, so one bad object never blanks the cluster.
 */
final class ClusterIndex {

    /** Told about every object (or part of one) that discovery skips. */
    @FunctionalInterface
    interface RejectionListener {
        void rejected(String kind, String object, String reason, String detail);
    }

    private static final String KIND_SERVICE = "Service";
    private static final String KIND_SLICE = "EndpointSlice";
    private static final String KIND_POD = "Pod";
    private static final String KIND_NODE = "Node";

    private final String cluster;
    private final String defaultNetwork;
    private final RejectionListener rejections;

    private final Map<ServiceKey, MeshService> services = new HashMap<>();
    private final Map<ServiceKey, NetworkGateway> gateways = new HashMap<>();
    private final Map<String, ParsedSlice> slices = new HashMap<>();
    private final Map<String, PodInfo> pods = new HashMap<>();
    private final Map<String, Locality> nodes = new HashMap<>();
    private final Map<String, String> namespaceNetworks = new HashMap<>();
    private final Map<String, ServiceEntryInfo> serviceEntries = new HashMap<>();
    private final Map<String, WorkloadEntryInfo> workloadEntries = new HashMap<>();
    /** The services this cluster exports to the clusterset (ServiceExport), by ServiceExport name. */
    private final Map<String, ServiceKey> serviceExports = new HashMap<>();
    private final Map<String, MultiClusterServices.ServiceImportInfo> serviceImports = new HashMap<>();
    /** kind/namespace/name → resourceVersion last reported, so a resync does not count twice. */
    private final Map<String, String> reported = new HashMap<>();

    private final String domainSuffix;

    ClusterIndex(String cluster, String defaultNetwork, String domainSuffix, RejectionListener rejections) {
        this.cluster = requireNonNull(cluster, "cluster");
        this.defaultNetwork = requireNonNull(defaultNetwork, "defaultNetwork");
        this.domainSuffix = requireNonNull(domainSuffix, "domainSuffix");
        this.rejections = requireNonNull(rejections, "rejections");
    }

    void apply(ClusterEvent event) {
        requireNonNull(event, "event");
        if (event instanceof ClusterEvent.ServiceUpserted e) {
            upsertService(e.service());
        } else if (event instanceof ClusterEvent.ServiceDeleted e) {
            ServiceKey key = serviceKey(e.service());
            if (key != null) {
                services.remove(key);
                gateways.remove(key);
            }
        } else if (event instanceof ClusterEvent.EndpointSliceUpserted e) {
            upsertSlice(e.slice());
        } else if (event instanceof ClusterEvent.EndpointSliceDeleted e) {
            slices.remove(objectName(e.slice()));
        } else if (event instanceof ClusterEvent.PodUpserted e) {
            upsertPod(e.pod());
        } else if (event instanceof ClusterEvent.PodDeleted e) {
            pods.remove(objectName(e.pod()));
        } else if (event instanceof ClusterEvent.NodeUpserted e) {
            upsertNode(e.node());
        } else if (event instanceof ClusterEvent.NodeDeleted e) {
            nodes.remove(e.node().getMetadata().getName());
        } else if (event instanceof ClusterEvent.NamespaceUpserted e) {
            upsertNamespace(e.namespace());
        } else if (event instanceof ClusterEvent.NamespaceDeleted e) {
            namespaceNetworks.remove(e.namespace().getMetadata().getName());
        } else if (event instanceof ClusterEvent.IstioObjectUpserted e) {
            upsertIstioObject(e.kind(), e.object());
        } else if (event instanceof ClusterEvent.IstioObjectDeleted e) {
            (e.kind().equals(IstioWorkloads.KIND_SERVICE_ENTRY) ? serviceEntries : workloadEntries)
                    .remove(objectName(e.object()));
        } else if (event instanceof ClusterEvent.McsObjectUpserted e) {
            upsertMcsObject(e.kind(), e.object());
        } else if (event instanceof ClusterEvent.McsObjectDeleted e) {
            (e.kind().equals(MultiClusterServices.KIND_SERVICE_EXPORT) ? serviceExports : serviceImports)
                    .remove(objectName(e.object()));
        } else if (event instanceof ClusterEvent.InformersSynced e) {
            reconcile(e);
        } else {
            throw new IllegalArgumentException("event: " + event + " (expected: a known ClusterEvent)");
        }
    }

    /** The cluster as a canonical snapshot: equal object sets give equal states. */
    ClusterState build() {
        Set<ServiceKey> exported = new HashSet<>(serviceExports.values());
        List<MeshService> serviceList = new ArrayList<>();
        for (MeshService service : services.values()) {
            serviceList.add(service.withClusterSetExport(exported.contains(service.key())));
        }
        serviceList.sort(Comparator.comparing(MeshService::key));
        List<NetworkGateway> gatewayList = new ArrayList<>(gateways.values());
        gatewayList.sort(Comparator.comparing(NetworkGateway::network)
                .thenComparing(NetworkGateway::address)
                .thenComparingInt(NetworkGateway::port));

        // (service, address) → endpoint: a pod appears in one slice per port set, so merge them.
        TreeMap<String, TreeMap<String, Endpoint>> endpoints = new TreeMap<>();
        List<String> sliceNames = new ArrayList<>(slices.keySet());
        sliceNames.sort(null);
        for (String sliceName : sliceNames) {
            ParsedSlice slice = slices.get(sliceName);
            if (!services.containsKey(slice.service())) {
                continue;
            }
            for (SliceEndpoint sliceEndpoint : slice.endpoints()) {
                Endpoint endpoint = toEndpoint(slice, sliceEndpoint);
                if (endpoint == null) {
                    continue;
                }
                endpoints.computeIfAbsent(slice.service().toString(), k -> new TreeMap<>())
                        .merge(endpoint.address(), endpoint, ClusterIndex::mergeEndpoints);
            }
        }
        addServiceEntries(serviceList, endpoints);
        List<Endpoint> endpointList = new ArrayList<>();
        endpoints.values().forEach(byAddress -> endpointList.addAll(byAddress.values()));
        return new ClusterState(cluster, defaultNetwork, serviceList, endpointList, gatewayList);
    }

    private Endpoint toEndpoint(ParsedSlice slice, SliceEndpoint sliceEndpoint) {
        PodInfo pod = null;
        if (sliceEndpoint.podName() != null) {
            pod = pods.get(sliceEndpoint.podNamespace() + '/' + sliceEndpoint.podName());
            if (pod == null) {
                // Its identity is unknown until the pod arrives; the pod's event rebuilds the state.
                return null;
            }
        }
        String nodeName = pod != null && pod.nodeName() != null ? pod.nodeName() : sliceEndpoint.nodeName();
        Locality nodeLocality = nodeName == null ? null : nodes.get(nodeName);
        Locality locality = KubeConventions.endpointLocality(
                pod != null ? pod.localityOverride() : Optional.empty(), nodeLocality, sliceEndpoint.zone());
        Map<String, String> podLabels = pod != null ? pod.labels() : Map.of();
        String namespace = pod != null ? pod.namespace() : slice.service().namespace();
        String network = KubeConventions.networkOf(podLabels, namespaceNetworks.get(namespace), defaultNetwork);
        return new Endpoint(
                slice.service(),
                sliceEndpoint.address(),
                slice.ports(),
                sliceEndpoint.ready(),
                locality,
                cluster,
                network,
                pod != null ? pod.serviceAccount() : "default",
                pod != null ? pod.name() : "",
                podLabels);
    }

    /**
     * Each host of a ServiceEntry becomes a service of this cluster, served by the entry's inline
     * endpoints or by the WorkloadEntries and pods of its namespace that its selector matches. A
     * host that a Service or an older entry already defines here is left to that one.
     */
    private void addServiceEntries(List<MeshService> serviceList, TreeMap<String, TreeMap<String, Endpoint>> endpoints) {
        List<String> names = new ArrayList<>(serviceEntries.keySet());
        names.sort(null);
        Set<String> hostnames = new HashSet<>();
        serviceList.forEach(service -> hostnames.add(service.hostname()));
        List<MeshService> added = new ArrayList<>();
        for (String name : names) {
            ServiceEntryInfo entry = serviceEntries.get(name);
            List<Endpoint> workloads = new ArrayList<>();
            for (String host : entry.hosts()) {
                if (!hostnames.add(host)) {
                    continue;
                }
                ServiceKey key = new ServiceKey(entry.namespace(), host);
                added.add(new MeshService(key, host, entry.ports(), Map.of(), entry.exportTo(), false, false,
                        entry.addresses()));
                for (WorkloadInfo workload : entry.endpoints()) {
                    workloads.add(workloadEndpoint(key, entry, workload));
                }
                if (entry.selector().isPresent()) {
                    for (WorkloadEntryInfo we : workloadEntries.values()) {
                        if (we.namespace().equals(entry.namespace()) && entry.selects(we.workload().labels())) {
                            workloads.add(workloadEndpoint(key, entry, we.workload()));
                        }
                    }
                    for (PodInfo pod : pods.values()) {
                        if (pod.ip() != null && pod.namespace().equals(entry.namespace())
                                && entry.selects(pod.labels())) {
                            workloads.add(podEndpoint(key, entry, pod));
                        }
                    }
                }
            }
            for (Endpoint endpoint : workloads) {
                endpoints.computeIfAbsent(endpoint.service().toString(), k -> new TreeMap<>())
                        .merge(endpoint.address(), endpoint, ClusterIndex::mergeEndpoints);
            }
        }
        added.sort(Comparator.comparing(MeshService::key));
        serviceList.addAll(added);
        serviceList.sort(Comparator.comparing(MeshService::key));
    }

    private Endpoint workloadEndpoint(ServiceKey key, ServiceEntryInfo entry, WorkloadInfo workload) {
        return new Endpoint(
                key,
                workload.address(),
                entryPorts(entry, workload.ports()),
                true,
                workload.locality().orElse(Locality.UNKNOWN),
                cluster,
                workload.network().orElseGet(() -> KubeConventions.networkOf(
                        workload.labels(), namespaceNetworks.get(entry.namespace()), defaultNetwork)),
                workload.serviceAccount(),
                workload.name(),
                workload.labels());
    }

    private Endpoint podEndpoint(ServiceKey key, ServiceEntryInfo entry, PodInfo pod) {
        Locality nodeLocality = pod.nodeName() == null ? null : nodes.get(pod.nodeName());
        return new Endpoint(
                key,
                pod.ip(),
                entryPorts(entry, Map.of()),
                pod.ready(),
                KubeConventions.endpointLocality(pod.localityOverride(), nodeLocality, null),
                cluster,
                KubeConventions.networkOf(pod.labels(), namespaceNetworks.get(pod.namespace()), defaultNetwork),
                pod.serviceAccount(),
                pod.name(),
                pod.labels());
    }

    /** Service port name → the workload's port: its own mapping, else the entry's target port. */
    private static Map<String, Integer> entryPorts(ServiceEntryInfo entry, Map<String, Integer> workloadPorts) {
        Map<String, Integer> ports = new TreeMap<>();
        for (ServicePort port : entry.ports()) {
            ports.put(port.name(), workloadPorts.getOrDefault(port.name(), port.targetPort()));
        }
        return ports;
    }

    private void upsertIstioObject(String kind, GenericKubernetesResource object) {
        String name = objectName(object);
        try {
            if (kind.equals(IstioWorkloads.KIND_SERVICE_ENTRY)) {
                serviceEntries.put(name, IstioWorkloads.serviceEntry(object));
            } else {
                workloadEntries.put(name, new WorkloadEntryInfo(object.getMetadata().getNamespace(),
                        IstioWorkloads.workloadEntry(object)));
            }
            accepted(kind, object);
        } catch (IstioWorkloads.NotDiscovered e) {
            // The controller's translation routes it from the configuration; an older version that
            // discovery made a mesh service must not linger.
            serviceEntries.remove(name);
            accepted(kind, object);
        } catch (IstioWorkloads.Unsupported e) {
            // Well-formed but not routed: an older version that was routed must not linger.
            serviceEntries.remove(name);
            reject(kind, object, "unsupported", e.getMessage());
        } catch (IllegalArgumentException e) {
            reject(kind, object, "invalid", e.getMessage() + "; keeping its last good version, if any");
        }
    }

    /** The ServiceImports of this cluster, by namespace/name: what an MCS controller wrote here. */
    Map<String, MultiClusterServices.ServiceImportInfo> serviceImports() {
        return Map.copyOf(serviceImports);
    }

    private void upsertMcsObject(String kind, GenericKubernetesResource object) {
        String name = objectName(object);
        try {
            if (kind.equals(MultiClusterServices.KIND_SERVICE_EXPORT)) {
                serviceExports.put(name, MultiClusterServices.serviceExport(object));
            } else {
                serviceImports.put(name, MultiClusterServices.serviceImport(object));
            }
            accepted(kind, object);
        } catch (IllegalArgumentException e) {
            reject(kind, object, "invalid", e.getMessage() + "; keeping its last good version, if any");
        }
    }

    private static Endpoint mergeEndpoints(Endpoint a, Endpoint b) {
        Map<String, Integer> ports = new TreeMap<>(b.ports());
        ports.putAll(a.ports());
        return new Endpoint(a.service(), a.address(), ports, a.ready() || b.ready(), a.locality(), a.cluster(),
                a.network(), a.serviceAccount(), a.workload(), a.labels());
    }

    private void upsertService(Service service) {
        ServiceKey key = serviceKey(service);
        if (key == null) {
            reject(KIND_SERVICE, service, "invalid-name", "metadata.namespace and metadata.name are required");
            return;
        }
        Map<String, String> serviceLabels = labels(service.getMetadata().getLabels());
        boolean isGateway = serviceLabels.containsKey(KubeConventions.LABEL_NETWORK);
        if (!isGateway && (key.namespace().equals("kube-system")
                || (key.namespace().equals("default") && key.name().equals("kubernetes")))) {
            return;
        }
        if (isGateway) {
            NetworkGateway gateway;
            try {
                gateway = KubeConventions.gatewayOf(service, cluster);
            } catch (IllegalArgumentException e) {
                reject(KIND_SERVICE, service, "invalid-gateway", e.getMessage());
                return;
            }
            accepted(KIND_SERVICE, service);
            services.remove(key);
            gateways.put(key, gateway);
            return;
        }
        MeshService parsed;
        try {
            parsed = parseService(key, service);
        } catch (IllegalArgumentException e) {
            reject(KIND_SERVICE, service, e instanceof NoPortsException ? "no-ports" : "invalid-port", e.getMessage());
            return;
        }
        accepted(KIND_SERVICE, service);
        gateways.remove(key);
        services.put(key, parsed);
    }

    private MeshService parseService(ServiceKey key, Service service) {
        if (service.getSpec() == null || service.getSpec().getPorts() == null
                || service.getSpec().getPorts().isEmpty()) {
            throw new NoPortsException();
        }
        Map<Integer, ServicePort> ports = new TreeMap<>();
        for (io.fabric8.kubernetes.api.model.ServicePort port : service.getSpec().getPorts()) {
            Integer number = port.getPort();
            if (number == null || number < 1 || number > 65535) {
                throw new IllegalArgumentException("port " + port.getName() + ": " + number + " (expected: 1-65535)");
            }
            String name = port.getName() == null ? "" : port.getName();
            ports.put(number, new ServicePort(name, number, targetPort(port.getTargetPort(), number),
                    KubeConventions.protocolOf(number, name, port.getAppProtocol(), port.getProtocol())));
        }
        Map<String, String> annotations = labels(service.getMetadata().getAnnotations());
        return new MeshService(
                key,
                key.hostname(domainSuffix),
                List.copyOf(ports.values()),
                labels(service.getMetadata().getLabels()),
                KubeConventions.exportTo(annotations.get(KubeConventions.ANNOTATION_EXPORT_TO)),
                "None".equals(service.getSpec().getClusterIP()),
                false,
                clusterIps(service));
    }

    /** {@code spec.clusterIPs} (dual stack), else {@code spec.clusterIP}; none for headless or unassigned. */
    private static List<String> clusterIps(Service service) {
        List<String> ips = new ArrayList<>();
        List<String> listed = service.getSpec().getClusterIPs();
        if (listed != null && !listed.isEmpty()) {
            ips.addAll(listed);
        } else if (service.getSpec().getClusterIP() != null) {
            ips.add(service.getSpec().getClusterIP());
        }
        ips.removeIf(ip -> ip == null || !KubeConventions.isIpAddress(ip.trim()));
        return List.copyOf(ips);
    }

    /** A named target port is resolved per endpoint by the slice; the service port stands in for it. */
    private static int targetPort(IntOrString target, int port) {
        if (target == null) {
            return port;
        }
        Integer value = target.getIntVal();
        if (value == null && target.getStrVal() != null && target.getStrVal().matches("\\d{1,5}")) {
            value = Integer.parseInt(target.getStrVal());
        }
        if (value == null) {
            return port;
        }
        if (value < 1 || value > 65535) {
            throw new IllegalArgumentException("targetPort: " + value + " (expected: 1-65535)");
        }
        return value;
    }

    private void upsertSlice(EndpointSlice slice) {
        String name = objectName(slice);
        String namespace = slice.getMetadata().getNamespace();
        String serviceName = labels(slice.getMetadata().getLabels()).get(KubeConventions.LABEL_SERVICE_NAME);
        if (namespace == null || namespace.isEmpty() || serviceName == null || serviceName.isEmpty()) {
            reject(KIND_SLICE, slice, "no-service-name",
                    "label " + KubeConventions.LABEL_SERVICE_NAME + " and a namespace are required");
            return;
        }
        String addressType = slice.getAddressType();
        if (addressType != null && !addressType.equals("IPv4") && !addressType.equals("IPv6")) {
            reject(KIND_SLICE, slice, "unsupported-address-type",
                    "addressType: " + addressType + " (expected: IPv4 or IPv6)");
            return;
        }
        Map<String, Integer> ports = new TreeMap<>();
        if (slice.getPorts() != null) {
            for (EndpointPort port : slice.getPorts()) {
                if (port.getPort() != null && port.getPort() >= 1 && port.getPort() <= 65535) {
                    ports.put(port.getName() == null ? "" : port.getName(), port.getPort());
                }
            }
        }
        List<SliceEndpoint> endpoints = new ArrayList<>();
        List<String> badAddresses = new ArrayList<>();
        if (slice.getEndpoints() != null) {
            for (io.fabric8.kubernetes.api.model.discovery.v1.Endpoint endpoint : slice.getEndpoints()) {
                List<String> addresses = endpoint.getAddresses();
                // Consumers use the first address: Kubernetes writes one per endpoint.
                String address = addresses == null || addresses.isEmpty() || addresses.get(0) == null
                        ? "" : addresses.get(0).trim();
                if (!KubeConventions.isIpAddress(address)) {
                    badAddresses.add("'" + address + "'");
                    continue;
                }
                boolean ready = endpoint.getConditions() == null
                        || !Boolean.FALSE.equals(endpoint.getConditions().getReady());
                ObjectReference ref = endpoint.getTargetRef();
                boolean isPod = ref != null && "Pod".equals(ref.getKind()) && ref.getName() != null;
                endpoints.add(new SliceEndpoint(
                        address,
                        ready,
                        isPod ? (ref.getNamespace() != null ? ref.getNamespace() : namespace) : null,
                        isPod ? ref.getName() : null,
                        endpoint.getNodeName(),
                        endpoint.getZone()));
            }
        }
        if (!badAddresses.isEmpty()) {
            reject(KIND_SLICE, slice, "invalid-address", "addresses " + badAddresses
                    + " (expected: IP literals); skipped those endpoints, kept " + endpoints.size());
        } else {
            accepted(KIND_SLICE, slice);
        }
        slices.put(name, new ParsedSlice(new ServiceKey(namespace, serviceName), Map.copyOf(ports),
                List.copyOf(endpoints)));
    }

    private void upsertPod(Pod pod) {
        String namespace = pod.getMetadata().getNamespace();
        String name = pod.getMetadata().getName();
        if (namespace == null || name == null) {
            reject(KIND_POD, pod, "invalid-name", "metadata.namespace and metadata.name are required");
            return;
        }
        Map<String, String> podLabels = labels(pod.getMetadata().getLabels());
        Optional<Locality> override;
        try {
            override = KubeConventions.localityOverride(podLabels);
            accepted(KIND_POD, pod);
        } catch (IllegalArgumentException e) {
            // The pod still serves; only its label is ignored, so its endpoints fall back to the node.
            reject(KIND_POD, pod, "invalid-locality", e.getMessage() + "; using the node's locality");
            override = Optional.empty();
        }
        String serviceAccount = "default";
        String nodeName = null;
        if (pod.getSpec() != null) {
            if (notBlank(pod.getSpec().getServiceAccountName())) {
                serviceAccount = pod.getSpec().getServiceAccountName();
            } else if (notBlank(pod.getSpec().getServiceAccount())) {
                serviceAccount = pod.getSpec().getServiceAccount();
            }
            nodeName = pod.getSpec().getNodeName();
        }
        String ip = null;
        boolean ready = false;
        if (pod.getStatus() != null) {
            String podIp = pod.getStatus().getPodIP();
            ip = podIp != null && KubeConventions.isIpAddress(podIp) ? podIp : null;
            ready = pod.getStatus().getConditions() != null && pod.getStatus().getConditions().stream()
                    .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
        }
        pods.put(namespace + '/' + name,
                new PodInfo(namespace, name, serviceAccount, podLabels, override, nodeName, ip, ready));
    }

    private void upsertNode(Node node) {
        String name = node.getMetadata().getName();
        if (name == null) {
            return;
        }
        Locality locality;
        try {
            locality = KubeConventions.nodeLocality(labels(node.getMetadata().getLabels()));
            accepted(KIND_NODE, node);
        } catch (IllegalArgumentException e) {
            reject(KIND_NODE, node, "invalid-locality", e.getMessage() + "; treating its locality as unknown");
            locality = Locality.UNKNOWN;
        }
        nodes.put(name, locality);
    }

    private void upsertNamespace(Namespace namespace) {
        String name = namespace.getMetadata().getName();
        if (name == null) {
            return;
        }
        String network = labels(namespace.getMetadata().getLabels()).get(KubeConventions.LABEL_NETWORK);
        if (network == null || network.isBlank()) {
            namespaceNetworks.remove(name);
        } else {
            namespaceNetworks.put(name, network.trim());
        }
    }

    /** Replaces the picture with the informers' caches; anything absent there was deleted. */
    private void reconcile(ClusterEvent.InformersSynced synced) {
        Set<ServiceKey> serviceKeys = new HashSet<>();
        for (Service service : synced.services()) {
            upsertService(service);
            ServiceKey key = serviceKey(service);
            if (key != null) {
                serviceKeys.add(key);
            }
        }
        services.keySet().retainAll(serviceKeys);
        gateways.keySet().retainAll(serviceKeys);

        Set<String> sliceNames = new HashSet<>();
        for (EndpointSlice slice : synced.slices()) {
            upsertSlice(slice);
            sliceNames.add(objectName(slice));
        }
        slices.keySet().retainAll(sliceNames);

        Set<String> podNames = new HashSet<>();
        for (Pod pod : synced.pods()) {
            upsertPod(pod);
            podNames.add(objectName(pod));
        }
        pods.keySet().retainAll(podNames);

        Set<String> nodeNames = new HashSet<>();
        for (Node node : synced.nodes()) {
            upsertNode(node);
            nodeNames.add(node.getMetadata().getName());
        }
        nodes.keySet().retainAll(nodeNames);

        Set<String> namespaceNames = new HashSet<>();
        for (Namespace namespace : synced.namespaces()) {
            upsertNamespace(namespace);
            namespaceNames.add(namespace.getMetadata().getName());
        }
        namespaceNetworks.keySet().retainAll(namespaceNames);

        Set<String> entryNames = new HashSet<>();
        for (GenericKubernetesResource entry : synced.serviceEntries()) {
            upsertIstioObject(IstioWorkloads.KIND_SERVICE_ENTRY, entry);
            entryNames.add(objectName(entry));
        }
        serviceEntries.keySet().retainAll(entryNames);

        Set<String> workloadNames = new HashSet<>();
        for (GenericKubernetesResource workload : synced.workloadEntries()) {
            upsertIstioObject(IstioWorkloads.KIND_WORKLOAD_ENTRY, workload);
            workloadNames.add(objectName(workload));
        }
        workloadEntries.keySet().retainAll(workloadNames);

        Set<String> exportNames = new HashSet<>();
        for (GenericKubernetesResource export : synced.serviceExports()) {
            upsertMcsObject(MultiClusterServices.KIND_SERVICE_EXPORT, export);
            exportNames.add(objectName(export));
        }
        serviceExports.keySet().retainAll(exportNames);

        Set<String> importNames = new HashSet<>();
        for (GenericKubernetesResource serviceImport : synced.serviceImports()) {
            upsertMcsObject(MultiClusterServices.KIND_SERVICE_IMPORT, serviceImport);
            importNames.add(objectName(serviceImport));
        }
        serviceImports.keySet().retainAll(importNames);
    }

    private void reject(String kind, HasMetadata object, String reason, String detail) {
        String name = objectName(object);
        String version = object.getMetadata() == null ? null : object.getMetadata().getResourceVersion();
        String key = kind + '/' + name + '/' + reason;
        if (version != null && version.equals(reported.get(key))) {
            return;
        }
        reported.put(key, version == null ? "" : version);
        rejections.rejected(kind, name, reason, detail);
    }

    private void accepted(String kind, HasMetadata object) {
        String prefix = kind + '/' + objectName(object) + '/';
        if (!reported.isEmpty()) {
            reported.keySet().removeIf(k -> k.startsWith(prefix));
        }
    }

    private static ServiceKey serviceKey(Service service) {
        String namespace = service.getMetadata() == null ? null : service.getMetadata().getNamespace();
        String name = service.getMetadata() == null ? null : service.getMetadata().getName();
        if (namespace == null || namespace.isEmpty() || name == null || name.isEmpty()) {
            return null;
        }
        return new ServiceKey(namespace, name);
    }

    private static String objectName(HasMetadata object) {
        if (object.getMetadata() == null) {
            return "?";
        }
        String namespace = object.getMetadata().getNamespace();
        String name = String.valueOf(object.getMetadata().getName());
        return namespace == null || namespace.isEmpty() ? name : namespace + '/' + name;
    }

    private static boolean notBlank(String value) {
        return value != null && !value.isBlank();
    }

    private static final class NoPortsException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        NoPortsException() {
            super("spec.ports: none (expected: at least one port)");
        }
    }

    private record ParsedSlice(ServiceKey service, Map<String, Integer> ports, List<SliceEndpoint> endpoints) {
    }

    /** {@code podName} is null when the endpoint is not backed by a Pod. */
    private record SliceEndpoint(
            String address, boolean ready, String podNamespace, String podName, String nodeName, String zone) {
    }

    private record PodInfo(
            String namespace,
            String name,
            String serviceAccount,
            Map<String, String> labels,
            Optional<Locality> localityOverride,
            String nodeName,
            String ip,
            boolean ready) {
    }

    private record WorkloadEntryInfo(String namespace, WorkloadInfo workload) {
    }
}
