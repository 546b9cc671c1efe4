package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.CONNECT_TIMEOUT;
import static io.isthmus.controller.translate.Protos.ads;
import static io.isthmus.controller.translate.Protos.pack;
import static io.isthmus.controller.translate.Protos.sds;
import static io.isthmus.controller.translate.Protos.socketAddress;

import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.EdsClusterConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.LbPolicy;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.listener.v3.ListenerFilter;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.listener.original_dst.v3.OriginalDst;
import io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.ForwardClientCertDetails;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.SetCurrentClientCertDetails;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.isthmus.controller.config.MeshSettings;
import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/** A sidecar's resources: outbound clusters, routes and listeners for every service, inbound for its own workload. */
final class SidecarTranslator {

    private static final String HTTP_1_1 = "http/1.1";

    private SidecarTranslator() {}

    static ProxyResources translate(
            List<ServiceView> visible, List<ServiceView> all, ProxyNode node, List<String> trustRootsPem) {
        return translate(visible, all, node, trustRootsPem, null);
    }

    /** With {@code policies} null, no Istio configuration applies (the original contract). */
    static ProxyResources translate(List<ServiceView> visible, List<ServiceView> all, ProxyNode node,
            List<String> trustRootsPem, MeshPolicies policies) {
        return assemble(outbound(visible, all, node, policies), all, node, trustRootsPem, policies);
    }

    /**
     * What a sidecar dials: the outbound clusters, their endpoints, the outbound listeners and
     * route configurations, each list sorted by name. A function of the visible services, the
     * policies and only those parts of the node the policies read (namespace, locality, the
     * labels a selector or a {@code sourceLabels} match reads), so proxies that agree on those
     * share one value ({@link OutboundKey}).
     */
    record Outbound(List<Cluster> clusters, List<ClusterLoadAssignment> endpoints, List<Listener> listeners,
            List<RouteConfiguration> routes, List<ListenerConflict> listenerConflicts) {
        Outbound {
            clusters = List.copyOf(clusters);
            endpoints = List.copyOf(endpoints);
            listeners = List.copyOf(listeners);
            routes = List.copyOf(routes);
            listenerConflicts = List.copyOf(listenerConflicts);
        }
    }

