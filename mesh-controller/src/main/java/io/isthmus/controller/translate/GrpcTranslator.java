package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;

import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
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
 *   <li>the sidecar's EDS clusters without their transport socket, keeping load-balancing
 *       policy, circuit breakers and outlier detection;
 *   <li>the sidecar's endpoints with locality and priority, minus endpoints behind another
 *       network's east-west gateway, which only an mTLS peer with SNI can cross; the priorities
 *       left are renumbered without gaps, as gRPC requires.
 * </ul>
 *
 * <p>The client speaks plaintext to its endpoints: proxyless mTLS (gRPC's certificate
 * providers) is not served yet. Pure and deterministic, like every translator.
 */
final class GrpcTranslator {

    private GrpcTranslator() {}

    static ProxyResources fromSidecar(ProxyResources sidecar) {
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
                clusters.add(grpc.build());
            }
        }

        List<ClusterLoadAssignment> endpoints = new ArrayList<>();
        for (ClusterLoadAssignment assignment : sidecar.endpoints()) {
            if (assignment.getClusterName().startsWith("outbound|")) {
                endpoints.add(withoutGatewayEndpoints(assignment));
            }
        }
        return new ProxyResources(clusters, endpoints, listeners, List.of(), List.of());
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
