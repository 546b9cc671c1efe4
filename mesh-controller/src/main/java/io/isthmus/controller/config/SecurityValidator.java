package io.isthmus.controller.config;

import io.isthmus.controller.config.AuthorizationPolicySpec.Action;
import io.isthmus.controller.config.AuthorizationPolicySpec.Condition;
import io.isthmus.controller.config.AuthorizationPolicySpec.Operation;
import io.isthmus.controller.config.AuthorizationPolicySpec.Rule;
import io.isthmus.controller.config.AuthorizationPolicySpec.Source;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.regex.Pattern;

/**
 * Per-object checks of the security.istio.io kinds, in Istio's terms; each error names the field
 * and the fix. Collects into the caller's lists, as {@link ConfigValidator} does.
 */
final class SecurityValidator {

    /** The {@code when} keys Isthmus evaluates (Istio's list minus the ext_authz/experimental ones). */
    static final Set<String> CONDITION_KEYS = Set.of("source.ip", "remote.ip", "source.namespace",
            "source.principal", "source.serviceAccount", "request.auth.principal", "request.auth.audiences",
            "request.auth.presenter", "destination.ip", "destination.port", "connection.sni");
    private static final Pattern HEADER_KEY = Pattern.compile("request\\.headers\\[([^\\[\\]]+)]");
    private static final Pattern CLAIM_KEY = Pattern.compile("request\\.auth\\.claims\\[[^\\[\\]]+](\\[[^\\[\\]]+])*");
    private static final Pattern METHOD = Pattern.compile("[A-Z][A-Z_-]*");

    private final BiConsumer<String, String> error;

    /** @param error receives (field, message) */
    SecurityValidator(BiConsumer<String, String> error) {
        this.error = error;
    }

    void peerAuthentication(PeerAuthenticationSpec pa) {
        if (!pa.portLevelMtls().isEmpty() && WorkloadSelector.isEmpty(pa.selector())) {
            error.accept("spec.portLevelMtls", "set without selector (expected: a selector with matchLabels;"
                    + " port-level modes apply to workloads, not to a namespace or the mesh)");
        }
        pa.portLevelMtls().forEach((port, mtls) -> {
            if (port == null || port < 1 || port > 65535) {
                error.accept("spec.portLevelMtls[" + port + "]", "port " + port + " (expected: 1-65535)");
            }
            if (mtls == null) {
                error.accept("spec.portLevelMtls[" + port + "]", "null (expected: {mode: STRICT|PERMISSIVE|DISABLE})");
            }
        });
        selector(pa.selector());
    }

