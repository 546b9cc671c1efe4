package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.publish;
import static io.isthmus.controller.federation.Fixtures.register;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the {@link RaftTuning} keys do to a real peer's log, and how bad values are refused. */
class RaftTuningTest {

    static {
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.ratis", "warn");
    }

    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    @Test
    void aCommitTakesOneLogEntryByDefaultAndTwoWithLogMetadata() throws Exception {
        assertThat(RaftTuning.DEFAULT.logMetadata()).isFalse();
        assertThat(RaftTuning.RATIS_DEFAULTS.logMetadata()).isTrue();

        assertThat(logEntriesForCommits("plain", RaftTuning.DEFAULT, 5)).isEqualTo(5);
        // The leader appends (fsyncs, replicates) a metadata entry with the new commit index before
        // it applies and replies, so the count is exact once submit returns.
        assertThat(logEntriesForCommits("metadata",
                RaftTuning.DEFAULT.withOverrides(Map.of("log-metadata", "true")), 5)).isEqualTo(10);
    }

    /**
     * A peer stopped in order snapshots what it applied (Ratis' snapshot on stop), so without
     * metadata entries it still serves everything it had, even when it comes back to no quorum and
     * cannot learn the commit index from a leader.
     */
    @Test
    void aPeerStoppedAndRestartedWithoutAQuorumServesWhatItHadApplied() throws Exception {
        try (PeerGroup group = new PeerGroup(dir.resolve("restart")).customize(o -> o.withTuning(RaftTuning.DEFAULT))) {
            group.start("a", "b", "c");
            FederationNode follower = group.follower();
            follower.submit(register("a", "net1")).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            long index = 0;
            for (int i = 1; i <= 3; i++) {
                index = follower.submit(publish("a", "net1", i)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            }
            long last = index;
            await().atMost(WAIT).until(() -> group.live().stream().allMatch(n -> n.state().appliedIndex() >= last));
            String id = follower.peerId();
            String hash = follower.status().stateHash();
            group.stopAll();

            FederationNode alone = group.restart(id);

            assertThat(alone.hasLeader()).isFalse();
            assertThat(alone.state().appliedIndex()).isEqualTo(last);
            assertThat(alone.state().clusterStates().get("a").endpoints()).hasSize(3);
            assertThat(alone.status().stateHash()).isEqualTo(hash);
        }
    }

    /**
     * Without metadata entries a follower learns that a lone commit is committed only from the
     * next AppendEntries: Ratis' own appender waits for the heartbeat (half the minimum election
     * timeout, 500 ms here); {@code prompt-commit} sends the commit index at once.
     */
    @Test
    void aFollowerAppliesALoneCommitAtOnceWithPromptCommitAndAtTheHeartbeatWithout() throws Exception {
        assertThat(RaftTuning.DEFAULT.promptCommit()).isTrue();
        assertThat(RaftTuning.RATIS_DEFAULTS.promptCommit()).isFalse();
        RaftTuning noMetadata = RaftTuning.DEFAULT;
        assertThat(noMetadata.logMetadata()).isFalse();

        // Two groups at once: the heartbeat wait dominates, and sharing the cores only lengthens
        // lags, which cannot turn the prompt group's short one long or the other's long one short.
        CompletableFuture<Long> ratisLag = CompletableFuture.supplyAsync(() ->
                medianApplyLagMillis("ratis", noMetadata.withOverrides(Map.of("prompt-commit", "false"))),
                runnable -> new Thread(runnable, "ratis-arm").start());
        long prompt = medianApplyLagMillis("prompt", noMetadata);
        long ratis = ratisLag.get(2 * WAIT.toSeconds(), TimeUnit.SECONDS);

        assertThat(prompt).as("median ms from acknowledgement to applied on the submitting follower, prompt-commit")
                .isLessThan(200);
        assertThat(ratis).as("the same with Ratis' own appender: the next heartbeat").isGreaterThan(300);
    }

    /** Submits lone commits through a follower of a group of three and waits for each to be applied there. */
    private long medianApplyLagMillis(String name, RaftTuning tuning) {
        try (PeerGroup group = new PeerGroup(dir.resolve(name)).customize(o -> o.withTuning(tuning))) {
            group.start("a", "b", "c");
            FederationNode follower = group.follower();
            follower.submit(register("a", "net1")).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            long[] lags = new long[5];
            for (int i = 0; i < lags.length; i++) {
                long index = follower.submit(publish("a", "net1", i + 1)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
                long acknowledged = System.nanoTime();
                await().atMost(WAIT).pollInterval(Duration.ofMillis(1)).until(() -> follower.state().appliedIndex() >= index);
                lags[i] = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - acknowledged);
            }
            java.util.Arrays.sort(lags);
            return lags[lags.length / 2];
        } catch (Exception e) {
            throw new IllegalStateException("measuring the apply lag of group '" + name + "' failed", e);
        }
    }

    @Test
    void theKeyReachesRatisAndABadValueIsNamed() throws IOException {
        FederationOptions options = options("props", RaftTuning.DEFAULT);
        assertThat(RaftServerConfigKeys.Log.logMetadataEnabled(FederationNode.serverProperties(options))).isFalse();
        assertThat(RaftServerConfigKeys.Log.logMetadataEnabled(FederationNode.serverProperties(
                options.withTuning(RaftTuning.DEFAULT.withOverrides(Map.of("log-metadata", "true")))))).isTrue();
        assertThat(RaftTuning.KEYS).contains("log-metadata", "prompt-commit");
        assertThat(RaftConfigKeys.Rpc.type(FederationNode.serverProperties(options), s -> { }))
                .isInstanceOf(PromptCommitGrpc.class);
        assertThat(RaftConfigKeys.Rpc.type(FederationNode.serverProperties(
                options.withTuning(RaftTuning.DEFAULT.withOverrides(Map.of("prompt-commit", "false")))), s -> { }))
                .isEqualTo(SupportedRpcType.GRPC);
        assertThatThrownBy(() -> RaftTuning.DEFAULT.withOverrides(Map.of("log-metadata", "yes")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("raft tuning log-metadata=yes (expected: true or false)");
    }

    /** Log entries a group of one writes for {@code commits} serial commits after its first one. */
    private long logEntriesForCommits(String id, RaftTuning tuning, int commits) throws Exception {
        try (FederationNode node = FederationNode.start(options(id, tuning))) {
            await().atMost(WAIT).until(node::hasLeader);
            node.submit(register(id, "net1")).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            long before = node.division().getRaftLog().getLastEntryTermIndex().getIndex();
            for (int i = 1; i <= commits; i++) {
                node.submit(publish(id, "net1", i)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            }
            assertThat(node.state().clusterStates().get(id).endpoints()).hasSize(commits);
            return node.division().getRaftLog().getLastEntryTermIndex().getIndex() - before;
        }
    }

    private FederationOptions options(String id, RaftTuning tuning) throws IOException {
        InetSocketAddress address;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            address = new InetSocketAddress("127.0.0.1", socket.getLocalPort());
        }
        return new FederationOptions(id, Map.of(id, address), dir.resolve(id), Duration.ofMillis(300),
                Duration.ofMillis(500), Duration.ofSeconds(8), FederationOptions.DEFAULT_SNAPSHOT_THRESHOLD,
                FederationOptions.DEFAULT_LOG_SEGMENT_SIZE_BYTES).withTuning(tuning);
    }
}