    static Outbound outbound(List<ServiceView> visible, List<ServiceView> all, ProxyNode node, MeshPolicies policies) {
        Map<String, ServiceView> byHost = new TreeMap<>();
        all.forEach(s -> byHost.put(s.hostname(), s));
        PolicyTranslator policy = policies == null ? null
                : new PolicyTranslator(policies, node, h -> java.util.Optional.ofNullable(byHost.get(h)));
        L4RouteTranslator l4 = policy == null ? null : new L4RouteTranslator(policy, node, policies.domainSuffix(),
                h -> java.util.Optional.ofNullable(byHost.get(h)));
        List<Cluster> clusters = new ArrayList<>();
        List<ClusterLoadAssignment> endpoints = new ArrayList<>();
        List<OutboundListeners.PortUse> uses = new ArrayList<>();
        Map<String, String> allocated = NameTableTranslator.allocated(all);

        for (ServiceView service : visible) {
            List<OutboundListeners.Vip> vips = meshVips(service, node, allocated);
            List<String> podAddresses = vips.isEmpty() ? podAddresses(service) : List.of();
            for (ServicePort port : sortedPorts(service)) {
                String clusterName = ResourceNames.outboundCluster(port.port(), service.hostname());
                Cluster base = outboundCluster(clusterName, ResourceNames.sni(port.port(), service.hostname()));
                List<String> identities = ClusterTls.meshIdentities(service.identities(port.port()),
                        policies == null ? List.of() : entrySubjectAltNames(policies, service),
                        policies == null ? TrustDomains.NONE : policies.trustDomains());
                if (policy == null) {
                    clusters.add(ClusterTls.apply(base.toBuilder(), ClusterTls.ISTIO_MUTUAL, null, service.hostname(),
                            ResourceNames.sni(port.port(), service.hostname()), List.of(), identities).build());
                    endpoints.add(Protos.loadAssignment(clusterName, service.endpoints(port.port())));
                    uses.add(new OutboundListeners.PortUse(service.hostname(), port, clusterName, vips,
                            podAddresses, false,
                            domains -> virtualHost(service, port.port(), List.of(defaultRoute(clusterName)), domains)));
                    continue;
                }
                var rule = policy.destinationRule(service);
                var rulePolicy = rule.map(r -> r.spec().trafficPolicy()).orElse(null);
                var tls = ClusterTls.tlsFor(port.port(), rulePolicy, null);
                String mode = ClusterTls.mode(tls, ClusterTls.ISTIO_MUTUAL);
                clusters.add(Http2Upgrade.apply(policy.applyTrafficPolicy(ClusterTls.apply(base.toBuilder(), mode,
                        tls, service.hostname(), ResourceNames.sni(port.port(), service.hostname()), List.of(),
                        identities).build(),
                        port.port(), rulePolicy, null), port.port(), rulePolicy, null));
                endpoints.add(policy.loadAssignment(clusterName,
                        ClusterTls.reachable(service.endpoints(port.port()), mode),
                        policy.localityPolicy(port.port(), rulePolicy, null)));
                if (rule.isPresent()) {
                    for (var subset : rule.get().spec().subsets()) {
                        String subsetCluster = ResourceNames.outboundCluster(port.port(), subset.name(), service.hostname());
                        String subsetSni = ResourceNames.sni(port.port(), subset.name(), service.hostname());
                        var subsetTls = ClusterTls.tlsFor(port.port(), rulePolicy, subset.trafficPolicy());
                        String subsetMode = ClusterTls.mode(subsetTls, ClusterTls.ISTIO_MUTUAL);
                        clusters.add(Http2Upgrade.apply(policy.applyTrafficPolicy(ClusterTls.apply(
                                        outboundCluster(subsetCluster, subsetSni).toBuilder(), subsetMode, subsetTls,
                                        service.hostname(), subsetSni, List.of(), identities).build(),
                                port.port(), rulePolicy, subset.trafficPolicy()),
                                port.port(), rulePolicy, subset.trafficPolicy()));
                        endpoints.add(policy.loadAssignment(subsetCluster, ClusterTls.reachable(
                                        policy.subsetEndpoints(service, service.endpoints(port.port()), subset),
                                        subsetMode),
                                policy.localityPolicy(port.port(), rulePolicy, subset.trafficPolicy())));
                    }
                }
                // Computed only for HTTP and auto-detected ports, once their VIP domains are known.
                java.util.function.Function<List<String>, VirtualHost> vhost = domains -> virtualHost(service,
                        port.port(), policy.virtualService(service.hostname())
                                .map(vs -> policy.routes(vs, port.port()))
                                .orElse(List.of(defaultRoute(clusterName,
                                        policy.hashPolicy(service.hostname(), null, port.port())))), domains);
                uses.add(new OutboundListeners.PortUse(service.hostname(), port, clusterName, vips, podAddresses,
                        false, vhost, List.of(), tcpProxy(clusterName, rulePolicy, port.port()),
                        l4.routes(service.hostname(), port.port())));
            }
        }
        // What explicit egress listeners may carry: the services, then the ServiceEntry hosts.
        List<ServiceView> imported = new ArrayList<>(visible);
        if (policy != null) {
            for (ExternalServices.External external : externals(visible, all, node, policies)) {
                byHost.putIfAbsent(external.view().hostname(), external.view());
                externalOutbound(external, policy, l4, clusters, endpoints, uses);
                imported.add(external.view());
            }
        }
        clusters.sort(Comparator.comparing(Cluster::getName));
        endpoints.sort(Comparator.comparing(ClusterLoadAssignment::getClusterName));

        // The mode a proxy with this key has (its Sidecar is chosen by namespace and the labels the
        // key holds): what a listener's traffic that no chain claims falls to.
        String outboundMode = policies == null ? MeshSettings.ALLOW_ANY
                : SidecarScope.outboundTrafficMode(policies.config().sidecars(), node)
                        .orElse(policies.outboundTrafficMode());
        OutboundListeners.Result listeners = OutboundListeners.build(uses, outboundMode, policy != null,
                policies == null ? java.time.Duration.ZERO : policies.protocolDetectionTimeout());
        List<Listener> outboundListeners = listeners.listeners();
        List<RouteConfiguration> routes = listeners.routes();
        var sidecar = policies == null ? java.util.Optional.<io.isthmus.controller.config.ConfigEntry<
                io.isthmus.controller.config.SidecarSpec>>empty()
                : SidecarScope.applying(policies.config().sidecars(), node);
        if (sidecar.isPresent()) {
            // captureMode NONE: real listeners the app dials; one on a captured listener's
            // address and port takes its place, as Istio's explicit egress listener locks it.
            Map<String, RouteConfiguration> routesByName = new TreeMap<>();
            routes.forEach(r -> routesByName.put(r.getName(), r));
            Map<String, Listener> byName = new TreeMap<>();
            outboundListeners.forEach(l -> byName.put(l.getName(), l));
            SidecarListeners.Egress egress = SidecarListeners.egress(sidecar.get().spec(), imported,
                    node.namespace(), routesByName, true);
            egress.listeners().forEach(l -> byName.put(l.getName(), l));
            outboundListeners = List.copyOf(byName.values());
            if (!egress.routes().isEmpty()) {
                egress.routes().forEach(r -> routesByName.putIfAbsent(r.getName(), r));
                routes = List.copyOf(routesByName.values());
            }
        }
        return new Outbound(clusters, endpoints, outboundListeners, routes, listeners.conflicts());
    }