    void requestAuthentication(RequestAuthenticationSpec ra) {
        selector(ra.selector());
        targets(ra.selector(), ra.targetRef(), ra.targetRefs());
        for (int i = 0; i < ra.jwtRules().size(); i++) {
            var rule = ra.jwtRules().get(i);
            String f = "spec.jwtRules[" + i + "]";
            if (rule == null) {
                error.accept(f, "null (expected: a JWT rule with issuer)");
                continue;
            }
            if (rule.issuer() == null || rule.issuer().isBlank()) {
                error.accept(f + ".issuer", "missing (expected: the token issuer, the iss claim)");
            }
            if (rule.jwksUri() != null && rule.jwks() != null) {
                error.accept(f, "has both jwksUri and jwks (expected: at most one; remove one of them)");
            }
            if (rule.jwksUri() != null) {
                try {
                    URI uri = new URI(rule.jwksUri());
                    if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null) {
                        error.accept(f + ".jwksUri", "'" + rule.jwksUri() + "' (expected: an http or https URL)");
                    }
                } catch (URISyntaxException e) {
                    error.accept(f + ".jwksUri", "'" + rule.jwksUri() + "' does not parse: " + e.getReason()
                            + " (expected: an http or https URL)");
                }
            }
            if (rule.jwks() != null && !rule.jwks().contains("\"keys\"")) {
                error.accept(f + ".jwks", "not a JSON Web Key Set (expected: inline JSON with a \"keys\" array)");
            }
            for (int h = 0; h < rule.fromHeaders().size(); h++) {
                var header = rule.fromHeaders().get(h);
                if (header == null || header.name() == null || header.name().isBlank()) {
                    error.accept(f + ".fromHeaders[" + h + "].name", "missing (expected: a header name)");
                }
            }
            if (rule.timeout() != null) {
                try {
                    Durations.parse(rule.timeout());
                } catch (IllegalArgumentException e) {
                    error.accept(f + ".timeout", e.getMessage());
                }
            }
        }
    }

    void authorizationPolicy(AuthorizationPolicySpec ap) {
        selector(ap.selector());
        targets(ap.selector(), ap.targetRef(), ap.targetRefs());
        if (ap.action() == Action.CUSTOM) {
            error.accept("spec.action", "CUSTOM (not supported: Isthmus has no external authorizer (ext_authz);"
                    + " use ALLOW or DENY rules instead)");
        } else if (ap.provider() != null) {
            error.accept("spec.provider", "set with action " + ap.action()
                    + " (expected: only with action CUSTOM, which Isthmus does not support; remove it)");
        }
        for (int i = 0; i < ap.rules().size(); i++) {
            Rule rule = ap.rules().get(i);
            String f = "spec.rules[" + i + "]";
            if (rule == null) {
                // Istio reads `- ` as an empty rule too, but it is far more often a YAML slip.
                error.accept(f, "null (expected: a rule; write {} for a rule that matches every request)");
                continue;
            }
            for (int j = 0; j < rule.from().size(); j++) {
                var from = rule.from().get(j);
                if (from == null || from.source() == null || from.source().isEmpty()) {
                    error.accept(f + ".from[" + j + "].source", "empty (expected: at least one field, e.g. principals;"
                            + " remove the from entry to match every source)");
                } else {
                    source(from.source(), f + ".from[" + j + "].source");
                }
            }
            for (int j = 0; j < rule.to().size(); j++) {
                var to = rule.to().get(j);
                if (to == null || to.operation() == null || to.operation().isEmpty()) {
                    error.accept(f + ".to[" + j + "].operation", "empty (expected: at least one field, e.g. paths;"
                            + " remove the to entry to match every operation)");
                } else {
                    operation(to.operation(), f + ".to[" + j + "].operation");
                }
            }
            for (int j = 0; j < rule.when().size(); j++) {
                condition(rule.when().get(j), f + ".when[" + j + "]");
            }
        }
    }

    private void source(Source s, String f) {
        values(s.principals(), f + ".principals");
        values(s.notPrincipals(), f + ".notPrincipals");
        values(s.requestPrincipals(), f + ".requestPrincipals");
        values(s.notRequestPrincipals(), f + ".notRequestPrincipals");
        values(s.namespaces(), f + ".namespaces");
        values(s.notNamespaces(), f + ".notNamespaces");
        values(s.serviceAccounts(), f + ".serviceAccounts");
        values(s.notServiceAccounts(), f + ".notServiceAccounts");
        serviceAccounts(s.serviceAccounts(), f + ".serviceAccounts");
        serviceAccounts(s.notServiceAccounts(), f + ".notServiceAccounts");
        if (!s.serviceAccounts().isEmpty() || !s.notServiceAccounts().isEmpty()) {
            if (!s.principals().isEmpty() || !s.notPrincipals().isEmpty()) {
                error.accept(f, "has both serviceAccounts and principals (expected: one of them, as Istio)");
            }
        }
        cidrs(s.ipBlocks(), f + ".ipBlocks");
        cidrs(s.notIpBlocks(), f + ".notIpBlocks");
        cidrs(s.remoteIpBlocks(), f + ".remoteIpBlocks");
        cidrs(s.notRemoteIpBlocks(), f + ".notRemoteIpBlocks");
    }

    void operation(Operation o, String f) {
        values(o.hosts(), f + ".hosts");
        values(o.notHosts(), f + ".notHosts");
        ports(o.ports(), f + ".ports");
        ports(o.notPorts(), f + ".notPorts");
        methods(o.methods(), f + ".methods");
        methods(o.notMethods(), f + ".notMethods");
        paths(o.paths(), f + ".paths");
        paths(o.notPaths(), f + ".notPaths");
    }

    private void condition(Condition c, String f) {
        if (c == null || c.key() == null || c.key().isBlank()) {
            error.accept(f + ".key", "missing (expected: e.g. request.headers[x-token] or source.ip)");
            return;
        }
        if (c.values().isEmpty() && c.notValues().isEmpty()) {
            error.accept(f, "has neither values nor notValues (expected: at least one of them)");
        }
        String key = c.key();
        if (HEADER_KEY.matcher(key).matches() || CLAIM_KEY.matcher(key).matches()) {
            values(c.values(), f + ".values");
            values(c.notValues(), f + ".notValues");
            return;
        }
        if (!CONDITION_KEYS.contains(key)) {
            error.accept(f + ".key", "'" + key + "' (expected one of request.headers[<name>], "
                    + "request.auth.claims[<name>], " + String.join(", ", CONDITION_KEYS.stream().sorted().toList())
                    + (key.startsWith("experimental.") ? "; experimental keys are not supported" : "") + ")");
            return;
        }
        switch (key) {
            case "source.ip", "remote.ip", "destination.ip" -> {
                cidrs(c.values(), f + ".values");
                cidrs(c.notValues(), f + ".notValues");
            }
            case "destination.port" -> {
                ports(c.values(), f + ".values");
                ports(c.notValues(), f + ".notValues");
            }
            case "source.serviceAccount" -> {
                serviceAccounts(c.values(), f + ".values");
                serviceAccounts(c.notValues(), f + ".notValues");
            }
            default -> {
                values(c.values(), f + ".values");
                values(c.notValues(), f + ".notValues");
            }
        }
    }

    void selector(WorkloadSelector selector) {
        if (selector == null) {
            return;
        }
        selector.matchLabels().forEach((k, v) -> {
            if (k == null || k.isBlank() || v == null) {
                error.accept("spec.selector.matchLabels", "'" + k + "': '" + v
                        + "' (expected: non-empty label names with string values)");
            }
        });
    }

    private void targets(WorkloadSelector selector, Object targetRef, List<?> targetRefs) {
        if (!WorkloadSelector.isEmpty(selector) && (targetRef != null || !targetRefs.isEmpty())) {
            error.accept("spec.selector", "set with targetRef(s) (expected: one of them, as Istio)");
        }
        if (targetRef != null && !targetRefs.isEmpty()) {
            error.accept("spec.targetRef", "set with targetRefs (expected: one of them; use targetRefs)");
        }
    }

    /** Istio's string match: exact, {@code prefix*}, {@code *suffix} or {@code *}; no other wildcard. */
    private void values(List<String> values, String f) {
        for (int i = 0; i < values.size(); i++) {
            String v = values.get(i);
            if (v == null || v.isEmpty()) {
                error.accept(f + "[" + i + "]", "empty (expected: a value; \"*\" matches any)");
            } else if (v.length() > 2 && v.substring(1, v.length() - 1).contains("*")) {
                error.accept(f + "[" + i + "]", "'" + v + "' has a wildcard inside (expected: exact, prefix*,"
                        + " *suffix or *)");
            } else if (v.length() == 2 && v.equals("**")) {
                error.accept(f + "[" + i + "]", "'**' (expected: exact, prefix*, *suffix or *)");
            }
        }
    }

    private void paths(List<String> paths, String f) {
        values(paths, f);
        for (int i = 0; i < paths.size(); i++) {
            String p = paths.get(i);
            if (p == null) {
                continue;
            }
            if (p.contains("{*}") || p.contains("{**}")) {
                error.accept(f + "[" + i + "]", "'" + p + "' is a path template (not supported by Isthmus yet;"
                        + " use a prefix such as /api/* instead)");
            } else if (!p.startsWith("/") && !p.startsWith("*")) {
                error.accept(f + "[" + i + "]", "'" + p + "' (expected: a path starting with /, or *suffix)");
            } else if (p.contains("?") || p.contains("#")) {
                error.accept(f + "[" + i + "]", "'" + p + "' has a query or fragment (expected: the path only;"
                        + " paths are matched without the query)");
            }
        }
    }

    private void methods(List<String> methods, String f) {
        for (int i = 0; i < methods.size(); i++) {
            String m = methods.get(i);
            if (m == null || !(m.equals("*") || METHOD.matcher(m).matches())) {
                error.accept(f + "[" + i + "]", "'" + m + "' (expected: an HTTP method in upper case, e.g. GET)");
            }
        }
    }

    private void ports(List<String> ports, String f) {
        for (int i = 0; i < ports.size(); i++) {
            String p = ports.get(i);
            int port;
            try {
                port = Integer.parseInt(p == null ? "" : p.trim());
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < 1 || port > 65535) {
                error.accept(f + "[" + i + "]", "'" + p + "' (expected: a port number 1-65535)");
            }
        }
    }

    private void serviceAccounts(List<String> accounts, String f) {
        for (int i = 0; i < accounts.size(); i++) {
            String a = accounts.get(i);
            if (a == null || a.split("/", -1).length != 2 || a.startsWith("/") || a.endsWith("/")) {
                error.accept(f + "[" + i + "]", "'" + a + "' (expected: <namespace>/<service-account>)");
            }
        }
    }

    private void cidrs(List<String> blocks, String f) {
        for (int i = 0; i < blocks.size(); i++) {
            String b = blocks.get(i);
            try {
                Cidr.parse(b);
            } catch (IllegalArgumentException e) {
                error.accept(f + "[" + i + "]", e.getMessage());
            }
        }
    }
}
