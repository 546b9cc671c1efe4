package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.Durations;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.RequestAuthenticationSpec;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which JWKS the controller must fetch so that translation can inline them: every
 * RequestAuthentication {@code jwtRules} entry without inline {@code jwks} names one, by its
 * {@code jwksUri} or, without it, by OpenID discovery of its issuer
 * ({@code <issuer>/.well-known/openid-configuration}, whose {@code jwks_uri} holds the keys), as
 * istiod does. The fetched JSON goes back into translation as {@link MeshPolicies#jwks()}, keyed
 * by {@link Source#key()}. Pure.
 */
public final class JwksSources {

    /** Istio's default {@code jwtRules[].timeout} for fetching keys. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

    /**
     * One place to fetch keys from.
     *
     * @param key       the {@code jwksUri}, or the discovery document's URL
     * @param discovery {@code key} is an OpenID discovery document, not a JWKS
     * @param timeout   the longest any rule naming it allows for a fetch
     */
    public record Source(String key, boolean discovery, Duration timeout) {
        public Source {
            requireNonNull(key, "key");
            requireNonNull(timeout, "timeout");
        }
    }

    private JwksSources() {}

    /** Every source the configuration names, by key. */
    public static Map<String, Source> of(MeshConfig config) {
        requireNonNull(config, "config");
        Map<String, Source> out = new TreeMap<>();
        for (ConfigEntry<RequestAuthenticationSpec> e : config.requestAuthentications()) {
            for (var rule : e.spec().jwtRules()) {
                if (rule.jwks() != null) {
                    continue;
                }
                Duration timeout = rule.timeout() == null ? DEFAULT_TIMEOUT : Durations.parse(rule.timeout());
                Source source = rule.jwksUri() != null
                        ? new Source(rule.jwksUri(), false, timeout)
                        : new Source(discoveryUri(rule.issuer()), true, timeout);
                out.merge(source.key(), source, (a, b) -> a.timeout().compareTo(b.timeout()) >= 0 ? a : b);
            }
        }
        return out;
    }

    /** The issuers whose keys each source holds, by source key (for status pages). */
    public static Map<String, java.util.SortedSet<String>> issuers(MeshConfig config) {
        requireNonNull(config, "config");
        Map<String, java.util.SortedSet<String>> out = new TreeMap<>();
        for (ConfigEntry<RequestAuthenticationSpec> e : config.requestAuthentications()) {
            for (var rule : e.spec().jwtRules()) {
                if (rule.jwks() != null || rule.issuer() == null) {
                    continue;
                }
                String key = rule.jwksUri() != null ? rule.jwksUri() : discoveryUri(rule.issuer());
                out.computeIfAbsent(key, k -> new java.util.TreeSet<>()).add(rule.issuer());
            }
        }
        return out;
    }

    /** Where OpenID discovery of {@code issuer} is published. */
    public static String discoveryUri(String issuer) {
        requireNonNull(issuer, "issuer");
        String base = issuer.endsWith("/") ? issuer.substring(0, issuer.length() - 1) : issuer;
        return base + "/.well-known/openid-configuration";
    }
}