    /**
     * The VIPs by which the proxy reaches {@code service}: its own cluster's ClusterIPs (or a
     * ServiceEntry's addresses), then every other cluster's, else the auto-allocated one the DNS
     * name table answers with ({@link NameTableTranslator}); none for a headless service.
     */
    static List<OutboundListeners.Vip> meshVips(ServiceView service, ProxyNode node, Map<String, String> allocated) {
        List<OutboundListeners.Vip> vips = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (String ip : service.addressesByCluster().getOrDefault(node.cluster(), List.of())) {
            if (seen.add(ip)) {
                vips.add(new OutboundListeners.Vip(ip, true));
            }
        }
        service.addressesByCluster().forEach((cluster, ips) -> {
            for (String ip : ips) {
                if (!cluster.equals(node.cluster()) && seen.add(ip)) {
                    vips.add(new OutboundListeners.Vip(ip, false));
                }
            }
        });
        if (vips.isEmpty() && !service.headless() && allocated.containsKey(service.hostname())) {
            vips.add(new OutboundListeners.Vip(allocated.get(service.hostname()), true));
        }
        return vips;
    }

    /** A headless service's endpoint addresses the proxy dials directly (not through a gateway). */
    private static List<String> podAddresses(ServiceView service) {
        if (!service.headless()) {
            return List.of();
        }
        java.util.Set<String> ips = new java.util.TreeSet<>();
        for (ServicePort port : service.ports()) {
            for (MeshEndpoint endpoint : service.endpoints(port.port())) {
                if (!endpoint.viaGateway()) {
                    ips.add(endpoint.address());
                }
            }
        }
        return List.copyOf(ips);
    }

    /**
     * The ServiceEntry hosts translation routes itself ({@link ExternalServices}) that the proxy's
     * namespace sees, narrowed by its Sidecar like the mesh's services.
     */
    private static List<ExternalServices.External> externals(List<ServiceView> visible, List<ServiceView> all,
            ProxyNode node, MeshPolicies policies) {
        java.util.Set<String> meshHosts = new java.util.HashSet<>();
        all.forEach(s -> meshHosts.add(s.hostname()));
        List<ExternalServices.External> externals = ExternalServices.visibleFrom(
                policies.config().serviceEntries(), node.namespace(), meshHosts);
        if (externals.isEmpty()) {
            return externals;
        }
        Map<String, ExternalServices.External> byHost = new TreeMap<>();
        externals.forEach(e -> byHost.put(e.view().hostname(), e));
        List<ExternalServices.External> scoped = new ArrayList<>();
        for (ServiceView view : SidecarScope.scope(externals.stream().map(ExternalServices.External::view).toList(),
                policies.config().sidecars(), node)) {
            ExternalServices.External e = byHost.get(view.hostname());
            scoped.add(e.withView(view));
        }
        return scoped;
    }

    /** One external host's clusters (per port and subset), endpoints (STATIC only) and virtual hosts. */
    private static void externalOutbound(ExternalServices.External external, PolicyTranslator policy,
            L4RouteTranslator l4, List<Cluster> clusters, List<ClusterLoadAssignment> endpoints,
            List<OutboundListeners.PortUse> uses) {
        List<OutboundListeners.Vip> vips = external.addresses().stream().filter(a -> !a.contains("/"))
                .map(ip -> new OutboundListeners.Vip(ip, true)).toList();
        // Ranges: as Istio, a chain on 0.0.0.0 matched on the original destination's prefix.
        List<String> cidrs = external.addresses().stream().filter(a -> a.contains("/")).toList();
        boolean wildcard = external.addresses().isEmpty();
        ServiceView service = external.view();
        var rule = policy.destinationRule(service);
        var rulePolicy = rule.map(r -> r.spec().trafficPolicy()).orElse(null);
        for (ServicePort port : sortedPorts(service)) {
            String clusterName = ResourceNames.outboundCluster(port.port(), service.hostname());
            externalCluster(external, policy, port.port(), clusterName, ResourceNames.sni(port.port(), service.hostname()),
                    service.endpoints(port.port()), rulePolicy, null, clusters, endpoints);
            if (rule.isPresent()) {
                for (var subset : rule.get().spec().subsets()) {
                    externalCluster(external, policy, port.port(),
                            ResourceNames.outboundCluster(port.port(), subset.name(), service.hostname()),
                            ResourceNames.sni(port.port(), subset.name(), service.hostname()),
                            policy.subsetEndpoints(service, service.endpoints(port.port()), subset),
                            rulePolicy, subset.trafficPolicy(), clusters, endpoints);
                }
            }
            uses.add(new OutboundListeners.PortUse(service.hostname(), port, clusterName, vips, List.of(), wildcard,
                    domains -> virtualHost(service, port.port(), policy.virtualService(service.hostname())
                            .map(vs -> policy.routes(vs, port.port()))
                            .orElse(List.of(defaultRoute(clusterName))), domains),
                    cidrs, tcpProxy(clusterName, rulePolicy, port.port()),
                    l4.routes(service.hostname(), port.port())));
        }
    }

