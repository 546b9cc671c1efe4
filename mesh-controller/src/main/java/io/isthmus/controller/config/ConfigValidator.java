package io.isthmus.controller.config;

import io.isthmus.controller.config.DestinationRuleSpec.LocalityLbSetting;
import io.isthmus.controller.config.DestinationRuleSpec.OutlierDetection;
import io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy;
import io.isthmus.controller.config.VirtualServiceSpec.Destination;
import io.isthmus.controller.config.VirtualServiceSpec.HttpRoute;
import io.isthmus.controller.config.VirtualServiceSpec.MatchRequest;
import io.isthmus.controller.config.VirtualServiceSpec.Percent;
import io.isthmus.controller.config.VirtualServiceSpec.StringMatch;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** Per-object checks; collects every error (rejects) and warning (accepts) with its field and fix. */
final class ConfigValidator {

    /** Envoy's RE2 programs are bounded; a longer regex is almost surely a mistake. */
    static final int MAX_REGEX_LENGTH = 1024;
    private static final Set<String> LB_SIMPLE =
            Set.of("UNSPECIFIED", "ROUND_ROBIN", "LEAST_CONN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH");
    // The locality keys Istio forbids in failoverPriority next to failover (network and cluster are allowed).
    private static final Set<String> LOCALITY_LABELS =
            Set.of("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone");
    private static final Set<String> TLS_MODES = Set.of("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL");
    private static final Set<String> H2_UPGRADE_POLICIES = new java.util.TreeSet<>(
            Set.of("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"));

    /** Envoy's retry conditions that Istio's validation accepts (besides HTTP status codes). */
    static final Set<String> RETRY_ON = Set.of("5xx", "gateway-error", "reset", "connect-failure",
            "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
            "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable", "reset-before-request",
            "http3-post-connect-failure");

    private final String who;
    private final List<String> errors = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();

    ConfigValidator(String who) {
        this.who = who;
    }

    List<String> errors() {
        return errors;
    }

    List<String> warnings() {
        return warnings;
    }

    /** The security.istio.io kinds' checks, reporting into this validator. */
    SecurityValidator security() {
        return new SecurityValidator(this::error);
    }

    /** RateLimitPolicy's checks, reporting into this validator. */
    RateLimitValidator rateLimit() {
        return new RateLimitValidator(this::error);
    }

    private void error(String field, String message) {
        errors.add(who + ": " + field + ": " + message);
    }

    void virtualService(VirtualServiceSpec vs) {
        // Without hosts it is a delegate (Istio's rules): only HTTP routes, which delegate no further.
        boolean delegate = vs.hosts().isEmpty();
        if (delegate) {
            if (!vs.gateways().isEmpty()) {
                error("spec.gateways", "set on a delegate VirtualService (one without hosts; expected: no gateways,"
                        + " the root VirtualService's apply, or add hosts)");
            }
            if (!vs.tcp().isEmpty() || !vs.tls().isEmpty()) {
                error(vs.tcp().isEmpty() ? "spec.tls" : "spec.tcp", "set on a delegate VirtualService (one without"
                        + " hosts; expected: only http routes, or add hosts)");
            }
            if (vs.http().isEmpty()) {
                error("spec.hosts", "missing (expected: at least one host, e.g. reviews or"
                        + " reviews.bookinfo.svc.cluster.local; without hosts, a delegate with http routes)");
            }
        }
        for (int i = 0; i < vs.hosts().size(); i++) {
            String h = vs.hosts().get(i);
            if (h == null || h.isBlank()) {
                error("spec.hosts[" + i + "]", "empty (expected: a host name)");
            }
        }
        for (int i = 0; i < vs.http().size(); i++) {
            HttpRoute route = vs.http().get(i);
            String f = "spec.http[" + i + "]";
            if (route == null) {
                error(f, "null (expected: an HTTP route)");
                continue;
            }
            httpRoute(route, f);
            if (delegate && route.delegate() != null) {
                error(f + ".delegate", "set in a delegate VirtualService (expected: one level of delegation only)");
            }
        }
        for (int i = 0; i < vs.tcp().size(); i++) {
            VirtualServiceSpec.TcpRoute route = vs.tcp().get(i);
            String f = "spec.tcp[" + i + "]";
            if (route == null) {
                error(f, "null (expected: a TCP route)");
                continue;
            }
            for (int m = 0; m < route.match().size(); m++) {
                VirtualServiceSpec.L4MatchAttributes match = route.match().get(m);
                String mf = f + ".match[" + m + "]";
                if (match == null) {
                    error(mf, "null (expected: a match)");
                    continue;
                }
                l4Match(match.destinationSubnets(), match.port(), mf);
                if (match.sourceSubnet() != null) {
                    subnet(match.sourceSubnet(), mf + ".sourceSubnet");
                }
            }
            l4Destinations(route.route(), f);
        }
        for (int i = 0; i < vs.tls().size(); i++) {
            VirtualServiceSpec.TlsRoute route = vs.tls().get(i);
            String f = "spec.tls[" + i + "]";
            if (route == null) {
                error(f, "null (expected: a TLS route)");
                continue;
            }
            if (route.match().isEmpty()) {
                error(f + ".match", "missing (expected: at least one match with sniHosts)");
            }
            for (int m = 0; m < route.match().size(); m++) {
                VirtualServiceSpec.TlsMatchAttributes match = route.match().get(m);
                String mf = f + ".match[" + m + "]";
                if (match == null) {
                    error(mf, "null (expected: a match with sniHosts)");
                    continue;
                }
                if (match.sniHosts().isEmpty()) {
                    error(mf + ".sniHosts", "missing (expected: the server names the ClientHello carries,"
                            + " e.g. [" + (vs.hosts().isEmpty() ? "db.example.com" : vs.hosts().get(0)) + "])");
                }
                for (int h = 0; h < match.sniHosts().size(); h++) {
                    sniHost(match.sniHosts().get(h), vs.hosts(), mf + ".sniHosts[" + h + "]");
                }
                l4Match(match.destinationSubnets(), match.port(), mf);
            }
            l4Destinations(route.route(), f);
        }
    }

    private void l4Match(List<String> destinationSubnets, Integer port, String f) {
        for (int s = 0; s < destinationSubnets.size(); s++) {
            subnet(destinationSubnets.get(s), f + ".destinationSubnets[" + s + "]");
        }
        if (port != null && (port < 1 || port > 65535)) {
            error(f + ".port", port + " (expected: 1-65535)");
        }
    }

