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

    private final String peerId;
    private final FederationMetrics metrics;
    private final Consumer<FederatedState> onChange;
    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    /** Guards the pair (model, last applied term-index) so a snapshot never mixes two applies. */
    private final Object applyLock = new Object();
    private volatile FederationModel model = FederationModel.EMPTY;

    FederationStateMachine(String peerId, FederationMetrics metrics, Consumer<FederatedState> onChange) {
        this.peerId = requireNonNull(peerId, "peerId");
        this.metrics = requireNonNull(metrics, "metrics");
        this.onChange = requireNonNull(onChange, "onChange");
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
            CommandCodec.decode(request.getMessage().getContent().toByteArray());
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
            result = transition(current, entry.getStateMachineLogEntry().getLogData().toByteArray(), index);
            model = result.model();
            updateLastAppliedTermIndex(termIndex);
        }
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
        byte[] bytes = CommandCodec.encodeSnapshot(snapshotModel);
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
        log.info("[{}] Took federation snapshot at {} ({} bytes)", peerId, last, bytes.length);
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
            throw new IOException("snapshot " + path + " has no checksum file " + path + MD5FileUtil.MD5_SUFFIX
                    + " (expected: written together; restore it or remove the snapshot to replay the log)");
        }
        MD5FileUtil.verifySavedMD5(path.toFile(), md5);
        TermIndex last = SimpleStateMachineStorage.getTermIndexFromSnapshotFile(path.toFile());
        FederationModel loaded;
        try {
            loaded = CommandCodec.decodeSnapshot(Files.readAllBytes(path));
        } catch (RuntimeException e) {
            throw new IOException("snapshot " + path + " is unreadable: " + e.getMessage(), e);
        }
        synchronized (applyLock) {
            if (last.getIndex() <= getLastAppliedTermIndex().getIndex()) {
                log.debug("[{}] Snapshot {} is not newer than applied {}", peerId, last, getLastAppliedTermIndex());
                return;
            }
            model = loaded;
            updateLastAppliedTermIndex(last);
        }
        log.info("[{}] Loaded federation snapshot {} ({} clusters)", peerId, last, loaded.state().clusters().size());
        onChange.accept(loaded.state());
    }

    static String decodeReply(Message message) {
        return message.getContent().toString(StandardCharsets.UTF_8);
    }
}
