package io.isthmus.controller.federation;

/**
 * A change to the federated state, replicated through the Raft log. The set is closed: each
 * command has a stable type tag in the log's wire format (see {@code CommandCodec}), so renaming
 * a class never changes what is on disk.
 *
 * <p>Every command assigns a value (register, replace a cluster's state, upsert or remove single
 * endpoints, replace a cluster's roots, remove) rather than changing it relative to the current
 * value, so resubmitting after a timeout whose outcome is unknown is safe.
 */
public sealed interface FederationCommand
        permits RegisterCluster, PublishClusterState, PublishTrustRoots, RemoveCluster, PublishMeshConfig,
                UpdateEndpoints, ApplyBatch {

    /** The name of the cluster this command is about. */
    String clusterName();
}
