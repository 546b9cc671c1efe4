package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

/**
 * A workload identity in Istio's SPIFFE form: {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>Parsing is strict because the value arrives from peers' certificates: the scheme must be
 * {@code spiffe}, the trust domain lowercase {@code [a-z0-9._-]}, the path exactly
 * {@code /ns/<ns>/sa/<sa>} with segments of {@code [A-Za-z0-9._-]} (not {@code .} or {@code ..}),
 * no query, fragment, port, user info, percent-encoding or control characters, and at most
 * {@value #MAX_LENGTH} characters in all. Immutable and thread-safe.
 */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {

    /** The longest URI accepted, as in the SPIFFE specification. */
    public static final int MAX_LENGTH = 2048;

    private static final String SCHEME = "spiffe://";
    private static final int MAX_TRUST_DOMAIN_LENGTH = 255;

    public SpiffeId {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(namespace, "namespace");
        requireNonNull(serviceAccount, "serviceAccount");
        checkTrustDomain(trustDomain);
        checkSegment("namespace", namespace);
        checkSegment("serviceAccount", serviceAccount);
        int length = SCHEME.length() + trustDomain.length() + "/ns//sa/".length() + namespace.length()
                + serviceAccount.length();
        if (length > MAX_LENGTH) {
            throw new IllegalArgumentException("SPIFFE ID length: " + length + " (expected: <= " + MAX_LENGTH + ")");
        }
    }

    /** Same as the canonical constructor; reads better at call sites. */
    public static SpiffeId of(String trustDomain, String namespace, String serviceAccount) {
        return new SpiffeId(trustDomain, namespace, serviceAccount);
    }

    /**
     * Parses {@code spiffe://<td>/ns/<ns>/sa/<sa>}.
     *
     * @throws IllegalArgumentException naming what is wrong with {@code uri}
     */
    public static SpiffeId parse(String uri) {
        requireNonNull(uri, "uri");
        if (uri.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("SPIFFE ID length: " + uri.length() + " (expected: <= " + MAX_LENGTH + ")");
        }
        for (int i = 0; i < uri.length(); i++) {
            char c = uri.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                throw new IllegalArgumentException("SPIFFE ID contains control character 0x"
                        + Integer.toHexString(c) + " at index " + i + ": " + printable(uri));
            }
        }
        if (!uri.regionMatches(true, 0, SCHEME, 0, SCHEME.length())) {
            throw new IllegalArgumentException("SPIFFE ID: " + printable(uri) + " (expected: scheme spiffe://)");
        }
        if (!uri.startsWith(SCHEME)) {
            throw new IllegalArgumentException("SPIFFE ID: " + printable(uri) + " (expected: lowercase scheme spiffe://)");
        }
        String rest = uri.substring(SCHEME.length());
        int slash = rest.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("SPIFFE ID: " + printable(uri) + " (expected: a path /ns/<namespace>/sa/<service-account>)");
        }
        String trustDomain = rest.substring(0, slash);
        String[] parts = rest.substring(slash + 1).split("/", -1);
        if (parts.length != 4 || !parts[0].equals("ns") || !parts[2].equals("sa")) {
            throw new IllegalArgumentException("SPIFFE ID path: /" + printable(rest.substring(slash + 1))
                    + " (expected: /ns/<namespace>/sa/<service-account>)");
        }
        return new SpiffeId(trustDomain, parts[1], parts[3]);
    }

    /** The URI form, {@code spiffe://<td>/ns/<ns>/sa/<sa>}. */
    public String uri() {
        return SCHEME + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    @Override
    public String toString() {
        return uri();
    }

    private static void checkTrustDomain(String td) {
        if (td.isEmpty()) {
            throw new IllegalArgumentException("SPIFFE trust domain is empty (expected: e.g. cluster.local)");
        }
        if (td.length() > MAX_TRUST_DOMAIN_LENGTH) {
            throw new IllegalArgumentException("SPIFFE trust domain length: " + td.length()
                    + " (expected: <= " + MAX_TRUST_DOMAIN_LENGTH + ")");
        }
        for (int i = 0; i < td.length(); i++) {
            char c = td.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
            if (!ok) {
                throw new IllegalArgumentException("SPIFFE trust domain: " + printable(td)
                        + " has character '" + printable(String.valueOf(c)) + "' at index " + i
                        + " (expected: lowercase letters, digits, '.', '-', '_'; no port or user info)");
            }
        }
    }

    private static void checkSegment(String what, String segment) {
        if (segment.isEmpty()) {
            throw new IllegalArgumentException("SPIFFE " + what + " is empty");
        }
        if (segment.equals(".") || segment.equals("..")) {
            throw new IllegalArgumentException("SPIFFE " + what + ": " + segment + " (expected: not '.' or '..')");
        }
        for (int i = 0; i < segment.length(); i++) {
            char c = segment.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '.' || c == '-' || c == '_';
            if (!ok) {
                throw new IllegalArgumentException("SPIFFE " + what + ": " + printable(segment)
                        + " has character '" + printable(String.valueOf(c)) + "' at index " + i
                        + " (expected: letters, digits, '.', '-', '_')");
            }
        }
    }

    /** Escapes control characters so that error messages and logs cannot be forged. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 300));
        for (int i = 0; i < s.length() && i < 256; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\x%02x", (int) c));
            } else {
                b.append(c);
            }
        }
        if (s.length() > 256) {
            b.append("...");
        }
        return b.toString();
    }
}
