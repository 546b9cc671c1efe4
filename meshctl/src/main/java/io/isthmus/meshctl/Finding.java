package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import java.util.Comparator;
import java.util.Optional;

/**
 * One problem (or fact) {@code analyze} or {@code precheck} found, printed as
 * {@code Error|Warning|Info [IST-CODE] (Kind ns/name) message}; the message ends with how to fix it.
 *
 * @param resource  what the finding is about, e.g. {@code VirtualService sample/split}, {@code Cluster eu}
 * @param namespace the resource's namespace, for {@code -n} filtering; empty for cluster-level findings
 */
record Finding(AnalysisCode code, String resource, Optional<String> namespace, String message) {

    /** Errors first, then by code, resource and message: the same input prints the same lines. */
    static final Comparator<Finding> ORDER = Comparator.comparing((Finding f) -> f.code().level())
            .thenComparing(f -> f.code().code()).thenComparing(Finding::resource).thenComparing(Finding::message);

    Finding {
        requireNonNull(code, "code");
        requireNonNull(resource, "resource");
        requireNonNull(namespace, "namespace");
        requireNonNull(message, "message");
        if (message.contains("\n")) {
            throw new IllegalArgumentException("message: multi-line (expected: one line): " + message);
        }
    }

    static Finding of(AnalysisCode code, String kind, String namespace, String name, String message) {
        return new Finding(code, kind + ' ' + namespace + '/' + name, Optional.of(namespace), message);
    }

    static Finding of(AnalysisCode code, String resource, String message) {
        return new Finding(code, resource, Optional.empty(), message);
    }

    String render() {
        return code.level().label() + " [" + code.code() + "] (" + resource + ") " + message;
    }
}
