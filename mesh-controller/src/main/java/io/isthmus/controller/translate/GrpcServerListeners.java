package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;

import com.google.protobuf.BoolValue;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TrafficDirection;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.config.route.v3.NonForwardingAction;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateProviderPluginInstance;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.isthmus.controller.config.AuthorizationPolicySpec;
import io.isthmus.controller.config.AuthorizationPolicySpec.Action;
import io.isthmus.controller.config.AuthorizationPolicySpec.Condition;
import io.isthmus.controller.config.AuthorizationPolicySpec.From;
import io.isthmus.controller.config.AuthorizationPolicySpec.Rule;
import io.isthmus.controller.config.AuthorizationPolicySpec.Source;
import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.PeerAuthenticationSpec.Mode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.SortedSet;

/**
 * The inbound side of a proxyless gRPC server ({@code XdsServerBuilder}), in the shapes grpc-xds
 * accepts (gRFC A36, A29, A41) and under the names it asks for: one Listener per port its own
 * workload serves, named by the bootstrap's {@code server_listener_resource_name_template}
 * ({@value #NAME_PREFIX}{@code <ip>:<port>}, Istio's) for each listen address a server names it
 * by: {@code 0.0.0.0} (grpc-java always), {@code [::]} (grpc-go on {@code :port}) and the pod IP.
 * The Listener's address is the name's, since grpc-xds refuses a listener whose address is not
 * the one it listens on.
 *
 * <p>Each listener has one filter chain with no match (grpc-xds matches chains by addresses and
 * ports only: a chain matching {@code transport_protocol: tls} is never chosen), so one port
 * serves either mTLS or plaintext:
 * <ul>
 *   <li>{@code STRICT} and {@code PERMISSIVE}: mTLS, a {@code DownstreamTlsContext} requiring a
 *       client certificate, own certificate and mesh roots from the bootstrap's certificate
 *       provider {@value GrpcTranslator#PROVIDER_INSTANCE}. Under {@code PERMISSIVE} every mesh
 *       caller (sidecar or proxyless client) dials mTLS, so that is what the server takes; a
 *       plaintext caller from outside the mesh needs {@code DISABLE} on the port (Istio, which
 *       cannot do both either, serves plaintext unless the pod is labelled for mTLS);
 *   <li>{@code DISABLE}: plaintext.
 * </ul>
 * Its HttpConnectionManager holds an inline route configuration (virtual host {@code *}, route
 * {@code /} with the non-forwarding action a server route must have), the workload's
 * AuthorizationPolicies as RBAC filters (DENY, then ALLOW, as a sidecar's inbound) and the router.
 * grpc-xds cannot evaluate request principals or JWT claims (its RBAC never matches metadata) and
 * refuses {@code grpc-*} and {@code :scheme} header rules: an ALLOW rule using one is left out (it
 * allows nothing more), a DENY rule loses that condition (it denies more), as Istio does for rules a
 * proxy cannot check. Pure.
 */
final class GrpcServerListeners {

    /** The bootstrap's template ({@code GrpcBootstrap.SERVER_LISTENER_TEMPLATE}) before its {@code %s}. */
    static final String NAME_PREFIX = "xds.istio.io/grpc/lds/inbound/";
    static final String RBAC_DENY_FILTER = SecurityTranslator.RBAC_FILTER + ".DENY";

    private GrpcServerListeners() {}