    private void subnet(String text, String f) {
        try {
            Cidr.parse(text);
        } catch (IllegalArgumentException e) {
            error(f, e.getMessage());
        }
    }

    /** Istio's rule: an SNI host must be one of the VirtualService's hosts, or under one of its wildcards. */
    private void sniHost(String sni, List<String> hosts, String f) {
        if (sni == null || sni.isBlank()) {
            error(f, "empty (expected: a server name such as " + (hosts.isEmpty() ? "db.example.com" : hosts.get(0))
                    + ")");
            return;
        }
        for (String host : hosts) {
            if (host == null) {
                continue;
            }
            if (host.equals("*") || host.equalsIgnoreCase(sni)
                    || (host.startsWith("*.") && sni.toLowerCase(java.util.Locale.ROOT)
                            .endsWith(host.substring(1).toLowerCase(java.util.Locale.ROOT)))) {
                return;
            }
        }
        error(f, "'" + sni + "' is not one of the VirtualService's hosts " + hosts
                + " (expected: a host of spec.hosts, or a name under one of its wildcards; add it to spec.hosts)");
    }

    /** A TCP or TLS route's destinations: at least one, each with a host, weights 0-100 summing to 100. */
    private void l4Destinations(List<VirtualServiceSpec.L4RouteDestination> route, String f) {
        if (route.isEmpty()) {
            error(f + ".route", "missing (expected: at least one destination, e.g. [{destination: {host: db}}])");
        }
        weightedDestinations(route, f);
    }

    /** Each destination names a host; weights 0-100, summing to 100 when there are several. */
    private void weightedDestinations(List<? extends VirtualServiceSpec.WeightedDestination> route, String f) {
        int sum = 0;
        for (int d = 0; d < route.size(); d++) {
            VirtualServiceSpec.WeightedDestination rd = route.get(d);
            String df = f + ".route[" + d + "]";
            if (rd == null || rd.destination() == null) {
                error(df + ".destination", "missing (expected: {host: ..., subset: ..., port: {number: ...}})");
                continue;
            }
            destination(rd.destination(), df + ".destination");
            if (rd.weight() != null && (rd.weight() < 0 || rd.weight() > 100)) {
                error(df + ".weight", rd.weight() + " (expected: 0-100)");
            }
            sum += rd.weight() == null ? 0 : rd.weight();
        }
        if (route.size() > 1 && sum != 100) {
            error(f + ".route", "weights sum to " + sum + " (expected: 100; adjust the weights so they add up to 100)");
        }
    }

    private void httpRoute(HttpRoute r, String f) {
        boolean hasAction = !r.route().isEmpty() || r.redirect() != null || r.directResponse() != null
                || r.delegate() != null;
        if (!hasAction) {
            error(f, "has no route, redirect, directResponse or delegate (expected: one of them)");
        }
        if (r.redirect() != null && !r.route().isEmpty()) {
            error(f, "has both route and redirect (expected: one; remove one of them)");
        }
        if (r.delegate() != null) {
            if (!r.route().isEmpty() || r.redirect() != null || r.directResponse() != null) {
                error(f, "has both delegate and " + (!r.route().isEmpty() ? "route" : r.redirect() != null
                        ? "redirect" : "directResponse") + " (expected: one; the delegate's routes act)");
            }
            if (r.delegate().name() == null || r.delegate().name().isBlank()) {
                error(f + ".delegate.name", "missing (expected: the name of a VirtualService without hosts)");
            }
        }
        for (int m = 0; m < r.match().size(); m++) {
            match(r.match().get(m), f + ".match[" + m + "]");
        }
        weightedDestinations(r.route(), f);
        if (r.timeout() != null) {
            duration(r.timeout(), f + ".timeout", Duration.ZERO);
        }
        if (r.retries() != null) {
            if (r.retries().attempts() != null && r.retries().attempts() < 0) {
                error(f + ".retries.attempts", r.retries().attempts() + " (expected: >= 0)");
            }
            if (r.retries().perTryTimeout() != null) {
                duration(r.retries().perTryTimeout(), f + ".retries.perTryTimeout", Duration.ofMillis(1));
            }
            if (r.retries().retryOn() != null) {
                for (String token : r.retries().retryOn().split(",")) {
                    String t = token.trim();
                    if (t.isEmpty()) {
                        error(f + ".retries.retryOn", "'" + r.retries().retryOn()
                                + "' has an empty condition (expected: comma-separated, e.g. 5xx,connect-failure,503)");
                    } else if (!RETRY_ON.contains(t) && !isStatusCode(t)) {
                        error(f + ".retries.retryOn", "'" + t + "' is not a retry condition (expected: an HTTP status"
                                + " code or one of " + new java.util.TreeSet<>(RETRY_ON) + ")");
                    }
                }
            }
            if (r.retries().backoff() != null) {
                duration(r.retries().backoff(), f + ".retries.backoff", Duration.ofMillis(1));
            }
        }
        if (r.fault() != null) {
            if (r.fault().delay() == null && r.fault().abort() == null) {
                error(f + ".fault", "has neither delay nor abort (expected: at least one)");
            }
            if (r.fault().delay() != null) {
                var delay = r.fault().delay();
                if (delay.fixedDelay() == null) {
                    error(f + ".fault.delay.fixedDelay", "missing (expected: a duration such as 5s)");
                } else {
                    duration(delay.fixedDelay(), f + ".fault.delay.fixedDelay", Duration.ofMillis(1));
                }
                percent(delay.percentage(), f + ".fault.delay.percentage.value");
                if (delay.percent() != null && (delay.percent() < 0 || delay.percent() > 100)) {
                    error(f + ".fault.delay.percent", delay.percent() + " (expected: 0-100)");
                }
            }
            if (r.fault().abort() != null) {
                var abort = r.fault().abort();
                int kinds = (abort.httpStatus() != null ? 1 : 0) + (abort.grpcStatus() != null ? 1 : 0)
                        + (abort.http2Error() != null ? 1 : 0);
                if (kinds == 0) {
                    error(f + ".fault.abort.httpStatus", "missing (expected: an HTTP status such as 503)");
                } else if (kinds > 1) {
                    error(f + ".fault.abort", "sets more than one of httpStatus, grpcStatus, http2Error"
                            + " (expected: exactly one)");
                } else if (abort.httpStatus() != null && (abort.httpStatus() < 200 || abort.httpStatus() > 599)) {
                    error(f + ".fault.abort.httpStatus", abort.httpStatus() + " (expected: 200-599)");
                } else if (abort.grpcStatus() != null && !VirtualServiceSpec.Abort.GRPC_STATUS.containsKey(abort.grpcStatus())) {
                    error(f + ".fault.abort.grpcStatus", "'" + abort.grpcStatus() + "' (expected: a gRPC status"
                            + " name such as UNAVAILABLE, one of " + new java.util.TreeSet<>(VirtualServiceSpec.Abort.GRPC_STATUS.keySet()) + ")");
                }
                percent(abort.percentage(), f + ".fault.abort.percentage.value");
            }
        }
        if (r.mirror() != null) {
            destination(r.mirror(), f + ".mirror");
            if (!r.mirrors().isEmpty()) {
                error(f + ".mirrors", "set together with mirror (expected: one of them; move mirror into mirrors)");
            }
        }
        for (int m = 0; m < r.mirrors().size(); m++) {
            var mirror = r.mirrors().get(m);
            String mf = f + ".mirrors[" + m + "]";
            if (mirror == null || mirror.destination() == null) {
                error(mf + ".destination", "missing (expected: {host: ..., subset: ..., port: {number: ...}})");
                continue;
            }
            destination(mirror.destination(), mf + ".destination");
            percent(mirror.percentage(), mf + ".percentage.value");
        }
        if (r.corsPolicy() != null) {
            corsPolicy(r.corsPolicy(), f + ".corsPolicy");
        }
        percent(r.mirrorPercentage(), f + ".mirrorPercentage.value");
        if (r.mirrorPercent() != null && (r.mirrorPercent() < 0 || r.mirrorPercent() > 100)) {
            error(f + ".mirrorPercent", r.mirrorPercent() + " (expected: 0-100)");
        }
        if (r.rewrite() != null && r.rewrite().uriRegexRewrite() != null) {
            var rr = r.rewrite().uriRegexRewrite();
            if (r.rewrite().uri() != null) {
                error(f + ".rewrite", "sets both uri and uriRegexRewrite (expected: one of them)");
            }
            if (rr.match() == null || rr.match().isEmpty()) {
                error(f + ".rewrite.uriRegexRewrite.match", "missing (expected: an RE2 regex such as ^/service/([^/]+)(/.*)$)");
            } else {
                regex(rr.match(), f + ".rewrite.uriRegexRewrite.match");
            }
            if (rr.rewrite() == null) {
                error(f + ".rewrite.uriRegexRewrite.rewrite", "missing (expected: a substitution such as \\2/instance/\\1)");
            }
        }
        if (r.redirect() != null && r.redirect().derivePort() != null) {
            if (!Set.of("FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT").contains(r.redirect().derivePort())) {
                error(f + ".redirect.derivePort", "'" + r.redirect().derivePort()
                        + "' (expected: FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT)");
            } else if (r.redirect().port() != null) {
                error(f + ".redirect", "sets both port and derivePort (expected: one of them)");
            }
        }
        if (r.redirect() != null && r.redirect().redirectCode() != null
                && !Set.of(301, 302, 303, 307, 308).contains(r.redirect().redirectCode())) {
            error(f + ".redirect.redirectCode", r.redirect().redirectCode() + " (expected: 301, 302, 303, 307 or 308)");
        }
        if (r.directResponse() != null && (r.directResponse().status() == null
                || r.directResponse().status() < 200 || r.directResponse().status() > 599)) {
            error(f + ".directResponse.status", r.directResponse().status() + " (expected: 200-599)");
        }
    }