    /** A port's default {@code tcp_proxy}: to its cluster, with its DestinationRule's TCP idle timeout. */
    private static io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy tcpProxy(String cluster,
            io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy rulePolicy, int port) {
        var proxy = OutboundListeners.tcpProxyTo(cluster);
        return L4RouteTranslator.idleTimeout(rulePolicy, null, port)
                .map(idle -> proxy.toBuilder().setIdleTimeout(idle).build()).orElse(proxy);
    }

    private static void externalCluster(ExternalServices.External external, PolicyTranslator policy, int port,
            String clusterName, String meshSni, List<MeshEndpoint> members,
            io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy rulePolicy,
            io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy subsetPolicy,
            List<Cluster> clusters, List<ClusterLoadAssignment> endpoints) {
        ClusterLoadAssignment assignment = policy.loadAssignment(clusterName, members,
                policy.localityPolicy(port, rulePolicy, subsetPolicy));
        Cluster cluster = Http2Upgrade.apply(policy.applyTrafficPolicy(ExternalServices.cluster(clusterName, meshSni,
                external, assignment, ClusterTls.tlsFor(port, rulePolicy, subsetPolicy)), port, rulePolicy, subsetPolicy),
                port, rulePolicy, subsetPolicy);
        if (external.resolution() == ExternalServices.Resolution.NONE) {
            // Connections go to their original destination: there is nothing to balance over.
            cluster = cluster.toBuilder().setLbPolicy(Cluster.LbPolicy.CLUSTER_PROVIDED).build();
        }
        clusters.add(cluster);
        if (external.resolution() == ExternalServices.Resolution.STATIC) {
            endpoints.add(assignment);
        }
    }

    /** {@code outbound} plus what is truly this proxy's own: its inbound side and the capture listeners. */
    static ProxyResources assemble(Outbound outbound, List<ServiceView> all, ProxyNode node,
            List<String> trustRootsPem, MeshPolicies policies) {
        return assemble(outbound, inboundServices(all, node), node, trustRootsPem, policies);
    }

    /**
     * A service the proxy's own workload serves on an inbound port: {@code servicePort} is the
     * service's port number (DestinationRule port-level settings name it), the map key the target port.
     */
    record InboundService(ServiceView service, int servicePort) {
        InboundService {
            java.util.Objects.requireNonNull(service, "service");
        }
    }

    /** The ports the proxy's own workload serves (its endpoints' target ports), with their services. */
    static java.util.SortedMap<Integer, List<InboundService>> inboundServices(List<ServiceView> all, ProxyNode node) {
        java.util.SortedMap<Integer, List<InboundService>> inbound = new java.util.TreeMap<>();
        for (ServiceView service : all) {
            for (ServicePort port : service.ports()) {
                for (MeshEndpoint endpoint : service.endpoints(port.port())) {
                    if (isOwnWorkload(endpoint, node)) {
                        // The endpoint's port is the target port: where traffic to the pod arrives.
                        inbound.computeIfAbsent(endpoint.port(), p -> new ArrayList<>())
                                .add(new InboundService(service, port.port()));
                        break;
                    }
                }
            }
        }
        return inbound;
    }

