package io.isthmus.controller.config;

/** Istio's host names in configuration: a name without dots is relative to the object's namespace. */
public final class Hosts {

    private Hosts() {}

    /** {@code reviews} in namespace {@code bookinfo} → {@code reviews.bookinfo.svc.<domainSuffix>}; others unchanged. */
    public static String resolve(String host, String namespace, String domainSuffix) {
        if (host == null || host.isEmpty() || host.contains(".") || host.contains("*")) {
            return host;
        }
        return host + '.' + namespace + ".svc." + domainSuffix;
    }

    /** {@link #specificity} of a host that names a service exactly. */
    public static final int EXACT = Integer.MAX_VALUE;

    /**
     * How specifically {@code pattern} (a resolved configuration host: a name, {@code *.suffix} or
     * {@code *}) names {@code hostname}: {@link #EXACT} for the same name, the pattern's length for
     * a wildcard that covers it (the longer, the more specific, as pilot's most-specific match),
     * -1 when it does not name it. A wildcard hostname (a ServiceEntry's {@code *.example.com}) is
     * covered by a wildcard whose suffix it ends with.
     */
    public static int specificity(String pattern, String hostname) {
        if (pattern.equalsIgnoreCase(hostname)) {
            return EXACT;
        }
        if (pattern.equals("*")) {
            return 0;
        }
        if (pattern.startsWith("*.") && hostname.length() > pattern.length() - 1
                && hostname.regionMatches(true, hostname.length() - (pattern.length() - 1), pattern, 1,
                        pattern.length() - 1)) {
            return pattern.length();
        }
        return -1;
    }

    /** Whether a resource exported with {@code exportTo} (Istio's rules) from {@code owner} is visible in {@code namespace}. */
    public static boolean exported(java.util.List<String> exportTo, String owner, String namespace) {
        if (exportTo.isEmpty()) {
            return true;
        }
        for (String to : exportTo) {
            if ("*".equals(to) || namespace.equals(to) || (".".equals(to) && owner.equals(namespace))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Why a Sidecar egress host is malformed, or null when it is well formed: Istio's
     * {@code namespace/dnsName}, namespace {@code *}, {@code .}, {@code ~} or a name, dnsName
     * {@code *}, {@code *.suffix} or a full host name.
     */
    public static String sidecarEgressProblem(String host) {
        if (host == null || host.isBlank()) {
            return "is empty (expected: namespace/dnsName)";
        }
        int slash = host.indexOf('/');
        if (slash <= 0 || slash == host.length() - 1 || host.indexOf('/', slash + 1) >= 0) {
            return "(expected: namespace/dnsName, e.g. ./* or istio-system/*)";
        }
        String dns = host.substring(slash + 1);
        if (dns.indexOf('*', 1) >= 0 || (dns.startsWith("*") && !dns.equals("*") && !dns.startsWith("*."))) {
            return "(expected: the dnsName to be *, *.suffix or a full host name)";
        }
        return null;
    }

    /**
     * True when Sidecar egress host {@code pattern} imports {@code hostname} of a service in
     * {@code serviceNamespace}, for a proxy in {@code proxyNamespace} ({@code .} is the proxy's
     * namespace, {@code ~} imports nothing).
     */
    public static boolean sidecarEgressMatches(String pattern, String hostname, String serviceNamespace,
            String proxyNamespace) {
        int slash = pattern.indexOf('/');
        String ns = pattern.substring(0, slash);
        String dns = pattern.substring(slash + 1);
        boolean namespaceMatches = switch (ns) {
            case "*" -> true;
            case "." -> serviceNamespace.equals(proxyNamespace);
            case "~" -> false;
            default -> serviceNamespace.equals(ns);
        };
        if (!namespaceMatches) {
            return false;
        }
        if (dns.equals("*")) {
            return true;
        }
        if (dns.startsWith("*.")) {
            return hostname.endsWith(dns.substring(1));
        }
        return hostname.equals(dns);
    }
}