    private void corsPolicy(VirtualServiceSpec.CorsPolicy cors, String f) {
        for (int o = 0; o < cors.allowOrigins().size(); o++) {
            StringMatch origin = cors.allowOrigins().get(o);
            if (origin == null) {
                error(f + ".allowOrigins[" + o + "]", "null (expected: {exact|prefix|regex: ...})");
            } else {
                stringMatch(origin, f + ".allowOrigins[" + o + "]");
            }
        }
        if (cors.maxAge() != null) {
            duration(cors.maxAge(), f + ".maxAge", Duration.ZERO);
        }
        if (cors.unmatchedPreflights() != null && !Set.of("UNSPECIFIED", "FORWARD", "IGNORE")
                .contains(cors.unmatchedPreflights())) {
            error(f + ".unmatchedPreflights", "'" + cors.unmatchedPreflights()
                    + "' (expected: UNSPECIFIED, FORWARD or IGNORE)");
        }
        for (var list : List.of(Map.entry("allowMethods", cors.allowMethods()),
                Map.entry("allowHeaders", cors.allowHeaders()), Map.entry("exposeHeaders", cors.exposeHeaders()))) {
            for (int i = 0; i < list.getValue().size(); i++) {
                String v = list.getValue().get(i);
                if (v == null || v.isBlank() || v.contains(",")) {
                    error(f + "." + list.getKey() + "[" + i + "]", "'" + v
                            + "' (expected: one non-empty name per entry, without commas)");
                }
            }
        }
    }

    private static boolean isStatusCode(String token) {
        return token.length() == 3 && token.chars().allMatch(Character::isDigit)
                && Integer.parseInt(token) >= 100 && Integer.parseInt(token) <= 599;
    }

    private void match(MatchRequest m, String f) {
        if (m == null) {
            error(f, "null (expected: a match)");
            return;
        }
        stringMatch(m.uri(), f + ".uri");
        stringMatch(m.scheme(), f + ".scheme");
        stringMatch(m.method(), f + ".method");
        stringMatch(m.authority(), f + ".authority");
        headerMatches(m.headers(), f + ".headers");
        headerMatches(m.withoutHeaders(), f + ".withoutHeaders");
        headerMatches(m.queryParams(), f + ".queryParams");
        if (m.port() != null && (m.port() < 1 || m.port() > 65535)) {
            error(f + ".port", m.port() + " (expected: 1-65535)");
        }
    }

    private void headerMatches(Map<String, StringMatch> matches, String f) {
        matches.forEach((name, match) -> {
            if (name.isEmpty()) {
                error(f, "a header name is empty (expected: a name such as end-user)");
            }
            // An empty match means "present" in Istio; only a set one is checked.
            if (match != null && (match.exact() != null || match.prefix() != null || match.regex() != null)) {
                stringMatch(match, f + "." + name);
            }
        });
    }

