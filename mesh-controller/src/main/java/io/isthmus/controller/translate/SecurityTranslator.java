package io.isthmus.controller.translate;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.ListMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.OrMatcher;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.isthmus.controller.config.AuthorizationPolicySpec;
import io.isthmus.controller.config.AuthorizationPolicySpec.Action;
import io.isthmus.controller.config.AuthorizationPolicySpec.Condition;
import io.isthmus.controller.config.AuthorizationPolicySpec.Operation;
import io.isthmus.controller.config.AuthorizationPolicySpec.Rule;
import io.isthmus.controller.config.AuthorizationPolicySpec.Source;
import io.isthmus.controller.config.Cidr;
import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.PeerAuthenticationSpec;
import io.isthmus.controller.config.PeerAuthenticationSpec.Mode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * PeerAuthentication and AuthorizationPolicy → the inbound side of one sidecar, as Istio's pilot
 * builds it: the mTLS mode of each inbound port (which filter chains exist) and the
 * {@code envoy.filters.http.rbac} filters (a DENY one, then an ALLOW one) of the inbound HTTP
 * connection managers. Pure.
 */
final class SecurityTranslator {

    static final String RBAC_FILTER = "envoy.filters.http.rbac";
    /** Istio's root namespace: a selector-less policy there applies mesh-wide. */
    static final String ROOT_NAMESPACE = "istio-system";
    /** Where the JWT filter puts the verified payload: {@code payload} in its dynamic metadata. */
    static final String AUTHN_METADATA = JwtTranslator.JWT_FILTER;

    /**
     * The inbound security of one sidecar.
     *
     * @param modes       target port → mTLS mode ({@code STRICT}, {@code PERMISSIVE} or {@code DISABLE})
     * @param rbacFilters the HTTP filters to put before the router, in order: the JWT filter
     *                    (RequestAuthentication), then the RBAC ones; empty: no authentication or authorization
     */
    record InboundSecurity(Map<Integer, Mode> modes, Mode defaultMode, List<HttpFilter> rbacFilters) {

        /** No security configuration: mTLS only, no authorization (the mesh's contract before policies). */
        static final InboundSecurity NONE = new InboundSecurity(Map.of(), Mode.STRICT, List.of());

        InboundSecurity {
            modes = Map.copyOf(modes);
            rbacFilters = List.copyOf(rbacFilters);
        }

        Mode mode(int port) {
            return modes.getOrDefault(port, defaultMode);
        }
    }

    private SecurityTranslator() {}

    static InboundSecurity inbound(MeshConfig config, ProxyNode node, Iterable<Integer> ports) {
        return inbound(config, node, ports, Map.of());
    }

    /** @param jwks RequestAuthentication keys fetched by the controller, by {@link JwksSources.Source#key()} */
    static InboundSecurity inbound(MeshConfig config, ProxyNode node, Iterable<Integer> ports,
            Map<String, String> jwks) {
        return inbound(config, node, ports, jwks, TrustDomains.NONE);
    }

    /** @param trustDomains principals are expanded to these trust domains, as istiod does */
    static InboundSecurity inbound(MeshConfig config, ProxyNode node, Iterable<Integer> ports,
            Map<String, String> jwks, TrustDomains trustDomains) {
        Mode workloadDefault = effectiveMode(config.peerAuthentications(), node.namespace(), node.labels());
        Optional<ConfigEntry<PeerAuthenticationSpec>> workload =
                workloadPolicy(config.peerAuthentications(), node.namespace(), node.labels());
        Map<Integer, Mode> modes = new java.util.TreeMap<>();
        for (int port : ports) {
            modes.put(port, portMode(workload, port, workloadDefault));
        }
        List<HttpFilter> filters = new ArrayList<>();
        JwtTranslator.filter(config.requestAuthentications(), node, jwks).ifPresent(filters::add);
        filters.addAll(rbacFilters(config.authorizationPolicies(), node, trustDomains));
        return new InboundSecurity(modes, workloadDefault, filters);
    }

