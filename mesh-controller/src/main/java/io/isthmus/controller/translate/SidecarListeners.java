package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;
import static io.isthmus.controller.translate.Protos.socketAddress;

import com.google.protobuf.BoolValue;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.isthmus.controller.config.Hosts;
import io.isthmus.controller.config.SidecarSpec;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;

/**
 * The listeners a {@code Sidecar}'s {@code egress[]} and {@code ingress[]} lay out beyond the
 * captured ones, as Istio's sidecar listener builder does. Pure.
 *
 * <p>Egress: a listener with {@code captureMode: NONE} is a real listener the app dials, named
 * {@code <bind>_<port>} on {@code bind} (Istio's default {@code 127.0.0.1}) with
 * {@code bind_to_port: true}: with {@code port}, one for that port, carrying the listener's hosts
 * that have it; without, one per port of each host it imports. An HTTP port (declared by
 * {@code port.protocol}, else the service port's protocol) routes with the shared route
 * configuration {@code <port>}; a detected one sniffs HTTP first; any other relays to the first
 * host's cluster ({@code outbound|<port>||<host>}).
 *
 * <p>Ingress: the ports and targets of the proxy's inbound side ({@link Inbound}).
 */
final class SidecarListeners {

    static final String LOCALHOST = "127.0.0.1";

    private SidecarListeners() {}

    /**
     * The listeners of a Sidecar's explicit egress ({@code captureMode: NONE}) and the route
     * configurations of their HTTP chains, each sorted by name.
     */
    record Egress(List<Listener> listeners, List<RouteConfiguration> routes) {
        Egress {
            listeners = List.copyOf(listeners);
            routes = List.copyOf(routes);
        }
    }

    /**
     * The egress listeners {@code sidecar} binds, sorted by name (the first of two on one
     * {@code bind:port} stays), with their route configurations.
     *
     * <p>As pilot: a listener with {@code port} P is bound on {@code bind:P} whether or not its
     * hosts have that port; its HTTP chain's route configuration, {@code <bind>:<P>}, holds the
     * virtual hosts of the hosts it imports that have port P, and only those (a host without port
     * P is not routed there); without {@code port}, one listener per port of each host it imports,
     * likewise with the hosts of that listener that have the port. ServiceEntry hosts are hosts
     * like the others ({@code visible} holds both).
     *
     * @param visible      the services and ServiceEntry hosts the proxy imports
     * @param routeConfigs the outbound route configurations sent to the proxy, by name: an HTTP
     *                     port's virtual hosts are taken from its shared {@code <port>} one
     */
    static Egress egress(SidecarSpec sidecar, List<ServiceView> visible, String proxyNamespace,
            Map<String, RouteConfiguration> routeConfigs, boolean withFault) {
        Map<String, Listener> out = new TreeMap<>();
        Map<String, RouteConfiguration> routes = new TreeMap<>();
        for (SidecarSpec.Egress egress : sidecar.egress()) {
            if (egress == null || !egress.bindsToPort()) {
                continue;
            }
            String bind = egress.bind() != null ? egress.bind() : LOCALHOST;
            OptionalInt egressPort = SidecarScope.egressPort(egress);
            String declared = egress.port() == null || !egress.port().path("protocol").isString() ? ""
                    : egress.port().path("protocol").asString();
            List<ServiceView> imported = new ArrayList<>();
            for (ServiceView service : visible) {
                if (egress.hosts().stream().anyMatch(pattern -> Hosts.sidecarEgressMatches(pattern,
                        service.hostname(), service.key().namespace(), proxyNamespace))) {
                    imported.add(service);
                }
            }
            if (egressPort.isPresent()) {
                int number = egressPort.getAsInt();
                String name = OutboundListeners.listenerName(bind, number);
                if (out.containsKey(name)) {
                    continue;
                }
                List<ServiceView> onPort = withPort(imported, number);
                // The listener's protocol: the egress port's, else its first host's on that port,
                // else detected (Istio parses an absent protocol as unsupported: sniffed).
                ServicePort as = !declared.isEmpty() ? new ServicePort("egress", number, number, declared)
                        : onPort.isEmpty() ? new ServicePort("egress", number, number, "")
                                : portOf(onPort.get(0), number);
                String tcpCluster = onPort.isEmpty() ? null
                        : ResourceNames.outboundCluster(number, onPort.get(0).hostname());
                listener(name, bind, as, tcpCluster, onPort, routeConfigs, routes, withFault)
                        .ifPresent(l -> out.put(name, l));
                continue;
            }
            for (ServiceView service : imported) {
                for (ServicePort port : service.ports()) {
                    String name = OutboundListeners.listenerName(bind, port.port());
                    if (out.containsKey(name)) {
                        continue;
                    }
                    ServicePort as = declared.isEmpty() ? port
                            : new ServicePort(port.name(), port.port(), port.targetPort(), declared);
                    listener(name, bind, as, ResourceNames.outboundCluster(port.port(), service.hostname()),
                            withPort(imported, port.port()), routeConfigs, routes, withFault)
                            .ifPresent(l -> out.put(name, l));
                }
            }
        }
        return new Egress(List.copyOf(out.values()), List.copyOf(routes.values()));
    }