    static ProxyResources assemble(Outbound outbound, java.util.SortedMap<Integer, List<InboundService>> services,
            ProxyNode node, List<String> trustRootsPem, MeshPolicies policies) {
        SortedSet<Integer> inboundPorts = new TreeSet<>(services.keySet());
        List<Cluster> clusters = outbound.clusters();
        var sidecar = policies == null ? java.util.Optional.<io.isthmus.controller.config.SidecarSpec>empty()
                : SidecarScope.applying(policies.config().sidecars(), node).map(e -> e.spec());
        List<SidecarListeners.Inbound> inbound = SidecarListeners.inbound(sidecar, inboundPorts, node.ip());
        if (!inbound.isEmpty()) {
            // A Sidecar's ingress[] replaces the service ports, as in Istio.
            inboundPorts = new TreeSet<>();
            for (SidecarListeners.Inbound in : inbound) {
                inboundPorts.add(in.port());
            }
            var pool = sidecar.map(io.isthmus.controller.config.SidecarSpec::inboundConnectionPool).orElse(null);
            PolicyTranslator rules = policies == null ? null
                    : new PolicyTranslator(policies, node, h -> java.util.Optional.empty());
            clusters = new ArrayList<>(clusters);
            for (SidecarListeners.Inbound in : inbound) {
                clusters.add(inboundCluster(in, pool, inboundRule(rules, services.get(in.port()))));
            }
        }
        // The proxy's own Sidecar decides this, so it stays out of the shared outbound part; without
        // one, the mesh config's mode (Istio's default, ALLOW_ANY, without configuration).
        String outboundMode = policies == null ? MeshSettings.ALLOW_ANY
                : SidecarScope.outboundTrafficMode(policies.config().sidecars(), node)
                        .orElse(policies.outboundTrafficMode());
        if (outboundMode.equals(MeshSettings.ALLOW_ANY)) {
            clusters = new ArrayList<>(clusters);
            clusters.add(passthroughCluster());
        }
        if (clusters != outbound.clusters()) {
            clusters.sort(Comparator.comparing(Cluster::getName));
        }
        List<Listener> listeners = new ArrayList<>(outbound.listeners());
        listeners.add(virtualOutbound(outboundMode));
        var rateLimited = policies == null ? List.<io.isthmus.controller.config.ConfigEntry<
                io.isthmus.controller.config.RateLimitPolicySpec>>of()
                : RateLimitTranslator.selecting(policies.config(), node);
        SecurityTranslator.InboundSecurity security = policies == null ? SecurityTranslator.InboundSecurity.NONE
                : SecurityTranslator.inbound(policies.config(), node, inboundPorts, policies.jwks(),
                        policies.trustDomains());
        java.util.function.IntFunction<RateLimitTranslator.Inbound> limits =
                port -> RateLimitTranslator.inbound(rateLimited, port);
        listeners.add(virtualInbound(inbound.stream().filter(in -> in.bind() == null).toList(), security, limits));
        for (SidecarListeners.Inbound in : inbound) {
            if (in.bind() != null) {
                // captureMode NONE: a real listener on bind:port with the port's chains.
                listeners.add(Listener.newBuilder()
                        .setName(OutboundListeners.listenerName(in.bind(), in.port()))
                        .setAddress(socketAddress(in.bind(), in.port()))
                        .setTrafficDirection(TrafficDirection.INBOUND)
                        .setBindToPort(BoolValue.of(true))
                        .addAllFilterChains(inboundChains(in, security, limits))
                        .build());
            }
        }
        listeners.sort(Comparator.comparing(Listener::getName));

        return new ProxyResources(clusters, outbound.endpoints(), listeners, outbound.routes(),
                rootCaSecrets(trustRootsPem), outbound.listenerConflicts());
    }

    /** The proxy's own pod among the direct endpoints of its own cluster. */
    static boolean isOwnWorkload(MeshEndpoint endpoint, ProxyNode node) {
        return !endpoint.viaGateway()
                && endpoint.cluster().equals(node.cluster())
                && !node.podName().isEmpty()
                && endpoint.workload().equals(node.podName());
    }

    private static List<ServicePort> sortedPorts(ServiceView service) {
        List<ServicePort> ports = new ArrayList<>(service.ports());
        ports.sort(Comparator.comparingInt(ServicePort::port));
        return ports;
    }

