package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.MeshConfig;
import io.isthmus.discovery.FederatedState;

/**
 * The Istio configuration input of translation, beside the mesh view.
 *
 * @param config       the merged, validated VirtualServices and DestinationRules in force
 * @param state        the federated state the view was computed from: the view's gateway
 *                     entries stand for endpoints whose labels it no longer carries, so subset
 *                     clusters count the remote endpoints that match a subset here
 * @param domainSuffix resolves short host names, e.g. {@code cluster.local}
 */
public record MeshPolicies(MeshConfig config, FederatedState state, String domainSuffix) {

    public MeshPolicies {
        requireNonNull(config, "config");
        requireNonNull(state, "state");
        requireNonNull(domainSuffix, "domainSuffix");
    }
}
