package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.HELLOWORLD;
import static io.isthmus.controller.federation.Fixtures.publish;
import static io.isthmus.controller.federation.Fixtures.register;
import static io.isthmus.controller.federation.PeerGroup.WAIT;
import static io.isthmus.controller.federation.PeerGroup.commit;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documented rolling upgrade to log format 2 on a real group of three: peers that write
 * format 1 (JSON), restarted one by one to write format 2 while the others keep writing format 1,
 * so the log and the snapshots hold both; every replica, and a replay from disk, reaches the same
 * state hash.
 */
class LogFormatUpgradeTest {

    @TempDir
    Path dir;

    private PeerGroup group;
    private volatile int format = CommandCodec.FORMAT_JSON;

    @AfterEach
    void close() {
        if (group != null) {
            group.close();
        }
    }

    @Test
    void aRollingUpgradeFromFormat1ToFormat2KeepsEveryReplicaOnTheSameState() throws Exception {
        group = new PeerGroup(dir).customize(options -> options.withSnapshotThreshold(8)
                .withTuning(RaftTuning.DEFAULT.withOverrides(Map.of("log-format", Integer.toString(format)))));
        group.start("east", "west", "eu");
        commit(group.follower(), register("east", "net1"));
        commit(group.follower(), publish("east", "net1", 3));
        int next = deltasUntilASnapshotIn(CommandCodec.FORMAT_JSON, 0);
        awaitSameState(3 + next);
        assertThat(snapshotFormats()).as("snapshots before the upgrade").contains((int) '{').doesNotContain(2);

        format = CommandCodec.FORMAT_BINARY;
        // Followers first and the leader last: one election instead of up to three.
        String leaderId = group.leader().peerId();
        List<String> order = new ArrayList<>(List.of("east", "west", "eu"));
        order.remove(leaderId);
        order.add(leaderId);
        for (String id : order) {
            group.stop(id);
            group.restart(id);
            // Written by a mix of peers: the upgraded ones in format 2, the others still in format 1.
            next = deltas(next, 6);
            awaitSameState(3 + next);
        }
        next = deltasUntilASnapshotIn(CommandCodec.FORMAT_BINARY, next);
        awaitSameState(3 + next);

        String hash = group.leader().stateHash();
        String replayedId = group.follower().peerId();
        group.stop(replayedId);
        FederationNode replayed = group.restart(replayedId);
        await().atMost(WAIT).untilAsserted(() -> assertThat(replayed.stateHash()).isEqualTo(hash));
    }

    /** Endpoint deltas {@code from .. from+count-1}, group-committed through every live peer; returns the next number. */
    private int deltas(int from, int count) throws Exception {
        List<FederationNode> nodes = group.live();
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int i = from; i < from + count; i++) {
            Endpoint endpoint = new Endpoint(HELLOWORLD, "10.9.0." + i, Map.of("http", 5000), true,
                    new Locality("region-east", "zone-east", ""), "east", "net1", "helloworld", "w-" + i,
                    Map.of("app", "helloworld", "n", "é" + i));
            futures.add(nodes.get(i % nodes.size()).submitCoalesced(
                    new UpdateEndpoints("east", List.of(endpoint), List.of())));
        }
        for (CompletableFuture<Long> future : futures) {
            future.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        }
        return from + count;
    }

    /**
     * Deltas from {@code from} on, a few at a time, until a snapshot of {@code format} is on disk;
     * returns the next number. Group commit packs concurrent deltas into as few log entries as it
     * can (one per commit, no metadata entries), so how many deltas make the 8 entries of a
     * snapshot depends on timing.
     */
    private int deltasUntilASnapshotIn(int format, int from) throws Exception {
        int first = format == CommandCodec.FORMAT_JSON ? '{' : format;
        int[] next = {deltas(from, 12)};
        // A snapshot is written in the background once the log passes the threshold: give each
        // round of deltas a moment to show one before committing more.
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50)).until(() -> {
            if (snapshotFormats().contains(first)) {
                return true;
            }
            assertThat(next[0] - from).as("deltas committed without a format %d snapshot", format).isLessThan(400);
            next[0] = deltas(next[0], 2);
            return false;
        });
        return next[0];
    }

    private void awaitSameState(int endpoints) {
        await().atMost(WAIT).untilAsserted(() -> {
            FederationNode leader = group.leader();
            assertThat(leader.state().clusterStates().get("east").endpoints()).hasSize(endpoints);
            for (FederationNode node : group.live()) {
                assertThat(node.state().appliedIndex()).as(node.peerId()).isEqualTo(leader.state().appliedIndex());
                assertThat(node.stateHash()).as(node.peerId()).isEqualTo(leader.stateHash());
            }
        });
    }

    /**
     * The first byte of every snapshot file on disk: '{' for format 1, 2 for format 2. The peers
     * write and purge snapshots meanwhile: a file still being written ({@code .writing}) is not one
     * yet, and one purged between listing and reading is skipped.
     */
    private List<Integer> snapshotFormats() throws IOException {
        List<Path> candidates = new ArrayList<>();
        try (Stream<Path> peers = Files.list(dir)) {
            for (Path peer : peers.toList()) {
                try (Stream<Path> files = Files.walk(peer)) {
                    files.filter(p -> p.getFileName().toString().startsWith("snapshot.")
                            && !p.getFileName().toString().endsWith(".md5")
                            && !p.getFileName().toString().endsWith(".writing")).forEach(candidates::add);
                } catch (UncheckedIOException | NoSuchFileException purged) {
                    // A directory went away while walked: list again on the next poll.
                }
            }
        }
        List<Integer> formats = new ArrayList<>();
        for (Path file : candidates) {
            int first = firstByte(file);
            if (first >= 0) {
                formats.add(first);
            }
        }
        return formats;
    }

    /** The file's first byte, or -1 if it is gone (purged) or empty. */
    private static int firstByte(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return in.read();
        } catch (NoSuchFileException purged) {
            return -1;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