    /**
     * The {@code subjectAltNames} of the ServiceEntries that define {@code service}'s host in its
     * namespace (a {@code MESH_INTERNAL}, {@code STATIC} entry is a mesh service of its cluster):
     * pilot adds them to the identities its endpoints name.
     */
    private static List<String> entrySubjectAltNames(MeshPolicies policies, ServiceView service) {
        if (!service.key().isServiceEntryHost()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (var entry : policies.config().serviceEntries()) {
            if (entry.namespace().equals(service.key().namespace())
                    && entry.spec().hosts().contains(service.hostname())) {
                out.addAll(entry.spec().subjectAltNames());
            }
        }
        return out;
    }

    private static Cluster outboundCluster(String name, String sni) {
        UpstreamTlsContext tls = UpstreamTlsContext.newBuilder()
                .setSni(sni)
                .setCommonTlsContext(meshTlsContext())
                .build();
        return Cluster.newBuilder()
                .setName(name)
                .setType(DiscoveryType.EDS)
                .setEdsClusterConfig(EdsClusterConfig.newBuilder().setEdsConfig(ads()).setServiceName(name))
                .setLbPolicy(LbPolicy.ROUND_ROBIN)
                .setConnectTimeout(CONNECT_TIMEOUT)
                .setTransportSocket(TransportSocket.newBuilder()
                        .setName(Protos.TLS_TRANSPORT_SOCKET)
                        .setTypedConfig(pack(tls)))
                .build();
    }

    /** Own certificate from SDS {@code default}, peers verified against SDS {@code ROOTCA}. */
    private static CommonTlsContext meshTlsContext() {
        return CommonTlsContext.newBuilder()
                .addAlpnProtocols(HTTP_1_1)
                .addTlsCertificateSdsSecretConfigs(sds(ResourceNames.DEFAULT_SECRET))
                .setValidationContextSdsSecretConfig(sds(ResourceNames.ROOT_CA_SECRET))
                .build();
    }

    /**
     * The DestinationRule connection pool of an inbound port, as pilot's inbound cluster takes it:
     * the rule (without workload selector) the proxy sees for the first service, by host name, its
     * workload serves on that port ({@code rule}: its top-level pool, then the port-level pool of
     * that service port over it); null without rule or pool.
     */
    private static InboundRule inboundRule(PolicyTranslator rules, List<InboundService> services) {
        if (rules == null || services == null || services.isEmpty()) {
            return null;
        }
        InboundService first = services.stream()
                .min(Comparator.comparing((InboundService s) -> s.service().hostname()))
                .orElseThrow();
        return rules.inboundDestinationRule(first.service())
                .map(rule -> rule.spec().trafficPolicy())
                .map(policy -> new InboundRule(policy, first.servicePort()))
                .orElse(null);
    }

    /** A DestinationRule's traffic policy for an inbound cluster, and the service port it is for. */
    private record InboundRule(io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy policy,
            int servicePort) {}

    /**
     * {@code inbound|<port>||} toward the ingress's {@code defaultEndpoint} (else 127.0.0.1 on the
     * port), with the connection pool pilot gives it: the ingress's own {@code connectionPool}, else
     * the Sidecar's {@code inboundConnectionPool}, else the DestinationRule's of the port's service
     * ({@code rule}, may be null); each replaces the next whole, as Istio's
     * {@code InboundConnectionPoolForPort} does, and translates as a DestinationRule's pool does.
     */
    private static Cluster inboundCluster(SidecarListeners.Inbound in,
            io.isthmus.controller.config.DestinationRuleSpec.ConnectionPool sidecarPool, InboundRule rule) {
        Cluster cluster = inboundCluster(in.port(), in.endpointHost(), in.endpointPort());
        var ingressPool = in.ingress() == null ? null : in.ingress().connectionPool();
        var pool = ingressPool != null ? ingressPool : sidecarPool;
        if (pool != null) {
            Cluster.Builder builder = cluster.toBuilder();
            PolicyTranslator.applyConnectionPool(builder, pool);
            return builder.build();
        }
        if (rule == null) {
            return cluster;
        }
        Cluster.Builder builder = cluster.toBuilder();
        PolicyTranslator.applyConnectionPool(builder, rule.policy().connectionPool());
        for (var port : rule.policy().portLevelSettings()) {
            if (port.port() != null && port.port().number() == rule.servicePort()) {
                PolicyTranslator.applyConnectionPool(builder, port.connectionPool());
            }
        }
        return builder.build();
    }

    private static Cluster inboundCluster(int port, String host, int targetPort) {
        String name = ResourceNames.inboundCluster(port);
        return Cluster.newBuilder()
                .setName(name)
                .setType(DiscoveryType.STATIC)
                .setLbPolicy(LbPolicy.ROUND_ROBIN)
                .setConnectTimeout(CONNECT_TIMEOUT)
                .setLoadAssignment(ClusterLoadAssignment.newBuilder()
                        .setClusterName(name)
                        .addEndpoints(LocalityLbEndpoints.newBuilder()
                                .addLbEndpoints(LbEndpoint.newBuilder()
                                        .setEndpoint(Endpoint.newBuilder()
                                                .setAddress(socketAddress(host, targetPort))))))
                .build();
    }

    private static Route defaultRoute(String clusterName) {
        return defaultRoute(clusterName, java.util.Optional.empty());
    }

    private static Route defaultRoute(String clusterName, java.util.Optional<RouteAction.HashPolicy> hash) {
        // As pilot's BuildDefaultHTTPOutboundRoute: Istio's default retry policy on every service.
        RouteAction.Builder action = RouteAction.newBuilder().setCluster(clusterName)
                .setRetryPolicy(RetryPolicies.defaultPolicy(hash.isPresent()));
        hash.ifPresent(action::addHashPolicy);
        return Route.newBuilder()
                .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(action)
                .build();
    }

    /** {@code vipDomains}: the service's VIPs with and without the port, last. */
    private static VirtualHost virtualHost(ServiceView service, int port, List<Route> routes,
            List<String> vipDomains) {
        String host = service.hostname();
        VirtualHost.Builder vh = VirtualHost.newBuilder().setName(host + ':' + port);
        List<String> names = new ArrayList<>();
        names.add(host);
        String name = service.key().name();
        String ns = service.key().namespace();
        // Short names only for a Kubernetes service's cluster-domain host: a ServiceEntry host has no
        // namespace-relative form, and a clusterset.local host (KEP-1645) is only ever its full name, as
        // in Istio (the short names belong to the cluster.local host beside it in the same route config).
        if (host.startsWith(name + '.' + ns + ".svc.") && !host.endsWith(".svc.clusterset.local")) {
            names.add(name);
            names.add(name + '.' + ns);
            names.add(name + '.' + ns + ".svc");
        }
        for (String n : names) {
            vh.addDomains(n).addDomains(n + ':' + port);
        }
        return vh.addAllDomains(vipDomains).addAllRoutes(routes).build();
    }

    /** As Istio on every HTTP connection manager: WebSocket upgrades go through. */
    private static HttpConnectionManager.UpgradeConfig websocketUpgrade() {
        return HttpConnectionManager.UpgradeConfig.newBuilder().setUpgradeType("websocket").build();
    }

    /**
     * The capture listener. Without iptables the proxy serves it as an HTTP entry point and picks
     * route config {@code <port>} by the Host header's port; with capture, original-destination
     * hands each connection to {@code 0.0.0.0_<port>}. Unknown destinations: with
     * {@code outboundTrafficPolicy} ALLOW_ANY (the Sidecar's, else the mesh config's, else Istio's
     * default), a default chain to {@code PassthroughCluster}; with REGISTRY_ONLY, one to
     * {@code BlackHoleCluster}.
     */
    private static Listener virtualOutbound(String mode) {
        Listener.Builder listener = Listener.newBuilder()
                .setName(ResourceNames.VIRTUAL_OUTBOUND)
                .setAddress(socketAddress("0.0.0.0", ResourceNames.VIRTUAL_OUTBOUND_PORT))
                .setTrafficDirection(TrafficDirection.OUTBOUND)
                .setUseOriginalDst(BoolValue.of(true));
        String cluster = mode.equals(MeshSettings.ALLOW_ANY) ? PASSTHROUGH_CLUSTER : BLACK_HOLE_CLUSTER;
        listener.setDefaultFilterChain(FilterChain.newBuilder()
                .setName(cluster)
                .addFilters(Filter.newBuilder()
                        .setName(Protos.TCP_PROXY)
                        .setTypedConfig(pack(io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
                                .newBuilder().setStatPrefix(cluster).setCluster(cluster).build()))));
        return listener.build();
    }

    static final String PASSTHROUGH_CLUSTER = "PassthroughCluster";
    /**
     * Istio also sends a STATIC {@code BlackHoleCluster} without endpoints; Isthmus proxies refuse a
     * static cluster without endpoints, and a tcp_proxy to a cluster they do not know closes the
     * connection all the same, so only the chain is sent.
     */
    static final String BLACK_HOLE_CLUSTER = "BlackHoleCluster";

    /** Istio's PassthroughCluster: to the connection's original destination, as it is. */
    private static Cluster passthroughCluster() {
        return Cluster.newBuilder()
                .setName(PASSTHROUGH_CLUSTER)
                .setType(DiscoveryType.ORIGINAL_DST)
                .setLbPolicy(LbPolicy.CLUSTER_PROVIDED)
                .setConnectTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(10))
                .build();
    }