    private void stringMatch(StringMatch s, String f) {
        if (s == null) {
            return;
        }
        int set = (s.exact() != null ? 1 : 0) + (s.prefix() != null ? 1 : 0) + (s.regex() != null ? 1 : 0);
        if (set != 1) {
            error(f, "sets " + set + " of exact, prefix, regex (expected: exactly one)");
        }
        if (s.regex() != null) {
            regex(s.regex(), f + ".regex");
        }
    }

    private void regex(String regex, String f) {
        if (regex.length() > MAX_REGEX_LENGTH) {
            error(f, "is " + regex.length() + " characters long (expected: at most " + MAX_REGEX_LENGTH + ")");
            return;
        }
        // Envoy runs RE2 (and the sidecar refuses what RE2 lacks, rejecting the whole route
        // configuration): what RE2 would not compile is rejected here, on this one object.
        java.util.regex.Matcher unsupported = RE2_UNSUPPORTED.matcher(regex);
        if (unsupported.find()) {
            error(f, "'" + regex + "' uses '" + unsupported.group() + "', which RE2 does not support"
                    + " (expected: RE2 syntax, without backreferences, lookaround, atomic groups or possessive"
                    + " quantifiers)");
            return;
        }
        java.util.regex.Matcher repeat = RE2_REPEAT.matcher(regex);
        while (repeat.find()) {
            for (int g = 1; g <= 2; g++) {
                String n = repeat.group(g);
                if (n != null && !n.isEmpty() && (n.length() > 4 || Integer.parseInt(n) > 1000)) {
                    error(f, "'" + regex + "' repeats " + n + " times (expected: at most 1000, RE2's limit)");
                    return;
                }
            }
        }
        try {
            Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            error(f, "'" + regex + "' does not compile: " + e.getDescription() + " (fix the regular expression)");
        }
    }

    private static final Pattern RE2_UNSUPPORTED = Pattern.compile(
            "\\\\[1-9]|\\\\k<|\\(\\?=|\\(\\?!|\\(\\?<=|\\(\\?<!|\\(\\?>|[*+?}]\\+");
    private static final Pattern RE2_REPEAT = Pattern.compile("\\{(\\d+)(?:,(\\d*))?}");

    private void destination(Destination d, String f) {
        if (d.host() == null || d.host().isBlank()) {
            error(f + ".host", "missing (expected: a service host, e.g. reviews)");
        }
        if (d.port() != null && (d.port().number() == null || d.port().number() < 1 || d.port().number() > 65535)) {
            error(f + ".port.number", (d.port().number()) + " (expected: 1-65535)");
        }
        if (d.subset() != null && d.subset().isBlank()) {
            error(f + ".subset", "empty (expected: a subset name of a DestinationRule, or no subset)");
        }
    }

    private void percent(Percent p, String f) {
        if (p != null && (p.value() == null || p.value() < 0 || p.value() > 100 || p.value().isNaN())) {
            error(f, p.value() + " (expected: 0-100)");
        }
    }

    private Duration duration(String text, String f, Duration min) {
        try {
            Duration d = Durations.parse(text);
            if (d.compareTo(min) < 0) {
                error(f, text + " (expected: at least " + min.toMillis() + "ms)");
            }
            return d;
        } catch (IllegalArgumentException e) {
            error(f, e.getMessage());
            return null;
        }
    }

    void destinationRule(DestinationRuleSpec dr) {
        if (dr.host() == null || dr.host().isBlank()) {
            error("spec.host", "missing (expected: the service host the rule applies to, e.g. reviews)");
        }
        trafficPolicy(dr.trafficPolicy(), "spec.trafficPolicy");
        if (dr.workloadSelector() != null) {
            // Istio's validateWorkloadSelector.
            for (var e : dr.workloadSelector().matchLabels().entrySet()) {
                String label = e.getKey() + "=" + e.getValue();
                if (e.getKey().isBlank()) {
                    error("spec.workloadSelector.matchLabels", "'" + label + "' has an empty key (expected: a label"
                            + " key such as app)");
                }
                if (e.getKey().contains("*") || e.getValue() == null || e.getValue().contains("*")) {
                    error("spec.workloadSelector.matchLabels", "'" + label + "' (expected: a label key and value"
                            + " without wildcards; a selector matches exact values)");
                }
            }
        }
        Set<String> names = new HashSet<>();
        for (int i = 0; i < dr.subsets().size(); i++) {
            var subset = dr.subsets().get(i);
            String f = "spec.subsets[" + i + "]";
            if (subset == null || subset.name() == null || subset.name().isBlank()) {
                error(f + ".name", "missing (expected: a subset name such as v1)");
                continue;
            }
            if (!names.add(subset.name())) {
                error(f + ".name", "'" + subset.name() + "' is defined twice (expected: unique subset names)");
            }
            if (subset.name().contains("|") || subset.name().contains("_.")) {
                error(f + ".name", "'" + subset.name() + "' contains '|' or '_.' (expected: a DNS-label-like name)");
            }
            trafficPolicy(subset.trafficPolicy(), f + ".trafficPolicy");
        }
    }

    private void trafficPolicy(TrafficPolicy tp, String f) {
        if (tp == null) {
            return;
        }
        policyParts(tp.loadBalancer(), tp.connectionPool(), tp.outlierDetection(), tp.tls(), f);
        if (tp.proxyProtocol() != null && tp.proxyProtocol().version() != null
                && !Set.of("V1", "V2").contains(tp.proxyProtocol().version())) {
            error(f + ".proxyProtocol.version", "'" + tp.proxyProtocol().version() + "' (expected: V1 or V2)");
        }
        for (int i = 0; i < tp.portLevelSettings().size(); i++) {
            var p = tp.portLevelSettings().get(i);
            String pf = f + ".portLevelSettings[" + i + "]";
            if (p == null || p.port() == null || p.port().number() == null) {
                error(pf + ".port.number", "missing (expected: the service port the settings apply to)");
                continue;
            }
            policyParts(p.loadBalancer(), p.connectionPool(), p.outlierDetection(), p.tls(), pf);
        }
    }

