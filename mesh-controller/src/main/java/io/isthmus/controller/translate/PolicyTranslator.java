package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;

import com.google.protobuf.UInt32Value;
import com.google.protobuf.UInt64Value;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.CommonLbConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.LbPolicy;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.cluster.v3.UpstreamConnectionOptions;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.ProxyProtocolConfig;
import io.envoyproxy.envoy.config.core.v3.TcpKeepalive;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteAction.RequestMirrorPolicy;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.common.fault.v3.FaultDelay;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport;
import io.envoyproxy.envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.envoyproxy.envoy.type.v3.FractionalPercent.DenominatorType;
import io.envoyproxy.envoy.type.v3.Percent;
import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.DestinationRuleSpec;
import io.isthmus.controller.config.DestinationRuleSpec.LocalityLbSetting;
import io.isthmus.controller.config.DestinationRuleSpec.Subset;
import io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy;
import io.isthmus.controller.config.Durations;
import io.isthmus.controller.config.Hosts;
import io.isthmus.controller.config.VirtualServiceSpec;
import io.isthmus.controller.config.VirtualServiceSpec.HttpRoute;
import io.isthmus.controller.config.VirtualServiceSpec.MatchRequest;
import io.isthmus.controller.config.VirtualServiceSpec.RouteDestination;
import io.isthmus.controller.config.VirtualServiceSpec.StringMatch;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Istio's VirtualService and DestinationRule applied to one proxy's clusters, endpoints and
 * routes, the way pilot's generators do it. Pure; one instance per translation.
 */
final class PolicyTranslator {

    static final String FAULT_FILTER = "envoy.filters.http.fault";
    static final String CORS_FILTER = "envoy.filters.http.cors";
    // The topology keys Istio adds to proxy and endpoint labels, for failoverPriority.
    static final String NETWORK_LABEL = "topology.istio.io/network";
    static final String REGION_LABEL = "topology.kubernetes.io/region";
    static final String ZONE_LABEL = "topology.kubernetes.io/zone";
    static final String SUBZONE_LABEL = "topology.istio.io/subzone";
    static final String CLUSTER_LABEL = "topology.istio.io/cluster";

    private static final long MAX_UINT32 = 4294967295L;

    private final MeshPolicies policies;
    private final ProxyNode node;
    private final Function<String, Optional<ServiceView>> services;
    // Built on first use and kept for this translation: looking each service up in every rule (and
    // every remote endpoint) made a mesh of n services cost n² in time and garbage.
    private Map<String, List<ConfigEntry<DestinationRuleSpec>>> destinationRulesByHost;
    private Map<String, List<ConfigEntry<VirtualServiceSpec>>> virtualServicesByHost;
    private Map<String, ConfigEntry<VirtualServiceSpec>> virtualServicesByName;
    private List<ConfigEntry<VirtualServiceSpec>> wildcardVirtualServices;
    private List<ConfigEntry<DestinationRuleSpec>> wildcardDestinationRules;
    private final Map<String, Map<ServiceKey, List<Endpoint>>> readyEndpointsByCluster = new HashMap<>();

    PolicyTranslator(MeshPolicies policies, ProxyNode node, Function<String, Optional<ServiceView>> services) {
        this.policies = policies;
        this.node = node;
        this.services = services;
    }

    private String resolve(String host, String namespace) {
        return Hosts.resolve(host, namespace, policies.domainSuffix());
    }

    // ---- DestinationRule ----

    /**
     * The rule for {@code host} as seen from the proxy: a rule of its own namespace whose
     * {@code workloadSelector} matches its labels (sidecars and proxyless clients only), then its
     * own namespace's, then the service's, then the oldest. A rule with a selector is never seen
     * from another namespace, nor by a proxy it does not select (pilot's
     * {@code SidecarScope.DestinationRule}). The selected rule is merged with the selector-less
     * rule of that namespace for the same host as pilot's {@code mergeDestinationRule} merges
     * two rules: the subsets it lacks are added, and that rule's top-level traffic policy stands in
     * when it has none.
     */
    Optional<ConfigEntry<DestinationRuleSpec>> destinationRule(ServiceView service) {
        return destinationRule(service, false);
    }

    /**
     * As {@link #destinationRule(ServiceView)} for the proxy's inbound side: only rules without
     * {@code workloadSelector} (pilot honours a selector on outbound configs only).
     */
    Optional<ConfigEntry<DestinationRuleSpec>> inboundDestinationRule(ServiceView service) {
        return destinationRule(service, true);
    }

    private Optional<ConfigEntry<DestinationRuleSpec>> destinationRule(ServiceView service, boolean inbound) {
        ConfigEntry<DestinationRuleSpec> best = null;
        int bestRank = Integer.MAX_VALUE;
        List<ConfigEntry<DestinationRuleSpec>> candidates = destinationRules(service.hostname());
        for (ConfigEntry<DestinationRuleSpec> dr : candidates) {
            if (inbound && dr.spec().workloadSelector() != null) {
                continue;
            }
            if (dr.spec().workloadSelector() != null ? !selects(dr)
                    : !Hosts.exported(dr.spec().exportTo(), dr.namespace(), node.namespace())) {
                continue;
            }
            int rank = dr.namespace().equals(node.namespace()) ? 0
                    : dr.namespace().equals(service.key().namespace()) ? 1 : 2;
            if (rank < bestRank) {
                best = dr;
                bestRank = rank;
            }
        }
        if (bestRank != 0 || inbound) {
            return Optional.ofNullable(best);
        }
        // As pilot: the most specific host among the namespace's rules first, then, among the rules
        // for that host, one whose selector picks this proxy over the one without a selector.
        String host = resolve(best.spec().host(), best.namespace());
        ConfigEntry<DestinationRuleSpec> selected = null;
        ConfigEntry<DestinationRuleSpec> selectorLess = null;
        for (ConfigEntry<DestinationRuleSpec> dr : candidates) {
            if (!dr.namespace().equals(node.namespace()) || !resolve(dr.spec().host(), dr.namespace()).equals(host)) {
                continue;
            }
            if (dr.spec().workloadSelector() != null) {
                if (selected == null && selects(dr)) {
                    selected = dr;
                }
            } else if (selectorLess == null && Hosts.exported(dr.spec().exportTo(), dr.namespace(), node.namespace())) {
                selectorLess = dr;
            }
        }
        if (selected == null) {
            return Optional.of(best);
        }
        return Optional.of(selectorLess == null ? selected : mergedWithSelectorLess(selected, selectorLess));
    }

    /** True when {@code dr}'s workloadSelector applies to this proxy: a workload of its namespace that it selects. */
    private boolean selects(ConfigEntry<DestinationRuleSpec> dr) {
        return node.type() != ProxyType.ROUTER && dr.namespace().equals(node.namespace())
                && dr.spec().workloadSelector().matches(node.labels());
    }

    private static ConfigEntry<DestinationRuleSpec> mergedWithSelectorLess(ConfigEntry<DestinationRuleSpec> selected,
            ConfigEntry<DestinationRuleSpec> selectorLess) {
        DestinationRuleSpec spec = selected.spec();
        List<Subset> subsets = new ArrayList<>(spec.subsets());
        Set<String> names = new java.util.HashSet<>();
        spec.subsets().forEach(s -> names.add(s.name()));
        selectorLess.spec().subsets().stream().filter(s -> !names.contains(s.name())).forEach(subsets::add);
        TrafficPolicy policy = spec.trafficPolicy() != null ? spec.trafficPolicy()
                : selectorLess.spec().trafficPolicy();
        return new ConfigEntry<>(selected.resource(), selected.cluster(), new DestinationRuleSpec(spec.host(), policy,
                subsets, spec.exportTo(), spec.workloadSelector()));
    }