    private static Listener virtualInbound(List<SidecarListeners.Inbound> inbound,
            SecurityTranslator.InboundSecurity security,
            java.util.function.IntFunction<RateLimitTranslator.Inbound> rateLimits) {
        Listener.Builder listener = Listener.newBuilder()
                .setName(ResourceNames.VIRTUAL_INBOUND)
                .setAddress(socketAddress("0.0.0.0", ResourceNames.VIRTUAL_INBOUND_PORT))
                .setTrafficDirection(TrafficDirection.INBOUND)
                .addListenerFilters(ListenerFilter.newBuilder()
                        .setName(Protos.ORIGINAL_DST)
                        .setTypedConfig(pack(OriginalDst.getDefaultInstance())))
                .addListenerFilters(ListenerFilter.newBuilder()
                        .setName(Protos.TLS_INSPECTOR)
                        .setTypedConfig(pack(TlsInspector.getDefaultInstance())));
        for (SidecarListeners.Inbound in : inbound) {
            listener.addAllFilterChains(inboundChains(in, security, rateLimits));
        }
        return listener.build();
    }

    /**
     * PeerAuthentication: STRICT → the mTLS chain only; PERMISSIVE → it and a plaintext one
     * (tls_inspector tells them apart); DISABLE → the plaintext one only.
     */
    private static List<FilterChain> inboundChains(SidecarListeners.Inbound in,
            SecurityTranslator.InboundSecurity security,
            java.util.function.IntFunction<RateLimitTranslator.Inbound> rateLimits) {
        List<FilterChain> chains = new ArrayList<>();
        var mode = security.mode(in.port());
        RateLimitTranslator.Inbound limits = rateLimits.apply(in.port());
        if (mode != io.isthmus.controller.config.PeerAuthenticationSpec.Mode.DISABLE) {
            chains.add(in.tcp() ? inboundTcpChain(in.port(), true)
                    : inboundFilterChain(in.port(), true, security.rbacFilters(), limits));
        }
        if (mode != io.isthmus.controller.config.PeerAuthenticationSpec.Mode.STRICT) {
            chains.add(in.tcp() ? inboundTcpChain(in.port(), false)
                    : inboundFilterChain(in.port(), false, security.rbacFilters(), limits));
        }
        return chains;
    }

