package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.CONNECT_TIMEOUT;
import static io.isthmus.controller.translate.Protos.ads;
import static io.isthmus.controller.translate.Protos.pack;
import static io.isthmus.controller.translate.Protos.socketAddress;

import io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.EdsClusterConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.LbPolicy;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.listener.v3.ListenerFilter;
import io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An east-west gateway's resources (SNI-DNAT): one cluster per service port with pod endpoints on
 * the gateway's own network, and one 15443 filter chain per SNI relaying raw bytes (the mTLS
 * session is end to end between the sidecars).
 */
final class RouterTranslator {

    private RouterTranslator() {}

    static ProxyResources translate(List<ServiceView> services, ProxyNode node, List<String> trustRootsPem) {
        return translate(services, node, trustRootsPem, null);
    }

    /** With policies, each DestinationRule subset also gets its SNI cluster, holding only the matching pods. */
    static ProxyResources translate(List<ServiceView> services, ProxyNode node, List<String> trustRootsPem,
            MeshPolicies policies) {
        PolicyTranslator policy = policies == null ? null : new PolicyTranslator(policies, node, h -> java.util.Optional.empty());
        List<Cluster> clusters = new ArrayList<>();
        List<ClusterLoadAssignment> endpoints = new ArrayList<>();
        List<String> snis = new ArrayList<>();
        for (ServiceView service : services) {
            List<ServicePort> ports = new ArrayList<>(service.ports());
            ports.sort(Comparator.comparingInt(ServicePort::port));
            for (ServicePort port : ports) {
                List<MeshEndpoint> local = new ArrayList<>();
                for (MeshEndpoint endpoint : service.endpoints(port.port())) {
                    if (!endpoint.viaGateway() && endpoint.network().equals(node.network())) {
                        local.add(endpoint);
                    }
                }
                if (local.isEmpty()) {
                    continue;
                }
                String name = ResourceNames.sni(port.port(), service.hostname());
                snis.add(name);
                clusters.add(passthroughCluster(name));
                endpoints.add(Protos.loadAssignment(name, local));
                if (policy != null) {
                    for (var subset : policy.allSubsets(service)) {
                        List<MeshEndpoint> matching = policy.subsetEndpoints(service, local, subset);
                        if (matching.isEmpty()) {
                            continue;
                        }
                        String subsetName = ResourceNames.sni(port.port(), subset.name(), service.hostname());
                        snis.add(subsetName);
                        clusters.add(passthroughCluster(subsetName));
                        endpoints.add(Protos.loadAssignment(subsetName, matching));
                    }
                }
            }
        }
        clusters.sort(Comparator.comparing(Cluster::getName));
        endpoints.sort(Comparator.comparing(ClusterLoadAssignment::getClusterName));
        snis.sort(Comparator.naturalOrder());

        Listener.Builder listener = Listener.newBuilder()
                .setName(ResourceNames.outboundListener(ResourceNames.GATEWAY_PORT))
                .setAddress(socketAddress("0.0.0.0", ResourceNames.GATEWAY_PORT))
                .setTrafficDirection(TrafficDirection.INBOUND)
                .addListenerFilters(ListenerFilter.newBuilder()
                        .setName(Protos.TLS_INSPECTOR)
                        .setTypedConfig(pack(TlsInspector.getDefaultInstance())));
        for (String sni : snis) {
            listener.addFilterChains(FilterChain.newBuilder()
                    .setName(sni)
                    .setFilterChainMatch(FilterChainMatch.newBuilder().addServerNames(sni))
                    .addFilters(Filter.newBuilder()
                            .setName(Protos.TCP_PROXY)
                            .setTypedConfig(pack(TcpProxy.newBuilder().setStatPrefix(sni).setCluster(sni).build()))));
        }
        // The gateway never terminates mesh TLS, but its xDS client subscribes to ROOTCA like any proxy.
        return new ProxyResources(clusters, endpoints, List.of(listener.build()), List.of(),
                SidecarTranslator.rootCaSecrets(trustRootsPem));
    }

    private static Cluster passthroughCluster(String name) {
        return Cluster.newBuilder()
                .setName(name)
                .setType(DiscoveryType.EDS)
                .setEdsClusterConfig(EdsClusterConfig.newBuilder().setEdsConfig(ads()).setServiceName(name))
                .setLbPolicy(LbPolicy.ROUND_ROBIN)
                .setConnectTimeout(CONNECT_TIMEOUT)
                .build();
    }
}
