package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.FederatedState;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.client.retry.RequestTypeDependentRetryPolicy;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.grpc.GrpcTlsConfig;
import org.apache.ratis.proto.RaftProtos.RaftClientRequestProto.TypeCase;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.retry.RetryPolicy;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.DivisionInfo;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations;
import org.apache.ratis.util.ExitUtils;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This controller's peer in the federation's Raft group: a Ratis server (gRPC) holding the
 * replicated {@link FederatedState}, plus a client that sends this controller's commands to
 * the leader.
 *
 * <p>Contract:
 * <ul>
 *   <li>{@link #start} starts the server and returns without waiting for a leader; use
 *       {@link #hasLeader()} or {@link #status()} for readiness.
 *   <li>{@link #submit} completes with the command's log index once it is committed and applied
 *       on the leader, or exceptionally with a {@link FederationException} that says why:
 *       rejected (invalid for the current state; nothing changed), or not committed within
 *       {@link FederationOptions#requestTimeout()} (e.g. no quorum; the outcome is then unknown
 *       and resubmitting is safe). Commands from one node are applied in submission order.
 *   <li>{@link #state()} is this replica's latest applied value; it lags the leader by at most
 *       the replication delay, and keeps its last value when the quorum is lost. Its
 *       {@code appliedIndex} is the log index of the last applied command (the index
 *       {@code submit} returned), so "my command is visible here" is
 *       {@code state().appliedIndex() >= index}; Raft's own entries (configuration, metadata)
 *       also take log indexes, so {@link FederationStatus#appliedIndex()} may be higher.
 *   <li>Listeners run on one dedicated thread per node, never under a lock, coalesced (latest
 *       value wins, applied index strictly increasing per listener).
 * </ul>
 * Thread-safe. {@link #close()} stops the server, client and notifier threads.
 */
public final class FederationNode implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(FederationNode.class);

    /** One group for the whole mesh; its id is fixed so every peer derives the same one. */
    static final RaftGroupId GROUP_ID =
            RaftGroupId.valueOf(UUID.nameUUIDFromBytes("isthmus-federation".getBytes(StandardCharsets.UTF_8)));

    static {
        // Ratis calls System.exit when a gRPC server fails to bind, and its ExitUtils installs a
        // JVM-wide uncaught-exception handler that exits too. A library must not end the
        // controller process: failures surface as exceptions from start() and as a peer without
        // a leader. Whatever handler the application had is put back.
        Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
        ExitUtils.disableSystemExit();
        ExitUtils.setTerminateOnUncaughtException(false);
        Thread.setDefaultUncaughtExceptionHandler(previous);
    }

    /**
     * The largest encoded command accepted. Ratis asserts that one log entry fits its appender
     * buffer (7 MiB here; Ratis requires it to stay below the 8 MiB log write buffer); a bigger
     * entry would break replication, so it is refused up front. About 250,000 endpoints in one
     * cluster state in log format 2 (25 bytes each in the 100,000-endpoint benchmark), about
     * 18,000 in format 1 (JSON).
     */
    static final int MAX_COMMAND_BYTES = 6 * 1024 * 1024;
    private static final SizeInBytes APPENDER_BUFFER_BYTES = SizeInBytes.valueOf("7MB");

    /**
     * Group commit bounds: a batch entry stays far below {@link #MAX_COMMAND_BYTES} so it never
     * holds up the pipeline behind it, and two entries in flight let the next batch fill while
     * the previous one commits.
     */
    static final int GROUP_COMMIT_MAX_COMMANDS = 1024;
    static final int GROUP_COMMIT_MAX_BYTES = 1024 * 1024;
    static final int GROUP_COMMIT_IN_FLIGHT = 2;

    private static final TimeDuration RETRY_SLEEP = TimeDuration.valueOf(100, TimeUnit.MILLISECONDS);

    private final FederationOptions options;
    private final RaftServer server;
    private final RaftServer.Division division;
    private final FederationStateMachine stateMachine;
    private final StateNotifier notifier;
    private final FederationMetrics metrics;
    private final ScheduledThreadPoolExecutor callbackExecutor;
    private final GroupCommit groupCommit;
    private final AtomicReference<RaftClient> client = new AtomicReference<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Set<CompletableFuture<Long>> pending = ConcurrentHashMap.newKeySet();

    private FederationNode(FederationOptions options, RaftServer server,
            FederationStateMachine stateMachine, StateNotifier notifier, FederationMetrics metrics)
            throws IOException {
        this.options = options;
        this.server = server;
        this.division = server.getDivision(GROUP_ID);
        this.stateMachine = stateMachine;
        this.notifier = notifier;
        this.metrics = metrics;
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, runnable -> {
            Thread thread = new Thread(runnable, "federation-client-" + options.peerId());
            thread.setDaemon(true);
            return thread;
        });
        // One timeout timer per submit: at thousands of submits per second, timers of completed
        // requests must leave the queue at once, and none may hold up close().
        executor.setRemoveOnCancelPolicy(true);
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        this.callbackExecutor = executor;
        this.groupCommit = new GroupCommit(this::submitEncoded, executor, GROUP_COMMIT_MAX_COMMANDS,
                GROUP_COMMIT_MAX_BYTES, GROUP_COMMIT_IN_FLIGHT, options.tuning().logFormat());
        this.client.set(newClient());
    }

    /**
     * Starts this peer's Raft server on {@link FederationOptions#selfAddress()}, recovering its
     * log and snapshot from {@link FederationOptions#dataDir()} when present.
     *
     * @throws IOException if the server cannot start (port taken, unreadable storage); nothing is
     *                     left running
     */
    public static FederationNode start(FederationOptions options) throws IOException {
        requireNonNull(options, "options");
        List<RaftPeer> peers = optionPeers(options);
        // A joining peer starts with no configuration, so it never campaigns on its own: the
        // leader's setConfiguration brings it in and sends it the log (or a snapshot).
        RaftGroup group = options.join() ? RaftGroup.valueOf(GROUP_ID) : RaftGroup.valueOf(GROUP_ID, peers);
        FederationMetrics metrics = new FederationMetrics(options.peerId());
        AtomicReference<FederationStateMachine> machineRef = new AtomicReference<>();
        StateNotifier notifier = new StateNotifier(options.peerId(), () -> machineRef.get().state());
        FederationStateMachine machine = new FederationStateMachine(options.peerId(), metrics, notifier::publish,
                options.tuning().logFormat());
        machineRef.set(machine);
        RaftServer server = null;
        try {
            server = RaftServer.newBuilder()
                    .setServerId(RaftPeerId.valueOf(options.peerId()))
                    .setGroup(group)
                    .setStateMachine(machine)
                    .setProperties(serverProperties(options))
                    .setParameters(tlsParameters(options))
                    .setOption(RaftStorage.StartupOption.RECOVER)
                    .build();
            server.start();
            FederationNode node = new FederationNode(options, server, machine, notifier, metrics);
            metrics.bindGauges(node);
            log.info("[{}] Federation peer started on {} with peers {}", options.peerId(),
                    options.selfAddress(), options.peers().keySet());
            return node;
        } catch (IOException | RuntimeException e) {
            // A half-started Ratis server keeps non-daemon threads alive: stop it before failing.
            if (server != null) {
                try {
                    server.close();
                } catch (IOException | RuntimeException closeFailure) {
                    e.addSuppressed(closeFailure);
                }
            }
            notifier.close();
            metrics.close();
            throw new IOException("federation peer '" + options.peerId() + "' failed to start on "
                    + options.selfAddress() + " with data dir " + options.dataDir() + ": " + e.getMessage(), e);
        }
    }

    static RaftProperties serverProperties(FederationOptions options) {
        RaftProperties p = new RaftProperties();
        // Peers and clients speak plain Ratis gRPC either way; PromptCommitGrpc only changes when
        // this peer's leader sends a follower an empty AppendEntries.
        RaftConfigKeys.Rpc.setType(p, options.tuning().promptCommit() ? new PromptCommitGrpc() : SupportedRpcType.GRPC);
        GrpcConfigKeys.Server.setHost(p, options.selfAddress().getHostString());
        GrpcConfigKeys.Server.setPort(p, options.selfAddress().getPort());
        RaftServerConfigKeys.setStorageDir(p, List.of(options.dataDir().toFile()));

        RaftServerConfigKeys.Rpc.setTimeoutMin(p, millis(options.electionTimeoutMin()));
        RaftServerConfigKeys.Rpc.setTimeoutMax(p, millis(options.electionTimeoutMax()));
        RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMin(p, millis(options.electionTimeoutMin()));
        RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMax(p, millis(options.electionTimeoutMax()));
        // A leader cut off from the majority steps down soon, so hasLeader() turns false on it too.
        RaftServerConfigKeys.LeaderElection.setLeaderStepDownWaitTime(p,
                millis(options.electionTimeoutMax().multipliedBy(2)));
        RaftTuning tuning = options.tuning();
        RaftServerConfigKeys.Log.Appender.setWaitTimeMin(p, millis(tuning.appenderWaitMin()));
        RaftServerConfigKeys.Log.setForceSyncNum(p, tuning.forceSyncNum());
        RaftServerConfigKeys.Log.setUnsafeFlushEnabled(p, tuning.unsafeFlush());
        RaftServerConfigKeys.Log.setAsyncFlushEnabled(p, tuning.asyncFlush());
        RaftServerConfigKeys.Log.setLogMetadataEnabled(p, tuning.logMetadata());
        GrpcConfigKeys.Server.setLeaderOutstandingAppendsMax(p, tuning.outstandingAppends());
        GrpcConfigKeys.setFlowControlWindow(p, SizeInBytes.valueOf(tuning.flowControlWindowBytes()));

        // Ratis' default, relied on: a peer stopped in order snapshots what it applied, so it serves all of
        // it after a restart even before a leader tells it the commit index (log-metadata is off).
        RaftServerConfigKeys.Snapshot.setTriggerWhenStopEnabled(p, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(p, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(p, options.snapshotThreshold());
        RaftServerConfigKeys.Snapshot.setCreationGap(p, options.snapshotThreshold());
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(p, 2);
        RaftServerConfigKeys.Log.setSegmentSizeMax(p, SizeInBytes.valueOf(options.logSegmentSizeBytes()));
        RaftServerConfigKeys.Log.setPreallocatedSize(p,
                SizeInBytes.valueOf(Math.min(options.logSegmentSizeBytes(), 4L * 1024 * 1024)));
        RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(p, true);
        RaftServerConfigKeys.Log.setPurgeGap(p, (int) Math.min(Integer.MAX_VALUE, options.snapshotThreshold()));
        RaftServerConfigKeys.Log.Appender.setInstallSnapshotEnabled(p, true);
        RaftServerConfigKeys.Log.Appender.setBufferByteLimit(p, APPENDER_BUFFER_BYTES);
        // Read-only requests (readLinearizable) confirm leadership with a heartbeat round (read
        // index) before the leader answers, so a deposed leader cannot answer from old state.
        RaftServerConfigKeys.Read.setOption(p, RaftServerConfigKeys.Read.Option.LINEARIZABLE);
        return p;
    }

    /** The same mesh identity on every gRPC channel Ratis opens: peer, client and admin. */
    static Parameters tlsParameters(FederationOptions options) {
        Parameters parameters = new Parameters();
        if (options.tls() != null) {
            GrpcTlsConfig tls = new GrpcTlsConfig(options.tls().keyManager(), options.tls().trustManager(), true);
            GrpcConfigKeys.Server.setTlsConf(parameters, tls);
            GrpcConfigKeys.Client.setTlsConf(parameters, tls);
            GrpcConfigKeys.Admin.setTlsConf(parameters, tls);
        }
        return parameters;
    }

    private RaftClient newClient() {
        RaftProperties p = new RaftProperties();
        RaftConfigKeys.Rpc.setType(p, SupportedRpcType.GRPC);
        // One attempt may take the whole budget: a slow but live leader (cold JVM, busy cores)
        // must not be abandoned mid-request, which resets the client's stream and loses the reply.
        // Dead peers fail fast (connection refused) and a leader cut off from the majority steps
        // down and answers NotLeader, so failover does not need a short attempt timeout.
        RaftClientConfigKeys.Rpc.setRequestTimeout(p, millis(options.requestTimeout()));
        RaftClientConfigKeys.Async.setOutstandingRequestsMax(p, options.tuning().clientOutstandingRequests());
        GrpcConfigKeys.setFlowControlWindow(p, SizeInBytes.valueOf(options.tuning().flowControlWindowBytes()));
        // The dummy watch request would be the first of the ordered stream; we do not need it.
        RaftClientConfigKeys.Async.Experimental.setSendDummyRequest(p, false);
        RequestTypeDependentRetryPolicy.Builder retry = RequestTypeDependentRetryPolicy.newBuilder();
        RetryPolicy sleepy = RetryPolicies.retryForeverWithSleep(RETRY_SLEEP);
        for (TypeCase type : TypeCase.values()) {
            // Types left out would retry forever without sleeping, spinning a core while no leader exists.
            retry.setRetryPolicy(type, sleepy);
            retry.setTimeout(type, millis(options.requestTimeout()));
        }
        return RaftClient.newBuilder()
                .setProperties(p)
                .setParameters(tlsParameters(options))
                .setRaftGroup(currentGroup())
                .setClientId(ClientId.randomId())
                .setLeaderId(leaderOrSelf())
                .setRetryPolicy(retry.build())
                .build();
    }

    /**
     * Where a new client sends its first request: the leader this peer knows, so a follower's
     * first submit does not take a NotLeader round trip (logged as an error by Ratis); itself
     * otherwise, and the reply names the leader.
     */
    private RaftPeerId leaderOrSelf() {
        RaftPeerId leader = division.getInfo().getLeaderId();
        return leader != null ? leader : RaftPeerId.valueOf(options.peerId());
    }

    /**
     * Replicates {@code command}. See the class contract for how the future completes.
     */
    public CompletableFuture<Long> submit(FederationCommand command) {
        requireNonNull(command, "command");
        return submitEncoded(command, CommandCodec.encode(command, options.tuning().logFormat()));
    }

    /**
     * Replicates {@code command} with group commit: commands submitted here while earlier ones
     * are in flight share one log entry ({@link ApplyBatch}, at most
     * {@value #GROUP_COMMIT_MAX_COMMANDS} commands and {@value #GROUP_COMMIT_MAX_BYTES} bytes, at
     * most {@value #GROUP_COMMIT_IN_FLIGHT} entries outstanding per node), so many small deltas
     * cost one Raft round trip, one fsync per peer and one state transition. Same contract as
     * {@link #submit}, in submission order, except that a batch is committed or rejected whole:
     * when it fails, every command in it fails with the batch's reason (which names the command
     * that did not fit) and none of it is applied; resubmitting is safe.
     */
    public CompletableFuture<Long> submitCoalesced(FederationCommand command) {
        requireNonNull(command, "command");
        if (closed.get()) {
            return CompletableFuture.failedFuture(new FederationException(
                    "federation peer '" + options.peerId() + "' is closed; cannot submit " + describe(command)));
        }
        return groupCommit.submit(command);
    }

    /** Group commit's figures since start: log entries sent and the commands they carried. */
    long[] groupCommitCounts() {
        return groupCommit.counts();
    }

    private CompletableFuture<Long> submitEncoded(FederationCommand command, byte[] payload) {
        CompletableFuture<Long> result = new CompletableFuture<>();
        if (closed.get()) {
            result.completeExceptionally(new FederationException(
                    "federation peer '" + options.peerId() + "' is closed; cannot submit " + describe(command)));
            return result;
        }
        pending.add(result);
        result.whenComplete((index, error) -> pending.remove(result));
        if (payload.length > MAX_COMMAND_BYTES) {
            result.completeExceptionally(new FederationException(describe(command) + " encodes to " + payload.length
                    + " bytes (expected: at most " + MAX_COMMAND_BYTES + "); the federation replicates one cluster's "
                    + "state as one log entry, so a cluster this large is not supported yet"));
            return result;
        }
        RaftClient current = client.get();
        CompletableFuture<RaftClientReply> sent;
        try {
            sent = current.async().send(Message.valueOf(UnsafeByteOperations.unsafeWrap(payload)));
        } catch (RuntimeException e) {
            replaceClient(current);
            result.completeExceptionally(new FederationException("could not send " + describe(command) + ": " + e, e));
            return result;
        }
        sent.whenCompleteAsync((reply, error) -> complete(result, command, current, reply, error), callbackExecutor);
        ScheduledFuture<?> timer = callbackExecutor.schedule(() -> {
            if (!result.isDone()) {
                result.completeExceptionally(new FederationException(describe(command) + " was not committed within "
                        + options.requestTimeout() + " (" + quorumHint() + "); the outcome is unknown, "
                        + "resubmit once the federation has a leader"));
            }
        }, options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS);
        result.whenComplete((index, error) -> timer.cancel(false));
        return result;
    }

    private void complete(CompletableFuture<Long> result, FederationCommand command, RaftClient used,
            RaftClientReply reply, Throwable error) {
        if (error != null) {
            Throwable cause = unwrap(error);
            if (cause instanceof StateMachineException) {
                result.completeExceptionally(new FederationException(
                        describe(command) + " was rejected by the leader: " + cause.getMessage(), cause));
                return;
            }
            // A failed request poisons the client's ordered stream: every later one would fail too.
            replaceClient(used);
            result.completeExceptionally(new FederationException(describe(command) + " was not committed within "
                    + options.requestTimeout() + " (" + quorumHint() + "); the outcome is unknown, resubmit "
                    + "once the federation has a leader. Cause: " + cause, cause));
            return;
        }
        if (!reply.isSuccess()) {
            result.completeExceptionally(new FederationException(
                    describe(command) + " failed: " + reply.getException(), reply.getException()));
            return;
        }
        String text = FederationStateMachine.decodeReply(reply.getMessage());
        String[] parts = text.split(":", 4);
        try {
            long index = Long.parseLong(parts[1]);
            if (FederationStateMachine.REPLY_OK.equals(parts[0])) {
                result.complete(index);
            } else {
                result.completeExceptionally(new FederationException(describe(command) + " was rejected at log index "
                        + index + " (" + parts[2] + "): " + parts[3]));
            }
        } catch (RuntimeException e) {
            result.completeExceptionally(new FederationException(
                    describe(command) + " got an unexpected reply from the state machine: '" + text + "'", e));
        }
    }

    private void replaceClient(RaftClient failed) {
        if (closed.get()) {
            return;
        }
        RaftClient fresh = newClient();
        if (client.compareAndSet(failed, fresh)) {
            closeQuietly(failed);
        } else {
            closeQuietly(fresh);
        }
    }

    private String quorumHint() {
        try {
            FederationStatus status = status();
            return status.leaderId() == null
                    ? "no leader: fewer than a majority of " + status.members() + " may be reachable from '"
                            + status.peerId() + "'"
                    : "leader '" + status.leaderId() + "' in term " + status.term() + " could not reach a majority of "
                            + status.members();
        } catch (RuntimeException e) {
            return "status unavailable: " + e.getMessage();
        }
    }

    private static String describe(FederationCommand command) {
        return command.getClass().getSimpleName() + "(" + command.clusterName() + ")";
    }

    private static Throwable unwrap(Throwable error) {
        Throwable t = error;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** This replica's latest applied value; never blocks. */
    public FederatedState state() {
        return stateMachine.state();
    }

    /**
     * The Istio configuration each cluster has published ({@link PublishMeshConfig}), as this
     * peer last applied it: cluster → its accepted objects. Replicated and snapshotted with the
     * state; read it when a {@link #subscribe} listener fires (every publish advances the state's
     * applied index). Merge with {@code MeshConfig.merge}.
     */
    public java.util.Map<String, java.util.List<io.isthmus.controller.config.ConfigResource>> meshConfig() {
        return stateMachine.meshConfig();
    }

    /**
     * Calls {@code listener} with the current value and then after applies (coalesced, on this
     * node's notifier thread). A listener that throws is logged and still called later.
     */
    public void subscribe(Consumer<FederatedState> listener) {
        notifier.subscribe(requireNonNull(listener, "listener"));
    }

    public FederationStatus status() {
        DivisionInfo info = division.getInfo();
        RaftPeerId leader = info.getLeaderId();
        java.util.Map<String, String> addresses = new java.util.TreeMap<>();
        division.getGroup().getPeers().forEach(peer -> addresses.put(peer.getId().toString(), peer.getAddress()));
        java.time.Instant now = java.time.Instant.now();
        java.util.Map<String, Long> ages = new java.util.TreeMap<>();
        stateMachine.lastUpdates().forEach((cluster, at) ->
                ages.put(cluster, Math.max(0, Duration.between(at, now).toMillis())));
        return new FederationStatus(
                options.peerId(),
                leader == null ? null : leader.toString(),
                info.getCurrentTerm(),
                division.getRaftLog().getLastCommittedIndex(),
                info.getLastAppliedIndex(),
                List.copyOf(addresses.keySet()),
                !hasLeader(),
                addresses,
                stateMachine.stateHash(),
                ages);
    }

    /** SHA-256 of this replica's current state (see {@link FederationStatus#stateHash()}). */
    public String stateHash() {
        return stateMachine.stateHash();
    }

    /**
     * A linearizable read for decisions (which CA intermediate is current, whether a cluster is
     * registered): asks the leader for its applied index after it confirmed its leadership
     * (Ratis read index), waits until this replica has applied that far, and returns this
     * replica's state, which then reflects every write acknowledged before the call. Fails with a
     * {@link FederationException} after {@link FederationOptions#requestTimeout()} without a
     * quorum. Serving paths use {@link #state()} instead: local, never blocking, possibly stale.
     */
    public CompletableFuture<FederatedState> readLinearizable() {
        CompletableFuture<FederatedState> result = new CompletableFuture<>();
        if (closed.get()) {
            result.completeExceptionally(new FederationException(
                    "federation peer '" + options.peerId() + "' is closed; cannot read"));
            return result;
        }
        RaftClient current = client.get();
        CompletableFuture<RaftClientReply> sent;
        try {
            sent = current.async().sendReadOnly(Message.valueOf(FederationStateMachine.QUERY_APPLIED_INDEX));
        } catch (RuntimeException e) {
            replaceClient(current);
            result.completeExceptionally(new FederationException("could not send a linearizable read: " + e, e));
            return result;
        }
        sent.whenCompleteAsync((reply, error) -> {
            if (error != null || !reply.isSuccess()) {
                Throwable cause = error != null ? unwrap(error) : reply.getException();
                if (error != null) {
                    replaceClient(current);
                }
                result.completeExceptionally(new FederationException("linearizable read failed ("
                        + quorumHint() + "); retry once the federation has a leader. Cause: " + cause, cause));
                return;
            }
            long index;
            try {
                index = Long.parseLong(FederationStateMachine.decodeReply(reply.getMessage()));
            } catch (NumberFormatException e) {
                result.completeExceptionally(new FederationException("linearizable read got '"
                        + FederationStateMachine.decodeReply(reply.getMessage()) + "' (expected: a log index)", e));
                return;
            }
            stateMachine.awaitApplied(index).thenRunAsync(() -> result.complete(state()), callbackExecutor);
        }, callbackExecutor);
        ScheduledFuture<?> timer = callbackExecutor.schedule(() -> result.completeExceptionally(
                new FederationException("linearizable read did not complete within " + options.requestTimeout()
                        + " (" + quorumHint() + ")")), options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS);
        result.whenComplete((value, error) -> timer.cancel(false));
        return result;
    }

    /**
     * Adds peer {@code id} at {@code address} to the group (Ratis setConfiguration, mode ADD) and
     * returns once the new configuration is committed, which includes the new peer having caught
     * up with the log. Start the new peer first with {@link FederationOptions#joining()}.
     * Idempotent: adding a member again at the same address changes nothing. Blocks the caller
     * up to {@link FederationOptions#requestTimeout()} plus the catch-up time.
     *
     * @return the members after the change, sorted
     * @throws FederationException naming the reason (already a member at another address, no
     *                             quorum, the change was refused)
     */
    public List<String> addMember(String id, java.net.InetSocketAddress address) {
        requireNonNull(id, "id");
        requireNonNull(address, "address");
        if (id.isEmpty()) {
            throw new IllegalArgumentException("id: '' (expected: the joining cluster's name)");
        }
        String wanted = address.getHostString() + ':' + address.getPort();
        RaftPeer existing = division.getGroup().getPeer(RaftPeerId.valueOf(id));
        if (existing != null) {
            if (existing.getAddress().equals(wanted)) {
                return status().members();
            }
            throw new FederationException("member '" + id + "' is already in the group at " + existing.getAddress()
                    + " (expected: the same address " + wanted + "); remove it first to move it");
        }
        changeMembers("add member '" + id + "' at " + wanted, org.apache.ratis.protocol.SetConfigurationRequest
                .Arguments.newBuilder()
                .setServersInNewConf(List.of(peer(id, address)))
                .setMode(org.apache.ratis.protocol.SetConfigurationRequest.Mode.ADD)
                .build());
        return status().members();
    }

    /**
     * Removes peer {@code id} from the group (compare-and-set against the configuration this peer
     * knows) and returns once the change is committed. Removing the leader makes it step down.
     * Idempotent: removing a peer that is not a member changes nothing.
     *
     * @return the members after the change, sorted
     * @throws FederationException naming the reason (last member, no quorum, concurrent change)
     */
    public List<String> removeMember(String id) {
        requireNonNull(id, "id");
        List<RaftPeer> current = List.copyOf(division.getGroup().getPeers());
        if (current.stream().noneMatch(p -> p.getId().toString().equals(id))) {
            return status().members();
        }
        List<RaftPeer> remaining = current.stream().filter(p -> !p.getId().toString().equals(id)).toList();
        if (remaining.isEmpty()) {
            throw new FederationException("cannot remove '" + id + "': it is the last member of the group "
                    + "(expected: at least one member to remain)");
        }
        changeMembers("remove member '" + id + "'", org.apache.ratis.protocol.SetConfigurationRequest
                .Arguments.newBuilder()
                .setServersInCurrentConf(current)
                .setServersInNewConf(remaining)
                .setMode(org.apache.ratis.protocol.SetConfigurationRequest.Mode.COMPARE_AND_SET)
                .build());
        // The local view follows once this peer applies the new configuration.
        return remaining.stream().map(p -> p.getId().toString()).sorted().toList();
    }

    private void changeMembers(String what, org.apache.ratis.protocol.SetConfigurationRequest.Arguments arguments) {
        if (closed.get()) {
            throw new FederationException("federation peer '" + options.peerId() + "' is closed; cannot " + what);
        }
        RaftClientReply reply;
        try (RaftClient admin = newClient()) {
            reply = admin.admin().setConfiguration(arguments);
        } catch (IOException | RuntimeException e) {
            throw new FederationException("could not " + what + " (" + quorumHint() + "): " + e.getMessage(), e);
        }
        if (!reply.isSuccess()) {
            throw new FederationException("could not " + what + ": " + reply.getException(), reply.getException());
        }
        log.info("[{}] Federation membership change committed: {}", options.peerId(), what);
    }

    /**
     * True when this peer is running and follows a leader, or leads and has committed an entry
     * in its term (so it can serve writes).
     */
    public boolean hasLeader() {
        DivisionInfo info = division.getInfo();
        if (!info.isAlive() || info.getLeaderId() == null) {
            return false;
        }
        return !info.isLeader() || info.isLeaderReady();
    }

    public String peerId() {
        return options.peerId();
    }

    /**
     * Whether {@code peerId} is in the group's current configuration: a primary cluster, whose
     * own controller publishes its state (peer ids are cluster names).
     */
    public boolean isMember(String peerId) {
        requireNonNull(peerId, "peerId");
        return division.getGroup().getPeers().stream().anyMatch(peer -> peer.getId().toString().equals(peerId));
    }

    FederationOptions options() {
        return options;
    }

    RaftServer.Division division() {
        return division;
    }

    /**
     * The configuration this peer knows, or the configured peers while it knows none (a joining
     * peer before it was added), so a client can still find the leader.
     */
    RaftGroup currentGroup() {
        RaftGroup known = division.getGroup();
        return known.getPeers().isEmpty() ? RaftGroup.valueOf(GROUP_ID, optionPeers(options)) : known;
    }

    private static List<RaftPeer> optionPeers(FederationOptions options) {
        return options.peers().entrySet().stream()
                .sorted(java.util.Map.Entry.comparingByKey())
                .map(e -> peer(e.getKey(), e.getValue()))
                .toList();
    }

    private static RaftPeer peer(String id, java.net.InetSocketAddress address) {
        return RaftPeer.newBuilder().setId(id).setAddress(address.getHostString() + ':' + address.getPort()).build();
    }

    RaftGroup group() {
        return currentGroup();
    }

    FederationStateMachine stateMachine() {
        return stateMachine;
    }

    FederationMetrics metrics() {
        return metrics;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        closeQuietly(client.getAndSet(null));
        groupCommit.failQueued("was not sent: federation peer '" + options.peerId() + "' closed");
        for (CompletableFuture<Long> future : pending) {
            future.completeExceptionally(new FederationException("federation peer '" + options.peerId()
                    + "' closed before the command completed; the outcome is unknown"));
        }
        try {
            server.close();
        } catch (IOException | RuntimeException e) {
            log.warn("[{}] Closing the federation server failed", options.peerId(), e);
        }
        notifier.close();
        metrics.close();
        callbackExecutor.shutdown();
        try {
            if (!callbackExecutor.awaitTermination(5, TimeUnit.SECONDS)) {
                callbackExecutor.shutdownNow();
            }
        } catch (InterruptedException e) {
            callbackExecutor.shutdownNow();
            Thread.currentThread().interrupt();
        }
        log.info("[{}] Federation peer closed", options.peerId());
    }

    private void closeQuietly(RaftClient raftClient) {
        if (raftClient == null) {
            return;
        }
        try {
            raftClient.close();
        } catch (IOException | RuntimeException e) {
            log.debug("[{}] Closing a federation client failed", options.peerId(), e);
        }
    }

    private static TimeDuration millis(Duration duration) {
        return TimeDuration.valueOf(duration.toMillis(), TimeUnit.MILLISECONDS);
    }
}