    /** An ingress port of a TCP protocol: the bytes to the workload, after the mesh's mTLS. */
    private static FilterChain inboundTcpChain(int port, boolean mtls) {
        String clusterName = ResourceNames.inboundCluster(port);
        FilterChain.Builder chain = FilterChain.newBuilder()
                .setName(clusterName)
                .setFilterChainMatch(FilterChainMatch.newBuilder()
                        .setDestinationPort(UInt32Value.of(port))
                        .setTransportProtocol(mtls ? "tls" : "raw_buffer"));
        if (mtls) {
            chain.setTransportSocket(TransportSocket.newBuilder()
                    .setName(Protos.TLS_TRANSPORT_SOCKET)
                    .setTypedConfig(pack(DownstreamTlsContext.newBuilder()
                            .setRequireClientCertificate(BoolValue.of(true))
                            .setCommonTlsContext(meshTlsContext())
                            .build())));
        }
        return chain.addFilters(Filter.newBuilder()
                        .setName(Protos.TCP_PROXY)
                        .setTypedConfig(pack(OutboundListeners.tcpProxyTo(clusterName).toBuilder()
                                .setStatPrefix("inbound_0.0.0.0_" + port).build())))
                .build();
    }

    private static FilterChain inboundFilterChain(int port, boolean mtls, List<HttpFilter> rbacFilters,
            RateLimitTranslator.Inbound rateLimits) {
        String clusterName = ResourceNames.inboundCluster(port);
        DownstreamTlsContext tls = DownstreamTlsContext.newBuilder()
                .setRequireClientCertificate(BoolValue.of(true))
                .setCommonTlsContext(meshTlsContext())
                .build();
        HttpConnectionManager.Builder hcmBuilder = HttpConnectionManager.newBuilder();
        if (!rbacFilters.isEmpty()) {
            // Paths are matched as the app will read them: RFC 3986 normalized, slashes merged, and
            // encoded slashes (%2F, %5C) refused, so no encoding slips past a path rule.
            hcmBuilder.setNormalizePath(BoolValue.of(true))
                    .setMergeSlashes(true)
                    .setPathWithEscapedSlashesAction(
                            HttpConnectionManager.PathWithEscapedSlashesAction.REJECT_REQUEST)
                    .addAllHttpFilters(rbacFilters);
        }
        // After authorization: a request RBAC denies takes no token.
        hcmBuilder.addAllHttpFilters(rateLimits.filters());
        HttpConnectionManager hcm = hcmBuilder
                .setStatPrefix("inbound_0.0.0.0_" + port)
                .setRouteConfig(RouteConfiguration.newBuilder()
                        .setName(clusterName)
                        .addVirtualHosts(VirtualHost.newBuilder()
                                .setName("inbound|http|" + port)
                                .addDomains("*")
                                .addRoutes(Route.newBuilder()
                                        .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                                        .setRoute(RouteAction.newBuilder().setCluster(clusterName))
                                        .putAllTypedPerFilterConfig(rateLimits.perRoute()))))
                .addHttpFilters(routerFilter())
                .addUpgradeConfigs(websocketUpgrade())
                // The app sees who called (x-forwarded-client-cert URI) and from where (x-forwarded-for).
                .setUseRemoteAddress(BoolValue.of(true))
                .setForwardClientCertDetails(ForwardClientCertDetails.SANITIZE_SET)
                .setSetCurrentClientCertDetails(SetCurrentClientCertDetails.newBuilder().setUri(true))
                .build();
        FilterChain.Builder chain = FilterChain.newBuilder()
                .setName(clusterName)
                .setFilterChainMatch(FilterChainMatch.newBuilder()
                        .setDestinationPort(UInt32Value.of(port))
                        .setTransportProtocol(mtls ? "tls" : "raw_buffer"));
        if (mtls) {
            chain.setTransportSocket(TransportSocket.newBuilder()
                    .setName(Protos.TLS_TRANSPORT_SOCKET)
                    .setTypedConfig(pack(tls)));
        }
        return chain.addFilters(Filter.newBuilder()
                        .setName(Protos.HTTP_CONNECTION_MANAGER)
                        .setTypedConfig(pack(hcm)))
                .build();
    }

    private static HttpFilter routerFilter() {
        return HttpFilter.newBuilder()
                .setName(Protos.ROUTER_FILTER)
                .setTypedConfig(pack(Router.getDefaultInstance()))
                .build();
    }

    /**
     * SDS {@code ROOTCA}, or nothing while the federation has no roots: a proxy would reject an
     * empty bundle, and its SDS request simply waits until there is one.
     */
    static List<Secret> rootCaSecrets(List<String> trustRootsPem) {
        return trustRootsPem.isEmpty() ? List.of() : List.of(rootCa(trustRootsPem));
    }

    private static Secret rootCa(List<String> trustRootsPem) {
        // Sorted and de-duplicated: the bundle's order carries no meaning, its bytes must not churn.
        StringBuilder bundle = new StringBuilder();
        for (String pem : new TreeSet<>(trustRootsPem)) {
            bundle.append(pem);
            if (!pem.endsWith("\n")) {
                bundle.append('\n');
            }
        }
        return Secret.newBuilder()
                .setName(ResourceNames.ROOT_CA_SECRET)
                .setValidationContext(CertificateValidationContext.newBuilder()
                        .setTrustedCa(DataSource.newBuilder().setInlineString(bundle.toString())))
                .build();
    }
}