    /**
     * The narrowest non-UNSET mode: workload, then namespace, then mesh. With none, STRICT: every
     * workload in an Isthmus mesh has a sidecar, and the mesh's contract is mTLS only (Istio's own
     * default would be PERMISSIVE).
     */
    private static Mode effectiveMode(List<ConfigEntry<PeerAuthenticationSpec>> all, String namespace,
            Map<String, String> labels) {
        List<Optional<ConfigEntry<PeerAuthenticationSpec>>> chain = List.of(
                workloadPolicy(all, namespace, labels),
                oldest(all.stream().filter(e -> e.namespace().equals(namespace) && selectorless(e)).toList()),
                oldest(all.stream().filter(e -> e.namespace().equals(ROOT_NAMESPACE) && selectorless(e)).toList()));
        for (var level : chain) {
            if (level.isPresent() && level.get().spec().mode() != Mode.UNSET) {
                return level.get().spec().mode();
            }
        }
        return Mode.STRICT;
    }

    private static boolean selectorless(ConfigEntry<PeerAuthenticationSpec> e) {
        return e.spec().selector() == null || e.spec().selector().matchLabels().isEmpty();
    }

    private static Optional<ConfigEntry<PeerAuthenticationSpec>> workloadPolicy(
            List<ConfigEntry<PeerAuthenticationSpec>> all, String namespace, Map<String, String> labels) {
        return oldest(all.stream().filter(e -> e.namespace().equals(namespace)
                && !selectorless(e) && e.spec().selector().matches(labels)).toList());
    }

    private static Mode portMode(Optional<ConfigEntry<PeerAuthenticationSpec>> workload, int port, Mode workloadDefault) {
        return workload.map(w -> w.spec().portLevelMtls().get(port))
                .map(PeerAuthenticationSpec.Mtls::mode)
                .filter(m -> m != Mode.UNSET)
                .orElse(workloadDefault);
    }

    /**
     * The mTLS mode the sidecar of a workload ({@code namespace}, pod {@code labels}) serves on
     * target port {@code port}: the mode of its inbound chain there, as {@link #inbound} computes
     * it. A caller that cannot adapt per endpoint (a proxyless gRPC client) picks TLS by it.
     */
    static Mode workloadMode(MeshConfig config, String namespace, Map<String, String> labels, int port) {
        List<ConfigEntry<PeerAuthenticationSpec>> all = config.peerAuthentications();
        return portMode(workloadPolicy(all, namespace, labels), port, effectiveMode(all, namespace, labels));
    }

    /** Istio: among several policies at one level, the oldest wins (then the name). */
    static <S> Optional<ConfigEntry<S>> oldest(List<ConfigEntry<S>> entries) {
        return entries.stream().min(Comparator.comparing((ConfigEntry<S> e) -> e.resource().creationTimestamp())
                .thenComparing(ConfigEntry::name));
    }

    /** The AuthorizationPolicies that select {@code node}: root namespace (any selector match) or its own namespace. */
    static List<ConfigEntry<AuthorizationPolicySpec>> selecting(List<ConfigEntry<AuthorizationPolicySpec>> all,
            ProxyNode node) {
        List<ConfigEntry<AuthorizationPolicySpec>> out = new ArrayList<>();
        for (var e : all) {
            AuthorizationPolicySpec spec = e.spec();
            if (spec.targetRef() != null || !spec.targetRefs().isEmpty()) {
                continue; // targetRef policies are for gateways and waypoints, not sidecars
            }
            boolean inScope = e.namespace().equals(ROOT_NAMESPACE) || e.namespace().equals(node.namespace());
            boolean selected = spec.selector() == null || spec.selector().matches(node.labels());
            if (inScope && selected) {
                out.add(e);
            }
        }
        out.sort(Comparator.comparing((ConfigEntry<AuthorizationPolicySpec> e) -> e.namespace())
                .thenComparing(ConfigEntry::name));
        return out;
    }

