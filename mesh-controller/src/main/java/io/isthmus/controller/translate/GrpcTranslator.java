package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.ApiListener;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateProviderPluginInstance;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.PeerAuthenticationSpec.Mode;
import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;

/**
 * The resources of a proxyless gRPC client ({@code xds:///<host>:<port>}), derived from what a
 * sidecar in its place would get, in the shapes gRPC's xDS client accepts (Istio's
 * {@code grpcgen} does the same):
 *
 * <ul>
 *   <li>one Listener per {@code <host>:<port>} the client may dial, an {@code api_listener}
 *       whose HttpConnectionManager carries its route configuration inline (the sidecar's
 *       VirtualService routes for that host, matched by the dialled authority) and only the
 *       router filter;
 *   <li>the sidecar's EDS clusters, keeping load-balancing policy, circuit breakers and outlier
 *       detection, with the mesh's mTLS in the form gRPC's xDS security takes: an
 *       {@code UpstreamTlsContext} whose own certificate and trust roots come from the
 *       client's {@code certificate_providers} instance {@value #PROVIDER_INSTANCE} (certificate
 *       names {@value #IDENTITY_CERTIFICATE} and {@value #ROOT_CERTIFICATE}, as Istio's
 *       {@code grpcgen} and its agent's bootstrap name them), and whose
 *       {@code match_subject_alt_names} are the SPIFFE identities the sidecar's cluster checks
 *       (its endpoints' in every cluster, or a DestinationRule's {@code subjectAltNames}).
 *       A cluster is plaintext instead when the sidecar's is (a DestinationRule or ServiceEntry
 *       without mesh mTLS), or when every endpoint's sidecar serves only plaintext on that port
 *       (PeerAuthentication {@code DISABLE}): gRPC cannot pick TLS per endpoint as Envoy's
 *       {@code transport_socket_matches} do, so a mix of modes gets mTLS;
 *   <li>the sidecar's endpoints with locality and priority, minus endpoints behind another
 *       network's east-west gateway, which only an mTLS peer with SNI can cross; the priorities
 *       left are renumbered without gaps, as gRPC requires.
 * </ul>
 *
 * <p>A client built with {@code XdsChannelCredentials} uses that TLS; one built with insecure
 * credentials ignores it and speaks plaintext (only a {@code PERMISSIVE} or {@code DISABLE}
 * server accepts that). Pure and deterministic, like every translator.
 */
final class GrpcTranslator {

    /** The bootstrap's {@code certificate_providers} key the clusters name (Istio's). */
    static final String PROVIDER_INSTANCE = "default";
    /** The provider's certificate name for the workload's own key and chain. */
    static final String IDENTITY_CERTIFICATE = "default";
    /** The provider's certificate name for the trust roots. */
    static final String ROOT_CERTIFICATE = "ROOTCA";

    private GrpcTranslator() {}

    /** Without Istio configuration: every destination is {@code STRICT}, so every mesh cluster gets mTLS. */
    static ProxyResources fromSidecar(ProxyResources sidecar, List<ServiceView> services) {
        return fromSidecar(sidecar, services, MeshConfig.EMPTY);
    }

    /**
     * @param services every service of the view (their endpoints carry the identities and labels
     *                 that decide each cluster's TLS)
     * @param config   the PeerAuthentications in force
     */
    static ProxyResources fromSidecar(ProxyResources sidecar, List<ServiceView> services, MeshConfig config) {
        Map<String, Workload> workloads = workloads(services);
        List<Listener> listeners = new ArrayList<>();
        for (RouteConfiguration routes : sidecar.routes()) {
            if (routes.getName().contains(":")) {
                // An auto-detected port's own <host>:<port> configuration repeats a virtual host of <port>.
                continue;
            }
            for (VirtualHost host : routes.getVirtualHostsList()) {
                // The sidecar names each virtual host <host>:<port>, which is also what a gRPC
                // client puts in its target and so asks for as the listener name.
                listeners.add(apiListener(host.getName(), host));
            }
        }
        listeners.sort(Comparator.comparing(Listener::getName));

        List<ClusterLoadAssignment> endpoints = new ArrayList<>();
        Map<String, ClusterLoadAssignment> assignments = new HashMap<>();
        for (ClusterLoadAssignment assignment : sidecar.endpoints()) {
            if (assignment.getClusterName().startsWith("outbound|")) {
                ClusterLoadAssignment direct = withoutGatewayEndpoints(assignment);
                endpoints.add(direct);
                assignments.put(direct.getClusterName(), direct);
            }
        }

        List<Cluster> clusters = new ArrayList<>();
        for (Cluster cluster : sidecar.clusters()) {
            if (cluster.getType() == Cluster.DiscoveryType.EDS && cluster.getName().startsWith("outbound|")) {
                Cluster.Builder grpc = cluster.toBuilder().clearTransportSocket().clearTransportSocketMatches()
                        .clearMetadata();
                if (grpc.getLbPolicy() == Cluster.LbPolicy.MAGLEV) {
                    // gRPC has no Maglev and NACKs the cluster; its ring hash keeps the same
                    // stickiness for the routes' hash_policy.
                    grpc.setLbPolicy(Cluster.LbPolicy.RING_HASH).clearLbConfig();
                }
                if (meshMtls(cluster)) {
                    String service = cluster.getEdsClusterConfig().getServiceName().isEmpty() ? cluster.getName()
                            : cluster.getEdsClusterConfig().getServiceName();
                    List<Workload> behind = behind(assignments.get(service), workloads);
                    if (!allPlaintext(behind, config)) {
                        grpc.setTransportSocket(TransportSocket.newBuilder()
                                .setName(Protos.TLS_TRANSPORT_SOCKET)
                                .setTypedConfig(pack(upstreamTls(sidecarIdentities(cluster)))));
                    }
                }
                clusters.add(grpc.build());
            }
        }
        return new ProxyResources(clusters, endpoints, listeners, List.of(), List.of());
    }

