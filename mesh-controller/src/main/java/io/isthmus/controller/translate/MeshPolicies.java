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
 */
public record MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix,
        Map<String, String> jwks, String outboundTrafficMode, TrustDomains trustDomains) {

    public MeshPolicies {
        requireNonNull(config, "config");
        requireNonNull(state, "state");
        requireNonNull(domainSuffix, "domainSuffix");
        jwks = Map.copyOf(requireNonNull(jwks, "jwks"));
        requireNonNull(outboundTrafficMode, "outboundTrafficMode");
        requireNonNull(trustDomains, "trustDomains");
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