    private static List<HttpFilter> rbacFilters(List<ConfigEntry<AuthorizationPolicySpec>> all, ProxyNode node,
            TrustDomains trustDomains) {
        List<ConfigEntry<AuthorizationPolicySpec>> selected = selecting(all, node);
        List<HttpFilter> filters = new ArrayList<>();
        // Istio's order: CUSTOM (rejected here), DENY, then ALLOW; AUDIT changes no decision.
        for (Action action : List.of(Action.DENY, Action.ALLOW)) {
            List<ConfigEntry<AuthorizationPolicySpec>> policies =
                    selected.stream().filter(e -> e.spec().action() == action).toList();
            if (policies.isEmpty()) {
                continue; // no ALLOW policy: allow; no DENY policy: nothing denied
            }
            RBAC.Builder rules = RBAC.newBuilder()
                    .setAction(action == Action.DENY ? RBAC.Action.DENY : RBAC.Action.ALLOW);
            for (var e : policies) {
                // An ALLOW policy without rules adds no policy: if it is the only one, nothing matches → deny all.
                List<Rule> ruleList = e.spec().rules();
                for (int i = 0; i < ruleList.size(); i++) {
                    rules.putPolicies("ns[" + e.namespace() + "]-policy[" + e.name() + "]-rule[" + i + "]",
                            policy(ruleList.get(i), trustDomains));
                }
            }
            filters.add(HttpFilter.newBuilder()
                    .setName(RBAC_FILTER)
                    .setTypedConfig(Protos.pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
                            .setRules(rules).build()))
                    .build());
        }
        return filters;
    }

    static Policy policy(Rule rule) {
        return policy(rule, TrustDomains.NONE);
    }

    static Policy policy(Rule rule, TrustDomains trustDomains) {
        List<Permission> destinationConditions = new ArrayList<>();
        List<Principal> sourceConditions = new ArrayList<>();
        for (Condition c : rule.when()) {
            condition(c, destinationConditions, sourceConditions, trustDomains);
        }
        Policy.Builder policy = Policy.newBuilder();
        if (rule.to().isEmpty()) {
            policy.addPermissions(andPermissions(destinationConditions));
        }
        for (var to : rule.to()) {
            List<Permission> parts = operation(to.operation());
            parts.addAll(destinationConditions);
            policy.addPermissions(andPermissions(parts));
        }
        if (rule.from().isEmpty()) {
            policy.addPrincipals(andPrincipals(sourceConditions));
        }
        for (var from : rule.from()) {
            List<Principal> parts = source(from.source(), trustDomains);
            parts.addAll(sourceConditions);
            policy.addPrincipals(andPrincipals(parts));
        }
        return policy.build();
    }

    private static List<Permission> operation(Operation o) {
        List<Permission> parts = new ArrayList<>();
        addPermission(parts, o.hosts(), o.notHosts(), SecurityTranslator::host);
        addPermission(parts, o.ports(), o.notPorts(), SecurityTranslator::port);
        addPermission(parts, o.methods(), o.notMethods(), v -> header(":method", v, false));
        addPermission(parts, o.paths(), o.notPaths(), SecurityTranslator::path);
        return parts;
    }

    private static List<Principal> source(Source s, TrustDomains trustDomains) {
        List<Principal> parts = new ArrayList<>();
        addPrincipal(parts, trustDomains.expand(s.principals()), trustDomains.expand(s.notPrincipals()),
                SecurityTranslator::principal);
        addPrincipals(parts, s.requestPrincipals(), s.notRequestPrincipals(), SecurityTranslator::requestPrincipals);
        addPrincipal(parts, s.namespaces(), s.notNamespaces(), SecurityTranslator::namespace);
        addPrincipal(parts, s.serviceAccounts(), s.notServiceAccounts(), SecurityTranslator::serviceAccount);
        addPrincipal(parts, s.ipBlocks(), s.notIpBlocks(), v -> Principal.newBuilder().setDirectRemoteIp(cidr(v)).build());
        addPrincipal(parts, s.remoteIpBlocks(), s.notRemoteIpBlocks(),
                v -> Principal.newBuilder().setRemoteIp(cidr(v)).build());
        return parts;
    }

    private static void condition(Condition c, List<Permission> destination, List<Principal> source,
            TrustDomains trustDomains) {
        String key = c.key();
        if (key.startsWith("request.headers[")) {
            String name = key.substring("request.headers[".length(), key.length() - 1);
            addPrincipal(source, c.values(), c.notValues(),
                    v -> Principal.newBuilder().setHeader(headerMatcher(name, v, false)).build());
            return;
        }
        if (key.equals("request.auth.principal")) {
            addPrincipals(source, c.values(), c.notValues(), SecurityTranslator::requestPrincipals);
            return;
        }
        if (key.startsWith("request.auth.")) {
            List<String> claim = switch (key) {
                case "request.auth.audiences" -> List.of("aud");
                case "request.auth.presenter" -> List.of("azp");
                default -> claimPath(key);
            };
            addPrincipals(source, c.values(), c.notValues(), values -> claim(claim, values));
            return;
        }
        switch (key) {
            case "source.ip" -> addPrincipal(source, c.values(), c.notValues(),
                    v -> Principal.newBuilder().setDirectRemoteIp(cidr(v)).build());
            case "remote.ip" -> addPrincipal(source, c.values(), c.notValues(),
                    v -> Principal.newBuilder().setRemoteIp(cidr(v)).build());
            case "source.namespace" -> addPrincipal(source, c.values(), c.notValues(), SecurityTranslator::namespace);
            case "source.principal" -> addPrincipal(source, trustDomains.expand(c.values()),
                    trustDomains.expand(c.notValues()), SecurityTranslator::principal);
            case "source.serviceAccount" ->
                    addPrincipal(source, c.values(), c.notValues(), SecurityTranslator::serviceAccount);
            case "destination.ip" -> addPermission(destination, c.values(), c.notValues(),
                    v -> Permission.newBuilder().setDestinationIp(cidr(v)).build());
            case "destination.port" -> addPermission(destination, c.values(), c.notValues(), SecurityTranslator::port);
            case "connection.sni" -> addPermission(destination, c.values(), c.notValues(),
                    v -> Permission.newBuilder().setRequestedServerName(string(v, false)).build());
            default -> throw new IllegalArgumentException("when key '" + key + "' passed validation but has no"
                    + " translation (a bug: add it here)");
        }
    }

    private static void addPermission(List<Permission> parts, List<String> values, List<String> notValues,
            Function<String, Permission> one) {
        if (!values.isEmpty()) {
            parts.add(orPermissions(values.stream().map(one).toList()));
        }
        if (!notValues.isEmpty()) {
            parts.add(Permission.newBuilder().setNotRule(orPermissions(notValues.stream().map(one).toList())).build());
        }
    }

    private static void addPrincipal(List<Principal> parts, List<String> values, List<String> notValues,
            Function<String, Principal> one) {
        if (!values.isEmpty()) {
            parts.add(orPrincipals(values.stream().map(one).toList()));
        }
        if (!notValues.isEmpty()) {
            parts.add(Principal.newBuilder().setNotId(orPrincipals(notValues.stream().map(one).toList())).build());
        }
    }

    /** Istio's form for JWT keys: all values in one matcher, negated values in one {@code not_id}. */
    private static void addPrincipals(List<Principal> parts, List<String> values, List<String> notValues,
            Function<List<String>, Principal> all) {
        if (!values.isEmpty()) {
            parts.add(all.apply(values));
        }
        if (!notValues.isEmpty()) {
            parts.add(Principal.newBuilder().setNotId(all.apply(notValues)).build());
        }
    }

    private static Permission andPermissions(List<Permission> parts) {
        if (parts.isEmpty()) {
            return Permission.newBuilder().setAny(true).build();
        }
        return Permission.newBuilder().setAndRules(Permission.Set.newBuilder().addAllRules(parts)).build();
    }

    private static Permission orPermissions(List<Permission> parts) {
        return Permission.newBuilder().setOrRules(Permission.Set.newBuilder().addAllRules(parts)).build();
    }

    private static Principal andPrincipals(List<Principal> parts) {
        if (parts.isEmpty()) {
            return Principal.newBuilder().setAny(true).build();
        }
        return Principal.newBuilder().setAndIds(Principal.Set.newBuilder().addAllIds(parts)).build();
    }

    private static Principal orPrincipals(List<Principal> parts) {
        return Principal.newBuilder().setOrIds(Principal.Set.newBuilder().addAllIds(parts)).build();
    }

    /** {@code cluster.local/ns/x/sa/y} → the peer certificate's URI SAN {@code spiffe://cluster.local/ns/x/sa/y}. */
    private static Principal principal(String v) {
        StringMatcher match;
        if (v.equals("*")) {
            match = regex(".+");
        } else if (v.startsWith("*")) {
            match = StringMatcher.newBuilder().setSuffix(v.substring(1)).build();
        } else if (v.endsWith("*")) {
            match = StringMatcher.newBuilder().setPrefix("spiffe://" + v.substring(0, v.length() - 1)).build();
        } else {
            match = StringMatcher.newBuilder().setExact("spiffe://" + v).build();
        }
        return authenticated(match);
    }

    private static Principal namespace(String v) {
        String ns;
        if (v.equals("*")) {
            ns = "[^/]+";
        } else if (v.startsWith("*")) {
            ns = "[^/]*" + quote(v.substring(1));
        } else if (v.endsWith("*")) {
            ns = quote(v.substring(0, v.length() - 1)) + "[^/]*";
        } else {
            ns = quote(v);
        }
        return authenticated(regex(".*/ns/" + ns + "/.*"));
    }

    private static Principal serviceAccount(String v) {
        int slash = v.indexOf('/');
        return authenticated(regex("spiffe://[^/]+/ns/" + quote(v.substring(0, slash)) + "/sa/"
                + quote(v.substring(slash + 1))));
    }

    private static Principal authenticated(StringMatcher match) {
        return Principal.newBuilder().setAuthenticated(Principal.Authenticated.newBuilder().setPrincipalName(match))
                .build();
    }

    /**
     * {@code requestPrincipals} ({@code <iss>/<sub>}, split at the last {@code /}: issuers are URLs)
     * → the verified payload's {@code iss} and {@code sub}, as istiod matches them; {@code *} at
     * either end widens the part it stands in.
     */
    private static Principal requestPrincipals(List<String> values) {
        List<Principal> or = new ArrayList<>();
        StringMatcher any = regex(".+");
        for (String v : values) {
            int slash = v.lastIndexOf('/');
            String iss = slash >= 0 ? v.substring(0, slash) : v;
            String sub = slash >= 0 ? v.substring(slash + 1) : "";
            StringMatcher matchIss;
            StringMatcher matchSub;
            if (v.equals("*")) {
                matchIss = any;
                matchSub = any;
            } else if (v.startsWith("*")) {
                if (slash >= 0) {
                    matchIss = iss.equals("*") ? any : StringMatcher.newBuilder().setSuffix(iss.substring(1)).build();
                    matchSub = StringMatcher.newBuilder().setExact(sub).build();
                } else {
                    matchIss = any;
                    matchSub = StringMatcher.newBuilder().setSuffix(v.substring(1)).build();
                }
            } else if (v.endsWith("*")) {
                if (slash >= 0) {
                    matchIss = StringMatcher.newBuilder().setExact(iss).build();
                    matchSub = sub.equals("*") ? any
                            : StringMatcher.newBuilder().setPrefix(sub.substring(0, sub.length() - 1)).build();
                } else {
                    matchIss = StringMatcher.newBuilder().setPrefix(v.substring(0, v.length() - 1)).build();
                    matchSub = any;
                }
            } else {
                matchIss = StringMatcher.newBuilder().setExact(iss).build();
                matchSub = StringMatcher.newBuilder().setExact(sub).build();
            }
            or.add(andPrincipals(List.of(
                    payloadMatcher(List.of("iss"), ValueMatcher.newBuilder().setStringMatch(matchIss).build()),
                    payloadMatcher(List.of("sub"), ValueMatcher.newBuilder().setStringMatch(matchSub).build()))));
        }
        return or.size() == 1 ? or.get(0) : orPrincipals(or);
    }

    /**
     * A claim (path of names into the payload) against any of {@code values}: the claim may be a
     * string or a list of strings (e.g. {@code aud}, {@code groups}), so istiod matches either.
     */
    private static Principal claim(List<String> path, List<String> values) {
        List<ValueMatcher> strings = values.stream()
                .map(v -> ValueMatcher.newBuilder().setStringMatch(string(v, false)).build()).toList();
        ValueMatcher oneOfValues = strings.size() == 1 ? strings.get(0)
                : ValueMatcher.newBuilder().setOrMatch(OrMatcher.newBuilder().addAllValueMatchers(strings)).build();
        ValueMatcher inList = ValueMatcher.newBuilder()
                .setListMatch(ListMatcher.newBuilder().setOneOf(oneOfValues)).build();
        return payloadMatcher(path, ValueMatcher.newBuilder()
                .setOrMatch(OrMatcher.newBuilder().addValueMatchers(inList).addValueMatchers(oneOfValues)).build());
    }

    private static Principal payloadMatcher(List<String> path, ValueMatcher value) {
        MetadataMatcher.Builder m = MetadataMatcher.newBuilder().setFilter(AUTHN_METADATA)
                .addPath(MetadataMatcher.PathSegment.newBuilder().setKey(JwtTranslator.PAYLOAD));
        for (String key : path) {
            m.addPath(MetadataMatcher.PathSegment.newBuilder().setKey(key));
        }
        return Principal.newBuilder().setMetadata(m.setValue(value)).build();
    }

    /** {@code request.auth.claims[a][b]} → {@code [a, b]}; the validator has checked the brackets. */
    static List<String> claimPath(String key) {
        String rest = key.substring("request.auth.claims".length());
        List<String> names = new ArrayList<>();
        int i = 0;
        while (i < rest.length()) {
            int end = rest.indexOf(']', i);
            if (rest.charAt(i) != '[' || end < 0) {
                throw new IllegalArgumentException("when key '" + key
                        + "' (expected: request.auth.claims[<name>] or nested [<a>][<b>]) passed validation");
            }
            names.add(rest.substring(i + 1, end));
            i = end + 1;
        }
        if (names.isEmpty()) {
            throw new IllegalArgumentException("when key '" + key + "' names no claim");
        }
        return names;
    }

    /** {@code :authority} carries the port when the client wrote one: an exact host matches with any port. */
    private static Permission host(String v) {
        if (v.equals("*") || v.startsWith("*") || v.endsWith("*") || v.contains(":")) {
            return header(":authority", v, true);
        }
        return orPermissions(List.of(header(":authority", v, true), header(":authority", v + ":*", true)));
    }

    private static Permission port(String v) {
        return Permission.newBuilder().setDestinationPort(Integer.parseInt(v.trim())).build();
    }

    private static Permission path(String v) {
        if (v.equals("*")) {
            return Permission.newBuilder().setAny(true).build();
        }
        return Permission.newBuilder().setUrlPath(PathMatcher.newBuilder().setPath(string(v, false))).build();
    }

    private static Permission header(String name, String v, boolean ignoreCase) {
        return Permission.newBuilder().setHeader(headerMatcher(name, v, ignoreCase)).build();
    }

    private static HeaderMatcher headerMatcher(String name, String v, boolean ignoreCase) {
        HeaderMatcher.Builder h = HeaderMatcher.newBuilder().setName(name);
        if (v.equals("*")) {
            return h.setPresentMatch(true).build();
        }
        return h.setStringMatch(string(v, ignoreCase)).build();
    }

    /** Istio's value syntax: exact, {@code prefix*}, {@code *suffix}; {@code *} alone: any non-empty value. */
    private static StringMatcher string(String v, boolean ignoreCase) {
        StringMatcher.Builder m = StringMatcher.newBuilder().setIgnoreCase(ignoreCase);
        if (v.equals("*")) {
            return regex(".+");
        } else if (v.startsWith("*")) {
            m.setSuffix(v.substring(1));
        } else if (v.endsWith("*")) {
            m.setPrefix(v.substring(0, v.length() - 1));
        } else {
            m.setExact(v);
        }
        return m.build();
    }

    private static StringMatcher regex(String regex) {
        return StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(regex)).build();
    }

    private static CidrRange cidr(String v) {
        Cidr c = Cidr.parse(v);
        return CidrRange.newBuilder().setAddressPrefix(c.address()).setPrefixLen(UInt32Value.of(c.prefixLen())).build();
    }

    /** RE2 has no \Q...\E: escape each metacharacter. */
    private static String quote(String literal) {
        StringBuilder out = new StringBuilder();
        for (char ch : literal.toCharArray()) {
            if ("\\.+*?()|[]{}^$".indexOf(ch) >= 0) {
                out.append('\\');
            }
            out.append(ch);
        }
        return out.toString();
    }
}