    private static List<ServiceView> withPort(List<ServiceView> services, int port) {
        return services.stream().filter(s -> s.ports().stream().anyMatch(p -> p.port() == port)).toList();
    }

    private static ServicePort portOf(ServiceView service, int port) {
        return service.ports().stream().filter(p -> p.port() == port).findFirst().orElseThrow();
    }

    /**
     * One explicit listener: TCP to {@code tcpCluster} (none when null: no TCP chain), HTTP by a
     * route configuration of its own, {@code <bind>:<port>}, with the virtual hosts of
     * {@code hosts} from the shared {@code <port>} one (added to {@code routes}).
     */
    private static Optional<Listener> listener(String name, String bind, ServicePort port, String tcpCluster,
            List<ServiceView> hosts, Map<String, RouteConfiguration> routeConfigs,
            Map<String, RouteConfiguration> routes, boolean withFault) {
        Optional<OutboundListeners.Kind> kind = OutboundListeners.kindOf(port);
        if (kind.isEmpty() || (kind.get() == OutboundListeners.Kind.TCP && tcpCluster == null)) {
            return Optional.empty();
        }
        Listener.Builder listener = Listener.newBuilder()
                .setName(name)
                .setAddress(socketAddress(bind, port.port()))
                .setTrafficDirection(TrafficDirection.OUTBOUND)
                // Istio's captureMode NONE: a real socket, not a target of virtualOutbound.
                .setBindToPort(BoolValue.of(true));
        FilterChain tcp = tcpCluster == null ? null : FilterChain.newBuilder()
                .setName(tcpCluster)
                .addFilters(Filter.newBuilder().setName(Protos.TCP_PROXY).setTypedConfig(pack(
                        OutboundListeners.tcpProxyTo(tcpCluster))))
                .build();
        if (kind.get() == OutboundListeners.Kind.TCP) {
            return Optional.of(listener.addFilterChains(tcp).build());
        }
        String routeConfig = bind + ":" + port.port();
        routes.put(routeConfig, routeConfig(routeConfig, routeConfigs.get(Integer.toString(port.port())), hosts));
        FilterChain.Builder httpChain = FilterChain.newBuilder()
                .addFilters(Filter.newBuilder()
                        .setName(Protos.HTTP_CONNECTION_MANAGER)
                        .setTypedConfig(pack(OutboundListeners.httpConnectionManager(name, routeConfig, withFault))));
        if (kind.get() == OutboundListeners.Kind.AUTO && tcp != null) {
            // Detected: HTTP by its first bytes, anything else raw to the service.
            httpChain.setFilterChainMatch(FilterChainMatch.newBuilder()
                    .setTransportProtocol("raw_buffer")
                    .addAllApplicationProtocols(OutboundListeners.HTTP_ALPNS));
            listener.addListenerFilters(io.envoyproxy.envoy.config.listener.v3.ListenerFilter.newBuilder()
                            .setName(OutboundListeners.HTTP_INSPECTOR)
                            .setTypedConfig(pack(io.envoyproxy.envoy.extensions.filters.listener.http_inspector.v3
                                    .HttpInspector.getDefaultInstance())))
                    .addFilterChains(httpChain)
                    .setDefaultFilterChain(tcp);
        } else {
            listener.addFilterChains(httpChain);
        }
        return Optional.of(listener.build());
    }

