package io.isthmus.controller.translate;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * The mesh's trust domain and its aliases (Istio's meshConfig {@code trustDomain} and
 * {@code trustDomainAliases}), and istiod's rewriting of AuthorizationPolicy principals with
 * them: a principal {@code <td>/ns/<ns>/sa/<sa>} whose trust domain is one of these (or
 * {@code cluster.local}, which stands for the local one) matches the same namespace and service
 * account in every one of them, so a policy written before a trust-domain migration keeps
 * admitting peers whose certificates carry the new domain, and the other way round.
 * Principals that do not name a trust domain ({@code *}, {@code * /ns/x/sa/y}, malformed) and
 * those of a foreign domain stay as written. Immutable; the first domain is the mesh's own.
 *
 * @param domains the trust domain then its aliases, without duplicates; empty: no rewriting
 */
public record TrustDomains(List<String> domains) {

    /** No rewriting: every principal stays as written. */
    public static final TrustDomains NONE = new TrustDomains(List.of());

    private static final String CLUSTER_LOCAL = "cluster.local";

    public TrustDomains {
        List<String> copy = new ArrayList<>();
        for (String d : List.copyOf(domains)) {
            if (d.isBlank() || d.contains("/")) {
                throw new IllegalArgumentException("trust domain: '" + d
                        + "' (expected: a domain such as cluster.local, without '/')");
            }
            if (!copy.contains(d)) {
                copy.add(d);
            }
        }
        domains = List.copyOf(copy);
    }

    /** {@code trustDomain} followed by {@code aliases}, duplicates dropped. */
    public static TrustDomains of(String trustDomain, List<String> aliases) {
        LinkedHashSet<String> all = new LinkedHashSet<>();
        all.add(trustDomain);
        all.addAll(aliases);
        return new TrustDomains(List.copyOf(all));
    }

    /** istiod's {@code ReplaceTrustDomainAliases}: each principal and its equivalents in the other domains. */
    public List<String> expand(List<String> principals) {
        if (domains.size() < 2 && (domains.isEmpty() || domains.get(0).equals(CLUSTER_LOCAL))) {
            // Nothing to add: only cluster.local, which every principal already names literally.
            return principals;
        }
        List<String> out = new ArrayList<>();
        for (String principal : principals) {
            String[] parts = principal.split("/", -1);
            if (parts.length != 5 || parts[0].equals("*")) {
                out.add(principal);
                continue;
            }
            String td = parts[0];
            if (td.equals(CLUSTER_LOCAL) || domains.stream().anyMatch(d -> matches(d, td))) {
                String rest = principal.substring(td.length());
                for (String d : domains) {
                    // A wildcard domain in the policy (*-td) keeps its own form where it matches.
                    String next = td.startsWith("*") && d.endsWith(td.substring(1)) ? principal : d + rest;
                    if (!out.contains(next)) {
                        out.add(next);
                    }
                }
            } else {
                out.add(principal);
            }
        }
        return List.copyOf(out);
    }

    /** Istio's trust-domain matching: exact, or a policy's {@code *}-prefixed or -suffixed pattern. */
    private static boolean matches(String domain, String pattern) {
        if (pattern.startsWith("*")) {
            return domain.endsWith(pattern.substring(1));
        }
        if (pattern.endsWith("*")) {
            return domain.startsWith(pattern.substring(0, pattern.length() - 1));
        }
        return domain.equals(pattern);
    }
}
