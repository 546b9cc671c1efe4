package io.isthmus.topologies.sample;

import static java.util.Objects.requireNonNull;

/** Who the echo server says answered. */
record EchoIdentity(String cluster, String version, String pod, String namespace, String locality) {

    EchoIdentity {
        requireNonNull(cluster, "cluster");
        requireNonNull(version, "version");
        requireNonNull(pod, "pod");
        requireNonNull(namespace, "namespace");
        requireNonNull(locality, "locality");
    }
}