    /**
     * Every subset any rule defines for the host, whatever its exportTo (the oldest rule wins a
     * name): an east-west gateway relays for callers in every namespace, whose sidecars may see
     * different rules.
     */
    List<Subset> allSubsets(ServiceView service) {
        Map<String, Subset> byName = new TreeMap<>();
        for (ConfigEntry<DestinationRuleSpec> dr : destinationRules(service.hostname())) {
            dr.spec().subsets().forEach(s -> byName.putIfAbsent(s.name(), s));
        }
        return List.copyOf(byName.values());
    }

    /**
     * The rules whose host names {@code hostname}: those naming it exactly, then those whose
     * wildcard covers it, most specific first; oldest first among equals.
     */
    private List<ConfigEntry<DestinationRuleSpec>> destinationRules(String hostname) {
        if (destinationRulesByHost == null) {
            destinationRulesByHost = new HashMap<>();
            wildcardDestinationRules = new ArrayList<>();
            for (ConfigEntry<DestinationRuleSpec> dr : sortedByAge(policies.config().destinationRules())) {
                String host = resolve(dr.spec().host(), dr.namespace());
                if (host.contains("*")) {
                    wildcardDestinationRules.add(dr);
                } else {
                    destinationRulesByHost.computeIfAbsent(host, h -> new ArrayList<>()).add(dr);
                }
            }
        }
        return withWildcards(destinationRulesByHost.getOrDefault(hostname, List.of()), wildcardDestinationRules,
                dr -> List.of(dr.spec().host()), hostname);
    }

    /**
     * The VirtualServices naming {@code hostname} among their hosts: exactly, then by a wildcard,
     * most specific first; oldest first among equals.
     */
    private List<ConfigEntry<VirtualServiceSpec>> virtualServices(String hostname) {
        if (virtualServicesByHost == null) {
            virtualServicesByHost = new HashMap<>();
            wildcardVirtualServices = new ArrayList<>();
            for (ConfigEntry<VirtualServiceSpec> vs : sortedByAge(policies.config().virtualServices())) {
                Set<String> hosts = new LinkedHashSet<>();
                vs.spec().hosts().forEach(host -> hosts.add(resolve(host, vs.namespace())));
                hosts.stream().filter(host -> !host.contains("*")).forEach(host ->
                        virtualServicesByHost.computeIfAbsent(host, h -> new ArrayList<>()).add(vs));
                if (hosts.stream().anyMatch(host -> host.contains("*"))) {
                    wildcardVirtualServices.add(vs);
                }
            }
        }
        return withWildcards(virtualServicesByHost.getOrDefault(hostname, List.of()), wildcardVirtualServices,
                vs -> vs.spec().hosts(), hostname);
    }

    /** {@code exact}, then the entries of {@code wildcards} covering {@code hostname}, most specific first. */
    private static <S> List<ConfigEntry<S>> withWildcards(List<ConfigEntry<S>> exact, List<ConfigEntry<S>> wildcards,
            Function<ConfigEntry<S>, List<String>> hosts, String hostname) {
        if (wildcards.isEmpty()) {
            return exact;
        }
        List<Map.Entry<Integer, ConfigEntry<S>>> covering = new ArrayList<>();
        for (ConfigEntry<S> entry : wildcards) {
            int best = -1;
            for (String host : hosts.apply(entry)) {
                if (host.contains("*")) {
                    best = Math.max(best, Hosts.specificity(host, hostname));
                }
            }
            if (best >= 0) {
                covering.add(Map.entry(best, entry));
            }
        }
        if (covering.isEmpty()) {
            return exact;
        }
        // Stable: entries of equal specificity stay oldest first.
        covering.sort(Comparator.comparing((Map.Entry<Integer, ConfigEntry<S>> e) -> e.getKey()).reversed());
        List<ConfigEntry<S>> out = new ArrayList<>(exact);
        covering.forEach(e -> out.add(e.getValue()));
        return out;
    }

    private static <S> List<ConfigEntry<S>> sortedByAge(List<ConfigEntry<S>> entries) {
        List<ConfigEntry<S>> copy = new ArrayList<>(entries);
        copy.sort(Comparator.comparing((ConfigEntry<S> e) -> e.resource().creationTimestamp())
                .thenComparing(e -> e.resource().namespace())
                .thenComparing(e -> e.resource().name()));
        return copy;
    }

    /** The cluster with the rule's traffic policy (the subset's on top of the rule's), port-level settings winning. */
    Cluster applyTrafficPolicy(Cluster base, int port, TrafficPolicy rulePolicy, TrafficPolicy subsetPolicy) {
        Cluster.Builder cluster = base.toBuilder();
        for (TrafficPolicy tp : new TrafficPolicy[] {rulePolicy, subsetPolicy}) {
            if (tp == null) {
                continue;
            }
            apply(cluster, tp.loadBalancer(), tp.connectionPool(), tp.outlierDetection());
            for (DestinationRuleSpec.PortTrafficPolicy p : tp.portLevelSettings()) {
                if (p.port().number() == port) {
                    apply(cluster, p.loadBalancer(), p.connectionPool(), p.outlierDetection());
                }
            }
        }
        DestinationRuleSpec.ProxyProtocol proxyProtocol = subsetPolicy != null && subsetPolicy.proxyProtocol() != null
                ? subsetPolicy.proxyProtocol() : rulePolicy != null ? rulePolicy.proxyProtocol() : null;
        if (proxyProtocol != null) {
            upstreamProxyProtocol(cluster, proxyProtocol);
        }
        return cluster.build();
    }

    static final String PROXY_PROTOCOL_SOCKET = "envoy.transport_sockets.upstream_proxy_protocol";

    /**
     * As pilot's {@code applyUpstreamProxyProtocol}: the cluster's transport socket (raw bytes
     * when it has none) wrapped in {@code upstream_proxy_protocol} with the version
     * ({@code V1} when unset), so each connection starts with a PROXY header.
     */
    private static void upstreamProxyProtocol(Cluster.Builder cluster, DestinationRuleSpec.ProxyProtocol proxyProtocol) {
        TransportSocket inner = cluster.hasTransportSocket() ? cluster.getTransportSocket()
                : TransportSocket.newBuilder().setName("envoy.transport_sockets.raw_buffer")
                        .setTypedConfig(pack(RawBuffer.getDefaultInstance())).build();
        cluster.setTransportSocket(TransportSocket.newBuilder().setName(PROXY_PROTOCOL_SOCKET)
                .setTypedConfig(pack(ProxyProtocolUpstreamTransport.newBuilder()
                        .setConfig(ProxyProtocolConfig.newBuilder().setVersion("V2".equals(proxyProtocol.version())
                                ? ProxyProtocolConfig.Version.V2 : ProxyProtocolConfig.Version.V1))
                        .setTransportSocket(inner)
                        .build())));
    }

