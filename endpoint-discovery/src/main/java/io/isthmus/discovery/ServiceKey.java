package io.isthmus.discovery;

import static java.util.Objects.requireNonNull;

/** A Kubernetes Service (or ServiceEntry host) by namespace and name. */
public record ServiceKey(String namespace, String name) implements Comparable<ServiceKey> {

    public ServiceKey {
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        if (namespace.isEmpty() || name.isEmpty()) {
            throw new IllegalArgumentException("service key: '" + namespace + '/' + name
                    + "' (expected: non-empty namespace and name)");
        }
    }

    /** The mesh host name, e.g. {@code helloworld.sample.svc.cluster.local}. */
    public String hostname(String domainSuffix) {
        return name + '.' + namespace + ".svc." + domainSuffix;
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
