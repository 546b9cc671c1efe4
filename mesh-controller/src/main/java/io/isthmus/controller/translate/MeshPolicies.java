package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.MeshSettings;
import io.isthmus.discovery.FederatedState;
import java.util.Map;

/**
 * The Istio configuration input of translation, beside the mesh view.
 *
 * @param config       the merged, validated VirtualServices and DestinationRules in force
 * @param state        the federated state the view was computed from: the view's gateway
 *                     entries stand for endpoints whose labels it no longer carries, so subset
 *                     clusters count the remote endpoints that match a subset here
 * @param domainSuffix resolves short host names, e.g. {@code cluster.local}
 * @param jwks         RequestAuthentication {@code jwksUri} → the JWKS JSON last fetched from it
 *                     (the controller fetches, translation inlines: translation does no I/O); a
 *                     URI without an entry has no keys yet, so its tokens are refused
 * @param outboundTrafficMode the mesh config's {@code outboundTrafficPolicy.mode}
 *                     ({@code ALLOW_ANY} or {@code REGISTRY_ONLY}), for proxies whose Sidecar
 *                     does not set one
 * @param trustDomains the mesh's trust domain and aliases, which AuthorizationPolicy principals
 *                     are expanded to ({@link TrustDomains#NONE}: principals as written)
 * @param protocolDetectionTimeout the mesh config's {@code protocolDetectionTimeout}: the
 *                     {@code listener_filters_timeout} of outbound listeners that inspect a
 *                     connection's first bytes (zero, Istio's default: none)
 */
public record MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix,
        Map<String, String> jwks, String outboundTrafficMode, TrustDomains trustDomains,
        java.time.Duration protocolDetectionTimeout) {

    public MeshPolicies {
        requireNonNull(config, "config");
        requireNonNull(state, "state");
        requireNonNull(domainSuffix, "domainSuffix");
        jwks = Map.copyOf(requireNonNull(jwks, "jwks"));
        requireNonNull(outboundTrafficMode, "outboundTrafficMode");
        requireNonNull(trustDomains, "trustDomains");
        requireNonNull(protocolDetectionTimeout, "protocolDetectionTimeout");
    }

    /** With Istio's default {@code protocolDetectionTimeout}, none. */
    public MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix, Map<String, String> jwks,
            String outboundTrafficMode, TrustDomains trustDomains) {
        this(config, state, domainSuffix, jwks, outboundTrafficMode, trustDomains, java.time.Duration.ZERO);
    }

    /** Principals as written. */
    public MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix, Map<String, String> jwks,
            String outboundTrafficMode) {
        this(config, state, domainSuffix, jwks, outboundTrafficMode, TrustDomains.NONE);
    }

    /** With the mesh's default outbound traffic policy, Istio's {@code ALLOW_ANY}. */
    public MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix, Map<String, String> jwks,
            TrustDomains trustDomains) {
        this(config, state, domainSuffix, jwks, MeshSettings.ALLOW_ANY, trustDomains);
    }

    /** With the mesh's default outbound traffic policy, Istio's {@code ALLOW_ANY}. */
    public MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix, Map<String, String> jwks) {
        this(config, state, domainSuffix, jwks, MeshSettings.ALLOW_ANY, TrustDomains.NONE);
    }

    /** Without fetched JWKS: rules with {@code jwksUri} have no keys. */
    public MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix) {
        this(config, state, domainSuffix, Map.of());
    }
}
