package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.ConfigResource;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Everything the state machine replicates: the {@link FederatedState} value the rest of the
 * controller reads, plus each cluster's own roots, which the union in
 * {@link FederatedState#trustRootsPem()} no longer tells apart but removal and replacement need.
 * Transitions are pure and deterministic: the same model and command give the same result on
 * every replica.
 */
record FederationModel(
        FederatedState state,
        Map<String, List<String>> rootsByCluster,
        Map<String, List<ConfigResource>> meshConfigByCluster) {

    static final FederationModel EMPTY = new FederationModel(FederatedState.EMPTY, Map.of(), Map.of());

    FederationModel {
        requireNonNull(state, "state");
        Map<String, List<String>> copy = new HashMap<>();
        rootsByCluster.forEach((cluster, roots) -> copy.put(cluster, List.copyOf(roots)));
        rootsByCluster = Map.copyOf(copy);
        Map<String, List<ConfigResource>> config = new HashMap<>();
        meshConfigByCluster.forEach((cluster, resources) -> config.put(cluster, List.copyOf(resources)));
        meshConfigByCluster = Map.copyOf(config);
    }

    FederationModel(FederatedState state, Map<String, List<String>> rootsByCluster) {
        this(state, rootsByCluster, Map.of());
    }

    /** The result of applying one log entry: the next model, and why it was rejected if it was. */
    record Result(FederationModel model, RejectReason rejectReason, String rejectMessage) {

        static Result applied(FederationModel model) {
            return new Result(model, null, null);
        }

        boolean rejected() {
            return rejectReason != null;
        }
    }

    /**
     * Applies {@code command} as the log entry at {@code index}. A rejected command leaves the
     * content unchanged; either way the result reflects {@code index}.
     */
    Result apply(FederationCommand command, long index) {
        requireNonNull(command, "command");
        if (command instanceof RegisterCluster register) {
            return register(register.cluster(), index);
        } else if (command instanceof PublishClusterState publish) {
            return publish(publish.state(), index);
        } else if (command instanceof PublishTrustRoots roots) {
            return publishRoots(roots, index);
        } else if (command instanceof RemoveCluster remove) {
            return remove(remove.cluster(), index);
        } else if (command instanceof PublishMeshConfig config) {
            return publishMeshConfig(config, index);
        } else if (command instanceof UpdateEndpoints delta) {
            return updateEndpoints(List.of(delta), index);
        } else if (command instanceof ApplyBatch batch) {
            return applyBatch(batch, index);
        }
        throw new IllegalStateException("unknown command type: " + command.getClass().getName());
    }

    /** Records that the entry at {@code index} was skipped, keeping the content. */
    Result reject(RejectReason reason, String message, long index) {
        return new Result(atIndex(index), reason, message);
    }

    FederationModel atIndex(long index) {
        FederatedState s = state;
        return new FederationModel(
                new FederatedState(index, s.clusters(), s.clusterStates(), s.trustRootsPem()), rootsByCluster, meshConfigByCluster);
    }

    private Result register(ClusterInfo info, long index) {
        ClusterInfo existing = state.clusters().get(info.name());
        if (existing != null && !existing.network().equals(info.network())
                && state.clusterStates().containsKey(info.name())) {
            return reject(RejectReason.CONFLICT, "cluster '" + info.name() + "' is registered on network '"
                    + existing.network() + "' and has published state; remove it (RemoveCluster) before "
                    + "registering it on network '" + info.network() + "'", index);
        }
        Map<String, ClusterInfo> clusters = new HashMap<>(state.clusters());
        clusters.put(info.name(), info);
        return Result.applied(new FederationModel(new FederatedState(
                index, clusters, state.clusterStates(), state.trustRootsPem()), rootsByCluster, meshConfigByCluster));
    }

    private Result publish(ClusterState clusterState, long index) {
        ClusterInfo info = state.clusters().get(clusterState.cluster());
        if (info == null) {
            return reject(RejectReason.UNKNOWN_CLUSTER, notRegistered(clusterState.cluster()), index);
        }
        if (!info.network().equals(clusterState.network())) {
            return reject(RejectReason.CONFLICT, "state of cluster '" + clusterState.cluster() + "' has network '"
                    + clusterState.network() + "' (expected: '" + info.network() + "', as registered)", index);
        }
        Map<String, ClusterState> states = new HashMap<>(state.clusterStates());
        states.put(clusterState.cluster(), clusterState);
        return Result.applied(new FederationModel(new FederatedState(
                index, state.clusters(), states, state.trustRootsPem()), rootsByCluster, meshConfigByCluster));
    }

    /**
     * Applies the batch's commands in order onto one model; the first that does not fit rejects
     * the whole batch. A run of endpoint deltas for one cluster is merged into the cluster's list
     * once (deltas change no services, so each validates against the same services as it would
     * one by one, and later deltas win per endpoint exactly as applied in sequence).
     */
    private Result applyBatch(ApplyBatch batch, long index) {
        List<FederationCommand> commands = batch.commands();
        FederationModel current = this;
        int i = 0;
        while (i < commands.size()) {
            int end = i + 1;
            Result result;
            if (commands.get(i) instanceof UpdateEndpoints first) {
                while (end < commands.size() && commands.get(end) instanceof UpdateEndpoints next
                        && next.cluster().equals(first.cluster())) {
                    end++;
                }
                List<UpdateEndpoints> run = new ArrayList<>(end - i);
                for (int k = i; k < end; k++) {
                    run.add((UpdateEndpoints) commands.get(k));
                }
                result = current.updateEndpoints(run, index);
            } else {
                result = current.apply(commands.get(i), index);
            }
            if (result.rejected()) {
                String which = end - i == 1 ? "command " + (i + 1) : "commands " + (i + 1) + "-" + end;
                return reject(result.rejectReason(), "batch of " + commands.size() + " commands rejected whole, "
                        + "nothing of it applied; " + which + " (" + commands.get(i).getClass().getSimpleName()
                        + " of cluster '" + commands.get(i).clusterName() + "'): " + result.rejectMessage(), index);
            }
            current = result.model();
            i = end;
        }
        return Result.applied(current.atIndex(index));
    }

    /** Deltas of one cluster, applied in order; rejected whole, naming the first that does not fit. */
    private Result updateEndpoints(List<UpdateEndpoints> deltas, long index) {
        String cluster = deltas.get(0).cluster();
        if (!state.clusters().containsKey(cluster)) {
            return reject(RejectReason.UNKNOWN_CLUSTER, notRegistered(cluster), index);
        }
        ClusterState current = state.clusterStates().get(cluster);
        if (current == null) {
            return reject(RejectReason.CONFLICT, "cluster '" + cluster + "' has published no state yet "
                    + "(expected: PublishClusterState before endpoint deltas)", index);
        }
        java.util.Set<io.isthmus.discovery.ServiceKey> services = new java.util.HashSet<>();
        current.services().forEach(s -> services.add(s.key()));
        for (UpdateEndpoints delta : deltas) {
            for (io.isthmus.discovery.Endpoint endpoint : delta.upserted()) {
                if (!services.contains(endpoint.service())) {
                    return reject(RejectReason.CONFLICT, "endpoint " + endpoint.address() + " names service "
                            + endpoint.service() + ", which cluster '" + cluster + "' does not export (expected: one "
                            + "of its services; publish the state to add one)", index);
                }
                if (!endpoint.network().equals(current.network())) {
                    return reject(RejectReason.CONFLICT, "endpoint " + endpoint.address() + " has network '"
                            + endpoint.network() + "' (expected: '" + current.network() + "', the cluster's)", index);
                }
            }
        }
        Map<String, ClusterState> states = new HashMap<>(state.clusterStates());
        states.put(cluster, new ClusterState(current.cluster(), current.network(), current.services(),
                EndpointMerge.apply(current.endpoints(), combine(deltas)), current.gateways()));
        return Result.applied(new FederationModel(new FederatedState(
                index, state.clusters(), states, state.trustRootsPem()), rootsByCluster, meshConfigByCluster));
    }

    /** One delta with the effect of {@code deltas} applied in order: the last change to each endpoint wins. */
    static UpdateEndpoints combine(List<UpdateEndpoints> deltas) {
        if (deltas.size() == 1) {
            return deltas.get(0);
        }
        // A null value marks a removal.
        Map<UpdateEndpoints.EndpointRef, io.isthmus.discovery.Endpoint> last = new java.util.LinkedHashMap<>();
        for (UpdateEndpoints delta : deltas) {
            delta.removed().forEach(ref -> last.put(ref, null));
            delta.upserted().forEach(e -> last.put(UpdateEndpoints.EndpointRef.of(e), e));
        }
        List<io.isthmus.discovery.Endpoint> upserted = new ArrayList<>();
        List<UpdateEndpoints.EndpointRef> removed = new ArrayList<>();
        last.forEach((ref, endpoint) -> {
            if (endpoint == null) {
                removed.add(ref);
            } else {
                upserted.add(endpoint);
            }
        });
        return new UpdateEndpoints(deltas.get(0).cluster(), upserted, removed);
    }

    private Result publishRoots(PublishTrustRoots command, long index) {
        if (!state.clusters().containsKey(command.cluster())) {
            return reject(RejectReason.UNKNOWN_CLUSTER, notRegistered(command.cluster()), index);
        }
        Map<String, List<String>> roots = new HashMap<>(rootsByCluster);
        if (command.rootsPem().isEmpty()) {
            roots.remove(command.cluster());
        } else {
            roots.put(command.cluster(), command.rootsPem());
        }
        return Result.applied(new FederationModel(new FederatedState(
                index, state.clusters(), state.clusterStates(), union(roots)), roots, meshConfigByCluster));
    }

    private Result publishMeshConfig(PublishMeshConfig command, long index) {
        if (!state.clusters().containsKey(command.cluster())) {
            return reject(RejectReason.UNKNOWN_CLUSTER, notRegistered(command.cluster()), index);
        }
        Map<String, List<ConfigResource>> config = new HashMap<>(meshConfigByCluster);
        if (command.resources().isEmpty()) {
            config.remove(command.cluster());
        } else {
            config.put(command.cluster(), command.resources());
        }
        return Result.applied(new FederationModel(atIndex(index).state(), rootsByCluster, config));
    }

    private Result remove(String cluster, long index) {
        if (!state.clusters().containsKey(cluster)) {
            return reject(RejectReason.UNKNOWN_CLUSTER, notRegistered(cluster), index);
        }
        Map<String, ClusterInfo> clusters = new HashMap<>(state.clusters());
        clusters.remove(cluster);
        Map<String, ClusterState> states = new HashMap<>(state.clusterStates());
        states.remove(cluster);
        Map<String, List<String>> roots = new HashMap<>(rootsByCluster);
        roots.remove(cluster);
        Map<String, List<ConfigResource>> config = new HashMap<>(meshConfigByCluster);
        config.remove(cluster);
        return Result.applied(new FederationModel(
                new FederatedState(index, clusters, states, union(roots)), roots, config));
    }

    private static List<String> union(Map<String, List<String>> rootsByCluster) {
        TreeSet<String> all = new TreeSet<>();
        rootsByCluster.values().forEach(all::addAll);
        return List.copyOf(all);
    }

    private static String notRegistered(String cluster) {
        return "cluster '" + cluster + "' is not registered (expected: RegisterCluster first)";
    }
}