    /**
     * {@code name}: the virtual hosts of {@code shared} (the port's route configuration, may be
     * null) that serve one of {@code hosts} (a virtual host lists its service's host name among its
     * domains); the shared one's other settings kept. With no host, no virtual host: every request
     * is answered 404 (Envoy's {@code NR}), as pilot's route configuration for a port none of the
     * listener's hosts has.
     */
    private static RouteConfiguration routeConfig(String name, RouteConfiguration shared, List<ServiceView> hosts) {
        RouteConfiguration.Builder config = shared == null
                ? RouteConfiguration.newBuilder().setValidateClusters(com.google.protobuf.BoolValue.of(false))
                : shared.toBuilder().clearVirtualHosts();
        config.setName(name);
        if (shared != null) {
            Set<String> names = new java.util.HashSet<>();
            hosts.forEach(h -> names.add(h.hostname()));
            for (var vhost : shared.getVirtualHostsList()) {
                if (vhost.getDomainsList().stream().anyMatch(names::contains)) {
                    config.addVirtualHosts(vhost);
                }
            }
        }
        return config.build();
    }

    /**
     * One inbound port as the Sidecar's {@code ingress[]} (or, without one, the workload's
     * service ports) define it.
     *
     * @param port          where traffic for the workload arrives ({@code destination_port})
     * @param endpointHost  where the proxy forwards it: 127.0.0.1, the pod's IP, or null for a
     *                      unix socket (not translated)
     * @param endpointPort  the port there
     * @param tcp           a TCP protocol ({@code port.protocol} of a TCP class): a
     *                      {@code tcp_proxy} chain rather than an HTTP connection manager
     * @param bind          for {@code captureMode: NONE}, the address of the real listener
     *                      {@code <bind>_<port>}; null: a chain of {@code virtualInbound}
     * @param ingress       the ingress listener, null for a service port
     */
    record Inbound(int port, String endpointHost, int endpointPort, boolean tcp, String bind,
            SidecarSpec.Ingress ingress) {}

    /**
     * The proxy's inbound ports: its Sidecar's {@code ingress[]} when it has one (Istio then builds
     * the inbound side from it alone), else {@code servicePorts}, each to 127.0.0.1 on that port.
     * An ingress with a {@code unix://} endpoint is left out (the sidecar does not dial unix
     * sockets; the validator warned).
     */
    static List<Inbound> inbound(Optional<SidecarSpec> sidecar, java.util.SortedSet<Integer> servicePorts,
            String podIp) {
        List<Inbound> out = new ArrayList<>();
        if (sidecar.isEmpty() || sidecar.get().ingress().isEmpty()) {
            for (int port : servicePorts) {
                out.add(new Inbound(port, LOCALHOST, port, false, null, null));
            }
            return out;
        }
        Map<Integer, Inbound> byPort = new TreeMap<>();
        for (SidecarSpec.Ingress ingress : sidecar.get().ingress()) {
            int port = ingress.portNumber();
            String endpoint = ingress.defaultEndpoint();
            if (port <= 0 || byPort.containsKey(port) || (endpoint != null && endpoint.startsWith("unix://"))) {
                continue;
            }
            String host = LOCALHOST;
            int endpointPort = port;
            if (endpoint != null) {
                endpointPort = SidecarSpec.defaultEndpointPort(endpoint);
                if (endpointPort < 0) {
                    continue;
                }
                if (endpoint.startsWith("[::1]")) {
                    host = "::1";
                } else if (endpoint.startsWith("0.0.0.0") || endpoint.startsWith("[::]")) {
                    // Istio: the instance's own IP.
                    host = podIp;
                }
            }
            boolean tcp = !ingress.protocol().isEmpty() && OutboundListeners.kindOf(new ServicePort(
                    "ingress", port, port, ingress.protocol().toLowerCase(Locale.ROOT)))
                    .filter(k -> k == OutboundListeners.Kind.TCP).isPresent();
            String bind = ingress.bindsToPort() ? (ingress.bind() != null ? ingress.bind() : podIp) : null;
            byPort.put(port, new Inbound(port, host, endpointPort, tcp, bind, ingress));
        }
        out.addAll(byPort.values());
        return out;
    }
}
