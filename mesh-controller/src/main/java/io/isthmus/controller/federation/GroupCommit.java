package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;

/**
 * Group commit at the client: commands submitted while earlier ones are being committed wait in a
 * queue and leave together, as one {@link ApplyBatch} log entry, as soon as a slot frees up. At
 * most {@code maxInFlight} entries are outstanding; each carries everything queued up to
 * {@code maxCommands} commands and {@code maxBytes} encoded bytes (a single command larger than
 * that travels alone). A lone command with nothing in flight leaves at once, unwrapped.
 *
 * <p>Order: commands leave in submission order and one client stream keeps that order into the
 * log. Failure: a batch is committed or rejected whole; every caller's future then fails with the
 * batch's reason.
 *
 * <p>Thread-safe: {@link #submit} may be called from any thread; the queue is drained only on
 * {@code executor} (single-threaded), where the futures also complete.
 */
final class GroupCommit {

    /** One queued command, encoded once on the caller's thread. */
    private record Queued(FederationCommand command, byte[] payload, CompletableFuture<Long> result) {
    }

    private final BiFunction<FederationCommand, byte[], CompletableFuture<Long>> send;
    private final Executor executor;
    private final int maxCommands;
    private final int maxBytes;
    private final int maxInFlight;
    private final int format;
    private final ConcurrentLinkedQueue<Queued> queue = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean drainScheduled = new AtomicBoolean();
    // Confined to the executor.
    private int inFlight;
    private Queued carried;
    private long batches;
    private long commands;

    /**
     * @param send        submits one command with its encoding (an {@link ApplyBatch} for a group);
     *                    its future completes with the log index or fails with the reason
     * @param executor    a single-threaded executor; drains and completions run there
     * @param maxCommands most commands per log entry
     * @param maxBytes    most encoded bytes per batch entry
     * @param maxInFlight most log entries outstanding at once
     */
    GroupCommit(BiFunction<FederationCommand, byte[], CompletableFuture<Long>> send, Executor executor,
            int maxCommands, int maxBytes, int maxInFlight) {
        this(send, executor, maxCommands, maxBytes, maxInFlight, CommandCodec.DEFAULT_FORMAT);
    }

    /** @param format the log format commands are encoded in ({@link CommandCodec#FORMAT_BINARY} or JSON) */
    GroupCommit(BiFunction<FederationCommand, byte[], CompletableFuture<Long>> send, Executor executor,
            int maxCommands, int maxBytes, int maxInFlight, int format) {
        this.format = CommandCodec.checkFormat(format);
        this.send = requireNonNull(send, "send");
        this.executor = requireNonNull(executor, "executor");
        if (maxCommands < 1 || maxCommands > ApplyBatch.MAX_COMMANDS) {
            throw new IllegalArgumentException("maxCommands: " + maxCommands + " (expected: 1 to "
                    + ApplyBatch.MAX_COMMANDS + ")");
        }
        if (maxBytes < 1024) {
            throw new IllegalArgumentException("maxBytes: " + maxBytes + " (expected: >= 1024)");
        }
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight: " + maxInFlight + " (expected: >= 1)");
        }
        this.maxCommands = maxCommands;
        this.maxBytes = maxBytes;
        this.maxInFlight = maxInFlight;
    }

    CompletableFuture<Long> submit(FederationCommand command) {
        requireNonNull(command, "command");
        if (command instanceof ApplyBatch) {
            throw new IllegalArgumentException("command: an ApplyBatch (expected: a plain command; the group "
                    + "commit builds the batches)");
        }
        CompletableFuture<Long> result = new CompletableFuture<>();
        queue.add(new Queued(command, CommandCodec.encode(command, format), result));
        scheduleDrain();
        return result;
    }

    /** Fails every queued command: the node is closing. */
    void failQueued(String why) {
        Queued q;
        while ((q = queue.poll()) != null) {
            q.result().completeExceptionally(new FederationException(describe(q.command()) + " " + why));
        }
    }

    /** Batches sent and commands they carried, since start (for tests and status). */
    long[] counts() {
        CompletableFuture<long[]> counts = new CompletableFuture<>();
        try {
            executor.execute(() -> counts.complete(new long[] {batches, commands}));
            return counts.join();
        } catch (RejectedExecutionException e) {
            return new long[] {batches, commands};
        }
    }

    private void scheduleDrain() {
        if (drainScheduled.compareAndSet(false, true)) {
            try {
                executor.execute(this::drain);
            } catch (RejectedExecutionException e) {
                drainScheduled.set(false);
                failQueued("was not sent: the federation peer is closed");
            }
        }
    }

    private void drain() {
        drainScheduled.set(false);
        while (inFlight < maxInFlight) {
            List<Queued> batch = take();
            if (batch.isEmpty()) {
                return;
            }
            inFlight++;
            batches++;
            commands += batch.size();
            sendBatch(batch);
        }
    }

    private List<Queued> take() {
        List<Queued> batch = new ArrayList<>();
        int bytes = 0;
        while (batch.size() < maxCommands) {
            Queued next = carried != null ? carried : queue.poll();
            carried = null;
            if (next == null) {
                break;
            }
            int size = bytes + next.payload().length + CommandCodec.batchOverhead(batch.size() + 1, format);
            if (!batch.isEmpty() && size > maxBytes) {
                carried = next; // leads the next batch, so the order holds
                break;
            }
            batch.add(next);
            bytes += next.payload().length;
        }
        return batch;
    }

    private void sendBatch(List<Queued> batch) {
        CompletableFuture<Long> sent;
        if (batch.size() == 1) {
            Queued only = batch.get(0);
            sent = send.apply(only.command(), only.payload());
        } else {
            List<FederationCommand> group = new ArrayList<>(batch.size());
            List<byte[]> payloads = new ArrayList<>(batch.size());
            for (Queued q : batch) {
                group.add(q.command());
                payloads.add(q.payload());
            }
            sent = send.apply(new ApplyBatch(group), CommandCodec.encodeBatch(payloads));
        }
        sent.whenComplete((index, error) -> {
            for (Queued q : batch) {
                if (error == null) {
                    q.result().complete(index);
                } else if (batch.size() == 1) {
                    q.result().completeExceptionally(error);
                } else {
                    q.result().completeExceptionally(new FederationException(describe(q.command())
                            + " was sent in a batch of " + batch.size() + " commands that failed, so it was not "
                            + "applied: " + error.getMessage(), error));
                }
            }
            onSettled();
        });
    }

    private void onSettled() {
        try {
            executor.execute(() -> {
                inFlight--;
                drain();
            });
        } catch (RejectedExecutionException e) {
            failQueued("was not sent: the federation peer is closed");
        }
    }

    private static String describe(FederationCommand command) {
        return command.getClass().getSimpleName() + "(" + command.clusterName() + ")";
    }
}
