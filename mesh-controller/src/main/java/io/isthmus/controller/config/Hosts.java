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
}
