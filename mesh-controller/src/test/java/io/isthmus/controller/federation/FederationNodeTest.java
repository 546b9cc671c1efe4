package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.ROOT_A;
import static io.isthmus.controller.federation.Fixtures.ROOT_B;
import static io.isthmus.controller.federation.Fixtures.publish;
import static io.isthmus.controller.federation.Fixtures.register;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.isthmus.discovery.FederatedState;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.retry.RetryPolicies;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real Ratis servers on 127.0.0.1 with real logs on disk, several peers in this JVM. */
class FederationNodeTest {

    static {
        // Ratis logs every heartbeat decision at INFO; keep the test output readable.
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.ratis", "warn");
    }

    private static final Duration ELECTION_MIN = Duration.ofMillis(1000);
    private static final Duration ELECTION_MAX = Duration.ofMillis(1500);
    private static final Duration SOLO_ELECTION_MIN = Duration.ofMillis(150);
    private static final Duration SOLO_ELECTION_MAX = Duration.ofMillis(300);
    /** Generous: a cold JVM on a loaded 2-core machine needs seconds for the first commit. */
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(8);
    private static final Duration SHORT_REQUEST_TIMEOUT = Duration.ofSeconds(2);
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private final Map<String, FederationNode> nodes = new LinkedHashMap<>();
    private Map<String, InetSocketAddress> peers;

    @AfterEach
    void closeNodes() {
        PeerGroup.closeAll(nodes.values());
    }

    private Duration requestTimeout = REQUEST_TIMEOUT;

    private void startGroup(String... ids) throws IOException {
        startGroup(FederationOptions.DEFAULT_SNAPSHOT_THRESHOLD, FederationOptions.DEFAULT_LOG_SEGMENT_SIZE_BYTES, ids);
    }

    private void startGroup(long snapshotThreshold, long segmentSize, String... ids) throws IOException {
        peers = new LinkedHashMap<>();
        for (String id : ids) {
            peers.put(id, new InetSocketAddress("127.0.0.1", freePort()));
        }
        for (String id : ids) {
            nodes.put(id, FederationNode.start(options(id, snapshotThreshold, segmentSize)));
        }
    }