    /** The socket inside an {@code upstream_proxy_protocol} wrapper, or {@code socket} itself. */
    static TransportSocket unwrapProxyProtocol(TransportSocket socket) {
        if (!socket.getTypedConfig().is(ProxyProtocolUpstreamTransport.class)) {
            return socket;
        }
        try {
            return socket.getTypedConfig().unpack(ProxyProtocolUpstreamTransport.class).getTransportSocket();
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException("our own " + PROXY_PROTOCOL_SOCKET + " does not unpack", e);
        }
    }

    /** A connection pool's limits on {@code cluster} (null: none), as a DestinationRule's translate. */
    static void applyConnectionPool(Cluster.Builder cluster, DestinationRuleSpec.ConnectionPool pool) {
        apply(cluster, null, pool, null);
    }

    private static void apply(Cluster.Builder cluster, DestinationRuleSpec.LoadBalancer lb,
            DestinationRuleSpec.ConnectionPool pool, DestinationRuleSpec.OutlierDetection od) {
        if (lb != null && lb.simple() != null) {
            switch (lb.simple()) {
                case "ROUND_ROBIN" -> cluster.setLbPolicy(LbPolicy.ROUND_ROBIN).clearLbConfig();
                case "LEAST_CONN", "LEAST_REQUEST" -> cluster.setLbPolicy(LbPolicy.LEAST_REQUEST).clearLbConfig();
                case "RANDOM" -> cluster.setLbPolicy(LbPolicy.RANDOM).clearLbConfig();
                default -> { }
            }
        }
        if (lb != null && lb.consistentHash() != null) {
            consistentHash(cluster, lb.consistentHash());
        }
        if (lb != null && (lb.warmupDurationSecs() != null || lb.warmup() != null) && lb.consistentHash() == null) {
            slowStart(cluster, lb);
        }
        if (pool != null) {
            upstreamConnection(cluster, pool);
            CircuitBreakers.Thresholds.Builder t = cluster.hasCircuitBreakers()
                    ? cluster.getCircuitBreakers().getThresholds(0).toBuilder()
                    : CircuitBreakers.Thresholds.newBuilder()
                            .setMaxConnections(uint32(MAX_UINT32))
                            .setMaxPendingRequests(uint32(MAX_UINT32))
                            .setMaxRequests(uint32(MAX_UINT32))
                            .setMaxRetries(uint32(MAX_UINT32));
            if (pool.tcp() != null) {
                if (pool.tcp().maxConnections() != null && pool.tcp().maxConnections() > 0) {
                    t.setMaxConnections(uint32(pool.tcp().maxConnections()));
                }
                if (pool.tcp().connectTimeout() != null) {
                    cluster.setConnectTimeout(Durations.proto(Durations.parse(pool.tcp().connectTimeout())));
                }
            }
            if (pool.http() != null) {
                var h = pool.http();
                if (h.http1MaxPendingRequests() != null && h.http1MaxPendingRequests() > 0) {
                    t.setMaxPendingRequests(uint32(h.http1MaxPendingRequests()));
                }
                if (h.http2MaxRequests() != null && h.http2MaxRequests() > 0) {
                    t.setMaxRequests(uint32(h.http2MaxRequests()));
                }
                if (h.maxRetries() != null && h.maxRetries() > 0) {
                    t.setMaxRetries(uint32(h.maxRetries()));
                }
            }
            cluster.setCircuitBreakers(CircuitBreakers.newBuilder().addThresholds(t));
        }
        if (od != null) {
            OutlierDetection.Builder o = OutlierDetection.newBuilder();
            // Istio: consecutiveErrors is the deprecated name of consecutive5xxErrors.
            Integer fiveXx = od.consecutive5xxErrors() != null ? od.consecutive5xxErrors() : od.consecutiveErrors();
            if (fiveXx != null && fiveXx > 0) {
                o.setConsecutive5Xx(uint32(fiveXx)).setEnforcingConsecutive5Xx(uint32(100));
            } else {
                o.setEnforcingConsecutive5Xx(uint32(0));
            }
            if (od.consecutiveGatewayErrors() != null && od.consecutiveGatewayErrors() > 0) {
                o.setConsecutiveGatewayFailure(uint32(od.consecutiveGatewayErrors()))
                        .setEnforcingConsecutiveGatewayFailure(uint32(100));
            } else {
                o.setEnforcingConsecutiveGatewayFailure(uint32(0));
            }
            if (Boolean.TRUE.equals(od.splitExternalLocalOriginErrors())) {
                o.setSplitExternalLocalOriginErrors(true);
                if (od.consecutiveLocalOriginFailures() != null && od.consecutiveLocalOriginFailures() > 0) {
                    o.setConsecutiveLocalOriginFailure(uint32(od.consecutiveLocalOriginFailures()))
                            .setEnforcingConsecutiveLocalOriginFailure(uint32(100));
                }
            }
            if (od.interval() != null) {
                o.setInterval(Durations.proto(Durations.parse(od.interval())));
            }
            if (od.baseEjectionTime() != null) {
                o.setBaseEjectionTime(Durations.proto(Durations.parse(od.baseEjectionTime())));
            }
            if (od.maxEjectionPercent() != null) {
                o.setMaxEjectionPercent(uint32(od.maxEjectionPercent()));
            }
            o.setEnforcingSuccessRate(uint32(0));
            cluster.setOutlierDetection(o);
            // Istio disables panic mode unless minHealthPercent asks for it.
            cluster.setCommonLbConfig(CommonLbConfig.newBuilder().setHealthyPanicThreshold(
                    Percent.newBuilder().setValue(od.minHealthPercent() == null ? 0 : od.minHealthPercent())));
        }
    }

    /**
     * As pilot's {@code setSlowStartConfig}: {@code warmup} (else {@code warmupDurationSecs}) as
     * the {@code slow_start_config} of the cluster's ROUND_ROBIN or LEAST_REQUEST config
     * ({@code min_weight_percent} and {@code aggression} only when set; Envoy defaults them to 10%
     * and 1.0). Other policies do not ramp, so they get none.
     */
    private static void slowStart(Cluster.Builder cluster, DestinationRuleSpec.LoadBalancer lb) {
        Cluster.SlowStartConfig.Builder config = Cluster.SlowStartConfig.newBuilder();
        if (lb.warmup() != null) {
            config.setSlowStartWindow(Durations.proto(Durations.parse(lb.warmup().duration())));
            if (lb.warmup().minimumPercent() != null) {
                config.setMinWeightPercent(Percent.newBuilder().setValue(lb.warmup().minimumPercent()));
            }
            if (lb.warmup().aggression() != null) {
                config.setAggression(io.envoyproxy.envoy.config.core.v3.RuntimeDouble.newBuilder()
                        .setDefaultValue(lb.warmup().aggression())
                        .setRuntimeKey(SLOW_START_AGGRESSION_RUNTIME_KEY));
            }
        } else {
            config.setSlowStartWindow(Durations.proto(Durations.parse(lb.warmupDurationSecs())));
        }
        switch (cluster.getLbPolicy()) {
            case ROUND_ROBIN -> cluster.setRoundRobinLbConfig(Cluster.RoundRobinLbConfig.newBuilder()
                    .setSlowStartConfig(config));
            case LEAST_REQUEST -> cluster.setLeastRequestLbConfig(cluster.getLeastRequestLbConfig().toBuilder()
                    .setSlowStartConfig(config));
            default -> { }
        }
    }