    /**
     * @param ports    the target ports of {@code node}'s own workload
     * @param policies the mesh's Istio configuration, or {@code null} when there is none (STRICT,
     *                 no authorization)
     */
    static List<Listener> translate(SortedSet<Integer> ports, ProxyNode node, MeshPolicies policies) {
        if (ports.isEmpty()) {
            // Most proxyless workloads only dial: no policy lookup for them at every push.
            return List.of();
        }
        MeshConfig config = policies == null ? MeshConfig.EMPTY : policies.config();
        TrustDomains trustDomains = policies == null ? TrustDomains.NONE : policies.trustDomains();
        List<HttpFilter> rbac = rbacFilters(config.authorizationPolicies(), node, trustDomains);
        List<Listener> out = new ArrayList<>();
        for (int port : ports) {
            Mode mode = SecurityTranslator.workloadMode(config, node.namespace(), node.labels(), port);
            FilterChain chain = chain(port, mode != Mode.DISABLE, rbac);
            for (String host : listenHosts(node)) {
                String address = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
                out.add(Listener.newBuilder()
                        .setName(NAME_PREFIX + host + ":" + port)
                        .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
                                .setAddress(address).setPortValue(port)))
                        .setTrafficDirection(TrafficDirection.INBOUND)
                        .addFilterChains(chain)
                        .build());
            }
        }
        return out;
    }

    private static List<String> listenHosts(ProxyNode node) {
        List<String> hosts = new ArrayList<>(List.of("0.0.0.0", "[::]"));
        String ip = node.ip().contains(":") ? "[" + node.ip() + "]" : node.ip();
        if (!ip.isEmpty() && !hosts.contains(ip)) {
            hosts.add(ip);
        }
        return hosts;
    }

    private static FilterChain chain(int port, boolean mtls, List<HttpFilter> rbac) {
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
                .setStatPrefix("inbound_grpc_" + port)
                .setRouteConfig(RouteConfiguration.newBuilder()
                        .setName(ResourceNames.inboundCluster(port))
                        .addVirtualHosts(VirtualHost.newBuilder()
                                .setName("inbound|grpc|" + port)
                                .addDomains("*")
                                .addRoutes(Route.newBuilder()
                                        .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                                        .setNonForwardingAction(NonForwardingAction.getDefaultInstance()))))
                .addAllHttpFilters(rbac)
                .addHttpFilters(HttpFilter.newBuilder()
                        .setName(Protos.ROUTER_FILTER)
                        .setTypedConfig(pack(Router.getDefaultInstance())))
                .build();
        FilterChain.Builder chain = FilterChain.newBuilder()
                .setName(mtls ? "inbound-mtls" : "inbound-plaintext")
                .addFilters(Filter.newBuilder()
                        .setName(Protos.HTTP_CONNECTION_MANAGER)
                        .setTypedConfig(pack(hcm)));
        if (mtls) {
            chain.setTransportSocket(TransportSocket.newBuilder()
                    .setName(Protos.TLS_TRANSPORT_SOCKET)
                    .setTypedConfig(pack(downstreamTls())));
        }
        return chain.build();
    }

    /** gRFC A29's server side: own certificate and the roots that check callers from the provider. */
    private static DownstreamTlsContext downstreamTls() {
        return DownstreamTlsContext.newBuilder()
                .setRequireClientCertificate(BoolValue.of(true))
                .setCommonTlsContext(CommonTlsContext.newBuilder()
                        .setTlsCertificateProviderInstance(CertificateProviderPluginInstance.newBuilder()
                                .setInstanceName(GrpcTranslator.PROVIDER_INSTANCE)
                                .setCertificateName(GrpcTranslator.IDENTITY_CERTIFICATE))
                        .setValidationContext(CertificateValidationContext.newBuilder()
                                .setCaCertificateProviderInstance(CertificateProviderPluginInstance.newBuilder()
                                        .setInstanceName(GrpcTranslator.PROVIDER_INSTANCE)
                                        .setCertificateName(GrpcTranslator.ROOT_CERTIFICATE))))
                .build();
    }

    /**
     * The DENY then the ALLOW RBAC filter of the policies selecting {@code node}, with distinct
     * names (grpc-xds NACKs a connection manager that repeats a filter name). No policy of an
     * action: no filter; ALLOW policies whose every rule was left out: an ALLOW filter without
     * policies, which denies everything, as the sidecar's does.
     */
    static List<HttpFilter> rbacFilters(List<ConfigEntry<AuthorizationPolicySpec>> all, ProxyNode node,
            TrustDomains trustDomains) {
        List<ConfigEntry<AuthorizationPolicySpec>> selected = SecurityTranslator.selecting(all, node);
        List<HttpFilter> filters = new ArrayList<>();
        for (Action action : List.of(Action.DENY, Action.ALLOW)) {
            List<ConfigEntry<AuthorizationPolicySpec>> policies =
                    selected.stream().filter(e -> e.spec().action() == action).toList();
            if (policies.isEmpty()) {
                continue;
            }
            RBAC.Builder rules = RBAC.newBuilder()
                    .setAction(action == Action.DENY ? RBAC.Action.DENY : RBAC.Action.ALLOW);
            for (var e : policies) {
                List<Rule> ruleList = e.spec().rules();
                for (int i = 0; i < ruleList.size(); i++) {
                    Optional<Rule> rule = forGrpc(ruleList.get(i), action);
                    if (rule.isPresent()) {
                        rules.putPolicies("ns[" + e.namespace() + "]-policy[" + e.name() + "]-rule[" + i + "]",
                                SecurityTranslator.policy(rule.get(), trustDomains));
                    }
                }
            }
            filters.add(HttpFilter.newBuilder()
                    .setName(action == Action.DENY ? RBAC_DENY_FILTER : SecurityTranslator.RBAC_FILTER)
                    .setTypedConfig(pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
                            .setRules(rules).build()))
                    .build());
        }
        return filters;
    }

    /**
     * {@code rule} as grpc-xds can check it: unchanged when it uses nothing grpc-xds lacks; else
     * left out of an ALLOW policy (allow less), or without the unsupported parts in a DENY policy
     * (deny more).
     */
    static Optional<Rule> forGrpc(Rule rule, Action action) {
        boolean unsupported = rule.when().stream().anyMatch(GrpcServerListeners::unsupported)
                || rule.from().stream().anyMatch(f -> !f.source().requestPrincipals().isEmpty()
                        || !f.source().notRequestPrincipals().isEmpty());
        if (!unsupported) {
            return Optional.of(rule);
        }
        if (action == Action.ALLOW) {
            return Optional.empty();
        }
        List<From> from = rule.from().stream().map(f -> new From(withoutRequestPrincipals(f.source()))).toList();
        List<Condition> when = rule.when().stream().filter(c -> !unsupported(c)).toList();
        return Optional.of(new Rule(from, rule.to(), when));
    }

    private static boolean unsupported(Condition c) {
        String key = c.key();
        if (key.startsWith("request.auth.")) {
            return true;
        }
        if (key.startsWith("request.headers[")) {
            String name = key.substring("request.headers[".length(), key.length() - 1).toLowerCase(Locale.ROOT);
            return name.startsWith("grpc-") || name.equals(":scheme");
        }
        return false;
    }

    private static Source withoutRequestPrincipals(Source s) {
        return new Source(s.principals(), s.notPrincipals(), List.of(), List.of(), s.namespaces(), s.notNamespaces(),
                s.serviceAccounts(), s.notServiceAccounts(), s.ipBlocks(), s.notIpBlocks(), s.remoteIpBlocks(),
                s.notRemoteIpBlocks());
    }
}
