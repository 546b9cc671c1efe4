package io.isthmus.controller.federation;

import static org.awaitility.Awaitility.await;

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
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/** Real Ratis peers on 127.0.0.1 ephemeral ports, each with its own data dir under {@code dir}. */
final class PeerGroup implements AutoCloseable {

    static {
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.ratis", "warn");
    }

    static final Duration ELECTION_MIN = Duration.ofMillis(1000);
    static final Duration ELECTION_MAX = Duration.ofMillis(1500);
    static final Duration WAIT = Duration.ofSeconds(20);

    private final Path dir;
    private final Map<String, InetSocketAddress> peers = new LinkedHashMap<>();
    final Map<String, FederationNode> nodes = new LinkedHashMap<>();
    private UnaryOperator<FederationOptions> customize = UnaryOperator.identity();
    Duration requestTimeout = Duration.ofSeconds(8);

    PeerGroup(Path dir) {
        this.dir = dir;
    }

    PeerGroup customize(UnaryOperator<FederationOptions> customize) {
        this.customize = customize;
        return this;
    }

    PeerGroup start(String... ids) throws IOException {
        for (String id : ids) {
            peers.put(id, new InetSocketAddress("127.0.0.1", freePort()));
        }
        for (String id : ids) {
            nodes.put(id, FederationNode.start(options(id)));
        }
        return this;
    }

    FederationOptions options(String id) {
        return customize.apply(new FederationOptions(id, peers, dir.resolve(id), ELECTION_MIN, ELECTION_MAX,
                requestTimeout, FederationOptions.DEFAULT_SNAPSHOT_THRESHOLD,
                FederationOptions.DEFAULT_LOG_SEGMENT_SIZE_BYTES));
    }

    /** Starts a new peer that waits to be added ({@link FederationOptions#joining()}). */
    FederationNode startJoining(String id) throws IOException {
        peers.put(id, new InetSocketAddress("127.0.0.1", freePort()));
        FederationNode node = FederationNode.start(options(id).joining());
        nodes.put(id, node);
        return node;
    }

    InetSocketAddress address(String id) {
        return peers.get(id);
    }

    FederationNode restart(String id) throws IOException {
        FederationNode node = FederationNode.start(options(id));
        nodes.put(id, node);
        return node;
    }

    void stop(String id) {
        nodes.remove(id).close();
    }

    FederationNode leader() {
        await().atMost(WAIT).until(() -> live().stream().anyMatch(n -> n.status().isLeader() && n.hasLeader()));
        return live().stream().filter(n -> n.status().isLeader()).findFirst().orElseThrow();
    }

    FederationNode follower() {
        FederationNode leader = leader();
        return live().stream().filter(n -> n != leader).findFirst().orElseThrow();
    }

    List<FederationNode> live() {
        return new ArrayList<>(nodes.values());
    }

    static long commit(FederationNode node, FederationCommand command) throws Exception {
        return node.submit(command).get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** Stops every peer at once, each in order (as {@link #stop}); see {@link #closeAll}. */
    void stopAll() {
        closeAll(List.copyOf(nodes.values()));
        nodes.clear();
    }

    @Override
    public void close() {
        stopAll();
    }

    /**
     * Closes {@code peers} at the same time: a close mostly waits for its gRPC servers and
     * channels to end (about a second per peer), so one after another a group of three took
     * seconds of every test.
     */
    static void closeAll(java.util.Collection<FederationNode> peers) {
        List<Thread> closing = new ArrayList<>();
        for (FederationNode node : peers) {
            Thread thread = new Thread(node::close, "close-" + node.peerId());
            thread.start();
            closing.add(thread);
        }
        for (Thread thread : closing) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