    /** Envoy requires a runtime key beside {@code aggression}'s default value; no runtime overrides it here. */
    static final String SLOW_START_AGGRESSION_RUNTIME_KEY = "global.slow_start_aggression";

    /**
     * As pilot: {@code maglev} → MAGLEV (with its table size), otherwise RING_HASH with
     * {@code ringHash.minimumRingSize} or the deprecated {@code minimumRingSize} when set.
     */
    private static void consistentHash(Cluster.Builder cluster, DestinationRuleSpec.ConsistentHash ch) {
        cluster.clearLbConfig();
        if (ch.maglev() != null) {
            cluster.setLbPolicy(LbPolicy.MAGLEV);
            if (ch.maglev().tableSize() != null && ch.maglev().tableSize() > 0) {
                cluster.setMaglevLbConfig(Cluster.MaglevLbConfig.newBuilder()
                        .setTableSize(UInt64Value.of(ch.maglev().tableSize())));
            }
            return;
        }
        cluster.setLbPolicy(LbPolicy.RING_HASH);
        Long ring = ch.ringHash() != null ? ch.ringHash().minimumRingSize() : ch.minimumRingSize();
        if (ring != null && ring > 0) {
            cluster.setRingHashLbConfig(Cluster.RingHashLbConfig.newBuilder().setMinimumRingSize(UInt64Value.of(ring)));
        }
    }

