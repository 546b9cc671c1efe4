package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * One Istio configuration object as it travels through the federation: where it comes from and
 * its spec in a canonical form (JSON, object keys sorted), so equal specs are equal strings and
 * the replicated state stays deterministic.
 *
 * @param kind              the Kubernetes kind, e.g. {@code VirtualService}
 * @param apiVersion        e.g. {@code networking.istio.io/v1}
 * @param creationTimestamp RFC 3339, as the API server set it; orders conflicting definitions
 *                          (oldest wins), empty when unknown (sorts first)
 * @param spec              the spec as canonical JSON
 */
public record ConfigResource(
        String kind, String apiVersion, String namespace, String name, String creationTimestamp, String spec) {

    public ConfigResource {
        requireNonNull(kind, "kind");
        requireNonNull(apiVersion, "apiVersion");
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        requireNonNull(creationTimestamp, "creationTimestamp");
        requireNonNull(spec, "spec");
        if (ConfigKind.of(kind).isEmpty()) {
            throw new IllegalArgumentException("kind: '" + kind
                    + "' (expected: VirtualService, DestinationRule, Gateway, ServiceEntry, PeerAuthentication,"
                    + " AuthorizationPolicy or RequestAuthentication)");
        }
        if (name.isEmpty()) {
            throw new IllegalArgumentException("name of " + kind + " in namespace '" + namespace
                    + "': '' (expected: non-empty)");
        }
    }

    /**
     * From a Kubernetes object as a map (YAML or an API server's JSON): {@code apiVersion},
     * {@code kind}, {@code metadata.namespace|name|creationTimestamp}, {@code spec}.
     *
     * @param defaultNamespace used when the object names none (as {@code kubectl apply -n} does)
     */
    @SuppressWarnings("unchecked")
    public static ConfigResource fromObject(Map<String, Object> object, String defaultNamespace) {
        requireNonNull(object, "object");
        Object metadata = object.get("metadata");
        Map<String, Object> meta = metadata instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
        Object ns = meta.get("namespace");
        Object created = meta.get("creationTimestamp");
        return new ConfigResource(
                String.valueOf(object.get("kind")),
                String.valueOf(object.getOrDefault("apiVersion", "")),
                ns == null ? defaultNamespace : String.valueOf(ns),
                String.valueOf(meta.getOrDefault("name", "")),
                created == null ? "" : String.valueOf(created),
                ConfigParser.canonicalSpec(object.get("spec")));
    }

    /** {@code kind/namespace/name}: what identifies the object mesh-wide. */
    public String key() {
        return kind + '/' + namespace + '/' + name;
    }

    /** {@code Kind namespace/name}, for messages. */
    public String describe() {
        return kind + ' ' + namespace + '/' + name;
    }
}
