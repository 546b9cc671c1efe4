package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.ads;
import static io.isthmus.controller.translate.Protos.pack;
import static io.isthmus.controller.translate.Protos.socketAddress;
import static java.util.Objects.requireNonNull;

import com.google.protobuf.BoolValue;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.listener.v3.ListenerFilter;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.listener.http_inspector.v3.HttpInspector;
import io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.controller.config.MeshSettings;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * A sidecar's outbound listeners by protocol and address, as Istio's pilot builds them
 * ({@code buildSidecarOutboundListeners}). Pure.
 *
 * <ul>
 *   <li><b>HTTP</b> ports (HTTP, HTTP2, gRPC, gRPC-Web): one {@code 0.0.0.0_<port>} listener per
 *       port, route configuration {@code <port>}, where each service is a virtual host; its VIPs
 *       are domains too ({@code <vip>}, {@code <vip>:<port>}).
 *   <li><b>TCP</b> ports (TCP, TLS, HTTPS, Mongo, MySQL, Redis, ...): a {@code <vip>_<port>}
 *       listener per VIP of the service, {@code tcp_proxy} to {@code outbound|<port>||<host>}. A
 *       Kubernetes service without VIP (headless) gets one per endpoint address instead
 *       ({@code <podIP>_<port>}, endpoints on the proxy's network), as Istio's headless-service
 *       pod listeners; a ServiceEntry without VIP shares {@code 0.0.0.0_<port>}, where a TLS port
 *       is one filter chain per host matched on the ClientHello's SNI
 *       ({@code filter_chain_match.server_names}, a wildcard host as {@code *.example.com}).
 *   <li><b>Auto-detected</b> ports (no protocol declared): as TCP, and with an HTTP filter chain
 *       beside the TCP one, chosen when the first bytes are HTTP/1.1 or h2c
 *       ({@code application_protocols}, {@code http_inspector}); anything else takes the TCP
 *       chain. On a VIP the HTTP chain has a route configuration of its own,
 *       {@code <host>:<port>}; on {@code 0.0.0.0} it shares {@code <port>}.
 * </ul>
 *
 * <p>Conflicts on one address and port, resolved as Istio does and in a fixed order (the
 * proxy's own cluster's VIPs first, then other clusters', each by host name), each reported as
 * a {@link ListenerConflict}: a VIP and port belong to the first service that claims it; an HTTP
 * and a TCP service on one port share a listener with protocol detection (except where MySQL or
 * MongoDB is one of them: the later one is left out); of two TCP chains that match the same
 * traffic (no SNI, or the same SNI), the first stays. A listener whose chains all match
 * something (SNI, HTTP) gets Istio's default chain to {@code PassthroughCluster} (ALLOW_ANY) or
 * {@code BlackHoleCluster} (REGISTRY_ONLY), so traffic no chain claims is treated as
 * {@code virtualOutbound} would.
 */
final class OutboundListeners {

    static final String AUTO_PROTOCOL = "UnsupportedProtocol";
    /** Envoy's application protocols, as the HTTP inspector sets them for plaintext HTTP. */
    static final List<String> HTTP_ALPNS = List.of("http/1.1", "h2c");
    static final String HTTP_INSPECTOR = "envoy.filters.listener.http_inspector";
    static final String PASSTHROUGH_CHAIN = "PassthroughFilterChain";
    private static final String WILDCARD = "0.0.0.0";

    /** How a port's traffic is carried. */
    enum Kind { HTTP, TCP, AUTO }

    /**
     * One virtual IP of a service.
     *
     * @param own the proxy's own cluster's VIP (or one that does not depend on the cluster: a
     *            ServiceEntry's address, an auto-allocated one); it wins a conflict over others'
     */
    record Vip(String address, boolean own) {
        Vip {
            requireNonNull(address, "address");
        }
    }

    /**
     * One port of one host the proxy dials.
     *
     * @param vips        its virtual IPs, own ones first
     * @param podAddresses for a headless service (no VIP), the addresses of its endpoints the
     *                    proxy reaches directly; empty otherwise
     * @param wildcard    no VIP and not headless (a ServiceEntry without addresses): its TCP side
     *                    is on {@code 0.0.0.0}, matched by SNI where it is TLS
     * @param virtualHost its virtual host in a route configuration, given its VIP domains
     *                    (HTTP and auto-detected ports only)
     * @param cidrs       a ServiceEntry's addresses that are ranges ({@code 10.0.0.0/24}): its TCP
     *                    side is on {@code 0.0.0.0}, matched on the original destination
     *                    ({@code filter_chain_match.prefix_ranges}), as Istio does
     * @param tcpProxy    the {@code tcp_proxy} of its default TCP chain (to {@code cluster})
     * @param routes      its VirtualService's {@code tls} and {@code tcp} routes that select this
     *                    proxy, in order ({@link L4RouteTranslator}); empty without one
     */
    record PortUse(String host, ServicePort port, String cluster, List<Vip> vips, List<String> podAddresses,
            boolean wildcard, Function<List<String>, VirtualHost> virtualHost, List<String> cidrs,
            TcpProxy tcpProxy, List<L4Route> routes) {
        PortUse {
            requireNonNull(host, "host");
            requireNonNull(port, "port");
            requireNonNull(cluster, "cluster");
            vips = List.copyOf(vips);
            podAddresses = List.copyOf(podAddresses);
            requireNonNull(virtualHost, "virtualHost");
            cidrs = List.copyOf(cidrs);
            requireNonNull(tcpProxy, "tcpProxy");
            routes = List.copyOf(routes);
        }

        /** No VirtualService routes, no ranges: TCP goes to {@code cluster}. */
        PortUse(String host, ServicePort port, String cluster, List<Vip> vips, List<String> podAddresses,
                boolean wildcard, Function<List<String>, VirtualHost> virtualHost) {
            this(host, port, cluster, vips, podAddresses, wildcard, virtualHost, List.of(), tcpProxyTo(cluster),
                    List.of());
        }
    }

    /**
     * One TCP or TLS route of a VirtualService, as far as translation can take it without knowing
     * the listener: Istio's {@code filterChainOpts} before the listener's own CIDR is filled in.
     *
     * @param tls                a {@code tls} route: {@code serverNames} are its match's
     *                           {@code sniHosts}; a {@code tcp} route has none
     * @param destinationSubnets its match's {@code destinationSubnets} (all of a TCP route's
     *                           matches that select the proxy); empty: every destination the
     *                           listener gets (a catch-all for TCP)
     * @param tcpProxy           where it sends the connection
     */
    record L4Route(boolean tls, List<String> serverNames, List<String> destinationSubnets, TcpProxy tcpProxy) {
        L4Route {
            serverNames = List.copyOf(serverNames);
            destinationSubnets = List.copyOf(destinationSubnets);
            requireNonNull(tcpProxy, "tcpProxy");
        }
    }

    /** What {@link #build} gives: listeners and route configurations sorted by name. */
    record Result(List<Listener> listeners, List<RouteConfiguration> routes, List<ListenerConflict> conflicts) {
        Result {
            listeners = List.copyOf(listeners);
            routes = List.copyOf(routes);
            conflicts = List.copyOf(conflicts);
        }
    }

    private OutboundListeners() {}

    /** Istio's protocol classes; empty for UDP (no listener). Names compare case-insensitively. */
    static Optional<Kind> kindOf(ServicePort port) {
        String protocol = port.protocol().toUpperCase(Locale.ROOT);
        return switch (protocol) {
            case "HTTP", "HTTP2", "GRPC", "GRPC-WEB" -> Optional.of(Kind.HTTP);
            case "UDP" -> Optional.empty();
            case "", "UNSUPPORTEDPROTOCOL" -> Optional.of(Kind.AUTO);
            default -> Optional.of(Kind.TCP);
        };
    }

    /** TLS and HTTPS: their TCP chains on a shared address are told apart by SNI. */
    static boolean isTls(ServicePort port) {
        String protocol = port.protocol().toUpperCase(Locale.ROOT);
        return protocol.equals("TLS") || protocol.equals("HTTPS");
    }

    /**
     * @param outboundMode {@link MeshSettings#ALLOW_ANY} or REGISTRY_ONLY: the default chain of a
     *                     listener whose chains all match something
     * @param withFault    put the fault filter before the router, as with Istio configuration
     */
    static Result build(List<PortUse> uses, String outboundMode, boolean withFault) {
        return build(uses, outboundMode, withFault, java.time.Duration.ZERO);
    }

    /**
     * @param detectionTimeout the mesh config's {@code protocolDetectionTimeout}: a listener that
     *                         inspects the first bytes (TLS, HTTP) gets it as
     *                         {@code listener_filters_timeout}, with
     *                         {@code continue_on_listener_filters_timeout} (silence then takes the
     *                         default chain), as Istio sets them
     */
    static Result build(List<PortUse> uses, String outboundMode, boolean withFault,
            java.time.Duration detectionTimeout) {
        List<ListenerConflict> conflicts = new ArrayList<>();
        // 1. Who owns each <vip>:<port>: own VIPs before other clusters', then host order.
        List<Claim> claims = new ArrayList<>();
        for (PortUse use : uses) {
            if (kindOf(use.port()).isEmpty()) {
                continue;
            }
            for (Vip vip : use.vips()) {
                claims.add(new Claim(vip.address(), use, vip.own()));
            }
        }
        claims.sort(Comparator.comparing((Claim c) -> !c.own())
                .thenComparing(c -> c.use().host())
                .thenComparingInt(c -> c.use().port().port())
                .thenComparing(Claim::address));
        Map<String, PortUse> vipOwners = new LinkedHashMap<>();
        Map<PortUse, List<String>> wonVips = new LinkedHashMap<>();
        for (Claim claim : claims) {
            String key = claim.address() + ':' + claim.use().port().port();
            PortUse owner = vipOwners.putIfAbsent(key, claim.use());
            if (owner == null) {
                wonVips.computeIfAbsent(claim.use(), u -> new ArrayList<>()).add(claim.address());
            } else if (owner != claim.use()) {
                conflicts.add(ListenerConflict.of(listenerName(claim.address(), claim.use().port().port()),
                        owner, claim.use(), "rejected: the VIP and port belong to " + owner.host()));
            }
        }

        // 2. Listener entries by host, then port. A VIP's listener has one owner (above); a pod's
        //    address or 0.0.0.0 may be shared, and the first by host keeps what cannot be.
        Map<String, Entry> entries = new TreeMap<>();
        Map<Integer, List<VirtualHost>> hostsByPort = new TreeMap<>();
        Map<String, VirtualHost> ownRoutes = new TreeMap<>();
        List<PortUse> ordered = new ArrayList<>(uses);
        ordered.sort(Comparator.comparing(PortUse::host).thenComparingInt(u -> u.port().port()));
        for (PortUse use : ordered) {
            Optional<Kind> kind = kindOf(use.port());
            if (kind.isEmpty()) {
                continue;
            }
            int port = use.port().port();
            List<String> vips = wonVips.getOrDefault(use, List.of());
            VirtualHost vhost = null;
            if (kind.get() != Kind.TCP) {
                List<String> domains = new ArrayList<>();
                for (String vip : vips) {
                    domains.add(vip);
                    domains.add(vip + ':' + port);
                }
                vhost = use.virtualHost().apply(domains);
                hostsByPort.computeIfAbsent(port, p -> new ArrayList<>()).add(vhost);
            }
            if (kind.get() == Kind.HTTP) {
                entry(entries, WILDCARD, port).addHttp(use, ResourceNames.routeConfig(port), conflicts);
                continue;
            }
            // Each place the port is listened on, with the destination range its chains match (Istio's
            // destinationCIDR: a ServiceEntry's range on 0.0.0.0; none on a VIP, a pod, or 0.0.0.0 alone).
            Map<String, String> binds = new LinkedHashMap<>();
            vips.forEach(vip -> binds.put(vip, null));
            if (use.vips().isEmpty()) {
                use.podAddresses().forEach(pod -> binds.put(pod, null));
            }
            List<String> cidrs = kind.get() == Kind.TCP ? use.cidrs() : List.of();
            if (use.vips().isEmpty() && use.podAddresses().isEmpty() && (use.wildcard() || !cidrs.isEmpty())) {
                binds.put(WILDCARD, null);
            }
            for (var bind : binds.keySet()) {
                Entry entry = entry(entries, bind, port);
                List<Chain> chains = new ArrayList<>();
                if (bind.equals(WILDCARD) && !cidrs.isEmpty()) {
                    cidrs.forEach(cidr -> chains.addAll(chains(use, cidr, true)));
                } else {
                    chains.addAll(chains(use, null, bind.equals(WILDCARD)));
                }
                if (kind.get() == Kind.TCP) {
                    entry.addTcp(use, chains, conflicts);
                } else {
                    String routeConfig = bind.equals(WILDCARD) ? ResourceNames.routeConfig(port)
                            : use.host() + ':' + port;
                    if (entry.addAuto(use, routeConfig, chains, conflicts) && !bind.equals(WILDCARD)) {
                        ownRoutes.put(routeConfig, vhost);
                    }
                }
            }
        }

        List<Listener> listeners = new ArrayList<>();
        Set<String> routeNames = new HashSet<>();
        for (Entry entry : entries.values()) {
            listeners.add(entry.listener(outboundMode, withFault, detectionTimeout));
            if (entry.routeConfig != null) {
                routeNames.add(entry.routeConfig);
            }
        }
        List<RouteConfiguration> routes = new ArrayList<>();
        hostsByPort.forEach((port, hosts) -> {
            String name = ResourceNames.routeConfig(port);
            hosts.sort(Comparator.comparing(VirtualHost::getName));
            routes.add(RouteConfiguration.newBuilder()
                    .setName(name)
                    .addAllVirtualHosts(hosts)
                    .setValidateClusters(BoolValue.of(false))
                    .build());
        });
        ownRoutes.forEach((name, vhost) -> {
            if (routeNames.contains(name)) {
                routes.add(RouteConfiguration.newBuilder()
                        .setName(name)
                        .addVirtualHosts(vhost)
                        .setValidateClusters(BoolValue.of(false))
                        .build());
            }
        });
        listeners.sort(Comparator.comparing(Listener::getName));
        routes.sort(Comparator.comparing(RouteConfiguration::getName));
        return new Result(listeners, routes, conflicts);
    }

    static String listenerName(String bind, int port) {
        return bind + '_' + port;
    }

    private record Claim(String address, PortUse use, boolean own) {}

    /** One TCP filter chain of a listener: matched on destination prefixes and server names (each may be empty). */
    private record Chain(PortUse owner, List<String> prefixRanges, List<String> serverNames, TcpProxy tcpProxy) {
        boolean matchesAll() {
            return prefixRanges.isEmpty() && serverNames.isEmpty();
        }
    }

    /**
     * {@code use}'s TCP chains on a listener whose destination range is {@code cidr} (null: none), as
     * Istio's {@code buildSidecarOutboundTCPTLSFilterChainOpts}: its TLS routes (each match a chain on
     * its SNI hosts), else the TLS default chain (on SNI = the host where the listener is shared:
     * {@code 0.0.0.0} or a range); then its TCP routes up to the first that matches every
     * destination; then, for a plain TCP port without such a catch-all, the default chain.
     *
     * @param shared the listener is on {@code 0.0.0.0}, so a TLS host is told apart by SNI
     */
    private static List<Chain> chains(PortUse use, String cidr, boolean shared) {
        List<String> own = cidr == null ? List.of() : List.of(cidr);
        List<Chain> chains = new ArrayList<>();
        boolean tls = isTls(use.port());
        if (tls) {
            for (L4Route route : use.routes()) {
                if (route.tls()) {
                    chains.add(new Chain(use, route.destinationSubnets().isEmpty() ? own : route.destinationSubnets(),
                            route.serverNames(), route.tcpProxy()));
                }
            }
            if (chains.isEmpty()) {
                chains.add(new Chain(use, own, shared ? List.of(use.host()) : List.of(), use.tcpProxy()));
            }
        }
        boolean catchAll = false;
        for (L4Route route : use.routes()) {
            if (route.tls()) {
                continue;
            }
            if (route.destinationSubnets().isEmpty()) {
                chains.add(new Chain(use, own, List.of(), route.tcpProxy()));
                catchAll = true;
                break;
            }
            chains.add(new Chain(use, route.destinationSubnets(), List.of(), route.tcpProxy()));
            if (new java.util.TreeSet<>(route.destinationSubnets()).equals(new java.util.TreeSet<>(own))) {
                // Istio: the default chain would match exactly the same; Envoy refuses duplicates.
                catchAll = true;
            }
        }
        if (!tls && !catchAll) {
            chains.add(new Chain(use, own, List.of(), use.tcpProxy()));
        }
        return chains;
    }

    private static Entry entry(Map<String, Entry> entries, String bind, int port) {
        return entries.computeIfAbsent(listenerName(bind, port), n -> new Entry(bind, port));
    }

    /** One listener being assembled: Istio's {@code outboundListenerEntry}. */
    private static final class Entry {
        final String bind;
        final int port;
        /** The protocol of the first service, {@link #AUTO_PROTOCOL} once HTTP and TCP share it. */
        String protocol;
        PortUse first;
        String routeConfig;
        /** The TCP chains, in the order services and their routes asked for them. */
        final List<Chain> chains = new ArrayList<>();
        /** What each chain matches (a prefix set and one server name, or none) → the chain. */
        final Map<String, Chain> claimed = new LinkedHashMap<>();

        Entry(String bind, int port) {
            this.bind = bind;
            this.port = port;
        }

        String name() {
            return listenerName(bind, port);
        }

        void addHttp(PortUse use, String routes, List<ListenerConflict> conflicts) {
            if (first == null) {
                start(use, routes);
                return;
            }
            if (routeConfig != null) {
                return; // Another virtual host in the same route configuration.
            }
            if (exclusive(use, conflicts)) {
                return;
            }
            routeConfig = routes;
            protocol = AUTO_PROTOCOL;
            conflicts.add(ListenerConflict.of(name(), first, use,
                    "merged: HTTP and TCP share the port, told apart by protocol detection"));
        }

        void addTcp(PortUse use, List<Chain> tcpChains, List<ListenerConflict> conflicts) {
            if (first == null) {
                start(use, null);
                addChains(tcpChains, conflicts);
                return;
            }
            if (exclusive(use, conflicts)) {
                return;
            }
            if (routeConfig != null && chains.isEmpty()) {
                protocol = AUTO_PROTOCOL;
                conflicts.add(ListenerConflict.of(name(), first, use,
                        "merged: HTTP and TCP share the port, told apart by protocol detection"));
            }
            addChains(tcpChains, conflicts);
        }

        /** True when {@code use}'s HTTP chain is the one this listener gets. */
        boolean addAuto(PortUse use, String routes, List<Chain> tcpChains, List<ListenerConflict> conflicts) {
            if (first == null) {
                start(use, routes);
                protocol = AUTO_PROTOCOL;
                addChains(tcpChains, conflicts);
                return true;
            }
            if (exclusive(use, conflicts)) {
                return false;
            }
            boolean ownHttp = routeConfig == null;
            if (ownHttp) {
                routeConfig = routes;
            }
            protocol = AUTO_PROTOCOL;
            addChains(tcpChains, conflicts);
            return ownHttp;
        }

        private void start(PortUse use, String routes) {
            first = use;
            protocol = use.port().protocol();
            routeConfig = routes;
        }

        /** Istio: MySQL and MongoDB share a port with nothing else (they speak first). */
        private boolean exclusive(PortUse use, List<ListenerConflict> conflicts) {
            String incoming = use.port().protocol().toUpperCase(Locale.ROOT);
            String existing = protocol.toUpperCase(Locale.ROOT);
            boolean serverFirst = incoming.equals("MYSQL") || incoming.equals("MONGO")
                    || existing.equals("MYSQL") || existing.equals("MONGO");
            if (serverFirst && !incoming.equals(existing)) {
                conflicts.add(ListenerConflict.of(name(), first, use,
                        "rejected: " + protocol + " shares its port with no other protocol"));
                return true;
            }
            return false;
        }

        /**
         * Envoy refuses two chains with the same match: a chain any of whose matches is taken is left
         * out, silently when its own service took it (Istio drops a repeated match), else reported.
         */
        private void addChains(List<Chain> candidates, List<ListenerConflict> conflicts) {
            for (Chain chain : candidates) {
                List<String> keys = new ArrayList<>();
                String prefixes = String.join(",", new java.util.TreeSet<>(chain.prefixRanges()));
                if (chain.serverNames().isEmpty()) {
                    keys.add(prefixes + '|');
                } else {
                    chain.serverNames().forEach(n -> keys.add(prefixes + '|' + n.toLowerCase(Locale.ROOT)));
                }
                Chain taken = keys.stream().map(claimed::get).filter(java.util.Objects::nonNull).findFirst()
                        .orElse(null);
                if (taken == null) {
                    keys.forEach(k -> claimed.put(k, chain));
                    chains.add(chain);
                } else if (taken.owner() != chain.owner()) {
                    conflicts.add(ListenerConflict.of(name(), taken.owner(), chain.owner(), chain.serverNames().isEmpty()
                            ? "rejected: the port's TCP traffic already goes to " + taken.owner().host()
                            : "rejected: the same server name already has a chain"));
                }
            }
        }

        Listener listener(String outboundMode, boolean withFault, java.time.Duration detectionTimeout) {
            boolean sniffs = routeConfig != null && !chains.isEmpty();
            boolean bySni = chains.stream().anyMatch(c -> !c.serverNames().isEmpty());
            Listener.Builder listener = Listener.newBuilder()
                    .setName(name())
                    .setAddress(socketAddress(bind, port))
                    .setTrafficDirection(TrafficDirection.OUTBOUND)
                    // Reached through virtualOutbound (original destination), as in Istio.
                    .setBindToPort(BoolValue.of(false));
            if (bySni || sniffs) {
                listener.addListenerFilters(ListenerFilter.newBuilder()
                        .setName(Protos.TLS_INSPECTOR)
                        .setTypedConfig(pack(TlsInspector.getDefaultInstance())));
            }
            if (sniffs) {
                listener.addListenerFilters(ListenerFilter.newBuilder()
                        .setName(HTTP_INSPECTOR)
                        .setTypedConfig(pack(HttpInspector.getDefaultInstance())));
            }
            if (bySni || sniffs) {
                // Zero (Istio's default) is sent too: unset would be Envoy's own 15 s.
                listener.setListenerFiltersTimeout(io.isthmus.controller.config.Durations.proto(detectionTimeout))
                        .setContinueOnListenerFiltersTimeout(true);
            }
            if (routeConfig != null) {
                FilterChain.Builder http = FilterChain.newBuilder()
                        .addFilters(Filter.newBuilder()
                                .setName(Protos.HTTP_CONNECTION_MANAGER)
                                .setTypedConfig(pack(httpConnectionManager(name(), routeConfig, withFault))));
                if (sniffs) {
                    http.setFilterChainMatch(FilterChainMatch.newBuilder()
                            .setTransportProtocol("raw_buffer")
                            .addAllApplicationProtocols(HTTP_ALPNS));
                }
                listener.addFilterChains(http);
            }
            Chain matchAll = null;
            for (Chain chain : chains) {
                if (chain.matchesAll()) {
                    matchAll = chain;
                    continue;
                }
                FilterChainMatch.Builder match = FilterChainMatch.newBuilder();
                for (String prefix : chain.prefixRanges()) {
                    match.addPrefixRanges(Protos.cidrRange(prefix));
                }
                if (!chain.serverNames().isEmpty()) {
                    match.setTransportProtocol("tls").addAllServerNames(chain.serverNames());
                }
                listener.addFilterChains(FilterChain.newBuilder()
                        .setName(chainName(chain))
                        .setFilterChainMatch(match)
                        .addFilters(tcpProxyFilter(chain.tcpProxy())));
            }
            if (matchAll != null) {
                FilterChain chain = FilterChain.newBuilder()
                        .setName(chainName(matchAll))
                        .addFilters(tcpProxyFilter(matchAll.tcpProxy()))
                        .build();
                if (listener.getFilterChainsCount() == 0) {
                    listener.addFilterChains(chain);
                } else {
                    // Istio: the chain that matches everything is the default, never shadowed.
                    listener.setDefaultFilterChain(chain);
                }
            } else if (!chains.isEmpty() || sniffs) {
                String cluster = outboundMode.equals(MeshSettings.ALLOW_ANY)
                        ? SidecarTranslator.PASSTHROUGH_CLUSTER : SidecarTranslator.BLACK_HOLE_CLUSTER;
                listener.setDefaultFilterChain(FilterChain.newBuilder()
                        .setName(PASSTHROUGH_CHAIN)
                        .addFilters(tcpProxy(cluster)));
            }
            return listener.build();
        }

        /** The chain's name: its single cluster, else the weighted route's stat prefix. */
        private static String chainName(Chain chain) {
            return chain.tcpProxy().hasWeightedClusters() ? chain.tcpProxy().getStatPrefix()
                    : chain.tcpProxy().getCluster();
        }
    }

    /** Istio's {@code tcp_proxy} of a port's default chain: to its cluster, stat prefix the cluster's name. */
    static TcpProxy tcpProxyTo(String cluster) {
        return TcpProxy.newBuilder().setStatPrefix(cluster).setCluster(cluster).build();
    }

    private static Filter tcpProxyFilter(TcpProxy proxy) {
        return Filter.newBuilder().setName(Protos.TCP_PROXY).setTypedConfig(pack(proxy)).build();
    }

    private static Filter tcpProxy(String cluster) {
        return tcpProxyFilter(tcpProxyTo(cluster));
    }

    static HttpConnectionManager httpConnectionManager(String listenerName, String routeConfig, boolean withFault) {
        HttpConnectionManager.Builder hcm = HttpConnectionManager.newBuilder()
                .setStatPrefix("outbound_" + listenerName)
                .setRds(Rds.newBuilder().setConfigSource(ads()).setRouteConfigName(routeConfig));
        if (withFault) {
            // As in Istio: the CORS and fault filters sit before the router, in this order, and act
            // only where a route's typed_per_filter_config asks them to.
            hcm.addHttpFilters(HttpFilter.newBuilder()
                    .setName(PolicyTranslator.CORS_FILTER)
                    .setTypedConfig(pack(io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors
                            .getDefaultInstance())));
            hcm.addHttpFilters(HttpFilter.newBuilder()
                    .setName(PolicyTranslator.FAULT_FILTER)
                    .setTypedConfig(pack(io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault
                            .getDefaultInstance())));
        }
        return hcm.addHttpFilters(HttpFilter.newBuilder()
                        .setName(Protos.ROUTER_FILTER)
                        .setTypedConfig(pack(Router.getDefaultInstance())))
                // As Istio on every HTTP connection manager: WebSocket upgrades go through.
                .addUpgradeConfigs(HttpConnectionManager.UpgradeConfig.newBuilder().setUpgradeType("websocket"))
                .build();
    }
}
