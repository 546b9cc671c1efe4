package io.isthmus.controller.config;

import io.isthmus.controller.config.RateLimitPolicySpec.Limit;
import io.isthmus.controller.config.RateLimitPolicySpec.Rule;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.function.BiConsumer;

/** Per-object checks of RateLimitPolicy; each error names the field and the fix. */
final class RateLimitValidator {

    /** Envoy refuses token buckets that refill more often than this. */
    static final Duration MIN_FILL_INTERVAL = Duration.ofMillis(50);
    static final long MAX_TOKENS = 0xffff_ffffL;
    static final Set<String> UNITS = Set.of("SECOND", "MINUTE", "HOUR");

    private final BiConsumer<String, String> error;
    private final SecurityValidator security;

    RateLimitValidator(BiConsumer<String, String> error) {
        this.error = error;
        this.security = new SecurityValidator(error);
    }

    void rateLimitPolicy(RateLimitPolicySpec spec) {
        security.selector(spec.selector());
        if (spec.scope() == RateLimitPolicySpec.Scope.OUTBOUND) {
            error.accept("spec.scope", "OUTBOUND (not enforced yet: sidecars rate-limit the requests they receive;"
                    + " use INBOUND on the destination's workloads)");
        }
        if (spec.rules().isEmpty()) {
            error.accept("spec.rules", "missing (expected: at least one rule with a limit)");
        }
        Set<String> names = new HashSet<>();
        for (int i = 0; i < spec.rules().size(); i++) {
            Rule rule = spec.rules().get(i);
            String f = "spec.rules[" + i + "]";
            if (rule == null) {
                error.accept(f, "null (expected: a rule with a limit)");
                continue;
            }
            String name = rule.name() == null ? Integer.toString(i) : rule.name();
            if (name.isBlank()) {
                error.accept(f + ".name", "empty (expected: a name, or no name field to use the rule's index)");
            } else if (!names.add(name)) {
                error.accept(f + ".name", "'" + name + "' is used by an earlier rule (expected: unique names)");
            }
            if (rule.match() != null) {
                if (rule.match().isEmpty()) {
                    error.accept(f + ".match", "empty (expected: at least one of hosts, ports, methods, paths;"
                            + " remove match to limit every request)");
                } else {
                    var m = rule.match();
                    security.operation(new AuthorizationPolicySpec.Operation(m.hosts(), null, m.ports(), null,
                            m.methods(), null, m.paths(), null), f + ".match");
                }
            }
            if (rule.perHeader() != null) {
                perHeader(rule.perHeader(), f + ".perHeader");
            }
            limit(rule.limit(), f + ".limit");
        }
    }

    /** Envoy's header-name rule (RFC 9110 token, lower case), no pseudo-headers. */
    private static final java.util.regex.Pattern HEADER_NAME =
            java.util.regex.Pattern.compile("[a-z0-9!#$%&'*+.^_`|~-]+");
    static final int MAX_VALUES = 100_000;

    private void perHeader(RateLimitPolicySpec.PerHeader perHeader, String f) {
        String name = perHeader.name();
        if (name == null || name.isEmpty()) {
            error.accept(f + ".name", "missing (expected: a request header name such as x-user-id)");
        } else if (!HEADER_NAME.matcher(name).matches()) {
            error.accept(f + ".name", "'" + name + "' (expected: a lower-case HTTP header name such as"
                    + " x-user-id; pseudo-headers like :authority are not allowed)");
        }
        if (perHeader.maxValues() < 1 || perHeader.maxValues() > MAX_VALUES) {
            error.accept(f + ".maxValues", perHeader.maxValues() + " (expected: 1-" + MAX_VALUES
                    + ", how many distinct values get their own bucket on each sidecar and port)");
        }
    }

    private void limit(Limit limit, String f) {
        if (limit == null) {
            error.accept(f, "missing (expected: {requests: N, unit: SECOND|MINUTE|HOUR})");
            return;
        }
        if (limit.requests() == null || limit.requests() <= 0 || limit.requests() > MAX_TOKENS) {
            error.accept(f + ".requests", limit.requests() + " (expected: 1-" + MAX_TOKENS + ")");
        }
        if (limit.burst() != null) {
            if (limit.burst() > MAX_TOKENS) {
                error.accept(f + ".burst", limit.burst() + " (expected: at most " + MAX_TOKENS + ")");
            } else if (limit.requests() != null && limit.burst() < limit.requests()) {
                error.accept(f + ".burst", limit.burst() + " is below requests " + limit.requests()
                        + " (expected: >= requests; a fill adds requests tokens, the bucket must hold them)");
            }
        }
        if (limit.unit() != null && limit.fillInterval() != null) {
            error.accept(f, "has both unit and fillInterval (expected: one of them)");
        } else if (limit.unit() == null && limit.fillInterval() == null) {
            error.accept(f + ".unit", "missing (expected: SECOND, MINUTE or HOUR, or a fillInterval such as 500ms)");
        } else if (limit.unit() != null && !UNITS.contains(limit.unit())) {
            error.accept(f + ".unit", "'" + limit.unit() + "' (expected: SECOND, MINUTE or HOUR)");
        } else if (limit.fillInterval() != null) {
            try {
                Duration d = Durations.parse(limit.fillInterval());
                if (d.compareTo(MIN_FILL_INTERVAL) < 0) {
                    error.accept(f + ".fillInterval", "'" + limit.fillInterval() + "' (expected: at least 50ms,"
                            + " Envoy's shortest refill)");
                }
            } catch (IllegalArgumentException e) {
                error.accept(f + ".fillInterval", e.getMessage());
            }
        }
    }
}