    private FederationOptions options(String id, long snapshotThreshold, long segmentSize) {
        // A group of one elects itself once its first election timeout passes; nothing can
        // compete, so it need not wait the second a group of three allows for a slow peer.
        boolean solo = peers.size() == 1;
        return new FederationOptions(id, peers, dir.resolve(id), solo ? SOLO_ELECTION_MIN : ELECTION_MIN,
                solo ? SOLO_ELECTION_MAX : ELECTION_MAX, requestTimeout, snapshotThreshold, segmentSize);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private FederationNode awaitLeader() {
        await().atMost(WAIT).until(() -> live().stream().anyMatch(n -> n.status().isLeader() && n.hasLeader()));
        return live().stream().filter(n -> n.status().isLeader()).findFirst().orElseThrow();
    }

    private List<FederationNode> live() {
        return new ArrayList<>(nodes.values());
    }

    private FederationNode follower() {
        FederationNode leader = awaitLeader();
        return live().stream().filter(n -> n != leader).findFirst().orElseThrow();
    }

    private static long commit(FederationNode node, FederationCommand command) throws Exception {
        return node.submit(command).get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    private void awaitConverged(FederatedState expected) {
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : live()) {
                assertThat(node.state()).as("state of %s", node.peerId()).isEqualTo(expected);
            }
        });
    }

    @Test
    void threePeersElectALeaderAndConvergeOnTheSameState() throws Exception {
        startGroup("east", "west", "eu");
        FederationNode leader = awaitLeader();
        FederationNode submitter = follower();

        commit(submitter, register("east", "net1"));
        commit(submitter, register("west", "net1"));
        commit(leader, register("eu", "net2"));
        commit(submitter, publish("east", "net1", 2));
        commit(submitter, publish("eu", "net2", 1));
        commit(submitter, new PublishTrustRoots("east", List.of(ROOT_A)));
        long last = commit(submitter, new PublishTrustRoots("eu", List.of(ROOT_A, ROOT_B)));

        // Acknowledged once the leader applied it; a follower applies it a moment later (and on a
        // starved machine the leadership itself may have moved), so wait for every replica.
        awaitApplied(last);
        FederatedState expected = submitter.state();
        assertThat(expected.appliedIndex()).isEqualTo(last);
        assertThat(expected.clusters()).containsOnlyKeys("east", "west", "eu");
        assertThat(expected.clusterStates()).containsOnlyKeys("east", "eu");
        assertThat(expected.trustRootsPem()).hasSize(2);
        awaitConverged(expected);
        await().atMost(WAIT).untilAsserted(() -> {
            String current = awaitLeader().peerId();
            for (FederationNode node : live()) {
                FederationStatus status = node.status();
                assertThat(status.members()).as("members seen by %s", node.peerId())
                        .containsExactly("east", "eu", "west");
                assertThat(status.leaderId()).as("leader seen by %s", node.peerId()).isEqualTo(current);
                assertThat(status.stale()).as("%s stale", node.peerId()).isFalse();
            }
        });

        // Pipelined commands from one node are applied in submission order.
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int endpoints = 1; endpoints <= 20; endpoints++) {
            futures.add(submitter.submit(publish("west", "net1", endpoints)));
        }
        List<Long> indexes = new ArrayList<>();
        for (CompletableFuture<Long> future : futures) {
            indexes.add(future.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        }
        assertThat(indexes).isSorted().doesNotHaveDuplicates();
        awaitApplied(indexes.get(indexes.size() - 1));
        assertThat(submitter.state().clusterStates().get("west").endpoints()).hasSize(20);
        awaitConverged(submitter.state());
    }

    /** Until every live replica has applied log index {@code index}. */
    private void awaitApplied(long index) {
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : live()) {
                assertThat(node.state().appliedIndex()).as("applied index of %s", node.peerId())
                        .isGreaterThanOrEqualTo(index);
            }
        });
    }

    @Test
    void aGroupOfOneServesASingleClusterMesh() throws Exception {
        startGroup("solo");
        FederationNode node = nodes.get("solo");
        await().atMost(WAIT).until(node::hasLeader);

        commit(node, register("solo", "net1"));
        long index = commit(node, publish("solo", "net1", 3));

        assertThat(node.state().appliedIndex()).isEqualTo(index);
        assertThat(node.state().clusterStates().get("solo").endpoints()).hasSize(3);
        assertThat(node.status().leaderId()).isEqualTo("solo");
        assertThat(node.status().members()).containsExactly("solo");

        // Too big for one log entry: refused before it can reach (and break) replication.
        String spec = "{\"x\":\"" + "x".repeat(FederationNode.MAX_COMMAND_BYTES) + "\"}";
        assertThat(node.submit(new PublishMeshConfig("solo", List.of(new io.isthmus.controller.config.ConfigResource(
                "DestinationRule", "networking.istio.io/v1", "sample", "big", "", spec)))))
                .failsWithin(WAIT)
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(FederationException.class)
                .withMessageContaining("(expected: at most " + FederationNode.MAX_COMMAND_BYTES + ")");
        assertThat(node.state().appliedIndex()).isEqualTo(index);
    }

    @Test
    void afterTheLeaderDiesANewOneIsElectedAndNoAcknowledgedWriteIsLost() throws Exception {
        startGroup("east", "west", "eu");
        FederationNode oldLeader = awaitLeader();
        FederationNode submitter = follower();
        List<String> acknowledged = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            commit(submitter, register("c" + i, "net1"));
            acknowledged.add("c" + i);
        }

        nodes.remove(oldLeader.peerId()).close();
        long killed = System.nanoTime();
        // The bound: a new leader within 3 s (election timeouts 1-1.5 s plus a vote round).
        await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(20))
                .until(() -> live().stream().anyMatch(n -> n.status().isLeader() && n.hasLeader()));
        Duration failover = Duration.ofNanos(System.nanoTime() - killed);
        FederationNode newLeader = awaitLeader();
        assertThat(newLeader.peerId()).isNotEqualTo(oldLeader.peerId());
        assertThat(failover).isLessThan(Duration.ofSeconds(3));

        long index = commit(submitter, register("after-failover", "net2"));
        acknowledged.add("after-failover");

        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : live()) {
                assertThat(node.state().appliedIndex()).isGreaterThanOrEqualTo(index);
                assertThat(node.state().clusters()).containsOnlyKeys(acknowledged);
            }
        });
    }

    @Test
    void aRestartedFollowerCatchesUpFromASnapshotAfterTheLogWasPurged() throws Exception {
        startGroup(5, 1024, "east", "west", "eu");
        FederationNode leader = awaitLeader();
        FederationNode lagging = follower();
        commit(leader, register("east", "net1"));
        commit(leader, publish("east", "net1", 1));
        await().atMost(WAIT).until(() -> lagging.state().equals(leader.state()));
        long appliedBeforeClose = lagging.status().appliedIndex();
        String laggingId = lagging.peerId();
        nodes.remove(laggingId).close();

        for (int endpoints = 2; endpoints <= 15; endpoints++) {
            commit(leader, publish("east", "net1", endpoints));
        }
        // The entries the lagging peer misses are gone from every live log: only a snapshot can help.
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : live()) {
                assertThat(node.division().getRaftLog().getStartIndex()).isGreaterThan(appliedBeforeClose + 1);
            }
        });

        FederationNode restarted = FederationNode.start(options(laggingId, 5, 1024));
        nodes.put(laggingId, restarted);

        await().atMost(WAIT).untilAsserted(
                () -> assertThat(restarted.state()).isEqualTo(leader.state()));
        assertThat(restarted.state().clusterStates().get("east").endpoints()).hasSize(15);
        assertThat(restarted.stateHash()).isEqualTo(leader.stateHash());
        // It got there through a snapshot from the leader, newer than anything it had on disk.
        assertThat(restarted.stateMachine().getLatestSnapshot().getIndex()).isGreaterThan(appliedBeforeClose + 1);
        long next = commit(restarted, publish("east", "net1", 16));
        awaitConverged(leader.state());
        assertThat(restarted.state().appliedIndex()).isEqualTo(next);
        // Endpoint deltas apply on top of the installed snapshot alike on every replica.
        List<io.isthmus.discovery.Endpoint> endpoints = Fixtures.state("east", "net1", 17).endpoints();
        long delta = commit(restarted, new UpdateEndpoints("east", List.of(endpoints.get(16)),
                List.of(UpdateEndpoints.EndpointRef.of(endpoints.get(0)))));
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : live()) {
                assertThat(node.state().appliedIndex()).isEqualTo(delta);
                assertThat(node.stateHash()).isEqualTo(leader.stateHash());
            }
        });
        assertThat(leader.state().clusterStates().get("east").endpoints()).hasSize(16)
                .extracting(io.isthmus.discovery.Endpoint::address).doesNotContain("127.0.1.1").contains("127.0.1.17");
    }

    @Test
    void aPeerRestartedAloneRecoversItsStateFromDisk() throws Exception {
        startGroup(3, 1024, "solo");
        FederationNode node = nodes.get("solo");
        await().atMost(WAIT).until(node::hasLeader);
        commit(node, register("solo", "net1"));
        for (int endpoints = 1; endpoints <= 10; endpoints++) {
            commit(node, publish("solo", "net1", endpoints));
        }
        FederatedState before = node.state();
        nodes.remove("solo").close();

        FederationNode restarted = FederationNode.start(options("solo", 3, 1024));
        nodes.put("solo", restarted);

        await().atMost(WAIT).untilAsserted(() -> assertThat(restarted.state()).isEqualTo(before));
    }

    @Test
    void rejectedCommandsChangeNothingAndAreCounted() throws Exception {
        SimpleMeterRegistry backend = new SimpleMeterRegistry();
        Metrics.globalRegistry.add(backend);
        try {
            rejectMalformedPayload(backend);
        } finally {
            Metrics.globalRegistry.remove(backend);
            backend.close();
        }
    }

    private void rejectMalformedPayload(SimpleMeterRegistry backend) throws Exception {
        startGroup("east", "west", "eu");
        FederationNode leader = awaitLeader();
        commit(leader, register("east", "net1"));
        awaitConverged(leader.state());
        FederatedState before = leader.state();
        double rejectedBefore = malformedCount(backend);

        RaftProperties properties = new RaftProperties();
        try (RaftClient raw = RaftClient.newBuilder().setProperties(properties).setRaftGroup(leader.group())
                .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(10,
                        org.apache.ratis.util.TimeDuration.valueOf(100, TimeUnit.MILLISECONDS)))
                .build()) {
            CompletableFuture<RaftClientReply> reply = raw.async().send(
                    Message.valueOf("{\"v\":1,\"type\":\"drop-table\",\"command\":{}}"));
            assertThatThrownBy(() -> reply.get(WAIT.toSeconds(), TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .hasCauseInstanceOf(StateMachineException.class)
                    .hasMessageContaining("command type: 'drop-table'");
        }

        assertThat(malformedCount(backend)).isEqualTo(rejectedBefore + 1);
        assertThat(leader.metrics().rejectedCount(RejectReason.MALFORMED)).isEqualTo(1);
        assertThat(backend.find("isthmus.federation.leader").tag("peer", leader.peerId()).gauge().value())
                .isEqualTo(1.0);
        // Rejected before replication: no replica applied (and counted) it.
        for (FederationNode node : live()) {
            if (node != leader) {
                assertThat(node.metrics().rejectedCount(RejectReason.MALFORMED)).isZero();
            }
            assertThat(node.state()).isEqualTo(before);
        }
        // A command that does not fit the state is replicated, then skipped and counted by every replica.
        FederationNode follower = follower();
        assertThatThrownBy(() -> commit(follower, publish("west", "net1", 1)))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(FederationException.class)
                .hasMessageContaining("PublishClusterState(west) was rejected at log index")
                .hasMessageContaining("'west' is not registered");
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : live()) {
                assertThat(node.metrics().rejectedCount(RejectReason.UNKNOWN_CLUSTER)).isEqualTo(1);
                assertThat(node.state().clusters()).isEqualTo(before.clusters());
                assertThat(node.state().clusterStates()).isEmpty();
            }
        });
        // A later valid command still commits everywhere.
        long index = commit(leader, new RemoveCluster("east"));
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : live()) {
                assertThat(node.state().appliedIndex()).isEqualTo(index);
                assertThat(node.state().clusters()).isEmpty();
            }
        });
    }

    @Test
    void withoutAQuorumSubmitFailsWithinItsTimeoutAndWorksAgainOnceAMajorityIsBack() throws Exception {
        requestTimeout = SHORT_REQUEST_TIMEOUT;
        startGroup("east", "west", "eu");
        FederationNode survivor = follower();
        commit(survivor, register("east", "net1"));
        await().atMost(WAIT).until(() -> survivor.state().clusters().containsKey("east"));
        FederatedState last = survivor.state();
        List<String> closed = new ArrayList<>();
        for (String id : List.copyOf(nodes.keySet())) {
            if (!id.equals(survivor.peerId())) {
                nodes.remove(id).close();
                closed.add(id);
            }
        }

        long started = System.nanoTime();
        CompletableFuture<Long> submit = survivor.submit(register("west", "net1"));
        assertThatThrownBy(() -> submit.get(SHORT_REQUEST_TIMEOUT.toSeconds() + 5, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(FederationException.class)
                .hasMessageContaining("RegisterCluster(west) was not committed within PT2S")
                .hasMessageContaining("resubmit");
        Duration took = Duration.ofNanos(System.nanoTime() - started);

        assertThat(took).isBetween(SHORT_REQUEST_TIMEOUT.minusMillis(100), SHORT_REQUEST_TIMEOUT.plusSeconds(2));
        assertThat(survivor.state()).isEqualTo(last);
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(survivor.hasLeader()).isFalse();
            assertThat(survivor.status().stale()).isTrue();
        });

        // The failed request must not leave the node unable to submit once a majority returns.
        String back = closed.get(0);
        nodes.put(back, FederationNode.start(options(back, FederationOptions.DEFAULT_SNAPSHOT_THRESHOLD,
                FederationOptions.DEFAULT_LOG_SEGMENT_SIZE_BYTES)));
        await().atMost(WAIT).until(survivor::hasLeader);
        await().atMost(WAIT).ignoreExceptions().until(() -> commit(survivor, register("eu", "net2")) > 0);
        // The commit is acknowledged once the leader applied it; the survivor, a follower, may apply
        // it a moment later, so wait for that before taking its state as the reference.
        await().atMost(WAIT).until(() -> survivor.state().clusters().containsKey("eu"));
        awaitConverged(survivor.state());
        assertThat(survivor.state().clusters()).containsKeys("east", "eu");
    }

    @Test
    void subscribersGetTheCurrentValueThenTheLatestInOrder() throws Exception {
        startGroup("solo");
        FederationNode node = nodes.get("solo");
        await().atMost(WAIT).until(node::hasLeader);
        commit(node, register("solo", "net1"));
        List<FederatedState> seen = new CopyOnWriteArrayList<>();

        node.subscribe(seen::add);
        await().atMost(WAIT).until(() -> !seen.isEmpty());
        assertThat(seen.get(0).clusters()).containsOnlyKeys("solo");

        long index = 0;
        for (int endpoints = 1; endpoints <= 10; endpoints++) {
            index = commit(node, publish("solo", "net1", endpoints));
        }
        long last = index;
        await().atMost(WAIT).until(() -> seen.get(seen.size() - 1).appliedIndex() == last);
        assertThat(seen).extracting(FederatedState::appliedIndex).isSorted().doesNotHaveDuplicates();
        assertThat(seen.get(seen.size() - 1)).isEqualTo(node.state());
    }

    @Test
    void aPortInUseFailsTheStartWithAClearMessage() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            peers = Map.of("east", new InetSocketAddress("127.0.0.1", taken.getLocalPort()));
            assertThatThrownBy(() -> FederationNode.start(options("east", 5, 1024)))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("federation peer 'east' failed to start on");
        }
    }

    @Test
    void closeStopsEveryThreadOfThePeer() throws Exception {
        startGroup("lonely");
        FederationNode node = nodes.get("lonely");
        await().atMost(WAIT).until(node::hasLeader);
        commit(node, register("lonely", "net1"));
        node.subscribe(state -> { });
        assertThat(threadsNamed("lonely")).isNotEmpty();

        node.close();

        await().atMost(WAIT).untilAsserted(() -> assertThat(threadsNamed("lonely")).isEmpty());
        assertThat(node.submit(register("lonely", "net2")))
                .failsWithin(Duration.ofSeconds(1))
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(FederationException.class)
                .withMessageContaining("is closed");
    }

    private static List<String> threadsNamed(String part) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(Thread::isAlive)
                .map(Thread::getName)
                .filter(name -> name.contains(part))
                .toList();
    }

    private static double malformedCount(MeterRegistry registry) {
        return registry.find(FederationMetrics.REJECTED).tag("reason", "malformed").counters()
                .stream().mapToDouble(c -> c.count()).sum();
    }
}
