package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * How the controller computes and pushes xDS.
 *
 * @param domainSuffix  the cluster domain of service host names, e.g. {@code cluster.local}
 * @param trustDomain   the SPIFFE trust domain, e.g. {@code cluster.local}
 * @param debounceQuiet a push waits until no new state arrived for this long...
 * @param debounceMax   ...but never longer than this after the first state it holds back
 */
public record XdsOptions(String domainSuffix, String trustDomain, Duration debounceQuiet, Duration debounceMax) {

    public static final Duration DEFAULT_QUIET = Duration.ofMillis(100);
    public static final Duration DEFAULT_MAX = Duration.ofSeconds(1);

    public XdsOptions {
        requireNonNull(domainSuffix, "domainSuffix");
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(debounceQuiet, "debounceQuiet");
        requireNonNull(debounceMax, "debounceMax");
        if (debounceQuiet.isNegative()) {
            throw new IllegalArgumentException("debounceQuiet: " + debounceQuiet + " (expected: >= 0)");
        }
        if (debounceMax.compareTo(debounceQuiet) < 0) {
            throw new IllegalArgumentException("debounceMax: " + debounceMax + " (expected: >= debounceQuiet "
                    + debounceQuiet + ")");
        }
    }

    public static XdsOptions defaults(String trustDomain) {
        return new XdsOptions("cluster.local", trustDomain, DEFAULT_QUIET, DEFAULT_MAX);
    }
}
