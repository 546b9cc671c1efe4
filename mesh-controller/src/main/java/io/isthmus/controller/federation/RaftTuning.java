package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Ratis settings that trade latency, throughput and memory, apart from the failure-detection
 * knobs in {@link FederationOptions}. {@link #DEFAULT} is what the controller runs with; the
 * figures behind each choice are in {@code docs/design/federation.md} ("Tuning").
 *
 * <p>Durability is not among the knobs: every entry is fsynced before a peer acknowledges it.
 * Throughput comes from group commit instead: entries that arrive while the log worker is busy
 * are written together and fsynced once, and one AppendEntries carries many entries.
 *
 * @param appenderWaitMin           {@code raft.server.log.appender.wait-time.min}: the least time
 *                                  between two AppendEntries to one follower. Any wait is added to
 *                                  a lone commit's latency; batching happens anyway while a
 *                                  request is in flight, so 0 costs no throughput
 * @param forceSyncNum              {@code raft.server.log.force.sync.num}: the most entries written
 *                                  before the log worker fsyncs even though more are queued; caps
 *                                  a group commit's size (and the latency of its first entry)
 * @param outstandingAppends        {@code raft.grpc.server.leader.outstanding.appends.max}:
 *                                  AppendEntries in flight per follower (pipelining); more keeps
 *                                  a follower busy while the previous batch is being fsynced
 * @param flowControlWindowBytes    {@code raft.grpc.flow.control.window}: the HTTP/2 window of the
 *                                  peers' gRPC channels; a window smaller than one log entry (a
 *                                  cluster state is up to 6 MiB) or a snapshot chunk costs a round
 *                                  trip per window
 * @param clientOutstandingRequests {@code raft.client.async.outstanding-requests.max}: this
 *                                  controller's submits in flight at once; more wait in the client
 */
public record RaftTuning(
        Duration appenderWaitMin,
        int forceSyncNum,
        int outstandingAppends,
        long flowControlWindowBytes,
        int clientOutstandingRequests) {

    /** The controller's settings (measured in {@code CommitBenchmark}). */
    public static final RaftTuning DEFAULT = new RaftTuning(Duration.ZERO, 128, 128, 8L * 1024 * 1024, 1024);

    /**
     * Ratis 3.2's own defaults for the same keys (appender wait 1 ms, 8 appends and 100 client
     * requests in flight, 1 MiB window): the baseline the benchmark compares {@link #DEFAULT} to.
     */
    public static final RaftTuning RATIS_DEFAULTS = new RaftTuning(Duration.ofMillis(1), 128, 8, 1024 * 1024, 100);

    public RaftTuning {
        requireNonNull(appenderWaitMin, "appenderWaitMin");
        if (appenderWaitMin.isNegative()) {
            throw new IllegalArgumentException("appenderWaitMin: " + appenderWaitMin + " (expected: >= 0)");
        }
        if (forceSyncNum < 1) {
            throw new IllegalArgumentException("forceSyncNum: " + forceSyncNum + " (expected: >= 1)");
        }
        if (outstandingAppends < 1) {
            throw new IllegalArgumentException("outstandingAppends: " + outstandingAppends + " (expected: >= 1)");
        }
        if (flowControlWindowBytes < 64 * 1024 || flowControlWindowBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("flowControlWindowBytes: " + flowControlWindowBytes
                    + " (expected: 64 KiB to 2 GiB)");
        }
        if (clientOutstandingRequests < 2) {
            throw new IllegalArgumentException("clientOutstandingRequests: " + clientOutstandingRequests
                    + " (expected: >= 2)");
        }
    }
}