    private void policyParts(DestinationRuleSpec.LoadBalancer lb, DestinationRuleSpec.ConnectionPool pool,
            OutlierDetection od, DestinationRuleSpec.Tls tls, String f) {
        if (lb != null) {
            if (lb.simple() != null && !LB_SIMPLE.contains(lb.simple())) {
                error(f + ".loadBalancer.simple", "'" + lb.simple() + "' (expected one of " + LB_SIMPLE + ")");
            }
            if (lb.consistentHash() != null) {
                if (lb.simple() != null) {
                    error(f + ".loadBalancer", "sets both simple and consistentHash (expected: one of them)");
                }
                consistentHash(lb.consistentHash(), f + ".loadBalancer.consistentHash");
            }
            warmup(lb, f + ".loadBalancer");
            LocalityLbSetting locality = lb.localityLbSetting();
            if (locality != null) {
                if (!locality.distribute().isEmpty() && !locality.failover().isEmpty()) {
                    error(f + ".loadBalancer.localityLbSetting", "sets both distribute and failover (expected: one)");
                }
                if (!locality.failover().isEmpty()) {
                    // As Istio: failover orders regions itself, so failoverPriority may not also rank by locality.
                    for (String key : locality.failoverPriority()) {
                        if (LOCALITY_LABELS.contains(key)) {
                            error(f + ".loadBalancer.localityLbSetting.failoverPriority",
                                    "'" + key + "' together with failover (expected: failover, or locality keys in"
                                            + " failoverPriority, not both)");
                        }
                    }
                }
                for (int i = 0; i < locality.failover().size(); i++) {
                    var fo = locality.failover().get(i);
                    if (fo == null || fo.from() == null || fo.to() == null || fo.from().equals(fo.to())) {
                        error(f + ".loadBalancer.localityLbSetting.failover[" + i + "]",
                                "needs different from and to regions (e.g. from: us-east, to: eu-west)");
                    }
                }
                for (int i = 0; i < locality.distribute().size(); i++) {
                    var d = locality.distribute().get(i);
                    int sum = d == null ? 0 : d.to().values().stream().mapToInt(Integer::intValue).sum();
                    if (d == null || d.from() == null || sum != 100) {
                        error(f + ".loadBalancer.localityLbSetting.distribute[" + i + "]",
                                "weights of 'to' sum to " + sum + " (expected: a 'from' locality and weights summing to 100)");
                    }
                }
                if ((!locality.failover().isEmpty() || !locality.failoverPriority().isEmpty()) && od == null) {
                    warnings.add(who + ": " + f + ".loadBalancer.localityLbSetting: has no effect without "
                            + "outlierDetection (add " + f + ".outlierDetection so unhealthy endpoints are ejected)");
                }
            }
        }
        if (pool != null) {
            if (pool.tcp() != null) {
                var tcp = pool.tcp();
                nonNegative(tcp.maxConnections(), f + ".connectionPool.tcp.maxConnections");
                if (tcp.connectTimeout() != null) {
                    duration(tcp.connectTimeout(), f + ".connectionPool.tcp.connectTimeout", Duration.ofMillis(1));
                }
                if (tcp.maxConnectionDuration() != null) {
                    duration(tcp.maxConnectionDuration(), f + ".connectionPool.tcp.maxConnectionDuration",
                            Duration.ofMillis(1));
                }
                if (tcp.idleTimeout() != null) {
                    // 0s is Istio's way to turn the timeout off.
                    duration(tcp.idleTimeout(), f + ".connectionPool.tcp.idleTimeout", Duration.ZERO);
                }
                if (tcp.tcpKeepalive() != null) {
                    var ka = tcp.tcpKeepalive();
                    String kf = f + ".connectionPool.tcp.tcpKeepalive";
                    nonNegative(ka.probes(), kf + ".probes");
                    // Envoy counts keepalive times in whole seconds.
                    if (ka.time() != null) {
                        duration(ka.time(), kf + ".time", Duration.ofSeconds(1));
                    }
                    if (ka.interval() != null) {
                        duration(ka.interval(), kf + ".interval", Duration.ofSeconds(1));
                    }
                }
            }
            if (pool.http() != null) {
                var h = pool.http();
                nonNegative(h.http1MaxPendingRequests(), f + ".connectionPool.http.http1MaxPendingRequests");
                nonNegative(h.http2MaxRequests(), f + ".connectionPool.http.http2MaxRequests");
                nonNegative(h.maxRequestsPerConnection(), f + ".connectionPool.http.maxRequestsPerConnection");
                nonNegative(h.maxRetries(), f + ".connectionPool.http.maxRetries");
                nonNegative(h.maxConcurrentStreams(), f + ".connectionPool.http.maxConcurrentStreams");
                if (h.h2UpgradePolicy() != null && !H2_UPGRADE_POLICIES.contains(h.h2UpgradePolicy())) {
                    error(f + ".connectionPool.http.h2UpgradePolicy", "'" + h.h2UpgradePolicy() + "' (expected one of "
                            + H2_UPGRADE_POLICIES + ")");
                }
                if (h.idleTimeout() != null) {
                    duration(h.idleTimeout(), f + ".connectionPool.http.idleTimeout", Duration.ofMillis(1));
                }
            }
        }
        if (od != null) {
            String of = f + ".outlierDetection";
            nonNegative(od.consecutive5xxErrors(), of + ".consecutive5xxErrors");
            nonNegative(od.consecutiveGatewayErrors(), of + ".consecutiveGatewayErrors");
            nonNegative(od.consecutiveErrors(), of + ".consecutiveErrors");
            nonNegative(od.consecutiveLocalOriginFailures(), of + ".consecutiveLocalOriginFailures");
            if (od.interval() != null) {
                duration(od.interval(), of + ".interval", Duration.ofMillis(1));
            }
            if (od.baseEjectionTime() != null) {
                duration(od.baseEjectionTime(), of + ".baseEjectionTime", Duration.ofMillis(1));
            }
            for (var e : Map.of("maxEjectionPercent", od.maxEjectionPercent() == null ? 0 : od.maxEjectionPercent(),
                    "minHealthPercent", od.minHealthPercent() == null ? 0 : od.minHealthPercent()).entrySet()) {
                if (e.getValue() < 0 || e.getValue() > 100) {
                    error(of + "." + e.getKey(), e.getValue() + " (expected: 0-100)");
                }
            }
        }
        if (tls != null && tls.mode() != null && !TLS_MODES.contains(tls.mode())) {
            error(f + ".tls.mode", "'" + tls.mode() + "' (expected one of " + TLS_MODES + ")");
        }
        if (tls != null && "MUTUAL".equals(tls.mode()) && isBlank(tls.credentialName())) {
            if (isBlank(tls.clientCertificate())) {
                error(f + ".tls.clientCertificate", "missing with mode MUTUAL (expected: the file of the client"
                        + " certificate chain the proxy presents)");
            }
            if (isBlank(tls.privateKey())) {
                error(f + ".tls.privateKey", "missing with mode MUTUAL (expected: the file of the client"
                        + " certificate's private key)");
            }
        }
        if (tls != null && ("SIMPLE".equals(tls.mode()) || "MUTUAL".equals(tls.mode()))
                && !isBlank(tls.credentialName())
                && !(isBlank(tls.clientCertificate()) && isBlank(tls.privateKey()) && isBlank(tls.caCertificates()))) {
            error(f + ".tls.credentialName", "given with clientCertificate, privateKey or caCertificates (expected:"
                    + " either a credentialName or files, as Istio requires)");
        }
    }