    /**
     * {@code client} plus the inbound listeners of a proxyless gRPC server on the ports its own
     * workload serves ({@link GrpcServerListeners}), all sorted by name.
     *
     * @param policies the mesh's Istio configuration, or {@code null} when there is none
     */
    static ProxyResources withServer(ProxyResources client, SortedSet<Integer> ownPorts, ProxyNode node,
            MeshPolicies policies) {
        List<Listener> server = GrpcServerListeners.translate(ownPorts, node, policies);
        if (server.isEmpty()) {
            return client;
        }
        List<Listener> listeners = new ArrayList<>(client.listeners());
        listeners.addAll(server);
        listeners.sort(Comparator.comparing(Listener::getName));
        return new ProxyResources(client.clusters(), client.endpoints(), listeners, client.routes(), client.secrets(),
                client.listenerConflicts());
    }

    /** A pod behind an endpoint address: its namespace and labels (what its PeerAuthentication selects by). */
    private record Workload(String namespace, Map<String, String> labels, int port) {}

    private static Map<String, Workload> workloads(List<ServiceView> services) {
        Map<String, Workload> out = new HashMap<>();
        for (ServiceView service : services) {
            for (List<MeshEndpoint> port : service.endpointsByPort().values()) {
                for (MeshEndpoint e : port) {
                    if (!e.viaGateway()) {
                        out.putIfAbsent(e.address() + ":" + e.port(),
                                new Workload(service.key().namespace(), e.labels(), e.port()));
                    }
                }
            }
        }
        return out;
    }

    private static List<Workload> behind(ClusterLoadAssignment assignment, Map<String, Workload> workloads) {
        List<Workload> out = new ArrayList<>();
        if (assignment == null) {
            return out;
        }
        for (LocalityLbEndpoints locality : assignment.getEndpointsList()) {
            for (LbEndpoint endpoint : locality.getLbEndpointsList()) {
                var address = endpoint.getEndpoint().getAddress().getSocketAddress();
                Workload w = workloads.get(address.getAddress() + ":" + address.getPortValue());
                if (w != null) {
                    out.add(w);
                }
            }
        }
        return out;
    }

    /**
     * True when every endpoint's sidecar takes only plaintext on its port (PeerAuthentication
     * {@code DISABLE}), as pilot's auto-mTLS would dial it. No endpoints: mTLS (nothing to dial
     * yet; the next push decides again).
     */
    private static boolean allPlaintext(List<Workload> behind, MeshConfig config) {
        if (behind.isEmpty()) {
            return false;
        }
        for (Workload w : behind) {
            if (SecurityTranslator.workloadMode(config, w.namespace(), w.labels(), w.port()) != Mode.DISABLE) {
                return false;
            }
        }
        return true;
    }

    /** The sidecar's cluster speaks the mesh's mTLS: its own certificate from SDS {@code default}. */
    private static boolean meshMtls(Cluster cluster) {
        if (!cluster.hasTransportSocket() || !cluster.getTransportSocket().hasTypedConfig()) {
            return false;
        }
        try {
            UpstreamTlsContext tls = PolicyTranslator.unwrapProxyProtocol(cluster.getTransportSocket()).getTypedConfig()
                    .unpack(UpstreamTlsContext.class);
            for (SdsSecretConfig secret : tls.getCommonTlsContext().getTlsCertificateSdsSecretConfigsList()) {
                if (secret.getName().equals(ResourceNames.DEFAULT_SECRET)) {
                    return true;
                }
            }
            return false;
        } catch (InvalidProtocolBufferException e) {
            // Translation built that socket itself; another type means it is not the mesh's TLS.
            return false;
        }
    }

    /** The SPIFFE IDs the sidecar's cluster asks its upstream for ({@link ClusterTls#meshIdentities(UpstreamTlsContext)}). */
    private static List<String> sidecarIdentities(Cluster cluster) {
        try {
            return ClusterTls.meshIdentities(PolicyTranslator.unwrapProxyProtocol(cluster.getTransportSocket())
                    .getTypedConfig().unpack(UpstreamTlsContext.class));
        } catch (InvalidProtocolBufferException e) {
            // meshMtls() unpacked it already.
            throw new IllegalStateException(e);
        }
    }

