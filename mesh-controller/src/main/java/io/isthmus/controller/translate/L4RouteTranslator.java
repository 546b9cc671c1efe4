package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.DestinationRuleSpec;
import io.isthmus.controller.config.Durations;
import io.isthmus.controller.config.Hosts;
import io.isthmus.controller.config.VirtualServiceSpec;
import io.isthmus.controller.config.VirtualServiceSpec.L4RouteDestination;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * A VirtualService's {@code tcp} and {@code tls} routes for one port of one host, as the sidecar's
 * outbound TCP filter chains Istio's pilot makes of them ({@code buildSidecarOutboundTLSFilterChainOpts},
 * {@code buildSidecarOutboundTCPFilterChainOpts}). Pure; one instance per translation.
 *
 * <p>A match that does not select this proxy ({@code sourceLabels}, {@code sourceNamespace},
 * {@code gateways} without {@code mesh}, another {@code port}) is dropped here, per proxy. A TLS
 * match is a chain on its {@code sniHosts} (and {@code destinationSubnets}); a TCP route is one
 * chain on the {@code destinationSubnets} of its selecting matches, and a TCP route with a
 * selecting match without subnets (or without matches) takes every destination: routes after it
 * are not reached, as in Istio. Destinations: one is {@code cluster}, several are
 * {@code weighted_clusters} (weight 0 left out), each {@code outbound|<port>|<subset>|<host>}
 * where the port is the destination's, else the service's only port, else the listener's.
 * {@code idle_timeout} is the DestinationRule's {@code connectionPool.tcp.idleTimeout} of a single
 * destination (subset over rule, port-level over both), as Istio sets it.
 */
final class L4RouteTranslator {

    private final PolicyTranslator policy;
    private final ProxyNode node;
    private final String domainSuffix;
    private final Function<String, Optional<ServiceView>> services;

    L4RouteTranslator(PolicyTranslator policy, ProxyNode node, String domainSuffix,
            Function<String, Optional<ServiceView>> services) {
        this.policy = requireNonNull(policy, "policy");
        this.node = requireNonNull(node, "node");
        this.domainSuffix = requireNonNull(domainSuffix, "domainSuffix");
        this.services = requireNonNull(services, "services");
    }

    /** The routes of {@code host}'s VirtualService on {@code port} that select this proxy, in order. */
    List<OutboundListeners.L4Route> routes(String host, int port) {
        Optional<ConfigEntry<VirtualServiceSpec>> found = policy.virtualService(host);
        if (found.isEmpty()) {
            return List.of();
        }
        ConfigEntry<VirtualServiceSpec> vs = found.get();
        List<OutboundListeners.L4Route> routes = new ArrayList<>();
        // Istio hashes each TLS match's predicates and keeps the first route of a repeated one.
        Set<List<Object>> seenTls = new HashSet<>();
        for (VirtualServiceSpec.TlsRoute tls : vs.spec().tls()) {
            for (VirtualServiceSpec.TlsMatchAttributes m : tls.match()) {
                if (selects(m.port(), m.sourceLabels(), m.gateways(), m.sourceNamespace(), port)
                        && seenTls.add(List.of(m.sniHosts(), m.destinationSubnets()))) {
                    routes.add(new OutboundListeners.L4Route(true, m.sniHosts(), m.destinationSubnets(),
                            tcpProxy(vs, tls.route(), host, port)));
                }
            }
        }
        for (VirtualServiceSpec.TcpRoute tcp : vs.spec().tcp()) {
            List<String> subnets = new ArrayList<>();
            boolean selected = tcp.match().isEmpty();
            boolean everyDestination = tcp.match().isEmpty();
            for (VirtualServiceSpec.L4MatchAttributes m : tcp.match()) {
                if (selects(m.port(), m.sourceLabels(), m.gateways(), m.sourceNamespace(), port)) {
                    selected = true;
                    everyDestination |= m.destinationSubnets().isEmpty();
                    subnets.addAll(m.destinationSubnets());
                }
            }
            if (selected) {
                routes.add(new OutboundListeners.L4Route(false, List.of(),
                        everyDestination ? List.of() : subnets, tcpProxy(vs, tcp.route(), host, port)));
                if (everyDestination) {
                    break;
                }
            }
        }
        return routes;
    }

