package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/**
 * A Kubernetes Service, or a ServiceEntry host, by namespace and name. A ServiceEntry host is keyed
 * by the host itself: a Service name is a DNS label and never holds a dot, so a name with a dot is
 * a full host name and the two kinds of key cannot collide.
 */
public record ServiceKey(String namespace, String name) implements Comparable<ServiceKey> {

    public ServiceKey {
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        if (namespace.isEmpty() || name.isEmpty()) {
            throw new IllegalArgumentException("service key: '" + namespace + '/' + name
                    + "' (expected: non-empty namespace and name)");
        }
    }

    /**
     * The mesh host name, e.g. {@code helloworld.sample.svc.cluster.local}, or the ServiceEntry
     * host itself.
     */
    public String hostname(String domainSuffix) {
        return isServiceEntryHost() ? name : name + '.' + namespace + ".svc." + domainSuffix;
    }

    /** True for the key of a ServiceEntry host (a name with a dot), false for a Kubernetes Service. */
    public boolean isServiceEntryHost() {
        return name.indexOf('.') >= 0;
    }

    @Override
    public int compareTo(ServiceKey other) {
        int c = namespace.compareTo(other.namespace);
        return c != 0 ? c : name.compareTo(other.name);
    }

    @Override
    public String toString() {
        return namespace + '/' + name;
    }
}