    /**
     * The mesh's mTLS for gRPC (gRFC A29): own certificate and roots from the bootstrap's
     * certificate provider, the server's identity checked against {@code identities}, the very
     * list the sidecar's cluster checks (its endpoints' service accounts in every cluster, or a
     * DestinationRule's {@code subjectAltNames}). With none, any certificate chaining to the mesh
     * roots is accepted, as Istio does.
     */
    @SuppressWarnings("deprecation") // grpc-java reads match_subject_alt_names, not the typed matchers
    private static UpstreamTlsContext upstreamTls(List<String> identities) {
        CertificateValidationContext.Builder validation = CertificateValidationContext.newBuilder()
                .setCaCertificateProviderInstance(CertificateProviderPluginInstance.newBuilder()
                        .setInstanceName(PROVIDER_INSTANCE)
                        .setCertificateName(ROOT_CERTIFICATE));
        for (String identity : identities) {
            validation.addMatchSubjectAltNames(StringMatcher.newBuilder().setExact(identity));
        }
        return UpstreamTlsContext.newBuilder()
                .setCommonTlsContext(CommonTlsContext.newBuilder()
                        .setTlsCertificateProviderInstance(CertificateProviderPluginInstance.newBuilder()
                                .setInstanceName(PROVIDER_INSTANCE)
                                .setCertificateName(IDENTITY_CERTIFICATE))
                        .setValidationContext(validation))
                .build();
    }

    private static Listener apiListener(String name, VirtualHost host) {
        String authority = name;
        // Only the router filter is in the chain, so per-filter overrides (the fault filter's) go.
        VirtualHost.Builder vhost = host.toBuilder().clearDomains().addDomains(authority)
                .clearTypedPerFilterConfig();
        vhost.getRoutesBuilderList().forEach(route -> route.clearTypedPerFilterConfig());
        int colon = authority.lastIndexOf(':');
        if (colon > 0) {
            vhost.addDomains(authority.substring(0, colon));
        }
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
                .setStatPrefix(name)
                .setRouteConfig(RouteConfiguration.newBuilder().setName(name).addVirtualHosts(vhost))
                .addHttpFilters(HttpFilter.newBuilder()
                        .setName(Protos.ROUTER_FILTER)
                        .setTypedConfig(pack(Router.getDefaultInstance())))
                .build();
        return Listener.newBuilder()
                .setName(name)
                .setApiListener(ApiListener.newBuilder().setApiListener(pack(hcm)))
                .build();
    }

    private static ClusterLoadAssignment withoutGatewayEndpoints(ClusterLoadAssignment assignment) {
        ClusterLoadAssignment.Builder out = assignment.toBuilder().clearEndpoints();
        for (LocalityLbEndpoints locality : assignment.getEndpointsList()) {
            LocalityLbEndpoints.Builder kept = locality.toBuilder().clearLbEndpoints();
            int weight = 0;
            for (LbEndpoint endpoint : locality.getLbEndpointsList()) {
                if (!viaGateway(endpoint)) {
                    kept.addLbEndpoints(endpoint);
                    weight += endpoint.hasLoadBalancingWeight() ? endpoint.getLoadBalancingWeight().getValue() : 1;
                }
            }
            if (kept.getLbEndpointsCount() > 0) {
                // gRPC requires a weight on every locality; keep it the sum of what remains.
                kept.getLoadBalancingWeightBuilder().setValue(Math.max(weight, 1));
                out.addEndpoints(kept);
            }
        }
        return withDensePriorities(out);
    }

    /**
     * Renumbers the priorities that remain 0, 1, 2, ... in their order: dropping a priority whose
     * localities were all behind gateways leaves a gap, and gRPC rejects a ClusterLoadAssignment
     * with sparse priorities (NACK), which would leave the client without endpoints.
     */
    private static ClusterLoadAssignment withDensePriorities(ClusterLoadAssignment.Builder assignment) {
        TreeMap<Integer, Integer> dense = new TreeMap<>();
        for (LocalityLbEndpoints locality : assignment.getEndpointsList()) {
            dense.put(locality.getPriority(), 0);
        }
        int next = 0;
        for (Map.Entry<Integer, Integer> priority : dense.entrySet()) {
            priority.setValue(next++);
        }
        for (LocalityLbEndpoints.Builder locality : assignment.getEndpointsBuilderList()) {
            locality.setPriority(dense.get(locality.getPriority()));
        }
        return assignment.build();
    }

    private static boolean viaGateway(LbEndpoint endpoint) {
        var istio = endpoint.getMetadata().getFilterMetadataMap().get(Protos.ISTIO_METADATA);
        if (istio == null) {
            return false;
        }
        Value value = istio.getFieldsMap().get("via_gateway");
        return value != null && value.getBoolValue();
    }
}