    /**
     * The connection settings pilot puts on the upstream: {@code http.idleTimeout} (else
     * {@code tcp.idleTimeout}),
     * {@code http.maxRequestsPerConnection} and {@code tcp.maxConnectionDuration} in the
     * cluster's {@code HttpProtocolOptions.common_http_protocol_options}, {@code tcp.tcpKeepalive}
     * in {@code upstream_connection_options}. A later policy (subset, port) overrides field by field.
     */
    private static void upstreamConnection(Cluster.Builder cluster, DestinationRuleSpec.ConnectionPool pool) {
        HttpProtocolOptions existing = httpProtocolOptions(cluster);
        HttpProtocolOptions.Builder options = existing != null ? existing.toBuilder()
                // The proxy (and gRPC through it) follows the caller's HTTP version when the cluster
                // names none; Envoy requires one, so say so explicitly.
                : HttpProtocolOptions.newBuilder().setUseDownstreamProtocolConfig(
                        HttpProtocolOptions.UseDownstreamHttpConfig.newBuilder()
                                .setHttpProtocolOptions(Http1ProtocolOptions.getDefaultInstance())
                                .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance()));
        io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions.Builder common = options.getCommonHttpProtocolOptions().toBuilder();
        if (pool.http() != null) {
            if (pool.http().idleTimeout() != null) {
                common.setIdleTimeout(Durations.proto(Durations.parse(pool.http().idleTimeout())));
            }
            if (pool.http().maxRequestsPerConnection() != null && pool.http().maxRequestsPerConnection() > 0) {
                common.setMaxRequestsPerConnection(uint32(pool.http().maxRequestsPerConnection()));
            }
        }
        if (pool.tcp() != null && pool.tcp().idleTimeout() != null
                && (pool.http() == null || pool.http().idleTimeout() == null)) {
            // Istio: the TCP idle timeout stands in for the HTTP one where that is not set.
            common.setIdleTimeout(Durations.proto(Durations.parse(pool.tcp().idleTimeout())));
        }
        if (pool.tcp() != null && pool.tcp().maxConnectionDuration() != null) {
            common.setMaxConnectionDuration(Durations.proto(Durations.parse(pool.tcp().maxConnectionDuration())));
        }
        if (existing != null || !common.build().equals(io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions.getDefaultInstance())) {
            options.setCommonHttpProtocolOptions(common);
            cluster.putTypedExtensionProtocolOptions(HTTP_PROTOCOL_OPTIONS, pack(options.build()));
        }
        if (pool.tcp() != null && pool.tcp().tcpKeepalive() != null) {
            var ka = pool.tcp().tcpKeepalive();
            TcpKeepalive.Builder keepalive = cluster.getUpstreamConnectionOptions().getTcpKeepalive().toBuilder();
            if (ka.probes() != null && ka.probes() > 0) {
                keepalive.setKeepaliveProbes(uint32(ka.probes()));
            }
            if (ka.time() != null) {
                keepalive.setKeepaliveTime(uint32(Durations.parse(ka.time()).getSeconds()));
            }
            if (ka.interval() != null) {
                keepalive.setKeepaliveInterval(uint32(Durations.parse(ka.interval()).getSeconds()));
            }
            cluster.setUpstreamConnectionOptions(UpstreamConnectionOptions.newBuilder().setTcpKeepalive(keepalive));
        }
    }

    static final String HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

    private static HttpProtocolOptions httpProtocolOptions(Cluster.Builder cluster) {
        var any = cluster.getTypedExtensionProtocolOptionsMap().get(HTTP_PROTOCOL_OPTIONS);
        if (any == null) {
            return null;
        }
        try {
            return any.unpack(HttpProtocolOptions.class);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException("our own " + HTTP_PROTOCOL_OPTIONS + " does not unpack", e);
        }
    }

    /**
     * The route's {@code hash_policy} for a destination, as pilot's
     * {@code consistentHashToHashPolicy}: the consistent-hash key of the rule in force for the
     * destination's host, subset and port (port level over the policy, the subset's over the rule's).
     */
    Optional<RouteAction.HashPolicy> hashPolicy(String host, String subset, int port) {
        Optional<ServiceView> service = services.apply(host);
        if (service.isEmpty()) {
            return Optional.empty();
        }
        Optional<ConfigEntry<DestinationRuleSpec>> rule = destinationRule(service.get());
        if (rule.isEmpty()) {
            return Optional.empty();
        }
        TrafficPolicy subsetPolicy = null;
        if (subset != null) {
            for (Subset s : rule.get().spec().subsets()) {
                if (s.name().equals(subset)) {
                    subsetPolicy = s.trafficPolicy();
                }
            }
        }
        DestinationRuleSpec.LoadBalancer lb = null;
        for (TrafficPolicy tp : new TrafficPolicy[] {rule.get().spec().trafficPolicy(), subsetPolicy}) {
            if (tp == null) {
                continue;
            }
            lb = tp.loadBalancer() != null ? tp.loadBalancer() : lb;
            for (DestinationRuleSpec.PortTrafficPolicy p : tp.portLevelSettings()) {
                if (p.port() != null && p.port().number() != null && p.port().number() == port
                        && p.loadBalancer() != null) {
                    lb = p.loadBalancer();
                }
            }
        }
        if (lb == null || lb.consistentHash() == null) {
            return Optional.empty();
        }
        return hashPolicy(lb.consistentHash());
    }

    static Optional<RouteAction.HashPolicy> hashPolicy(DestinationRuleSpec.ConsistentHash ch) {
        RouteAction.HashPolicy.Builder h = RouteAction.HashPolicy.newBuilder();
        if (ch.httpHeaderName() != null) {
            h.setHeader(RouteAction.HashPolicy.Header.newBuilder().setHeaderName(ch.httpHeaderName()));
        } else if (ch.httpCookie() != null) {
            RouteAction.HashPolicy.Cookie.Builder cookie = RouteAction.HashPolicy.Cookie.newBuilder()
                    .setName(ch.httpCookie().name());
            if (ch.httpCookie().path() != null) {
                cookie.setPath(ch.httpCookie().path());
            }
            if (ch.httpCookie().ttl() != null) {
                cookie.setTtl(Durations.proto(Durations.parse(ch.httpCookie().ttl())));
            }
            h.setCookie(cookie);
        } else if (Boolean.TRUE.equals(ch.useSourceIp())) {
            h.setConnectionProperties(RouteAction.HashPolicy.ConnectionProperties.newBuilder().setSourceIp(true));
        } else if (ch.httpQueryParameterName() != null) {
            h.setQueryParameter(RouteAction.HashPolicy.QueryParameter.newBuilder()
                    .setName(ch.httpQueryParameterName()));
        } else {
            return Optional.empty();
        }
        return Optional.of(h.build());
    }

    /** The outlier detection and locality setting in force for a port (subset over rule, port level over both). */
    record LocalityPolicy(boolean outlierDetection, LocalityLbSetting setting) {}

    LocalityPolicy localityPolicy(int port, TrafficPolicy rulePolicy, TrafficPolicy subsetPolicy) {
        boolean od = false;
        LocalityLbSetting setting = null;
        for (TrafficPolicy tp : new TrafficPolicy[] {rulePolicy, subsetPolicy}) {
            if (tp == null) {
                continue;
            }
            od |= tp.outlierDetection() != null;
            if (tp.loadBalancer() != null && tp.loadBalancer().localityLbSetting() != null) {
                setting = tp.loadBalancer().localityLbSetting();
            }
            for (DestinationRuleSpec.PortTrafficPolicy p : tp.portLevelSettings()) {
                if (p.port().number() == port) {
                    od |= p.outlierDetection() != null;
                    if (p.loadBalancer() != null && p.loadBalancer().localityLbSetting() != null) {
                        setting = p.loadBalancer().localityLbSetting();
                    }
                }
            }
        }
        return new LocalityPolicy(od, setting);
    }

    /**
     * Endpoints grouped by locality with Istio's locality priorities relative to the proxy, only
     * when outlier detection is on (without it Envoy never moves traffic off unhealthy hosts, and
     * Istio leaves every locality at priority 0).
     */
    ClusterLoadAssignment loadAssignment(String clusterName, List<MeshEndpoint> endpoints, LocalityPolicy policy) {
        ClusterLoadAssignment plain = Protos.loadAssignment(clusterName, endpoints);
        LocalityLbSetting setting = policy.setting();
        if (setting != null && Boolean.FALSE.equals(setting.enabled())) {
            return plain;
        }
        // As Istio: weights need no health checking, so distribute applies without outlier detection.
        if (setting != null && !setting.distribute().isEmpty()) {
            return distribute(plain, setting.distribute());
        }
        if (!policy.outlierDetection()) {
            return plain;
        }
        List<LocalityLbEndpoints> groups = new ArrayList<>();
        List<Integer> raw = new ArrayList<>();
        List<DestinationRuleSpec.Failover> failover = setting == null ? List.of() : setting.failover();
        if (setting != null && !setting.failoverPriority().isEmpty()) {
            // As Istio: split each locality by how many leading keys match the proxy's own values;
            // a failover list, if any, then orders localities within each of those priorities.
            failoverPriority(clusterName, endpoints, setting.failoverPriority(), groups, raw);
            if (!failover.isEmpty()) {
                for (int i = 0; i < groups.size(); i++) {
                    raw.set(i, raw.get(i) * 5 + localityPriority(groups.get(i), failover));
                }
            }
        } else {
            for (LocalityLbEndpoints group : plain.getEndpointsList()) {
                groups.add(group);
                raw.add(localityPriority(group, failover));
            }
        }
        TreeMap<Integer, Integer> dense = new TreeMap<>();
        raw.forEach(p -> dense.put(p, 0));
        int next = 0;
        for (Map.Entry<Integer, Integer> e : dense.entrySet()) {
            e.setValue(next++);
        }
        ClusterLoadAssignment.Builder out = plain.toBuilder().clearEndpoints();
        for (int i = 0; i < groups.size(); i++) {
            out.addEndpoints(groups.get(i).toBuilder().setPriority(dense.get(raw.get(i))));
        }
        return out.build();
    }

    /**
     * Istio's locality priority of a group relative to the proxy: 0 same region/zone/subzone, 1 same
     * zone, 2 same region, 3 another region; when the first {@code failover} entry whose
     * {@code from} is the proxy's region names another region, every region but that one drops to 4.
     */
    private int localityPriority(LocalityLbEndpoints group, List<DestinationRuleSpec.Failover> failover) {
        Locality own = node.locality();
        var l = group.getLocality();
        if (l.getRegion().equals(own.region())) {
            return !l.getZone().equals(own.zone()) ? 2 : !l.getSubZone().equals(own.subzone()) ? 1 : 0;
        }
        for (DestinationRuleSpec.Failover fo : failover) {
            if (own.region().equals(fo.from())) {
                return l.getRegion().equals(fo.to()) ? 3 : 4;
            }
        }
        return 3;
    }

    /**
     * {@code failoverPriority}: an endpoint whose values match the proxy's for the first n of the k
     * keys gets priority k − n (0 when all match); each locality is split into one group per
     * priority, its weight the sum of its endpoints' (Istio's {@code applyPriorityFailoverPerLocality}).
     */
    private void failoverPriority(String clusterName, List<MeshEndpoint> endpoints, List<String> keys,
            List<LocalityLbEndpoints> groups, List<Integer> raw) {
        Map<Locality, TreeMap<Integer, List<MeshEndpoint>>> byLocality = new TreeMap<>();
        for (MeshEndpoint e : endpoints) {
            int priority = 0;
            for (int j = 0; j < keys.size(); j++) {
                String key = keys.get(j);
                if (!proxyValue(key).equals(endpointValue(e, key))) {
                    priority = keys.size() - j;
                    break;
                }
            }
            byLocality.computeIfAbsent(e.locality(), l -> new TreeMap<>())
                    .computeIfAbsent(priority, p -> new ArrayList<>()).add(e);
        }
        byLocality.values().forEach(byPriority -> byPriority.forEach((priority, members) -> {
            groups.add(Protos.loadAssignment(clusterName, members).getEndpoints(0));
            raw.add(priority);
        }));
    }

    /** The proxy's value for a key: its topology for the topology keys (as Istio augments proxy labels), else its label. */
    private String proxyValue(String key) {
        String topology = topology(key, node.network(), node.cluster(), node.locality());
        return topology != null ? topology : node.labels().getOrDefault(key, "");
    }

    private static String endpointValue(MeshEndpoint e, String key) {
        String topology = topology(key, e.network(), e.cluster(), e.locality());
        return topology != null ? topology : e.labels().getOrDefault(key, "");
    }

    private static String topology(String key, String network, String cluster, Locality locality) {
        return switch (key) {
            case NETWORK_LABEL -> network;
            case CLUSTER_LABEL -> cluster;
            case REGION_LABEL -> locality.region();
            case ZONE_LABEL -> locality.zone();
            case SUBZONE_LABEL -> locality.subzone();
            default -> null;
        };
    }

    /**
     * {@code distribute}, as Istio's {@code applyLocalityWeight}: the first rule whose {@code from}
     * matches the proxy's locality ({@code region/zone/subzone}, {@code *} wildcards) applies; each
     * locality goes to the first {@code to} key (in key order) that matches it, and a key's weight is
     * shared among its localities in proportion to their own weights, rounded up. Localities no key
     * matches are left out.
     */
    private ClusterLoadAssignment distribute(ClusterLoadAssignment plain, List<DestinationRuleSpec.Distribute> rules) {
        Locality own = node.locality();
        for (DestinationRuleSpec.Distribute rule : rules) {
            if (!localityMatches(rule.from(), own.region(), own.zone(), own.subzone())) {
                continue;
            }
            Map<String, List<Integer>> claimed = new TreeMap<>();
            List<LocalityLbEndpoints> groups = plain.getEndpointsList();
            for (int i = 0; i < groups.size(); i++) {
                var l = groups.get(i).getLocality();
                for (String to : new TreeMap<>(rule.to()).keySet()) {
                    if (localityMatches(to, l.getRegion(), l.getZone(), l.getSubZone())) {
                        claimed.computeIfAbsent(to, k -> new ArrayList<>()).add(i);
                        break;
                    }
                }
            }
            long[] weights = new long[groups.size()];
            claimed.forEach((to, members) -> {
                long total = members.stream().mapToLong(i -> groups.get(i).getLoadBalancingWeight().getValue()).sum();
                for (int i : members) {
                    long weight = groups.get(i).getLoadBalancingWeight().getValue();
                    weights[i] = total == 0 ? 0 : (weight * rule.to().get(to) + total - 1) / total;
                }
            });
            ClusterLoadAssignment.Builder out = plain.toBuilder().clearEndpoints();
            for (int i = 0; i < groups.size(); i++) {
                if (weights[i] > 0) {
                    out.addEndpoints(groups.get(i).toBuilder().setLoadBalancingWeight(uint32(weights[i])));
                }
            }
            return out.build();
        }
        return plain;
    }

    private static boolean localityMatches(String pattern, String region, String zone, String subzone) {
        String[] parts = pattern.split("/", -1);
        String[] actual = {region, zone, subzone};
        for (int i = 0; i < parts.length && i < 3; i++) {
            if (!parts[i].equals("*") && !parts[i].equals(actual[i])) {
                return false;
            }
        }
        return true;
    }

    /**
     * The endpoints of one subset. Direct endpoints match by their labels; a gateway entry stands
     * for remote endpoints whose labels the view dropped, so its weight becomes the number of
     * ready endpoints behind it that match (entries with none are left out, as Istio does).
     */
    List<MeshEndpoint> subsetEndpoints(ServiceView service, List<MeshEndpoint> endpoints, Subset subset) {
        List<MeshEndpoint> out = new ArrayList<>();
        for (MeshEndpoint e : endpoints) {
            if (!e.viaGateway() || !e.workload().isEmpty()) {
                if (matches(e.labels(), subset.labels())) {
                    out.add(e);
                }
                continue;
            }
            int count = remoteMatching(service, e, subset.labels());
            if (count > 0) {
                out.add(new MeshEndpoint(e.address(), e.port(), e.locality(), e.cluster(), e.network(), e.identity(),
                        e.workload(), e.labels(), e.healthy(), true, count));
            }
        }
        return out;
    }

    private int remoteMatching(ServiceView service, MeshEndpoint aggregate, Map<String, String> selector) {
        ClusterState cluster = policies.state().clusterStates().get(aggregate.cluster());
        if (cluster == null) {
            return 0;
        }
        Map<ServiceKey, List<Endpoint>> byService = readyEndpointsByCluster.computeIfAbsent(cluster.cluster(), c -> {
            Map<ServiceKey, List<Endpoint>> index = new HashMap<>();
            for (Endpoint e : cluster.endpoints()) {
                if (e.ready()) {
                    index.computeIfAbsent(e.service(), k -> new ArrayList<>()).add(e);
                }
            }
            return index;
        });
        int count = 0;
        // Equal keys are equal host names (the host is a function of the key), without building one.
        for (Endpoint e : byService.getOrDefault(service.key(), List.of())) {
            String network = e.network().isEmpty() ? cluster.network() : e.network();
            if (network.equals(aggregate.network()) && e.locality().equals(aggregate.locality())
                    && matches(e.labels(), selector)) {
                count++;
            }
        }
        return count;
    }

    private static boolean matches(Map<String, String> labels, Map<String, String> selector) {
        for (Map.Entry<String, String> s : selector.entrySet()) {
            if (!s.getValue().equals(labels.get(s.getKey()))) {
                return false;
            }
        }
        return true;
    }

    // ---- VirtualService ----

    /** The VirtualService for a sidecar's host: the oldest one exported to the proxy that names it and applies to the mesh. */
    Optional<ConfigEntry<VirtualServiceSpec>> virtualService(String hostname) {
        for (ConfigEntry<VirtualServiceSpec> vs : virtualServices(hostname)) {
            VirtualServiceSpec spec = vs.spec();
            if (!spec.gateways().isEmpty() && !spec.gateways().contains("mesh")) {
                continue;
            }
            if (Hosts.exported(spec.exportTo(), vs.namespace(), node.namespace())) {
                return Optional.of(vs);
            }
        }
        return Optional.empty();
    }

    /** The VirtualService {@code namespace/name}, if any (a delegate is found this way). */
    private Optional<ConfigEntry<VirtualServiceSpec>> virtualServiceNamed(String namespace, String name) {
        if (virtualServicesByName == null) {
            virtualServicesByName = new HashMap<>();
            for (ConfigEntry<VirtualServiceSpec> vs : policies.config().virtualServices()) {
                virtualServicesByName.putIfAbsent(vs.namespace() + '/' + vs.name(), vs);
            }
        }
        return Optional.ofNullable(virtualServicesByName.get(namespace + '/' + name));
    }

    /**
     * The routes of one virtual host ({@code port}) from a VirtualService's http section, in
     * order, with delegating routes replaced by their delegates' ({@link VirtualServiceDelegation}).
     */
    List<Route> routes(ConfigEntry<VirtualServiceSpec> vs, int port) {
        List<Route> routes = new ArrayList<>();
        for (HttpRoute http : VirtualServiceDelegation.httpRoutes(vs, this::virtualServiceNamed, this::resolve)) {
            List<RouteMatch> matches = new ArrayList<>();
            if (http.match().isEmpty()) {
                matches.add(RouteMatch.newBuilder().setPrefix("/").build());
            }
            for (MatchRequest m : http.match()) {
                if (applies(m, port)) {
                    matches.add(match(m));
                }
            }
            // Every match was for another port or other source workloads: the route is not ours.
            for (RouteMatch match : matches) {
                routes.add(route(vs, http, match, port));
            }
        }
        return routes;
    }

    private boolean applies(MatchRequest m, int port) {
        if (m.port() != null && m.port() != port) {
            return false;
        }
        if (m.sourceNamespace() != null && !m.sourceNamespace().equals(node.namespace())) {
            return false;
        }
        if (!m.gateways().isEmpty() && !m.gateways().contains("mesh")) {
            return false;
        }
        return matches(node.labels(), m.sourceLabels());
    }

    private static RouteMatch match(MatchRequest m) {
        RouteMatch.Builder match = RouteMatch.newBuilder();
        StringMatch uri = m.uri();
        if (uri == null) {
            match.setPrefix("/");
        } else if (uri.exact() != null) {
            match.setPath(uri.exact());
        } else if (uri.prefix() != null) {
            match.setPrefix(uri.prefix());
        } else {
            match.setSafeRegex(RegexMatcher.newBuilder().setRegex(uri.regex()));
        }
        if (Boolean.TRUE.equals(m.ignoreUriCase())) {
            match.setCaseSensitive(com.google.protobuf.BoolValue.of(false));
        }
        if (m.method() != null) {
            match.addHeaders(header(":method", m.method(), false));
        }
        if (m.authority() != null) {
            match.addHeaders(header(":authority", m.authority(), false));
        }
        if (m.scheme() != null) {
            match.addHeaders(header(":scheme", m.scheme(), false));
        }
        m.headers().forEach((name, value) -> match.addHeaders(header(name, value, false)));
        m.withoutHeaders().forEach((name, value) -> match.addHeaders(header(name, value, true)));
        m.queryParams().forEach((name, value) -> {
            QueryParameterMatcher.Builder q = QueryParameterMatcher.newBuilder().setName(name);
            if (value == null || (value.exact() == null && value.prefix() == null && value.regex() == null)) {
                q.setPresentMatch(true);
            } else {
                q.setStringMatch(stringMatcher(value));
            }
            match.addQueryParameters(q);
        });
        return match.build();
    }

    private static HeaderMatcher header(String name, StringMatch value, boolean invert) {
        HeaderMatcher.Builder h = HeaderMatcher.newBuilder().setName(name);
        if (value == null || (value.exact() == null && value.prefix() == null && value.regex() == null)) {
            h.setPresentMatch(true);
        } else {
            h.setStringMatch(stringMatcher(value));
        }
        return h.setInvertMatch(invert).build();
    }

    private static StringMatcher stringMatcher(StringMatch s) {
        StringMatcher.Builder m = StringMatcher.newBuilder();
        if (s.exact() != null) {
            m.setExact(s.exact());
        } else if (s.prefix() != null) {
            m.setPrefix(s.prefix());
        } else {
            m.setSafeRegex(RegexMatcher.newBuilder().setRegex(s.regex()));
        }
        return m.build();
    }

    private Route route(ConfigEntry<VirtualServiceSpec> vs, HttpRoute http, RouteMatch match, int port) {
        Route.Builder route = Route.newBuilder().setMatch(match);
        if (http.name() != null) {
            route.setName(http.name());
        }
        if (http.headers() != null) {
            if (http.headers().request() != null) {
                route.addAllRequestHeadersToAdd(headerOptions(http.headers().request()))
                        .addAllRequestHeadersToRemove(http.headers().request().remove());
            }
            if (http.headers().response() != null) {
                route.addAllResponseHeadersToAdd(headerOptions(http.headers().response()))
                        .addAllResponseHeadersToRemove(http.headers().response().remove());
            }
        }
        if (http.fault() != null) {
            Optional<HTTPFault> fault = fault(http.fault());
            // As pilot: an abort it cannot express (http2Error) drops the fault with a warning.
            fault.ifPresent(f -> route.putTypedPerFilterConfig(FAULT_FILTER, pack(f)));
        }
        if (http.corsPolicy() != null) {
            route.putTypedPerFilterConfig(CORS_FILTER, pack(cors(http.corsPolicy())));
        }
        if (http.redirect() != null) {
            return route.setRedirect(redirect(http.redirect(), port)).build();
        }
        if (http.directResponse() != null) {
            DirectResponseAction.Builder direct = DirectResponseAction.newBuilder()
                    .setStatus(http.directResponse().status());
            var body = http.directResponse().body();
            if (body != null && body.has("string")) {
                direct.setBody(DataSource.newBuilder().setInlineString(body.get("string").asString()));
            }
            return route.setDirectResponse(direct).build();
        }
        RouteAction.Builder action = RouteAction.newBuilder();
        List<RouteDestination> destinations = new ArrayList<>();
        for (RouteDestination d : http.route()) {
            if (http.route().size() == 1 || d.weight() == null || d.weight() > 0) {
                destinations.add(d);
            }
        }
        if (destinations.size() == 1) {
            RouteDestination d = destinations.get(0);
            action.setCluster(clusterName(vs, d.destination(), port));
            if (d.headers() != null && d.headers().request() != null) {
                route.addAllRequestHeadersToAdd(headerOptions(d.headers().request()))
                        .addAllRequestHeadersToRemove(d.headers().request().remove());
            }
        } else {
            WeightedCluster.Builder weighted = WeightedCluster.newBuilder();
            for (RouteDestination d : destinations) {
                WeightedCluster.ClusterWeight.Builder cw = WeightedCluster.ClusterWeight.newBuilder()
                        .setName(clusterName(vs, d.destination(), port))
                        .setWeight(uint32(d.weight() == null ? 0 : d.weight()));
                if (d.headers() != null && d.headers().request() != null) {
                    cw.addAllRequestHeadersToAdd(headerOptions(d.headers().request()))
                            .addAllRequestHeadersToRemove(d.headers().request().remove());
                }
                if (d.headers() != null && d.headers().response() != null) {
                    cw.addAllResponseHeadersToAdd(headerOptions(d.headers().response()))
                            .addAllResponseHeadersToRemove(d.headers().response().remove());
                }
                weighted.addClusters(cw);
            }
            action.setWeightedClusters(weighted);
        }
        // As pilot, one hash policy per route: that of the first destination whose rule asks for
        // consistent hashing (Envoy hashes once per request, before it picks a weighted cluster).
        boolean hashed = false;
        for (RouteDestination d : destinations) {
            Optional<RouteAction.HashPolicy> hash = hashPolicy(vs, d.destination(), port);
            if (hash.isPresent()) {
                action.addHashPolicy(hash.get());
                hashed = true;
                break;
            }
        }
        // Istio's default: no route timeout (Envoy's 15 s default disabled).
        com.google.protobuf.Duration timeout = Durations.proto(http.timeout() == null
                ? java.time.Duration.ZERO : Durations.parse(http.timeout()));
        action.setTimeout(timeout);
        // As pilot: a gRPC client's grpc-timeout is honoured, capped at the route's timeout (0:
        // uncapped); without the header the stream has no duration limit of its own.
        action.setMaxStreamDuration(RouteAction.MaxStreamDuration.newBuilder()
                .setGrpcTimeoutHeaderMax(timeout));
        // As pilot: Istio's default policy when the route sets no retries, none for attempts: 0.
        RetryPolicies.convert(http.retries(), hashed).ifPresent(action::setRetryPolicy);
        if (http.rewrite() != null) {
            if (http.rewrite().uri() != null) {
                action.setPrefixRewrite(http.rewrite().uri());
            }
            if (http.rewrite().authority() != null) {
                action.setHostRewriteLiteral(http.rewrite().authority());
            }
            if (http.rewrite().uriRegexRewrite() != null) {
                action.setRegexRewrite(io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute.newBuilder()
                        .setPattern(RegexMatcher.newBuilder().setRegex(http.rewrite().uriRegexRewrite().match()))
                        .setSubstitution(http.rewrite().uriRegexRewrite().rewrite()));
            }
        }
        // As pilot: the single mirror, then each of mirrors; an explicit 0% mirrors nothing.
        if (http.mirror() != null) {
            FractionalPercent fraction = http.mirrorPercentage() != null
                    ? millionths(http.mirrorPercentage().value())
                    : http.mirrorPercent() != null
                            ? FractionalPercent.newBuilder().setNumerator(http.mirrorPercent())
                                    .setDenominator(DenominatorType.HUNDRED).build()
                            : FractionalPercent.newBuilder().setNumerator(100)
                                    .setDenominator(DenominatorType.HUNDRED).build();
            if (fraction.getNumerator() > 0) {
                action.addRequestMirrorPolicies(mirrorPolicy(clusterName(vs, http.mirror(), port), fraction));
            }
        }
        for (VirtualServiceSpec.HttpMirrorPolicy mirror : http.mirrors()) {
            FractionalPercent fraction = mirror.percentage() != null ? millionths(mirror.percentage().value())
                    : FractionalPercent.newBuilder().setNumerator(100).setDenominator(DenominatorType.HUNDRED).build();
            if (fraction.getNumerator() > 0) {
                action.addRequestMirrorPolicies(mirrorPolicy(clusterName(vs, mirror.destination(), port), fraction));
            }
        }
        return route.setRoute(action).build();
    }

    private Optional<RouteAction.HashPolicy> hashPolicy(ConfigEntry<VirtualServiceSpec> vs,
            VirtualServiceSpec.Destination d, int port) {
        String host = resolve(d.host(), vs.namespace());
        return hashPolicy(host, d.subset(), targetPort(host, d, port));
    }

    private int targetPort(String host, VirtualServiceSpec.Destination d, int port) {
        return DestinationClusters.targetPort(services, host, d, port);
    }


    private String clusterName(ConfigEntry<VirtualServiceSpec> vs, VirtualServiceSpec.Destination d, int port) {
        String host = resolve(d.host(), vs.namespace());
        return DestinationClusters.clusterName(host, d, targetPort(host, d, port));
    }

    private static List<HeaderValueOption> headerOptions(VirtualServiceSpec.HeaderOperations ops) {
        List<HeaderValueOption> out = new ArrayList<>();
        ops.set().forEach((k, v) -> out.add(HeaderValueOption.newBuilder()
                .setHeader(HeaderValue.newBuilder().setKey(k).setValue(v))
                .setAppendAction(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD).build()));
        ops.add().forEach((k, v) -> out.add(HeaderValueOption.newBuilder()
                .setHeader(HeaderValue.newBuilder().setKey(k).setValue(v))
                .setAppendAction(HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD).build()));
        return out;
    }

    private static RequestMirrorPolicy mirrorPolicy(String cluster, FractionalPercent fraction) {
        return RequestMirrorPolicy.newBuilder()
                .setCluster(cluster)
                .setRuntimeFraction(RuntimeFractionalPercent.newBuilder().setDefaultValue(fraction))
                .build();
    }

    /** Pilot's {@code translateCORSPolicy}: joined lists, max age in seconds, enabled for 100%. */
    private static io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy cors(
            VirtualServiceSpec.CorsPolicy in) {
        var out = io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.newBuilder();
        // UNSPECIFIED and FORWARD keep Envoy's old default of forwarding; IGNORE answers them.
        out.setForwardNotMatchingPreflights(com.google.protobuf.BoolValue.of(!"IGNORE".equals(in.unmatchedPreflights())));
        if (!in.allowOrigins().isEmpty()) {
            in.allowOrigins().forEach(o -> out.addAllowOriginStringMatch(stringMatcher(o)));
        } else {
            in.allowOrigin().forEach(o -> out.addAllowOriginStringMatch(StringMatcher.newBuilder().setExact(o)));
        }
        out.setFilterEnabled(RuntimeFractionalPercent.newBuilder().setDefaultValue(
                FractionalPercent.newBuilder().setNumerator(100).setDenominator(DenominatorType.HUNDRED)));
        if (in.allowCredentials() != null) {
            out.setAllowCredentials(com.google.protobuf.BoolValue.of(in.allowCredentials()));
        }
        out.setAllowHeaders(String.join(",", in.allowHeaders()))
                .setAllowMethods(String.join(",", in.allowMethods()))
                .setExposeHeaders(String.join(",", in.exposeHeaders()));
        if (in.maxAge() != null) {
            out.setMaxAge(Long.toString(Durations.parse(in.maxAge()).toSeconds()));
        }
        return out.build();
    }

    private static Optional<HTTPFault> fault(VirtualServiceSpec.Fault fault) {
        HTTPFault.Builder out = HTTPFault.newBuilder();
        if (fault.delay() != null) {
            var d = fault.delay();
            out.setDelay(FaultDelay.newBuilder()
                    .setFixedDelay(Durations.proto(Durations.parse(d.fixedDelay())))
                    .setPercentage(percentage(d.percentage(), d.percent())));
        }
        if (fault.abort() != null) {
            var abort = fault.abort();
            if (abort.httpStatus() != null) {
                out.setAbort(FaultAbort.newBuilder()
                        .setHttpStatus(abort.httpStatus())
                        .setPercentage(percentage(abort.percentage(), null)));
            } else if (abort.grpcStatus() != null) {
                out.setAbort(FaultAbort.newBuilder()
                        .setGrpcStatus(VirtualServiceSpec.Abort.GRPC_STATUS.get(abort.grpcStatus()))
                        .setPercentage(percentage(abort.percentage(), null)));
            } else {
                return Optional.empty();
            }
        }
        return Optional.of(out.build());
    }

    /** Istio: {@code percentage.value} in millionths; the deprecated integer {@code percent} in hundredths; neither = 100%. */
    private static FractionalPercent percentage(VirtualServiceSpec.Percent p, Integer percent) {
        if (p != null) {
            return millionths(p.value());
        }
        return FractionalPercent.newBuilder().setNumerator(percent == null ? 100 : percent)
                .setDenominator(DenominatorType.HUNDRED).build();
    }

    private static FractionalPercent millionths(double value) {
        return FractionalPercent.newBuilder().setNumerator((int) Math.round(value * 10_000))
                .setDenominator(DenominatorType.MILLION).build();
    }

    private static RedirectAction redirect(VirtualServiceSpec.Redirect r, int port) {
        RedirectAction.Builder out = RedirectAction.newBuilder();
        // As pilot: Envoy cannot derive the port itself, but a route configuration serves one port,
        // so FROM_REQUEST_PORT is that port; FROM_PROTOCOL_DEFAULT leaves it to the scheme's default.
        if ("FROM_REQUEST_PORT".equals(r.derivePort())) {
            out.setPortRedirect(port);
        }
        if (r.uri() != null) {
            out.setPathRedirect(r.uri());
        }
        if (r.authority() != null) {
            out.setHostRedirect(r.authority());
        }
        if (r.port() != null) {
            out.setPortRedirect(r.port());
        }
        if (r.scheme() != null) {
            out.setSchemeRedirect(r.scheme());
        }
        int code = r.redirectCode() == null ? 301 : r.redirectCode();
        out.setResponseCode(switch (code) {
            case 302 -> RedirectAction.RedirectResponseCode.FOUND;
            case 303 -> RedirectAction.RedirectResponseCode.SEE_OTHER;
            case 307 -> RedirectAction.RedirectResponseCode.TEMPORARY_REDIRECT;
            case 308 -> RedirectAction.RedirectResponseCode.PERMANENT_REDIRECT;
            default -> RedirectAction.RedirectResponseCode.MOVED_PERMANENTLY;
        });
        return out.build();
    }

    private static UInt32Value uint32(long value) {
        return UInt32Value.of((int) value);
    }
}
