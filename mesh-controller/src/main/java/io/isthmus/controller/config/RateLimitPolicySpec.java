package io.isthmus.controller.config;

import java.time.Duration;
import java.util.List;

/**
 * The spec of an Isthmus {@code RateLimitPolicy} (policy.isthmus.io v1alpha1), the rate-limit
 * resource Istio lacks, written in Istio's style (see docs/reference/ratelimit.md). It selects
 * workloads as AuthorizationPolicy does ({@code selector.matchLabels}; none: the namespace's, or the
 * mesh's in the root namespace) and gives them local token buckets: each rule is one bucket per
 * sidecar and inbound port; a request takes a token from every rule it matches and is answered 429
 * when one is empty ({@code dryRun}: counted, not rejected).
 */
public record RateLimitPolicySpec(
        WorkloadSelector selector,
        Scope scope,
        Boolean responseHeaders,
        Boolean dryRun,
        List<Rule> rules) {

    /** Where the buckets are enforced. */
    public enum Scope {
        /** On the selected workloads' sidecars, for requests they receive. */
        INBOUND,
        /** On the selected workloads' sidecars, per destination host they call (not enforced yet: rejected). */
        OUTBOUND
    }

    public RateLimitPolicySpec {
        scope = scope == null ? Scope.INBOUND : scope;
        responseHeaders = responseHeaders == null ? Boolean.TRUE : responseHeaders;
        dryRun = dryRun == null ? Boolean.FALSE : dryRun;
        rules = Specs.list(rules);
    }

    /**
     * {@code match} absent: every request. {@code perHeader} present: one bucket per distinct value
     * of that request header (a request without the header is not limited by the rule).
     */
    public record Rule(String name, Match match, PerHeader perHeader, Limit limit) {

        public Rule(String name, Match match, Limit limit) {
            this(name, match, null, limit);
        }
    }

    /**
     * One bucket per distinct value of request header {@code name} (e.g. a user or API key), each
     * with the rule's limit; at most {@code maxValues} (default {@value #DEFAULT_MAX_VALUES}) values
     * are tracked per sidecar and port, and the least recently used one is forgotten beyond that.
     */
    public record PerHeader(String name, Integer maxValues) {

        public static final int DEFAULT_MAX_VALUES = 1000;

        public PerHeader {
            maxValues = maxValues == null ? DEFAULT_MAX_VALUES : maxValues;
        }
    }

    /** AuthorizationPolicy's {@code to.operation} shape: every present field must match, any of its values. */
    public record Match(List<String> hosts, List<String> ports, List<String> methods, List<String> paths) {

        public Match {
            hosts = Specs.list(hosts);
            ports = Specs.list(ports);
            methods = Specs.list(methods);
            paths = Specs.list(paths);
        }

        boolean isEmpty() {
            return hosts.isEmpty() && ports.isEmpty() && methods.isEmpty() && paths.isEmpty();
        }
    }

    /**
     * A token bucket: {@code burst} tokens (default {@code requests}), {@code requests} added at the end
     * of every {@code unit} or {@code fillInterval}.
     */
    public record Limit(Long requests, String unit, String fillInterval, Long burst) {

        /** The fill interval of a valid limit. */
        public Duration interval() {
            if (fillInterval != null) {
                return Durations.parse(fillInterval);
            }
            return switch (unit) {
                case "SECOND" -> Duration.ofSeconds(1);
                case "MINUTE" -> Duration.ofMinutes(1);
                case "HOUR" -> Duration.ofHours(1);
                default -> throw new IllegalStateException("unit " + unit + " passed validation");
            };
        }

        /** The bucket size of a valid limit. */
        public long size() {
            return burst == null ? requests : burst;
        }
    }
}
