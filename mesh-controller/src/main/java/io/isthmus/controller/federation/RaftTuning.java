package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Ratis settings that trade latency, throughput and memory, apart from the failure-detection
 * knobs in {@link FederationOptions}. {@link #DEFAULT} is what the controller runs with; the
 * reasons and figures are in {@code docs/design/federation.md} ("Failure behaviour and
 * tuning", "Benchmarks").
 *
 * <p>Durable by default: every entry is fsynced before a peer acknowledges it. Throughput comes
 * from group commit instead: entries that arrive while the log worker is busy are written
 * together and fsynced once, and one AppendEntries carries many entries. The one exception is the
 * opt-in {@code unsafeFlush}, which trades durability against a simultaneous power loss for
 * latency (see there).
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
 * @param unsafeFlush               {@code raft.server.log.unsafe-flush.enabled} (off by default): a
 *                                  peer acknowledges an entry once it is written to the file (the
 *                                  OS page cache) and fsyncs it asynchronously. A killed process
 *                                  ({@code kill -9}) loses nothing, since the page cache survives
 *                                  it; a power loss of a majority of peers within the fsync lag
 *                                  can lose acknowledged writes. Saves one fsync (about 2 ms on
 *                                  this machine's disk) of a lone commit's latency
 * @param asyncFlush                {@code raft.server.log.async-flush.enabled} (off by default):
 *                                  the log worker hands each fsync to another thread and goes on
 *                                  writing the next entries meanwhile; still durable (an entry
 *                                  is acknowledged only once its fsync completed)
 * @param logFormat                 the format this peer writes commands and snapshots in: 2
 *                                  (binary, the default) or 1 (JSON). Every peer reads both; 1 is
 *                                  for a rolling upgrade from a version that reads only JSON (see
 *                                  {@code docs/design/federation.md}, "Log format and upgrades")
 * @param logMetadata               {@code raft.server.log.log-metadata.enabled} (off here; on in
 *                                  Ratis): the leader appends a metadata entry with the new commit
 *                                  index each time that index advances and replicates it. That
 *                                  doubles a lone commit's log work (two entries: an extra fsync on
 *                                  every peer and an extra AppendEntries to every follower). Its
 *                                  two uses are covered otherwise: followers learn a lone commit
 *                                  from {@code promptCommit} within a round trip, and a peer
 *                                  stopped in order snapshots what it applied. What is lost off: a
 *                                  peer that crashed and comes back while no quorum exists serves
 *                                  its last snapshot (not everything it had applied) until a leader
 *                                  exists. Durable either way (an entry is acknowledged once
 *                                  fsynced on a majority)
 * @param promptCommit              (on by default; not a Ratis property) the leader sends a follower
 *                                  the new commit index at once, in an empty AppendEntries, when
 *                                  no entry is on its way to carry it ({@link PromptCommitGrpc}).
 *                                  With {@code logMetadata} off this is what lets followers apply
 *                                  a lone commit within a round trip instead of at the next
 *                                  heartbeat (~500 ms later with a 1 s election timeout); with it
 *                                  on, the metadata entry does that and this changes nothing. Off is
 *                                  Ratis' own behaviour
 */
public record RaftTuning(
        Duration appenderWaitMin,
        int forceSyncNum,
        int outstandingAppends,
        long flowControlWindowBytes,
        int clientOutstandingRequests,
        boolean unsafeFlush,
        boolean asyncFlush,
        int logFormat,
        boolean logMetadata,
        boolean promptCommit) {

    /** Durable (fsync before acknowledging), as the controller runs unless told otherwise. */
    public RaftTuning(Duration appenderWaitMin, int forceSyncNum, int outstandingAppends, long flowControlWindowBytes,
            int clientOutstandingRequests) {
        this(appenderWaitMin, forceSyncNum, outstandingAppends, flowControlWindowBytes, clientOutstandingRequests,
                false);
    }

    /** Writing the default log format (binary). */
    public RaftTuning(Duration appenderWaitMin, int forceSyncNum, int outstandingAppends, long flowControlWindowBytes,
            int clientOutstandingRequests, boolean unsafeFlush) {
        this(appenderWaitMin, forceSyncNum, outstandingAppends, flowControlWindowBytes, clientOutstandingRequests,
                unsafeFlush, false, CommandCodec.DEFAULT_FORMAT, true, true);
    }

    /** The controller's settings (measured in {@code CommitBenchmark} and {@code CommitLatencyProbe}). */
    public static final RaftTuning DEFAULT = new RaftTuning(Duration.ZERO, 128, 128, 8L * 1024 * 1024, 1024, false,
            false, CommandCodec.DEFAULT_FORMAT, false, true);

    /**
     * Ratis 3.2's own defaults for the same keys (appender wait 1 ms, 8 appends and 100 client
     * requests in flight, 1 MiB window): the baseline the benchmark compares {@link #DEFAULT} to.
     */
    public static final RaftTuning RATIS_DEFAULTS = new RaftTuning(Duration.ofMillis(1), 128, 8, 1024 * 1024, 100,
            false, false, CommandCodec.DEFAULT_FORMAT, true, false);

    /** The keys {@link #withOverrides} understands, as the controller's {@code --raft-tuning} spells them. */
    public static final java.util.List<String> KEYS = java.util.List.of("appender-wait-min", "force-sync-num",
            "outstanding-appends", "flow-control-window", "client-outstanding-requests", "unsafe-flush", "async-flush", "log-format",
            "log-metadata", "prompt-commit");

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
        if (logFormat != CommandCodec.FORMAT_JSON && logFormat != CommandCodec.FORMAT_BINARY) {
            throw new IllegalArgumentException("logFormat: " + logFormat + " (expected: " + CommandCodec.FORMAT_BINARY
                    + " (binary, the default) or " + CommandCodec.FORMAT_JSON + " (JSON, while peers of a version "
                    + "before 2 are in the group))");
        }
    }

    /**
     * These settings with some replaced, from text: {@code appender-wait-min=2ms},
     * {@code force-sync-num=256}, {@code outstanding-appends=64},
     * {@code flow-control-window=16MiB} (bytes, or KiB/MiB), {@code client-outstanding-requests=512},
     * {@code unsafe-flush=true}, {@code async-flush=true}, {@code log-format=1}, {@code log-metadata=true}, {@code prompt-commit=false}.
     *
     * @throws IllegalArgumentException naming the key or value that is wrong and what is expected
     */
    public RaftTuning withOverrides(java.util.Map<String, String> overrides) {
        requireNonNull(overrides, "overrides");
        Duration wait = appenderWaitMin;
        int syncNum = forceSyncNum;
        int appends = outstandingAppends;
        long window = flowControlWindowBytes;
        int clientRequests = clientOutstandingRequests;
        boolean unsafe = unsafeFlush;
        int format = logFormat;
        boolean async = asyncFlush;
        boolean metadata = logMetadata;
        boolean prompt = promptCommit;
        for (java.util.Map.Entry<String, String> entry : new java.util.TreeMap<>(overrides).entrySet()) {
            String key = entry.getKey().trim();
            String value = entry.getValue().trim();
            try {
                switch (key) {
                    case "appender-wait-min" -> wait = parseMillis(value);
                    case "force-sync-num" -> syncNum = Integer.parseInt(value);
                    case "outstanding-appends" -> appends = Integer.parseInt(value);
                    case "flow-control-window" -> window = parseBytes(value);
                    case "client-outstanding-requests" -> clientRequests = Integer.parseInt(value);
                    case "unsafe-flush" -> unsafe = parseBoolean(key, value);
                    case "log-format" -> format = Integer.parseInt(value);
                    case "async-flush" -> async = parseBoolean(key, value);
                    case "log-metadata" -> metadata = parseBoolean(key, value);
                    case "prompt-commit" -> prompt = parseBoolean(key, value);
                    default -> throw new IllegalArgumentException("raft tuning key '" + key + "' (expected: one of "
                            + KEYS + ")");
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("raft tuning " + key + "=" + value + " (expected: "
                        + (key.equals("appender-wait-min") ? "milliseconds, e.g. 0ms or 2ms"
                        : key.equals("flow-control-window") ? "bytes, e.g. 8MiB or 1048576" : "an integer") + ")", e);
            }
        }
        return new RaftTuning(wait, syncNum, appends, window, clientRequests, unsafe, async, format, metadata, prompt);
    }

    private static boolean parseBoolean(String key, String value) {
        return switch (value) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("raft tuning " + key + "=" + value
                    + " (expected: true or false)");
        };
    }

    private static Duration parseMillis(String value) {
        String digits = value.endsWith("ms") ? value.substring(0, value.length() - 2) : value;
        return Duration.ofMillis(Long.parseLong(digits.trim()));
    }

    private static long parseBytes(String value) {
        if (value.endsWith("MiB")) {
            return Long.parseLong(value.substring(0, value.length() - 3).trim()) * 1024 * 1024;
        }
        if (value.endsWith("KiB")) {
            return Long.parseLong(value.substring(0, value.length() - 3).trim()) * 1024;
        }
        return Long.parseLong(value);
    }
}