    /** Istio's warmup: one of {@code warmupDurationSecs} and {@code warmup}; a duration, a percent, a positive aggression. */
    private void warmup(DestinationRuleSpec.LoadBalancer lb, String f) {
        if (lb.warmupDurationSecs() != null && lb.warmup() != null) {
            error(f, "sets both warmupDurationSecs and warmup (expected: one; warmup replaces warmupDurationSecs)");
        }
        if (lb.warmupDurationSecs() != null) {
            duration(lb.warmupDurationSecs(), f + ".warmupDurationSecs", Duration.ofSeconds(1));
        }
        if (lb.warmup() != null) {
            var w = lb.warmup();
            if (w.duration() == null) {
                error(f + ".warmup.duration", "missing (expected: how long a new endpoint's weight ramps up, e.g. 60s)");
            } else {
                duration(w.duration(), f + ".warmup.duration", Duration.ofSeconds(1));
            }
            if (w.minimumPercent() != null && !(w.minimumPercent() >= 0 && w.minimumPercent() <= 100)) {
                error(f + ".warmup.minimumPercent", w.minimumPercent() + " (expected: 0-100)");
            }
            if (w.aggression() != null && (!(w.aggression() > 0) || w.aggression().isInfinite())) {
                error(f + ".warmup.aggression", w.aggression() + " (expected: > 0; 1 ramps linearly)");
            }
        }
        if ((lb.warmupDurationSecs() != null || lb.warmup() != null)
                && (lb.consistentHash() != null || "RANDOM".equals(lb.simple()))) {
            warnings.add(who + ": " + f + ": warmup has no effect with " + (lb.consistentHash() != null
                    ? "consistentHash" : "RANDOM") + " (Envoy ramps ROUND_ROBIN and LEAST_REQUEST only)");
        }
    }

    private static boolean isBlank(String value) {
        return value == null || value.isBlank();
    }

    /** Envoy's bounds: a ring of at most 8M entries, a Maglev table a prime of at most 5,000,011. */
    static final long MAX_RING_SIZE = 8_388_608L;
    static final long MAX_MAGLEV_TABLE = 5_000_011L;

    private void consistentHash(DestinationRuleSpec.ConsistentHash ch, String f) {
        int keys = (ch.httpHeaderName() != null ? 1 : 0) + (ch.httpCookie() != null ? 1 : 0)
                + (Boolean.TRUE.equals(ch.useSourceIp()) ? 1 : 0) + (ch.httpQueryParameterName() != null ? 1 : 0);
        if (keys > 1) {
            error(f, "sets " + keys + " hash keys (expected one of httpHeaderName, httpCookie, useSourceIp,"
                    + " httpQueryParameterName)");
        } else if (keys == 0) {
            warnings.add(who + ": " + f + ": no hash key, so requests spread at random (set httpHeaderName,"
                    + " httpCookie, useSourceIp or httpQueryParameterName)");
        }
        if (ch.httpHeaderName() != null && ch.httpHeaderName().isBlank()) {
            error(f + ".httpHeaderName", "empty (expected: a header name such as x-user)");
        }
        if (ch.httpQueryParameterName() != null && ch.httpQueryParameterName().isBlank()) {
            error(f + ".httpQueryParameterName", "empty (expected: a query parameter name such as user)");
        }
        if (ch.httpCookie() != null) {
            var c = ch.httpCookie();
            if (c.name() == null || c.name().isBlank()) {
                error(f + ".httpCookie.name", "missing (expected: the cookie's name, e.g. user)");
            }
            if (c.ttl() == null) {
                error(f + ".httpCookie.ttl", "missing (expected: a duration such as 0s or 1h; Envoy sets the cookie"
                        + " with this lifetime when the request lacks it)");
            } else {
                duration(c.ttl(), f + ".httpCookie.ttl", Duration.ZERO);
            }
        }
        int algorithms = (ch.ringHash() != null ? 1 : 0) + (ch.maglev() != null ? 1 : 0)
                + (ch.minimumRingSize() != null && ch.minimumRingSize() != 0 ? 1 : 0);
        if (algorithms > 1) {
            error(f, "sets more than one of ringHash, maglev and minimumRingSize (expected: at most one;"
                    + " minimumRingSize is the deprecated form of ringHash.minimumRingSize)");
        }
        Long ring = ch.ringHash() != null ? ch.ringHash().minimumRingSize() : ch.minimumRingSize();
        String ringField = ch.ringHash() != null ? f + ".ringHash.minimumRingSize" : f + ".minimumRingSize";
        if (ring != null && (ring < 0 || ring > MAX_RING_SIZE)) {
            error(ringField, ring + " (expected: 0 for the default, up to " + MAX_RING_SIZE + ")");
        }
        if (ch.maglev() != null) {
            Long table = ch.maglev().tableSize();
            if (table == null || table == 0) {
                error(f + ".maglev.tableSize", "missing (expected: a prime such as 65537)");
            } else if (table < 0 || table > MAX_MAGLEV_TABLE || !java.math.BigInteger.valueOf(table).isProbablePrime(30)) {
                error(f + ".maglev.tableSize", table + " (expected: a prime up to " + MAX_MAGLEV_TABLE
                        + ", such as 65537)");
            }
        }
    }

    private void nonNegative(Integer value, String f) {
        if (value != null && value < 0) {
            error(f, value + " (expected: >= 0)");
        }
    }

    void gateway(GatewaySpec gw) {
        if (gw.servers().isEmpty()) {
            error("spec.servers", "missing (expected: at least one server)");
        }
        for (int i = 0; i < gw.servers().size(); i++) {
            var s = gw.servers().get(i);
            String f = "spec.servers[" + i + "]";
            if (s == null || s.port() == null || s.port().number() == null) {
                error(f + ".port.number", "missing (expected: the port the gateway listens on)");
                continue;
            }
            if (s.hosts().isEmpty()) {
                error(f + ".hosts", "missing (expected: at least one host, \"*\" for all)");
            }
        }
    }

