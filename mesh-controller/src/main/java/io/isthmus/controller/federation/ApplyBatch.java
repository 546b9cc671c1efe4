package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.stream.Collectors;

/**
 * Several commands in one log entry: the group commit of a controller's submits that arrived
 * while an earlier one was in flight, so the per-entry cost (Raft round trip, fsync, TLS frames,
 * one state-machine transition and one copy of each touched cluster's endpoint list) is paid once
 * for many small deltas.
 *
 * <p>Applied atomically and in order: the result equals applying {@link #commands()} one by one,
 * and if any of them does not fit the state the whole batch is rejected, naming that command and
 * its reason, and nothing of it is applied. Every command assigns, so resubmitting a batch (or its
 * commands one by one) after a timeout or a rejection is safe.
 *
 * @param commands at least one, none of them itself a batch
 */
public record ApplyBatch(List<FederationCommand> commands) implements FederationCommand {

    /** The most commands in one batch; a bigger group is split into several batches. */
    public static final int MAX_COMMANDS = 4096;

    public ApplyBatch {
        requireNonNull(commands, "commands");
        commands = List.copyOf(commands);
        if (commands.isEmpty()) {
            throw new IllegalArgumentException("commands: [] (expected: at least one command in a batch)");
        }
        if (commands.size() > MAX_COMMANDS) {
            throw new IllegalArgumentException("commands: " + commands.size() + " in one batch (expected: at most "
                    + MAX_COMMANDS + "; split the group into several batches)");
        }
        for (int i = 0; i < commands.size(); i++) {
            if (commands.get(i) instanceof ApplyBatch) {
                throw new IllegalArgumentException("commands[" + i + "] is itself an ApplyBatch (expected: plain "
                        + "commands; flatten nested batches)");
            }
        }
    }

    /** The clusters the batch is about, comma-separated in first-seen order. */
    @Override
    public String clusterName() {
        return commands.stream().map(FederationCommand::clusterName).distinct().collect(Collectors.joining(","));
    }
}
