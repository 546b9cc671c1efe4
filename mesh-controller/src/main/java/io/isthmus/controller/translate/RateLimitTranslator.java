package io.isthmus.controller.translate;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.RateLimit;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.XRateLimitHeadersRFCVersion;
import io.envoyproxy.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.envoyproxy.envoy.type.v3.TokenBucket;
import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.Durations;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.RateLimitPolicySpec;
import io.isthmus.controller.config.RateLimitPolicySpec.Match;
import io.isthmus.controller.config.RateLimitPolicySpec.Rule;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * RateLimitPolicy → Envoy's local rate limit on the inbound side of one sidecar: per inbound port,
 * one {@code envoy.filters.http.local_ratelimit} filter per selecting policy (after RBAC, before the
 * router) and, on the inbound route, its {@code LocalRateLimit} with one descriptor and one
 * {@code rate_limits} entry per rule (docs/reference/ratelimit.md). Pure and deterministic.
 */
final class RateLimitTranslator {

    static final String FILTER = "envoy.filters.http.local_ratelimit";
    /** The descriptor key every rule's entry carries; its value names the rule. */
    static final String DESCRIPTOR_KEY = "rule";
    static final long UNBOUNDED = 0xffff_ffffL;

    /**
     * What one inbound port gets.
     *
     * @param filters  the HTTP filters, in policy order (namespace, name)
     * @param perRoute the inbound route's {@code typed_per_filter_config} entries, by filter name
     */
    record Inbound(List<HttpFilter> filters, Map<String, Any> perRoute) {
        static final Inbound NONE = new Inbound(List.of(), Map.of());

        Inbound {
            filters = List.copyOf(filters);
            // Sorted: the map's order is the serialized order, which must not churn.
            perRoute = java.util.Collections.unmodifiableMap(new TreeMap<>(perRoute));
        }
    }

    private RateLimitTranslator() {}

    /** The INBOUND policies that select {@code node}: its own namespace's, and the root namespace's. */
    static List<ConfigEntry<RateLimitPolicySpec>> selecting(MeshConfig config, ProxyNode node) {
        return config.rateLimitPolicies().stream()
                .filter(e -> e.spec().scope() == RateLimitPolicySpec.Scope.INBOUND)
                .filter(e -> e.namespace().equals(SecurityTranslator.ROOT_NAMESPACE)
                        || e.namespace().equals(node.namespace()))
                .filter(e -> e.spec().selector() == null || e.spec().selector().matches(node.labels()))
                .sorted(Comparator.comparing((ConfigEntry<RateLimitPolicySpec> e) -> e.namespace())
                        .thenComparing(ConfigEntry::name))
                .toList();
    }

