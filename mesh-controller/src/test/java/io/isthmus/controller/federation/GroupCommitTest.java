package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.register;
import static io.isthmus.controller.federation.Fixtures.state;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Group commit on a real group of three peers: deltas submitted together share log entries, in order, all or nothing. */
class GroupCommitTest {

    @TempDir
    Path dir;

    private PeerGroup group;

    @BeforeEach
    void start() throws Exception {
        group = new PeerGroup(dir).start("east", "west", "eu");
        FederationNode leader = group.leader();
        PeerGroup.commit(leader, register("east", "net1"));
        PeerGroup.commit(leader, new PublishClusterState(state("east", "net1", 1)));
    }

    @AfterEach
    void stop() {
        group.close();
    }

    private static Endpoint endpoint(int i, String version) {
        Endpoint template = state("east", "net1", 1).endpoints().get(0);
        return new Endpoint(template.service(), "127.0." + (2 + i / 250) + '.' + (i % 250), template.ports(), true,
                template.locality(), "east", "net1", template.serviceAccount(), "w-" + i,
                Map.of("app", "helloworld", "version", version));
    }

    @Test
    void deltasSubmittedWhileOthersCommitShareLogEntriesAndApplyInSubmissionOrder() throws Exception {
        FederationNode follower = group.follower();
        int count = 600;
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            // Every endpoint is written twice, the second time later with v2: order decides what remains.
            int address = i % (count / 2);
            futures.add(follower.submitCoalesced(new UpdateEndpoints("east",
                    List.of(endpoint(address, i < count / 2 ? "v1" : "v2")), List.of())));
        }
        long lastIndex = 0;
        long previous = 0;
        for (CompletableFuture<Long> future : futures) {
            long index = future.get(30, TimeUnit.SECONDS);
            assertThat(index).isGreaterThanOrEqualTo(previous);
            previous = index;
            lastIndex = Math.max(lastIndex, index);
        }

        long[] counts = follower.groupCommitCounts();
        assertThat(counts[1]).isEqualTo(count);
        // Fewer log entries than commands: that is the point (the first leaves alone, the rest queue behind it).
        assertThat(counts[0]).isLessThan(count / 4);
        long entries = futures.stream().map(CompletableFuture::join).distinct().count();
        assertThat(entries).isEqualTo(counts[0]);

        long index = lastIndex;
        await().atMost(PeerGroup.WAIT).until(() -> group.live().stream().allMatch(n -> n.state().appliedIndex() >= index));
        ClusterState east = follower.state().clusterStates().get("east");
        assertThat(east.endpoints()).hasSize(1 + count / 2);
        assertThat(east.endpoints()).filteredOn(e -> e.address().startsWith("127.0.2.")
                        || e.address().startsWith("127.0.3."))
                .allSatisfy(e -> assertThat(e.labels()).containsEntry("version", "v2"));
        // Every replica reached the same state hash.
        assertThat(group.live().stream().map(FederationNode::stateHash).distinct()).hasSize(1);
    }

    @Test
    void aRejectedBatchFailsEveryCallerWithTheReasonAndAppliesNothingOfIt() throws Exception {
        FederationNode node = group.leader();
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            futures.add(node.submitCoalesced(new UpdateEndpoints("east", List.of(endpoint(i, "v1")), List.of())));
            if (i == 100) {
                futures.add(node.submitCoalesced(new UpdateEndpoints("nowhere", List.of(), List.of())));
            }
        }
        List<Integer> applied = new ArrayList<>();
        List<Integer> failed = new ArrayList<>();
        for (int i = 0; i < futures.size(); i++) {
            try {
                futures.get(i).get(30, TimeUnit.SECONDS);
                applied.add(i);
            } catch (ExecutionException e) {
                assertThat(e.getCause()).isInstanceOf(FederationException.class)
                        .hasMessageContaining("cluster 'nowhere' is not registered");
                failed.add(i);
            }
        }
        // The bad command failed, and with it exactly the commands that shared its log entry.
        assertThat(failed).contains(101);
        if (failed.size() > 1) {
            assertThat(futures.get(failed.get(0)).handle((v, e) -> e.getMessage()).join())
                    .contains("was sent in a batch of " + failed.size() + " commands that failed, so it was not applied");
        }
        assertThat(applied.size() + failed.size()).isEqualTo(201);
        // On a fast machine all 201 can queue before the first leaves, and then share one entry.
        if (!applied.isEmpty()) {
            long last = futures.get(applied.get(applied.size() - 1)).join();
            await().atMost(PeerGroup.WAIT).until(() -> node.state().appliedIndex() >= last);
        }
        List<String> addresses = node.state().clusterStates().get("east").endpoints().stream()
                .map(Endpoint::address).toList();
        for (int i : applied) {
            int endpoint = i <= 100 ? i : i - 1;
            assertThat(addresses).contains(endpoint(endpoint, "v1").address());
        }
        for (int i : failed) {
            if (i != 101) {
                int endpoint = i < 101 ? i : i - 1;
                assertThat(addresses).doesNotContain(endpoint(endpoint, "v1").address());
            }
        }
    }

    @Test
    void commandsQueuedWhenThePeerClosesFailWithTheReason() throws Exception {
        FederationNode node = group.follower();
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            futures.add(node.submitCoalesced(new UpdateEndpoints("east", List.of(endpoint(i, "v1")), List.of())));
        }
        group.stop(node.peerId());
        // One wait for all of them: an await() per future costs its 100 ms poll delay even when the
        // future is already done, 30 s for 300.
        await().atMost(PeerGroup.WAIT).until(() -> futures.stream().allMatch(CompletableFuture::isDone));
        for (CompletableFuture<Long> future : futures) {
            if (future.isCompletedExceptionally()) {
                assertThat(future.handle((v, e) -> e.getMessage()).join()).contains("closed");
            }
        }
        assertThat(node.submitCoalesced(new UpdateEndpoints("east", List.of(), List.of())))
                .failsWithin(java.time.Duration.ofSeconds(1));
    }
}