    /** Istio's {@code matchTCP}/{@code matchTLS} for a sidecar: its gateway is {@code mesh}. */
    private boolean selects(Integer matchPort, Map<String, String> sourceLabels, List<String> gateways,
            String sourceNamespace, int port) {
        if (matchPort != null && matchPort != port) {
            return false;
        }
        if (!gateways.isEmpty() && !gateways.contains("mesh")) {
            return false;
        }
        if (sourceNamespace != null && !sourceNamespace.equals(node.namespace())) {
            return false;
        }
        for (var label : sourceLabels.entrySet()) {
            if (!label.getValue().equals(node.labels().get(label.getKey()))) {
                return false;
            }
        }
        return true;
    }

    private TcpProxy tcpProxy(ConfigEntry<VirtualServiceSpec> vs, List<L4RouteDestination> destinations,
            String host, int port) {
        List<L4RouteDestination> live = destinations.size() == 1 ? destinations
                : destinations.stream().filter(d -> d.weight() == null || d.weight() > 0).toList();
        if (live.size() == 1) {
            VirtualServiceSpec.Destination d = live.get(0).destination();
            String target = resolve(d.host(), vs.namespace());
            int targetPort = targetPort(target, d, port);
            String cluster = DestinationClusters.clusterName(target, d, targetPort);
            TcpProxy.Builder proxy = TcpProxy.newBuilder().setStatPrefix(cluster).setCluster(cluster);
            idleTimeout(target, d.subset(), targetPort).ifPresent(proxy::setIdleTimeout);
            return proxy.build();
        }
        TcpProxy.WeightedCluster.Builder weighted = TcpProxy.WeightedCluster.newBuilder();
        for (L4RouteDestination rd : live) {
            VirtualServiceSpec.Destination d = rd.destination();
            String target = resolve(d.host(), vs.namespace());
            int targetPort = targetPort(target, d, port);
            weighted.addClusters(TcpProxy.WeightedCluster.ClusterWeight.newBuilder()
                    .setName(DestinationClusters.clusterName(target, d, targetPort))
                    .setWeight(rd.weight() == null ? 0 : rd.weight()));
        }
        // Several destinations have no one cluster to name the stats after: the listened service's.
        return TcpProxy.newBuilder()
                .setStatPrefix(ResourceNames.outboundCluster(port, host))
                .setWeightedClusters(weighted)
                .build();
    }

    private String resolve(String host, String namespace) {
        return Hosts.resolve(host, namespace, domainSuffix);
    }

    private int targetPort(String host, VirtualServiceSpec.Destination d, int port) {
        return DestinationClusters.targetPort(services, host, d, port);
    }


    /** {@code connectionPool.tcp.idleTimeout} in force for {@code host}'s subset and port, if any. */
    Optional<com.google.protobuf.Duration> idleTimeout(String host, String subset, int port) {
        Optional<ServiceView> service = services.apply(host);
        if (service.isEmpty()) {
            return Optional.empty();
        }
        Optional<ConfigEntry<DestinationRuleSpec>> rule = policy.destinationRule(service.get());
        if (rule.isEmpty()) {
            return Optional.empty();
        }
        DestinationRuleSpec.TrafficPolicy subsetPolicy = null;
        if (subset != null) {
            subsetPolicy = rule.get().spec().subsets().stream().filter(s -> subset.equals(s.name())).findFirst()
                    .map(DestinationRuleSpec.Subset::trafficPolicy).orElse(null);
        }
        return idleTimeout(rule.get().spec().trafficPolicy(), subsetPolicy, port);
    }

    /** The idle timeout of {@code rulePolicy} overridden by {@code subsetPolicy}, port-level settings winning. */
    static Optional<com.google.protobuf.Duration> idleTimeout(DestinationRuleSpec.TrafficPolicy rulePolicy,
            DestinationRuleSpec.TrafficPolicy subsetPolicy, int port) {
        String idle = null;
        for (DestinationRuleSpec.TrafficPolicy tp : new DestinationRuleSpec.TrafficPolicy[] {rulePolicy, subsetPolicy}) {
            if (tp == null) {
                continue;
            }
            idle = tcpIdle(tp.connectionPool(), idle);
            for (DestinationRuleSpec.PortTrafficPolicy p : tp.portLevelSettings()) {
                if (p.port() != null && p.port().number() != null && p.port().number() == port) {
                    idle = tcpIdle(p.connectionPool(), idle);
                }
            }
        }
        return Optional.ofNullable(idle).map(text -> Durations.proto(Durations.parse(text)));
    }

    private static String tcpIdle(DestinationRuleSpec.ConnectionPool pool, String current) {
        return pool != null && pool.tcp() != null && pool.tcp().idleTimeout() != null
                ? pool.tcp().idleTimeout() : current;
    }
}