    static Inbound inbound(List<ConfigEntry<RateLimitPolicySpec>> selected, int port) {
        List<HttpFilter> filters = new ArrayList<>();
        Map<String, Any> perRoute = new TreeMap<>();
        for (ConfigEntry<RateLimitPolicySpec> e : selected) {
            List<Rule> rules = e.spec().rules();
            LocalRateLimit.Builder route = LocalRateLimit.newBuilder();
            int dynamicDescriptors = 0;
            for (int i = 0; i < rules.size(); i++) {
                Rule rule = rules.get(i);
                if (rule.match() != null && !rule.match().ports().isEmpty()
                        && rule.match().ports().stream().noneMatch(p -> Integer.parseInt(p.trim()) == port)) {
                    continue;
                }
                String value = rule.name() == null ? Integer.toString(i) : rule.name();
                var limit = rule.limit();
                LocalRateLimitDescriptor.Builder descriptor = LocalRateLimitDescriptor.newBuilder()
                        .addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(DESCRIPTOR_KEY).setValue(value));
                RateLimit.Builder rateLimit = RateLimit.newBuilder().addActions(action(rule.match(), value));
                if (rule.perHeader() != null) {
                    // A wildcard entry (no value): one bucket per distinct value of the header, the
                    // least recently used forgotten beyond max_dynamic_descriptors (Envoy's dynamic
                    // descriptors); skip_if_absent: a request without the header is not limited.
                    String header = rule.perHeader().name();
                    descriptor.addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(header));
                    rateLimit.addActions(RateLimit.Action.newBuilder()
                            .setRequestHeaders(RateLimit.Action.RequestHeaders.newBuilder()
                                    .setHeaderName(header).setDescriptorKey(header).setSkipIfAbsent(true)));
                    dynamicDescriptors += rule.perHeader().maxValues();
                }
                route.addDescriptors(descriptor.setTokenBucket(TokenBucket.newBuilder()
                        .setMaxTokens((int) limit.size())
                        .setTokensPerFill(UInt32Value.of((int) (long) limit.requests()))
                        .setFillInterval(Durations.proto(limit.interval()))));
                route.addRateLimits(rateLimit);
            }
            if (dynamicDescriptors > 0) {
                route.setMaxDynamicDescriptors(UInt32Value.of(dynamicDescriptors));
            }
            if (route.getDescriptorsCount() == 0) {
                continue; // every rule is for other ports
            }
            String name = filterName(e);
            String stat = "ratelimit_" + e.namespace() + "_" + e.name();
            String runtime = "ratelimit." + e.namespace() + "." + e.name();
            boolean dryRun = e.spec().dryRun();
            route.setStatPrefix(stat)
                    .setStatus(HttpStatus.newBuilder().setCode(StatusCode.TooManyRequests))
                    // No rule matched: not limited. Envoy requires a bucket on a per-route config.
                    .setTokenBucket(TokenBucket.newBuilder()
                            .setMaxTokens((int) UNBOUNDED)
                            .setTokensPerFill(UInt32Value.of((int) UNBOUNDED))
                            .setFillInterval(com.google.protobuf.Duration.newBuilder().setSeconds(1)))
                    .setAlwaysConsumeDefaultTokenBucket(BoolValue.of(false))
                    .setFilterEnabled(fraction(runtime + ".enabled", 100))
                    .setFilterEnforced(fraction(runtime + ".enforced", dryRun ? 0 : 100))
                    .setEnableXRatelimitHeaders(e.spec().responseHeaders()
                            ? XRateLimitHeadersRFCVersion.DRAFT_VERSION_03 : XRateLimitHeadersRFCVersion.OFF);
            filters.add(HttpFilter.newBuilder()
                    .setName(name)
                    .setTypedConfig(Protos.pack(LocalRateLimit.newBuilder().setStatPrefix(stat).build()))
                    .build());
            perRoute.put(name, Protos.pack(route.build()));
        }
        return new Inbound(filters, perRoute);
    }

    static String filterName(ConfigEntry<RateLimitPolicySpec> e) {
        return FILTER + "/" + e.namespace() + "/" + e.name();
    }

    private static RuntimeFractionalPercent fraction(String key, int percent) {
        return RuntimeFractionalPercent.newBuilder()
                .setRuntimeKey(key)
                .setDefaultValue(FractionalPercent.newBuilder().setNumerator(percent)
                        .setDenominator(FractionalPercent.DenominatorType.HUNDRED))
                .build();
    }

    private static RateLimit.Action action(Match match, String value) {
        List<HeaderMatcher> headers = new ArrayList<>();
        if (match != null) {
            if (!match.methods().isEmpty()) {
                headers.add(regexHeader(":method", alternatives(match.methods(), RateLimitTranslator::method)));
            }
            if (!match.hosts().isEmpty()) {
                headers.add(regexHeader(":authority",
                        "(?i)" + alternatives(match.hosts(), RateLimitTranslator::host) + "(:[0-9]+)?"));
            }
            if (!match.paths().isEmpty()) {
                headers.add(regexHeader(":path", alternatives(match.paths(), RateLimitTranslator::path)));
            }
        }
        if (headers.isEmpty()) {
            return RateLimit.Action.newBuilder()
                    .setGenericKey(RateLimit.Action.GenericKey.newBuilder()
                            .setDescriptorKey(DESCRIPTOR_KEY).setDescriptorValue(value))
                    .build();
        }
        return RateLimit.Action.newBuilder()
                .setHeaderValueMatch(RateLimit.Action.HeaderValueMatch.newBuilder()
                        .setDescriptorKey(DESCRIPTOR_KEY).setDescriptorValue(value)
                        .setExpectMatch(BoolValue.of(true))
                        .addAllHeaders(headers))
                .build();
    }

    private static HeaderMatcher regexHeader(String name, String regex) {
        return HeaderMatcher.newBuilder().setName(name)
                .setStringMatch(StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(regex)))
                .build();
    }

    private static String alternatives(List<String> values, java.util.function.Function<String, String> one) {
        if (values.size() == 1) {
            return one.apply(values.get(0));
        }
        return values.stream().map(one).collect(Collectors.joining("|", "(", ")"));
    }

    private static String method(String v) {
        return v.equals("*") ? "[A-Z_-]+" : quote(v);
    }

    /** Istio's value syntax: exact, {@code prefix*}, {@code *suffix}, {@code *}. */
    private static String host(String v) {
        return wildcard(v, "[^:]*", "[^:]+");
    }

    /** {@code :path} carries the query: an exact or suffix match allows one after the path. */
    private static String path(String v) {
        if (v.equals("*")) {
            return ".*";
        }
        if (v.endsWith("*")) {
            return quote(v.substring(0, v.length() - 1)) + ".*";
        }
        if (v.startsWith("*")) {
            return "[^?]*" + quote(v.substring(1)) + "(\\?.*)?";
        }
        return quote(v) + "(\\?.*)?";
    }

    private static String wildcard(String v, String any, String all) {
        if (v.equals("*")) {
            return all;
        }
        if (v.startsWith("*")) {
            return any + quote(v.substring(1));
        }
        if (v.endsWith("*")) {
            return quote(v.substring(0, v.length() - 1)) + any;
        }
        return quote(v);
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
