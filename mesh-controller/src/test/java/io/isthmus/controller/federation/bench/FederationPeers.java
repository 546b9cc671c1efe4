package io.isthmus.controller.federation.bench;

import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.FederationOptions;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Three (or more) real Ratis peers on loopback for benchmarks; logs in a temp dir removed on close. */
final class FederationPeers implements AutoCloseable {

    static {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }

    final Path dir;
    final Map<String, InetSocketAddress> peers = new LinkedHashMap<>();
    final Map<String, FederationNode> nodes = new LinkedHashMap<>();
    private final long snapshotThreshold;

    FederationPeers(long snapshotThreshold, String... ids) throws IOException {
        this.snapshotThreshold = snapshotThreshold;
        this.dir = Files.createTempDirectory("federation-bench");
        for (String id : ids) {
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                peers.put(id, new InetSocketAddress("127.0.0.1", socket.getLocalPort()));
            }
        }
    }

    FederationPeers start(String... ids) throws IOException {
        for (String id : ids) {
            nodes.put(id, FederationNode.start(options(id)));
        }
        return this;
    }

    FederationOptions options(String id) {
        return new FederationOptions(id, peers, dir.resolve(id), Duration.ofSeconds(1), Duration.ofSeconds(2),
                Duration.ofSeconds(30), snapshotThreshold, 4L * 1024 * 1024);
    }

    FederationNode leader() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            for (FederationNode node : nodes.values()) {
                if (node.status().isLeader() && node.hasLeader()) {
                    return node;
                }
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("no leader within 60 s");
    }

    /** The size of this peer's newest snapshot file, or -1 if it has none. */
    long snapshotSize(String id) throws IOException {
        try (Stream<Path> files = Files.walk(dir.resolve(id))) {
            return files.filter(p -> p.getFileName().toString().startsWith("snapshot.")
                            && !p.getFileName().toString().endsWith(".md5"))
                    .mapToLong(p -> p.toFile().length()).max().orElse(-1);
        }
    }

    @Override
    public void close() throws IOException {
        List<FederationNode> all = new ArrayList<>(nodes.values());
        all.forEach(FederationNode::close);
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
