package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The roots a workload trusts, and the trust domains whose identities it accepts: its own and any
 * aliases (for meshes that federate several trust domains under shared roots). Immutable; swap a
 * whole bundle to rotate roots (keep old and new roots in one bundle during a rotation).
 */
public record TrustBundle(String trustDomain, Set<String> trustDomainAliases, List<X509Certificate> roots) {

    public TrustBundle {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(trustDomainAliases, "trustDomainAliases");
        requireNonNull(roots, "roots");
        // Validates the trust domain syntax with the same rules as SpiffeId.
        SpiffeId.of(trustDomain, "ns", "sa");
        for (String alias : trustDomainAliases) {
            SpiffeId.of(requireNonNull(alias, "trustDomainAliases element"), "ns", "sa");
        }
        trustDomainAliases = Set.copyOf(trustDomainAliases);
        roots = List.copyOf(roots);
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("trust bundle for " + trustDomain + " has no roots (expected: at least 1)");
        }
    }

    /** A bundle without aliases. */
    public static TrustBundle of(String trustDomain, List<X509Certificate> roots) {
        return new TrustBundle(trustDomain, Set.of(), roots);
    }

    /** A bundle without aliases from PEM strings, each holding one or more certificates. */
    public static TrustBundle ofPem(String trustDomain, List<String> rootsPem) {
        requireNonNull(rootsPem, "rootsPem");
        List<X509Certificate> roots = new ArrayList<>();
        for (String pem : rootsPem) {
            roots.addAll(Pem.decodeCertificates(requireNonNull(pem, "rootsPem element")));
        }
        return of(trustDomain, roots);
    }

    /** A bundle with aliases from PEM strings, each holding one or more certificates. */
    public static TrustBundle ofPem(String trustDomain, Set<String> trustDomainAliases, List<String> rootsPem) {
        requireNonNull(rootsPem, "rootsPem");
        List<X509Certificate> roots = new ArrayList<>();
        for (String pem : rootsPem) {
            roots.addAll(Pem.decodeCertificates(requireNonNull(pem, "rootsPem element")));
        }
        return new TrustBundle(trustDomain, trustDomainAliases, roots);
    }

    /**
     * Parses the value of a {@code --trust-domain-aliases} flag: trust domains separated by
     * commas (blank entries ignored; an empty value means no aliases), as Istio's meshConfig
     * {@code trustDomainAliases} lists them.
     *
     * @throws IllegalArgumentException naming the entry that is not a valid trust domain
     */
    public static Set<String> parseAliases(String flagValue) {
        requireNonNull(flagValue, "flagValue");
        Set<String> aliases = new LinkedHashSet<>();
        for (String entry : flagValue.split(",")) {
            String alias = entry.trim();
            if (alias.isEmpty()) {
                continue;
            }
            try {
                SpiffeId.of(alias, "ns", "sa");
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--trust-domain-aliases: '" + alias + "' is not a trust domain ("
                        + e.getMessage() + "); expected: comma-separated domains such as old.example.com,cluster.local", e);
            }
            aliases.add(alias);
        }
        return Collections.unmodifiableSet(aliases);
    }

    /** True if identities of {@code domain} are accepted by this bundle. */
    public boolean accepts(String domain) {
        return trustDomain.equals(domain) || trustDomainAliases.contains(domain);
    }

    /** The roots as consecutive PEM blocks. */
    public String rootsPem() {
        return Pem.encodeCertificates(roots);
    }

    /** A copy with {@code additional} roots appended (duplicates dropped). */
    public TrustBundle withRoots(List<X509Certificate> additional) {
        List<X509Certificate> merged = new ArrayList<>(roots);
        for (X509Certificate c : additional) {
            if (!merged.contains(c)) {
                merged.add(c);
            }
        }
        return new TrustBundle(trustDomain, trustDomainAliases, merged);
    }
}
