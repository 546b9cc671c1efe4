package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.NetworkGateway;

/**
 * Replaces everything a cluster exports to the mesh with {@code state}. Every endpoint and
 * gateway in it must carry the same cluster (provenance travels as a field and is checked here,
 * so no cluster can publish endpoints in another's name). Rejected at apply time when the
 * cluster is not registered or the state's network differs from the registered one.
 */
public record PublishClusterState(ClusterState state) implements FederationCommand {

    public PublishClusterState {
        requireNonNull(state, "state");
        if (state.cluster().isEmpty()) {
            throw new IllegalArgumentException("state.cluster: '' (expected: a non-empty cluster name)");
        }
        for (Endpoint endpoint : state.endpoints()) {
            if (!endpoint.cluster().equals(state.cluster())) {
                throw new IllegalArgumentException("endpoint " + endpoint.address() + " of "
                        + endpoint.service() + " has cluster '" + endpoint.cluster()
                        + "' (expected: '" + state.cluster() + "', the publishing cluster)");
            }
        }
        for (NetworkGateway gateway : state.gateways()) {
            if (!gateway.cluster().equals(state.cluster())) {
                throw new IllegalArgumentException("gateway " + gateway.address() + ':' + gateway.port()
                        + " has cluster '" + gateway.cluster() + "' (expected: '" + state.cluster()
                        + "', the publishing cluster)");
            }
        }
    }

    @Override
    public String clusterName() {
        return state.cluster();
    }
}
