package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.FederatedState;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import io.isthmus.discovery.ClusterState;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.apache.ratis.io.MD5Hash;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.MD5FileUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Ratis state machine holding a {@link FederationModel}.
 *
 * <p>The leader decodes each command before it is appended ({@link #startTransaction}), so a
 * payload that is not a valid command never enters the log. {@link #applyTransaction} is
 * deterministic and total: it decodes again, applies the pure transition, and a command that
 * does not fit the state (or cannot be decoded after all) is skipped, logged and counted, the
 * same way on every replica. The model is replaced as one immutable value per apply.
 *
 * <p>Snapshots are the model written as canonical JSON, next to an MD5 file, into the Ratis
 * state-machine directory; a follower that falls behind the purged log receives that file from
 * the leader and reloads it in {@link #reinitialize()}.
 */
final class FederationStateMachine extends BaseStateMachine {

    private static final Logger log = LoggerFactory.getLogger(FederationStateMachine.class);

    static final String REPLY_OK = "ok";
    static final String REPLY_REJECTED = "rejected";
    static final String QUERY_APPLIED_INDEX = "applied-index";

    private final String peerId;
    private final FederationMetrics metrics;
    private final Consumer<FederatedState> onChange;
    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    /** The format snapshots are written in ({@link CommandCodec#FORMAT_JSON} or {@link CommandCodec#FORMAT_BINARY}). */
    private final int snapshotFormat;
    /** Guards the pair (model, last applied term-index) so a snapshot never mixes two applies. */
    private final Object applyLock = new Object();
    private volatile FederationModel model = FederationModel.EMPTY;
    /** Local wall-clock time each cluster's entries were last applied here; not replicated. */
    private final Map<String, Instant> lastUpdate = new ConcurrentHashMap<>();
    /** The value each cluster had at the last apply, compared by identity (applies reuse values). */
    private final Map<String, Object> lastSeen = new ConcurrentHashMap<>();
    private final Clock clock;
    private volatile Hashed hashed = new Hashed(null, "");
    /** Futures waiting for the applied index to reach a key; guarded by itself. */
    private final TreeMap<Long, List<CompletableFuture<Void>>> waiters = new TreeMap<>();

    private record Hashed(FederationModel model, String hash) {
    }

    FederationStateMachine(String peerId, FederationMetrics metrics, Consumer<FederatedState> onChange) {
        this(peerId, metrics, onChange, Clock.systemUTC(), CommandCodec.DEFAULT_FORMAT);
    }

    FederationStateMachine(String peerId, FederationMetrics metrics, Consumer<FederatedState> onChange,
            int snapshotFormat) {
        this(peerId, metrics, onChange, Clock.systemUTC(), snapshotFormat);
    }

    FederationStateMachine(String peerId, FederationMetrics metrics, Consumer<FederatedState> onChange, Clock clock) {
        this(peerId, metrics, onChange, clock, CommandCodec.DEFAULT_FORMAT);
    }

    private FederationStateMachine(String peerId, FederationMetrics metrics, Consumer<FederatedState> onChange,
            Clock clock, int snapshotFormat) {
        this.snapshotFormat = CommandCodec.checkFormat(snapshotFormat);
        this.peerId = requireNonNull(peerId, "peerId");
        this.metrics = requireNonNull(metrics, "metrics");
        this.onChange = requireNonNull(onChange, "onChange");
        this.clock = requireNonNull(clock, "clock");
    }

    /**
     * SHA-256 (hex) of the canonical snapshot encoding of the current model: two replicas that
     * applied the same log prefix have the same hash. Computed once per applied value.
     */
    String stateHash() {
        FederationModel current = model;
        Hashed cached = hashed;
        if (cached.model() == current) {
            return cached.hash();
        }
        String hash = hash(current);
        hashed = new Hashed(current, hash);
        return hash;
    }

    static String hash(FederationModel model) {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
        // Over the format-1 (JSON) encoding, streamed: the same value as before format 2, on every
        // peer whatever format it writes, and without a second copy of a large state in memory.
        try (java.security.DigestOutputStream out = new java.security.DigestOutputStream(
                java.io.OutputStream.nullOutputStream(), digest)) {
            CommandCodec.writeCanonicalJson(model, out);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** When each registered cluster's entries were last applied on this replica (local clock). */
    Map<String, Instant> lastUpdates() {
        return Map.copyOf(lastUpdate);
    }

    long lastAppliedIndex() {
        TermIndex last = getLastAppliedTermIndex();
        return last == null ? -1 : last.getIndex();
    }

    /** Completes (on the applier's thread) once this replica has applied {@code index}. */
    CompletableFuture<Void> awaitApplied(long index) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        synchronized (waiters) {
            waiters.computeIfAbsent(index, i -> new ArrayList<>()).add(future);
        }
        releaseWaiters();
        return future;
    }

    private void releaseWaiters() {
        long applied = lastAppliedIndex();
        List<CompletableFuture<Void>> ready = new ArrayList<>();
        synchronized (waiters) {
            while (!waiters.isEmpty() && waiters.firstKey() <= applied) {
                ready.addAll(waiters.pollFirstEntry().getValue());
            }
        }
        ready.forEach(f -> f.complete(null));
    }

    @Override
    public void notifyTermIndexUpdated(long term, long index) {
        // Configuration and leader-start entries take log indexes too.
        super.notifyTermIndexUpdated(term, index);
        releaseWaiters();
    }

    /**
     * Answers {@value #QUERY_APPLIED_INDEX} with this replica's applied log index. With Ratis'
     * linearizable read option the leader answers only after confirming its leadership and
     * applying up to its commit index, so the value is a linearization point for any replica.
     */
    @Override
    public CompletableFuture<Message> query(Message request) {
        String text = request.getContent().toString(StandardCharsets.UTF_8);
        if (!QUERY_APPLIED_INDEX.equals(text)) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("federation query: '" + text
                    + "' (expected: '" + QUERY_APPLIED_INDEX + "')"));
        }
        return CompletableFuture.completedFuture(Message.valueOf(Long.toString(lastAppliedIndex())));
    }

    /** Each cluster's published mesh configuration, from the same model value as the last state. */
    java.util.Map<String, java.util.List<io.isthmus.controller.config.ConfigResource>> meshConfig() {
        return model.meshConfigByCluster();
    }

    FederatedState state() {
        return model.state();
    }

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        getLifeCycle().startAndTransition(() -> {
            super.initialize(server, groupId, raftStorage);
            storage.init(raftStorage);
            load(storage.loadLatestSnapshot());
        });
    }

    /** Ratis pauses the state machine before a follower installs a snapshot from the leader. */
    @Override
    public void pause() {
        synchronized (applyLock) {
            LifeCycle lifeCycle = getLifeCycle();
            if (lifeCycle.getCurrentState() == LifeCycle.State.RUNNING) {
                lifeCycle.transition(LifeCycle.State.PAUSING);
                lifeCycle.transition(LifeCycle.State.PAUSED);
            }
        }
    }

    /** Loads the newest snapshot on disk, e.g. the one just installed from the leader. */
    @Override
    public void reinitialize() throws IOException {
        load(storage.loadLatestSnapshot());
        synchronized (applyLock) {
            LifeCycle lifeCycle = getLifeCycle();
            if (lifeCycle.getCurrentState() == LifeCycle.State.PAUSED) {
                lifeCycle.transition(LifeCycle.State.STARTING);
                lifeCycle.transition(LifeCycle.State.RUNNING);
            }
        }
    }

    @Override
    public StateMachineStorage getStateMachineStorage() {
        return storage;
    }

    @Override
    public TransactionContext startTransaction(RaftClientRequest request) throws IOException {
        TransactionContext transaction = super.startTransaction(request);
        int size = request.getMessage().getContent().size();
        if (size > FederationNode.MAX_COMMAND_BYTES) {
            metrics.rejected(RejectReason.MALFORMED);
            log.warn("[{}] Rejected a command of {} bytes before replication", peerId, size);
            transaction.setException(new IllegalArgumentException("command of " + size + " bytes (expected: at most "
                    + FederationNode.MAX_COMMAND_BYTES + ")"));
            return transaction;
        }
        try {
            // Kept for applyTransaction on this (the leader's) replica: the decode is not repeated.
            transaction.setStateMachineContext(CommandCodec.decode(request.getMessage().getContent().toByteArray()));
        } catch (CommandCodec.MalformedCommandException e) {
            metrics.rejected(RejectReason.MALFORMED);
            log.warn("[{}] Rejected a command before replication: {}", peerId, e.getMessage());
            transaction.setException(new IllegalArgumentException(e.getMessage()));
        }
        return transaction;
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        TermIndex termIndex = TermIndex.valueOf(entry);
        long index = termIndex.getIndex();
        FederationModel.Result result;
        synchronized (applyLock) {
            FederationModel current = model;
            result = trx.getStateMachineContext() instanceof FederationCommand decoded
                    ? transition(current, decoded, index)
                    : transition(current, entry.getStateMachineLogEntry().getLogData().toByteArray(), index);
            model = result.model();
            updateLastAppliedTermIndex(termIndex);
        }
        if (!result.rejected()) {
            recordUpdate(result.model());
        }
        releaseWaiters();
        String reply;
        if (result.rejected()) {
            metrics.rejected(result.rejectReason());
            log.warn("[{}] Skipped federation command at index {} ({}): {}", peerId, index,
                    result.rejectReason().tag(), result.rejectMessage());
            reply = REPLY_REJECTED + ':' + index + ':' + result.rejectReason().tag() + ':' + result.rejectMessage();
        } else {
            reply = REPLY_OK + ':' + index;
        }
        onChange.accept(result.model().state());
        return CompletableFuture.completedFuture(Message.valueOf(reply));
    }

    /** Marks clusters whose state value changed identity in this apply; drops removed ones. */
    private void recordUpdate(FederationModel next) {
        Instant now = clock.instant();
        FederatedState state = next.state();
        lastUpdate.keySet().retainAll(state.clusters().keySet());
        for (String cluster : state.clusters().keySet()) {
            ClusterState published = state.clusterStates().get(cluster);
            Object marker = published != null ? published : state.clusters().get(cluster);
            if (lastSeen.put(cluster, marker) != marker) {
                lastUpdate.put(cluster, now);
            }
        }
        lastSeen.keySet().retainAll(state.clusters().keySet());
    }

    /** Total: every payload yields a next model, rejected or not. */
    static FederationModel.Result transition(FederationModel current, byte[] payload, long index) {
        FederationCommand command;
        try {
            command = CommandCodec.decode(payload);
        } catch (CommandCodec.MalformedCommandException e) {
            return current.reject(RejectReason.MALFORMED, e.getMessage(), index);
        } catch (RuntimeException e) {
            return current.reject(RejectReason.MALFORMED, "undecodable command: " + e, index);
        }
        return transition(current, command, index);
    }

    /** The same, for a command this replica decoded from the same payload already. */
    static FederationModel.Result transition(FederationModel current, FederationCommand command, long index) {
        try {
            return current.apply(command, index);
        } catch (RuntimeException e) {
            log.error("Applying {} at index {} failed; skipping it", command.getClass().getSimpleName(), index, e);
            return current.reject(RejectReason.INTERNAL, "applying " + command.getClass().getSimpleName()
                    + " failed: " + e, index);
        }
    }

    @Override
    public long takeSnapshot() throws IOException {
        FederationModel snapshotModel;
        TermIndex last;
        synchronized (applyLock) {
            snapshotModel = model;
            last = getLastAppliedTermIndex();
        }
        if (last == null || last.getIndex() < 0) {
            return RaftLog.INVALID_LOG_INDEX;
        }
        byte[] bytes = CommandCodec.encodeSnapshot(snapshotModel, snapshotFormat);
        File file = storage.getSnapshotFile(last.getTerm(), last.getIndex());
        Path tmp = file.toPath().resolveSibling(file.getName() + ".writing");
        try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
            channel.force(true);
        }
        // The checksum file goes first, so a snapshot file that exists always has one.
        MD5Hash md5 = MD5Hash.digest(bytes);
        MD5FileUtil.saveMD5File(file, md5);
        Files.move(tmp, file.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(new FileInfo(file.toPath(), md5), last));
        log.info("[{}] Took federation snapshot at {} ({} bytes, format {})", peerId, last, bytes.length,
                snapshotFormat);
        return last.getIndex();
    }

    private void load(SingleFileSnapshotInfo snapshot) throws IOException {
        if (snapshot == null) {
            return;
        }
        Path path = snapshot.getFile().getPath();
        if (!Files.exists(path)) {
            log.warn("[{}] Snapshot file {} does not exist; starting from the log", peerId, path);
            return;
        }
        MD5Hash md5 = snapshot.getFile().getFileDigest();
        if (md5 == null) {
            md5 = MD5FileUtil.readStoredMd5ForFile(path.toFile());
        }
        if (md5 == null) {
            throw refuseSnapshot(path, "it has no checksum file " + path + MD5FileUtil.MD5_SUFFIX, null);
        }
        byte[] bytes = Files.readAllBytes(path);
        MD5Hash actual = MD5Hash.digest(bytes);
        if (!actual.equals(md5)) {
            throw refuseSnapshot(path, "its MD5 is " + actual + " but its checksum file says " + md5, null);
        }
        TermIndex last = SimpleStateMachineStorage.getTermIndexFromSnapshotFile(path.toFile());
        FederationModel loaded;
        try {
            loaded = CommandCodec.decodeSnapshot(bytes);
        } catch (RuntimeException e) {
            throw refuseSnapshot(path, "it cannot be decoded: " + e.getMessage(), e);
        }
        synchronized (applyLock) {
            if (last.getIndex() <= getLastAppliedTermIndex().getIndex()) {
                log.debug("[{}] Snapshot {} is not newer than applied {}", peerId, last, getLastAppliedTermIndex());
                return;
            }
            model = loaded;
            updateLastAppliedTermIndex(last);
        }
        recordUpdate(loaded);
        releaseWaiters();
        log.info("[{}] Loaded federation snapshot {} ({} clusters)", peerId, last, loaded.state().clusters().size());
        onChange.accept(loaded.state());
    }

    /**
     * A corrupt snapshot is never loaded: applying the log on top of a wrong base would diverge
     * silently. The peer refuses to start (or to finish an install) and says how to recover.
     */
    private IOException refuseSnapshot(Path path, String reason, Throwable cause) {
        metrics.snapshotRejected();
        String message = "federation snapshot " + path + " refused: " + reason + " (expected: an intact snapshot; "
                + "stop this peer, delete its data dir so it rejoins empty, and the leader will send it a fresh "
                + "snapshot)";
        log.error("[{}] {}", peerId, message);
        return new IOException(message, cause);
    }

    static String decodeReply(Message message) {
        return message.getContent().toString(StandardCharsets.UTF_8);
    }
}
