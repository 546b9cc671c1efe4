/**
 * The federation: the replicated, mesh-wide state that every primary cluster's controller
 * agrees on, kept in an Apache Ratis group with one peer per primary cluster (gRPC transport).
 *
 * <p>This package owns the cluster registry, every cluster's exported
 * {@link io.isthmus.discovery.ClusterState} and the trust bundle (the union of every cluster's
 * published roots). Controllers change it only through typed {@link
 * io.isthmus.controller.federation.FederationCommand}s submitted with {@link
 * io.isthmus.controller.federation.FederationNode#submit}; they read it as an immutable
 * {@link io.isthmus.discovery.FederatedState} value ({@link
 * io.isthmus.controller.federation.FederationNode#state()} or a subscription). Commands are
 * validated structurally when they are built (and again when decoded on the leader), and
 * against the replicated state when they are applied, where a command that does not fit is
 * skipped and counted on every replica alike. The log is compacted into snapshots of that
 * immutable value.
 *
 * <p>Nothing here knows about Kubernetes, xDS or translation.
 */
package io.isthmus.controller.federation;
