package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.ROOT_A;
import static io.isthmus.controller.federation.Fixtures.publish;
import static io.isthmus.controller.federation.Fixtures.register;
import static io.isthmus.controller.federation.PeerGroup.WAIT;
import static io.isthmus.controller.federation.PeerGroup.commit;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Membership changes, replay determinism, linearizable reads, staleness and snapshot checksums
 * on a group of real Ratis peers (logs on disk, loopback gRPC).
 */
class FederationGroupTest {

    @TempDir
    Path dir;

    private PeerGroup group;

    @AfterEach
    void close() {
        if (group != null) {
            group.close();
        }
    }

    @Test
    void aPeerJoinsAtRuntimeCatchesUpAndTheLeaderCanBeRemoved() throws Exception {
        group = new PeerGroup(dir).start("east", "west", "eu");
        FederationNode leader = group.leader();
        commit(leader, register("east", "net1"));
        commit(leader, publish("east", "net1", 3));

        FederationNode joining = group.startJoining("apac");
        // Not a member yet: it knows no configuration and starts no election.
        assertThat(joining.status().members()).isEmpty();
        assertThat(joining.hasLeader()).isFalse();

        List<String> members = group.follower().addMember("apac", group.address("apac"));

        assertThat(members).containsExactly("apac", "east", "eu", "west");
        long index = commit(joining, register("apac", "net3"));
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : group.live()) {
                assertThat(node.state().appliedIndex()).as(node.peerId()).isGreaterThanOrEqualTo(index);
                assertThat(node.status().members()).containsExactly("apac", "east", "eu", "west");
                assertThat(node.stateHash()).isEqualTo(leader.stateHash());
            }
        });
        assertThat(joining.state().clusterStates().get("east").endpoints()).hasSize(3);
        // Adding again is a no-op; the same id at another address is refused with the fix.
        assertThat(leader.addMember("apac", group.address("apac"))).hasSize(4);
        assertThatThrownBy(() -> leader.addMember("apac", group.address("east")))
                .isInstanceOf(FederationException.class)
                .hasMessageContaining("member 'apac' is already in the group at")
                .hasMessageContaining("remove it first");

        String removed = leader.peerId();
        FederationNode survivor = group.nodes.get("apac");
        assertThat(survivor.removeMember(removed)).doesNotContain(removed).hasSize(3);
        group.stop(removed);

        FederationNode newLeader = group.leader();
        assertThat(newLeader.peerId()).isNotEqualTo(removed);
        long after = commit(survivor, publish("east", "net1", 4));
        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : group.live()) {
                assertThat(node.status().members()).doesNotContain(removed).hasSize(3);
                assertThat(node.state().appliedIndex()).isGreaterThanOrEqualTo(after);
                assertThat(node.stateHash()).isEqualTo(newLeader.stateHash());
            }
        });
        // Removing a peer that is no longer a member is a no-op.
        assertThat(newLeader.removeMember(removed)).hasSize(3);
    }

    @Test
    void replicasThatApplyTheSameLogReachTheSameStateHash() throws Exception {
        group = new PeerGroup(dir).start("east", "west", "eu");
        FederationNode follower = group.follower();
        commit(follower, register("east", "net1"));
        commit(follower, register("eu", "net2"));
        commit(follower, publish("east", "net1", 5));
        commit(follower, new PublishTrustRoots("eu", List.of(ROOT_A)));
        // A rejected entry is in the log too: replicas must skip it alike.
        assertThat(follower.submit(publish("west", "net1", 1))).failsWithin(WAIT);
        long last = commit(follower, publish("eu", "net2", 2));

        await().atMost(WAIT).untilAsserted(() -> {
            for (FederationNode node : group.live()) {
                assertThat(node.state().appliedIndex()).isEqualTo(last);
            }
        });
        String hash = follower.stateHash();
        assertThat(hash).hasSize(64);
        for (FederationNode node : group.live()) {
            assertThat(node.status().stateHash()).as(node.peerId()).isEqualTo(hash);
        }

        // Replay from disk (no snapshot at this threshold): the restarted replica reaches the same hash.
        String id = follower.peerId();
        group.stop(id);
        FederationNode replayed = group.restart(id);
        await().atMost(WAIT).untilAsserted(() -> assertThat(replayed.stateHash()).isEqualTo(hash));

        // A change moves the hash on every replica together.
        commit(replayed, publish("east", "net1", 6));
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(group.live()).extracting(FederationNode::stateHash).containsOnly(replayed.stateHash());
            assertThat(replayed.stateHash()).isNotEqualTo(hash);
        });
    }

    @Test
    void linearizableReadsSeeAcknowledgedWritesAndQuorumLossFlagsReplicasStale() throws Exception {
        SimpleMeterRegistry backend = new SimpleMeterRegistry();
        Metrics.globalRegistry.add(backend);
        try {
            group = new PeerGroup(dir);
            group.requestTimeout = Duration.ofSeconds(2);
            group.start("east", "west", "eu");
            FederationNode leader = group.leader();
            FederationNode follower = group.follower();
            long index = commit(leader, register("east", "net1"));

            // The follower may not have applied it yet; a linearizable read waits until it has.
            assertThat(follower.readLinearizable().get(WAIT.toSeconds(), TimeUnit.SECONDS).appliedIndex())
                    .isGreaterThanOrEqualTo(index);
            assertThat(follower.readLinearizable().get(WAIT.toSeconds(), TimeUnit.SECONDS).clusters())
                    .containsKey("east");
            assertThat(stale(backend, follower)).isZero();

            for (String id : List.copyOf(group.nodes.keySet())) {
                if (!id.equals(follower.peerId())) {
                    group.stop(id);
                }
            }
            long started = System.nanoTime();
            CompletableFuture<?> read = follower.readLinearizable();
            assertThatThrownBy(() -> read.get(15, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .cause()
                    .isInstanceOf(FederationException.class)
                    .hasMessageContaining("linearizable read");
            // Bounded by the 2 s request timeout (plus slack for a saturated machine), not hanging.
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(8));

            // The replica keeps serving its last state locally, flagged stale in status and metrics.
            await().atMost(WAIT).untilAsserted(() -> {
                assertThat(follower.status().stale()).isTrue();
                assertThat(stale(backend, follower)).isEqualTo(1.0);
            });
            assertThat(follower.state().clusters()).containsKey("east");
            assertThat(follower.status().clusterAgeMillis()).containsKey("east");
        } finally {
            Metrics.globalRegistry.remove(backend);
            backend.close();
        }
    }

    @Test
    void aSnapshotThatFailsItsChecksumIsRefusedWithAReasonAndAMetric() throws Exception {
        SimpleMeterRegistry backend = new SimpleMeterRegistry();
        Metrics.globalRegistry.add(backend);
        try {
            group = new PeerGroup(dir).customize(o -> o.withSnapshotThreshold(3));
            group.start("solo");
            FederationNode node = group.nodes.get("solo");
            await().atMost(WAIT).until(node::hasLeader);
            commit(node, register("solo", "net1"));
            for (int endpoints = 1; endpoints <= 6; endpoints++) {
                commit(node, publish("solo", "net1", endpoints));
            }
            await().atMost(WAIT).until(() -> snapshots(dir.resolve("solo")).findAny().isPresent());
            group.stop("solo");

            Path snapshot = snapshots(dir.resolve("solo")).sorted().reduce((a, b) -> b).orElseThrow();
            byte[] bytes = Files.readAllBytes(snapshot);
            bytes[bytes.length / 2] ^= 0x20;
            Files.write(snapshot, bytes);

            assertThatThrownBy(() -> group.restart("solo"))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("federation snapshot " + snapshot + " refused: its MD5 is")
                    .hasMessageContaining("delete its data dir");
            assertThat(backend.find(FederationMetrics.SNAPSHOT_REJECTED).tag("peer", "solo").counter().count())
                    .isEqualTo(1.0);
        } finally {
            Metrics.globalRegistry.remove(backend);
            backend.close();
        }
    }

    private static Stream<Path> snapshots(Path dataDir) throws IOException {
        return Files.walk(dataDir).filter(p -> p.getFileName().toString().startsWith("snapshot.")
                && !p.getFileName().toString().endsWith(".md5") && !p.getFileName().toString().endsWith(".writing"));
    }

    private static double stale(SimpleMeterRegistry backend, FederationNode node) {
        return backend.find("isthmus.federation.stale").tag("peer", node.peerId()).gauge().value();
    }
}
