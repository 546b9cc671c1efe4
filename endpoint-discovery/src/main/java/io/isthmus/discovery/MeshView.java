package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The mesh as one viewpoint sees it: every cluster's {@link ClusterState} merged into one
 * {@link ServiceView} per service host, with endpoints on another network replaced by that
 * network's east-west gateway.
 *
 * <p>Pure and deterministic: no I/O, no clock, and equal inputs give equal outputs whatever the
 * iteration order of the input maps (clusters are visited in name order, every list is sorted).
 * Instances are immutable and safe to share between threads.
 *
 * <p>Merge rules:
 * <ul>
 *   <li>A service defined in several clusters is one host; its ports merge by port number, and
 *       the first cluster in name order wins a conflict (name, target port or protocol
 *       differ). Conflicts are reported by {@link #conflicts()}.</li>
 *   <li>Endpoints on the viewer's network are dialled directly at the pod address and the
 *       endpoint's own port for the service port name (the target port when the endpoint does
 *       not name it), identity {@code spiffe://<trustDomain>/ns/<ns>/sa/<sa>}, weight 1.
 *       Not-ready ones are kept with {@code healthy=false}.</li>
 *   <li>Endpoints on another network become one gateway entry per (network, cluster, locality),
 *       weighted by the number of ready endpoints it stands for. Not-ready remote endpoints are
 *       left out: the viewer cannot health-check them through the gateway.
 *       The gateway is the one the endpoint's own cluster publishes for that network, else the
 *       first in (cluster, address, port) order. Without any gateway the endpoints are dropped
 *       and counted by {@link #droppedNoGateway()}.</li>
 *   <li>Headless services are not aggregated: a remote endpoint becomes its own gateway entry
 *       (weight 1) that keeps the pod's identity and workload name.</li>
 *   <li>Endpoints are looked up by their own cluster's definition of the port (its name may
 *       differ from the merged one); a cluster whose definition lacks the port contributes
 *       none for it.</li>
 *   <li>{@code exportTo}: a host is visible from a namespace when any defining cluster exports
 *       it there ({@code *}, the namespace itself, or {@code .} for the service's own
 *       namespace); see {@link #visibleFrom(String)}.</li>
 *   <li>Cluster-local hosts ({@link ClusterLocalHosts}, by default {@code kubernetes.default} and
 *       {@code kube-system}) take only the viewer's own cluster's definition and endpoints.</li>
 *   <li>Multi-cluster services (KEP-1645): a Kubernetes service that some cluster exports
 *       ({@link MeshService#clusterSetExport()}) is also the host
 *       {@code <name>.<ns>.svc.clusterset.local}, defined by and served from exactly the
 *       exporting clusters. The {@code cluster.local} host keeps every cluster's endpoints,
 *       unless {@link MeshViewOptions#mcsClusterLocal()} keeps it to the viewer's cluster.</li>
 * </ul>
 */
public final class MeshView {

    private static final Comparator<MeshEndpoint> ENDPOINT_ORDER = Comparator
            .comparing(MeshEndpoint::viaGateway)
            .thenComparing(MeshEndpoint::cluster)
            .thenComparing(MeshEndpoint::network)
            .thenComparing(MeshEndpoint::locality)
            .thenComparing(MeshEndpoint::address)
            .thenComparingInt(MeshEndpoint::port)
            .thenComparing(MeshEndpoint::workload)
            .thenComparing(MeshEndpoint::identity)
            .thenComparing(MeshEndpoint::healthy)
            .thenComparingInt(MeshEndpoint::weight);

    private static final Comparator<NetworkGateway> GATEWAY_ORDER = Comparator
            .comparing(NetworkGateway::network)
            .thenComparing(NetworkGateway::cluster)
            .thenComparing(NetworkGateway::address)
            .thenComparingInt(NetworkGateway::port);

    private final Viewpoint viewpoint;
    private final long appliedIndex;
    private final List<ServiceView> services;
    private final Map<String, ServiceView> byHostname;
    private final Map<String, Set<String>> exportToByHostname;
    private final Map<String, List<NetworkGateway>> gatewaysByNetwork;
    private final List<String> conflicts;
    private final int droppedNoGateway;

    private MeshView(
            Viewpoint viewpoint,
            long appliedIndex,
            List<ServiceView> services,
            Map<String, Set<String>> exportToByHostname,
            Map<String, List<NetworkGateway>> gatewaysByNetwork,
            List<String> conflicts,
            int droppedNoGateway) {
        this.viewpoint = viewpoint;
        this.appliedIndex = appliedIndex;
        this.services = List.copyOf(services);
        Map<String, ServiceView> index = new LinkedHashMap<>();
        for (ServiceView view : this.services) {
            index.put(view.hostname(), view);
        }
        this.byHostname = index;
        this.exportToByHostname = Map.copyOf(exportToByHostname);
        this.gatewaysByNetwork = Map.copyOf(gatewaysByNetwork);
        this.conflicts = List.copyOf(conflicts);
        this.droppedNoGateway = droppedNoGateway;
    }

    /**
     * Merges {@code state} as seen from {@code viewpoint}.
     *
     * @param domainSuffix the cluster domain that forms host names, e.g. {@code cluster.local}
     * @param trustDomain  the SPIFFE trust domain of workload identities, e.g. {@code cluster.local}
     */
    public static MeshView of(FederatedState state, Viewpoint viewpoint, String domainSuffix, String trustDomain) {
        requireNonNull(domainSuffix, "domainSuffix");
        return of(state, viewpoint, domainSuffix, trustDomain, ClusterLocalHosts.defaults(domainSuffix));
    }

    /** Merges {@code state} as seen from {@code viewpoint}, with {@code clusterLocal} hosts kept to its cluster. */
    public static MeshView of(FederatedState state, Viewpoint viewpoint, String domainSuffix, String trustDomain,
            ClusterLocalHosts clusterLocal) {
        return of(state, viewpoint, new MeshViewOptions(domainSuffix, trustDomain, clusterLocal, false));
    }

    /** Merges {@code state} as seen from {@code viewpoint} under {@code options}. */
    public static MeshView of(FederatedState state, Viewpoint viewpoint, MeshViewOptions options) {
        requireNonNull(state, "state");
        requireNonNull(viewpoint, "viewpoint");
        requireNonNull(options, "options");
        return new Merger(state, viewpoint, options).merge();
    }

    /** The SPIFFE identity of a Kubernetes service account: {@code spiffe://<td>/ns/<ns>/sa/<sa>}. */
    public static String spiffeId(String trustDomain, String namespace, String serviceAccount) {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(namespace, "namespace");
        requireNonNull(serviceAccount, "serviceAccount");
        return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    public Viewpoint viewpoint() {
        return viewpoint;
    }

    /** The federation log index of the state this view was built from. */
    public long appliedIndex() {
        return appliedIndex;
    }

    /** Every mesh host, sorted by host name, regardless of {@code exportTo}. */
    public List<ServiceView> services() {
        return services;
    }

    /** The hosts a proxy in {@code namespace} may see, sorted by host name. */
    public List<ServiceView> visibleFrom(String namespace) {
        requireNonNull(namespace, "namespace");
        List<ServiceView> visible = new ArrayList<>();
        for (ServiceView view : services) {
            if (isVisible(view, namespace)) {
                visible.add(view);
            }
        }
        return List.copyOf(visible);
    }

    /** Whether {@code hostname} exists and is exported to {@code namespace}. */
    public boolean isVisibleFrom(String hostname, String namespace) {
        requireNonNull(hostname, "hostname");
        requireNonNull(namespace, "namespace");
        ServiceView view = byHostname.get(hostname);
        return view != null && isVisible(view, namespace);
    }

    /**
     * The services exported to the mesh at all: visible from some namespace (an {@code exportTo}
     * other than {@code ~} alone). What an east-west gateway may relay to.
     */
    public List<ServiceView> exportedToMesh() {
        List<ServiceView> exported = new ArrayList<>();
        for (ServiceView view : services) {
            Set<String> exportTo = exportToByHostname.getOrDefault(view.hostname(), Set.of("*"));
            if (!exportTo.isEmpty() && !exportTo.equals(Set.of("~"))) {
                exported.add(view);
            }
        }
        return List.copyOf(exported);
    }

    /** The union of {@code exportTo} over the clusters that define {@code hostname}; empty if unknown. */
    public Set<String> exportTo(String hostname) {
        requireNonNull(hostname, "hostname");
        return exportToByHostname.getOrDefault(hostname, Set.of());
    }

    public Optional<ServiceView> service(String hostname) {
        requireNonNull(hostname, "hostname");
        return Optional.ofNullable(byHostname.get(hostname));
    }

    /** The east-west gateways of {@code network} published by any cluster, in (cluster, address, port) order. */
    public List<NetworkGateway> gatewaysOf(String network) {
        requireNonNull(network, "network");
        return gatewaysByNetwork.getOrDefault(network, List.of());
    }

    /**
     * Human-readable merge conflicts (a service port or {@code exportTo} defined differently in
     * two clusters, a service defined twice in one cluster), sorted. The merge still
     * succeeds; these say which definition lost.
     */
    public List<String> conflicts() {
        return conflicts;
    }

    /**
     * How many ready (endpoint, service port) pairs on another network were dropped because that
     * network publishes no east-west gateway.
     */
    public int droppedNoGateway() {
        return droppedNoGateway;
    }

    private boolean isVisible(ServiceView view, String namespace) {
        Set<String> exportTo = exportToByHostname.getOrDefault(view.hostname(), Set.of("*"));
        return exportTo.contains("*")
                || exportTo.contains(namespace)
                || (exportTo.contains(".") && view.key().namespace().equals(namespace));
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof MeshView other)) {
            return false;
        }
        return appliedIndex == other.appliedIndex
                && droppedNoGateway == other.droppedNoGateway
                && viewpoint.equals(other.viewpoint)
                && services.equals(other.services)
                && exportToByHostname.equals(other.exportToByHostname)
                && gatewaysByNetwork.equals(other.gatewaysByNetwork)
                && conflicts.equals(other.conflicts);
    }

    @Override
    public int hashCode() {
        return services.hashCode() * 31 + viewpoint.hashCode();
    }

    @Override
    public String toString() {
        return "MeshView{viewpoint=" + viewpoint + ", appliedIndex=" + appliedIndex
                + ", services=" + services.size() + ", conflicts=" + conflicts.size()
                + ", droppedNoGateway=" + droppedNoGateway + '}';
    }

    /** One merge, start to end, over one immutable input. */
    private static final class Merger {

        private final FederatedState state;
        private final Viewpoint viewpoint;
        private final String domainSuffix;
        private final String trustDomain;
        private final ClusterLocalHosts clusterLocal;
        private final boolean mcsClusterLocal;
        private final List<ClusterState> clusters;
        // host -> whether it is cluster-local: asked once per service and endpoint, answered once per host.
        private final Map<String, Boolean> localHosts = new HashMap<>();
        private final Map<String, List<NetworkGateway>> gatewaysByNetwork = new TreeMap<>();
        private final Set<String> conflicts = new TreeSet<>();
        private int droppedNoGateway;

        Merger(FederatedState state, Viewpoint viewpoint, MeshViewOptions options) {
            this.state = state;
            this.clusterLocal = options.clusterLocal();
            this.mcsClusterLocal = options.mcsClusterLocal();
            this.viewpoint = viewpoint;
            this.domainSuffix = options.domainSuffix();
            this.trustDomain = options.trustDomain();
            List<ClusterState> sorted = new ArrayList<>(state.clusterStates().values());
            sorted.sort(Comparator.comparing(ClusterState::cluster));
            this.clusters = sorted;
        }

        MeshView merge() {
            collectGateways();

            // hostname -> cluster -> that cluster's definition; TreeMaps give the canonical order.
            Map<String, TreeMap<String, MeshService>> definitions = new TreeMap<>();
            // cluster -> the services it exports to the clusterset (ServiceExport), by key.
            Map<String, Map<ServiceKey, String>> clusterSetHosts = new HashMap<>();
            for (ClusterState cluster : clusters) {
                Map<ServiceKey, String> exported = new HashMap<>();
                for (MeshService service : cluster.services()) {
                    String host = service.key().hostname(domainSuffix);
                    if (servesViewer(host, service.key(), cluster)) {
                        define(definitions, host, cluster, service);
                    }
                    if (service.clusterSetExport() && !service.key().isServiceEntryHost()) {
                        String clusterSetHost = clusterSetHost(service.key());
                        exported.put(service.key(), clusterSetHost);
                        if (servesViewer(clusterSetHost, service.key(), cluster)) {
                            define(definitions, clusterSetHost, cluster, service);
                        }
                    }
                }
                clusterSetHosts.put(cluster.cluster(), exported);
            }

            // hostname -> cluster -> endpoints of that cluster for the service.
            Map<String, Map<String, List<Endpoint>>> endpoints = new HashMap<>();
            for (ClusterState cluster : clusters) {
                Map<ServiceKey, String> exported = clusterSetHosts.get(cluster.cluster());
                for (Endpoint endpoint : cluster.endpoints()) {
                    String host = endpoint.service().hostname(domainSuffix);
                    if (servesViewer(host, endpoint.service(), cluster)) {
                        endpoints.computeIfAbsent(host, h -> new HashMap<>())
                                .computeIfAbsent(cluster.cluster(), c -> new ArrayList<>())
                                .add(endpoint);
                    }
                    String clusterSetHost = exported.get(endpoint.service());
                    if (clusterSetHost != null && servesViewer(clusterSetHost, endpoint.service(), cluster)) {
                        endpoints.computeIfAbsent(clusterSetHost, h -> new HashMap<>())
                                .computeIfAbsent(cluster.cluster(), c -> new ArrayList<>())
                                .add(endpoint);
                    }
                }
            }

            List<ServiceView> views = new ArrayList<>();
            Map<String, Set<String>> exportTo = new HashMap<>();
            for (Map.Entry<String, TreeMap<String, MeshService>> entry : definitions.entrySet()) {
                String host = entry.getKey();
                TreeMap<String, MeshService> byCluster = entry.getValue();
                views.add(mergeService(host, byCluster, endpoints.getOrDefault(host, Map.of())));
                Set<String> union = new TreeSet<>();
                byCluster.values().forEach(s -> union.addAll(s.exportTo().isEmpty() ? Set.of("*") : s.exportTo()));
                Set<String> distinct = new LinkedHashSet<>();
                byCluster.values().forEach(s -> distinct.add(new TreeSet<>(s.exportTo()).toString()));
                if (distinct.size() > 1) {
                    conflicts.add(host + ": exportTo differs between clusters " + byCluster.keySet()
                            + " (visible where any cluster exports it)");
                }
                exportTo.put(host, Set.copyOf(union));
            }

            Map<String, List<NetworkGateway>> gateways = new HashMap<>();
            gatewaysByNetwork.forEach((network, list) -> gateways.put(network, List.copyOf(list)));
            return new MeshView(viewpoint, state.appliedIndex(), views, exportTo, gateways,
                    new ArrayList<>(conflicts), droppedNoGateway);
        }

        private void define(Map<String, TreeMap<String, MeshService>> definitions, String host, ClusterState cluster,
                MeshService service) {
            MeshService previous = definitions.computeIfAbsent(host, h -> new TreeMap<>())
                    .putIfAbsent(cluster.cluster(), service);
            if (previous != null) {
                conflicts.add(host + ": defined twice in cluster " + cluster.cluster()
                        + " (the first definition wins)");
            }
        }

        private static String clusterSetHost(ServiceKey key) {
            return key.name() + '.' + key.namespace() + ".svc." + MeshViewOptions.CLUSTERSET_SUFFIX;
        }

        /**
         * A cluster-local host is served to a viewer by the viewer's own cluster only; with
         * {@code mcsClusterLocal}, so is every Kubernetes service's {@code cluster.local} host.
         */
        private boolean servesViewer(String host, ServiceKey key, ClusterState cluster) {
            if (cluster.cluster().equals(viewpoint.cluster())) {
                return true;
            }
            if (mcsClusterLocal && !key.isServiceEntryHost() && host.endsWith(".svc." + domainSuffix)) {
                return false;
            }
            return !localHosts.computeIfAbsent(host, clusterLocal::matches);
        }

        private void collectGateways() {
            Set<NetworkGateway> all = new TreeSet<>(GATEWAY_ORDER);
            for (ClusterState cluster : clusters) {
                all.addAll(cluster.gateways());
            }
            for (NetworkGateway gateway : all) {
                gatewaysByNetwork.computeIfAbsent(gateway.network(), n -> new ArrayList<>()).add(gateway);
            }
        }

        private ServiceView mergeService(
                String host, TreeMap<String, MeshService> byCluster, Map<String, List<Endpoint>> endpointsByCluster) {
            MeshService first = byCluster.firstEntry().getValue();
            TreeMap<Integer, ServicePort> ports = new TreeMap<>();
            for (Map.Entry<String, MeshService> definition : byCluster.entrySet()) {
                for (ServicePort port : definition.getValue().ports()) {
                    ServicePort winner = ports.putIfAbsent(port.port(), port);
                    if (winner != null && !winner.equals(port)) {
                        conflicts.add(host + ": port " + port.port() + " in cluster " + definition.getKey()
                                + " is " + describe(port) + ", kept " + describe(winner)
                                + " from cluster " + firstDefiner(byCluster, winner));
                    }
                }
            }

            Map<Integer, List<MeshEndpoint>> endpointsByPort = new HashMap<>();
            Map<Integer, List<String>> identitiesByPort = new HashMap<>();
            for (ServicePort merged : ports.values()) {
                List<MeshEndpoint> direct = new ArrayList<>();
                // Every endpoint's identity, also those behind a gateway entry or not ready: the
                // certificate a client sees through a passthrough gateway is the pod's own.
                Set<String> identities = new TreeSet<>();
                Map<AggregateKey, Aggregate> aggregates = new TreeMap<>();
                List<String> endpointClusters = new ArrayList<>(endpointsByCluster.keySet());
                endpointClusters.sort(null);
                for (String cluster : endpointClusters) {
                    ServicePort port = portInCluster(byCluster.get(cluster), merged);
                    if (port == null) {
                        continue;
                    }
                    List<Endpoint> clusterEndpoints = endpointsByCluster.get(cluster);
                    for (Endpoint endpoint : clusterEndpoints) {
                        if (!endpoint.serviceAccount().isEmpty()) {
                            identities.add(identityOf(endpoint));
                        }
                        String network = networkOf(endpoint);
                        if (network.equals(viewpoint.network())) {
                            direct.add(directEndpoint(endpoint, port, network));
                        } else if (!endpoint.ready()) {
                            continue;
                        } else if (first.headless()) {
                            remoteHeadless(endpoint, network, direct);
                        } else {
                            NetworkGateway gateway = gatewayFor(network, endpoint.cluster());
                            if (gateway == null) {
                                droppedNoGateway++;
                                continue;
                            }
                            aggregates.computeIfAbsent(
                                            new AggregateKey(network, endpoint.cluster(), endpoint.locality()),
                                            k -> new Aggregate(gateway, k))
                                    .count++;
                        }
                    }
                }
                List<MeshEndpoint> all = new ArrayList<>(direct);
                for (Aggregate aggregate : aggregates.values()) {
                    all.add(aggregate.toEndpoint());
                }
                all.sort(ENDPOINT_ORDER);
                endpointsByPort.put(merged.port(), List.copyOf(all));
                if (!identities.isEmpty()) {
                    identitiesByPort.put(merged.port(), List.copyOf(identities));
                }
            }

            Map<String, List<String>> addresses = new TreeMap<>();
            byCluster.forEach((cluster, definition) -> {
                // A Service's ClusterIP is not its clusterset host's VIP.
                if (!definition.addresses().isEmpty() && host.equals(first.key().hostname(domainSuffix))) {
                    addresses.put(cluster, definition.addresses());
                }
            });
            return new ServiceView(host, first.key(), List.copyOf(ports.values()), endpointsByPort,
                    List.copyOf(byCluster.keySet()), addresses, first.headless(), identitiesByPort);
        }

        /**
         * The port a cluster's endpoints serve for {@code merged}: the cluster's own definition
         * with that number (it names the endpoint port); the merged one when the cluster exports
         * endpoints without defining the service; null when its definition lacks the port.
         */
        private static ServicePort portInCluster(MeshService definition, ServicePort merged) {
            if (definition == null) {
                return merged;
            }
            for (ServicePort port : definition.ports()) {
                if (port.port() == merged.port()) {
                    return port;
                }
            }
            return null;
        }

        private void remoteHeadless(Endpoint endpoint, String network, List<MeshEndpoint> out) {
            NetworkGateway gateway = gatewayFor(network, endpoint.cluster());
            if (gateway == null) {
                droppedNoGateway++;
                return;
            }
            out.add(new MeshEndpoint(gateway.address(), gateway.port(), endpoint.locality(), endpoint.cluster(),
                    network, identityOf(endpoint), endpoint.workload(), endpoint.labels(), true, true, 1));
        }

        private MeshEndpoint directEndpoint(Endpoint endpoint, ServicePort port, String network) {
            Integer endpointPort = endpoint.ports().get(port.name());
            int dialPort = endpointPort != null ? endpointPort : port.targetPort();
            return new MeshEndpoint(endpoint.address(), dialPort, endpoint.locality(), endpoint.cluster(), network,
                    identityOf(endpoint), endpoint.workload(), endpoint.labels(), endpoint.ready(), false, 1);
        }

        private String identityOf(Endpoint endpoint) {
            return spiffeId(trustDomain, endpoint.service().namespace(), endpoint.serviceAccount());
        }

        private String networkOf(Endpoint endpoint) {
            if (!endpoint.network().isEmpty()) {
                return endpoint.network();
            }
            ClusterState cluster = state.clusterStates().get(endpoint.cluster());
            return cluster != null ? cluster.network() : "";
        }

        private NetworkGateway gatewayFor(String network, String endpointCluster) {
            List<NetworkGateway> candidates = gatewaysByNetwork.get(network);
            if (candidates == null || candidates.isEmpty()) {
                return null;
            }
            for (NetworkGateway gateway : candidates) {
                if (gateway.cluster().equals(endpointCluster)) {
                    return gateway;
                }
            }
            return candidates.get(0);
        }

        private static String firstDefiner(TreeMap<String, MeshService> byCluster, ServicePort port) {
            for (Map.Entry<String, MeshService> entry : byCluster.entrySet()) {
                if (entry.getValue().ports().contains(port)) {
                    return entry.getKey();
                }
            }
            return "?";
        }

        private static String describe(ServicePort port) {
            return port.name() + "/" + port.protocol() + "->" + port.targetPort();
        }
    }

    /** Which remote endpoints one gateway entry stands for. */
    private record AggregateKey(String network, String cluster, Locality locality)
            implements Comparable<AggregateKey> {

        private static final Comparator<AggregateKey> ORDER = Comparator
                .comparing(AggregateKey::network)
                .thenComparing(AggregateKey::cluster)
                .thenComparing(AggregateKey::locality);

        @Override
        public int compareTo(AggregateKey other) {
            return ORDER.compare(this, other);
        }
    }

    private static final class Aggregate {
        final NetworkGateway gateway;
        final AggregateKey key;
        int count;

        Aggregate(NetworkGateway gateway, AggregateKey key) {
            this.gateway = gateway;
            this.key = key;
        }

        MeshEndpoint toEndpoint() {
            return new MeshEndpoint(gateway.address(), gateway.port(), key.locality(), key.cluster(), key.network(),
                    "", "", Map.of(), true, true, count);
        }
    }
}