    private static final Set<String> SE_LOCATIONS = Set.of("MESH_EXTERNAL", "MESH_INTERNAL");
    private static final Set<String> SE_RESOLUTIONS = Set.of("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN");
    private static final Set<String> PROTOCOLS = Set.of("HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "TCP",
            "TLS", "UDP", "MYSQL", "REDIS");
    private static final java.util.regex.Pattern DNS_NAME = java.util.regex.Pattern.compile(
            "(?i)(\\*\\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\\.?");
    private static final java.util.regex.Pattern PORT_NAME = java.util.regex.Pattern.compile("[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?");

    /** Istio's ServiceEntry rules (pilot's {@code ValidateServiceEntry}), each error naming the field and the fix. */
    void serviceEntry(ServiceEntrySpec se) {
        if (se.hosts().isEmpty()) {
            error("spec.hosts", "missing (expected: at least one host)");
        }
        String resolution = se.resolution() == null ? "NONE" : se.resolution();
        if (se.location() != null && !SE_LOCATIONS.contains(se.location())) {
            error("spec.location", "'" + se.location() + "' (expected: MESH_EXTERNAL or MESH_INTERNAL)");
        }
        if (!SE_RESOLUTIONS.contains(resolution)) {
            error("spec.resolution", "'" + resolution + "' (expected: NONE, STATIC, DNS or DNS_ROUND_ROBIN)");
            return;
        }
        boolean dns = resolution.equals("DNS") || resolution.equals("DNS_ROUND_ROBIN");
        for (int i = 0; i < se.hosts().size(); i++) {
            String host = se.hosts().get(i);
            String f = "spec.hosts[" + i + "]";
            if (host == null || host.equals("*") || !DNS_NAME.matcher(host).matches() || host.length() > 255) {
                error(f, "'" + host + "' (expected: a host name such as api.example.com, or a wildcard such as"
                        + " *.example.com; '*' alone is not allowed)");
            } else if (host.startsWith("*") && dns && se.endpoints().isEmpty()) {
                error(f, "'" + host + "' is a wildcard, which resolution " + resolution + " cannot look up (give"
                        + " endpoints, or use resolution NONE)");
            }
        }
        for (int i = 0; i < se.addresses().size(); i++) {
            try {
                Cidr.parse(se.addresses().get(i));
            } catch (IllegalArgumentException e) {
                error("spec.addresses[" + i + "]", e.getMessage());
            }
        }
        Set<Integer> numbers = new java.util.HashSet<>();
        Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < se.ports().size(); i++) {
            var p = se.ports().get(i);
            String f = "spec.ports[" + i + "]";
            if (p == null || p.number() == null || p.number() < 1 || p.number() > 65535) {
                error(f + ".number", (p == null ? null : p.number()) + " (expected: 1-65535)");
                continue;
            }
            if (!numbers.add(p.number())) {
                error(f + ".number", p.number() + " is listed twice (expected: each port number once)");
            }
            if (p.name() != null && (!PORT_NAME.matcher(p.name()).matches() || !names.add(p.name()))) {
                error(f + ".name", "'" + p.name() + "' (expected: a unique port name of letters, digits and '-')");
            }
            if (p.protocol() != null && !PROTOCOLS.contains(p.protocol().toUpperCase(java.util.Locale.ROOT))) {
                error(f + ".protocol", "'" + p.protocol() + "' (expected one of " + new java.util.TreeSet<>(PROTOCOLS)
                        + ")");
            }
            if (p.targetPort() != null && (p.targetPort() < 1 || p.targetPort() > 65535)) {
                error(f + ".targetPort", p.targetPort() + " (expected: 1-65535)");
            }
        }
        if (se.workloadSelector() != null && !se.workloadSelector().isNull() && !se.endpoints().isEmpty()) {
            error("spec", "both endpoints and workloadSelector (expected: only one of them, as Istio requires)");
        }
        switch (resolution) {
            case "NONE" -> {
                if (!se.endpoints().isEmpty()) {
                    error("spec.endpoints", "given with resolution NONE (expected: no endpoints; NONE relays each"
                            + " connection to the address the app dialled; use STATIC or DNS for endpoints)");
                }
            }
            case "STATIC" -> {
                if (se.endpoints().isEmpty() && (se.workloadSelector() == null || se.workloadSelector().isNull())) {
                    error("spec.endpoints", "missing with resolution STATIC (expected: the endpoints' IP addresses,"
                            + " or a workloadSelector)");
                }
            }
            case "DNS_ROUND_ROBIN" -> {
                if (se.endpoints().size() > 1) {
                    error("spec.endpoints", se.endpoints().size() + " endpoints with resolution DNS_ROUND_ROBIN"
                            + " (expected: at most one; use DNS for several)");
                }
            }
            default -> { }
        }
        for (int i = 0; i < se.endpoints().size(); i++) {
            serviceEntryEndpoint(se.endpoints().get(i), "spec.endpoints[" + i + "]", resolution, names);
        }
    }

    private void serviceEntryEndpoint(tools.jackson.databind.JsonNode e, String f, String resolution,
            Set<String> portNames) {
        if (e == null || !e.isObject()) {
            error(f, e + " (expected: an object with an address)");
            return;
        }
        var address = e.path("address");
        if (!address.isString() || address.asString().isBlank()) {
            error(f + ".address", "missing (expected: an IP address" + (resolution.equals("STATIC") ? ""
                    : " or a host name") + ")");
        } else {
            String a = address.asString();
            boolean ip;
            try {
                ip = Cidr.parse(a).prefixLen() == (a.contains(":") ? 128 : 32) && !a.contains("/");
            } catch (IllegalArgumentException notIp) {
                ip = false;
            }
            if (resolution.equals("STATIC") && !ip && !a.startsWith("unix://")) {
                error(f + ".address", "'" + a + "' (expected: an IP address with resolution STATIC; use"
                        + " resolution DNS for host names)");
            } else if (!ip && !a.startsWith("unix://") && (a.startsWith("*") || !DNS_NAME.matcher(a).matches())) {
                error(f + ".address", "'" + a + "' (expected: an IP address or a host name without wildcard)");
            }
        }
        if (e.has("ports")) {
            if (!e.path("ports").isObject()) {
                error(f + ".ports", e.path("ports") + " (expected: a map of port name to port number)");
            } else {
                for (var entry : e.path("ports").properties()) {
                    if (!portNames.contains(entry.getKey())) {
                        error(f + ".ports." + entry.getKey(), "names no port of the entry (expected one of "
                                + new java.util.TreeSet<>(portNames) + ")");
                    }
                    int n = entry.getValue().isIntegralNumber() ? entry.getValue().asInt() : -1;
                    if (n < 1 || n > 65535) {
                        error(f + ".ports." + entry.getKey(), entry.getValue() + " (expected: 1-65535)");
                    }
                }
            }
        }
        if (e.has("weight") && (!e.path("weight").isIntegralNumber() || e.path("weight").asLong() < 0
                || e.path("weight").asLong() > 4294967295L)) {
            error(f + ".weight", e.path("weight") + " (expected: a whole number, 0 or more)");
        }
        if (e.has("labels") && !e.path("labels").isObject()) {
            error(f + ".labels", e.path("labels") + " (expected: a map of label to value)");
        }
        for (String field : List.of("network", "locality", "serviceAccount")) {
            if (e.has(field) && !e.path(field).isString()) {
                error(f + "." + field, e.path(field) + " (expected: a string)");
            }
        }
    }

    void sidecar(SidecarSpec sidecar) {
        if (sidecar.workloadSelector() != null && sidecar.workloadSelector().labels().isEmpty()) {
            error("spec.workloadSelector.labels", "empty (expected: at least one label, or no workloadSelector"
                    + " for the namespace's default Sidecar)");
        }
        for (int i = 0; i < sidecar.egress().size(); i++) {
            SidecarSpec.Egress egress = sidecar.egress().get(i);
            String f = "spec.egress[" + i + "]";
            if (egress == null || egress.hosts().isEmpty()) {
                error(f + ".hosts", "missing (expected: at least one namespace/dnsName, e.g. ./* or istio-system/*)");
                continue;
            }
            for (int h = 0; h < egress.hosts().size(); h++) {
                String host = egress.hosts().get(h);
                String problem = Hosts.sidecarEgressProblem(host);
                if (problem != null) {
                    error(f + ".hosts[" + h + "]", "'" + host + "' " + problem);
                }
            }
            if (egress.port() != null && !egress.port().isNull()) {
                var number = egress.port().path("number");
                if (!number.isIntegralNumber() || number.asInt() < 1 || number.asInt() > 65535) {
                    error(f + ".port.number", number + " (expected: 1-65535, or no port for every port)");
                }
            }
            captureMode(egress.captureMode(), f);
            if (egress.bind() != null) {
                if (egress.bind().startsWith("unix://")) {
                    error(f + ".bind", "'" + egress.bind() + "' (expected: an IP address such as 127.0.0.1;"
                            + " Isthmus sidecars do not listen on unix domain sockets)");
                } else if (!ipLiteral(egress.bind())) {
                    error(f + ".bind", "'" + egress.bind() + "' (expected: an IP address such as 127.0.0.1)");
                }
            }
        }
        java.util.Set<Integer> ingressPorts = new java.util.HashSet<>();
        for (int i = 0; i < sidecar.ingress().size(); i++) {
            SidecarSpec.Ingress ingress = sidecar.ingress().get(i);
            String f = "spec.ingress[" + i + "]";
            if (ingress == null) {
                error(f, "empty (expected: port and defaultEndpoint)");
                continue;
            }
            var number = ingress.port() == null ? null : ingress.port().path("number");
            if (number == null || !number.isIntegralNumber() || number.asInt() < 1 || number.asInt() > 65535) {
                error(f + ".port.number", (number == null ? "missing" : number.toString())
                        + " (expected: 1-65535, the port the workload's traffic arrives on)");
            } else if (!ingressPorts.add(number.asInt())) {
                error(f + ".port.number", number + " (expected: each ingress port once; merge the listeners)");
            }
            captureMode(ingress.captureMode(), f);
            if (ingress.bind() != null && !ipLiteral(ingress.bind())) {
                error(f + ".bind", "'" + ingress.bind() + "' (expected: an IP address, e.g. the pod's IP or 0.0.0.0)");
            }
            String endpoint = ingress.defaultEndpoint();
            if (endpoint != null) {
                if (endpoint.startsWith("unix://")) {
                    if (endpoint.length() == "unix://".length()) {
                        error(f + ".defaultEndpoint", "'unix://' (expected: unix:///path/to/socket)");
                    } else {
                        warnings.add(who + ": " + f + ".defaultEndpoint: '" + endpoint + "' accepted and not"
                                + " translated (Isthmus sidecars do not dial unix sockets; this port gets no inbound"
                                + " chain: use 127.0.0.1:<port>)");
                    }
                } else if (SidecarSpec.defaultEndpointPort(endpoint) < 0) {
                    error(f + ".defaultEndpoint", "'" + endpoint + "' (expected: 127.0.0.1:<port>, 0.0.0.0:<port>,"
                            + " [::1]:<port>, [::]:<port> or unix:///path)");
                }
            }
            if (ingress.tls() != null && !ingress.tls().isNull()) {
                warnings.add(who + ": " + f + ".tls: accepted and not translated (the sidecar serves the mesh's"
                        + " mTLS on this port; terminate the app's own TLS in the app)");
            }
            policyParts(null, ingress.connectionPool(), null, null, f);
        }
        policyParts(null, sidecar.inboundConnectionPool(), null, null, "spec.inbound");
        var policy = sidecar.outboundTrafficPolicy();
        if (policy != null && !policy.isNull()) {
            var mode = policy.path("mode");
            if (!mode.isMissingNode() && !(mode.isString()
                    && (mode.asString().equals("ALLOW_ANY") || mode.asString().equals("REGISTRY_ONLY")))) {
                error("spec.outboundTrafficPolicy.mode", mode + " (expected: ALLOW_ANY or REGISTRY_ONLY)");
            }
        }
    }

    private void captureMode(String mode, String f) {
        if (mode != null && !SidecarSpec.CAPTURE_MODES.contains(mode)) {
            error(f + ".captureMode", "'" + mode + "' (expected: one of " + SidecarSpec.CAPTURE_MODES + ")");
        }
    }

    /** An IPv4 or IPv6 literal (no name lookup). */
    static boolean ipLiteral(String address) {
        if (address.contains("/")) {
            return false;
        }
        try {
            Cidr.parse(address);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
