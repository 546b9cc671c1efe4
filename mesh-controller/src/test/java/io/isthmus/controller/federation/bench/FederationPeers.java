package io.isthmus.controller.federation.bench;

import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.FederationOptions;
import io.isthmus.controller.federation.PeerTls;
import io.isthmus.controller.federation.RaftTuning;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
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
import java.util.Set;
import java.util.stream.Stream;

/**
 * Three (or more) real Ratis peers on loopback for benchmarks; logs in a temp dir removed on close.
 * Peers talk mutual TLS with controller identities from one mesh root unless {@link #plaintext()}.
 */
final class FederationPeers implements AutoCloseable {

    private static final SpiffeId CONTROLLER = SpiffeId.of("cluster.local", "istio-system", "istiod");

    static {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }

    final Path dir;
    final Map<String, InetSocketAddress> peers = new LinkedHashMap<>();
    final Map<String, FederationNode> nodes = new LinkedHashMap<>();
    private final long snapshotThreshold;
    private RaftTuning tuning = RaftTuning.DEFAULT;
    private boolean tls = true;
    private final CertificateAuthority root = CertificateAuthority.createRoot("federation-bench", Duration.ofDays(2));
    private final TrustBundle bundle = TrustBundle.of("cluster.local", List.of(root.root()));

    FederationPeers(long snapshotThreshold, String... ids) throws IOException {
        this.snapshotThreshold = snapshotThreshold;
        this.dir = Files.createTempDirectory("federation-bench");
        for (String id : ids) {
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                peers.put(id, new InetSocketAddress("127.0.0.1", socket.getLocalPort()));
            }
        }
    }

    FederationPeers tuning(RaftTuning raftTuning) {
        this.tuning = raftTuning;
        return this;
    }

    FederationPeers plaintext() {
        this.tls = false;
        return this;
    }

    /** Ratis settings by name, as the benchmarks' {@code settings} parameter spells them. */
    static RaftTuning settings(String name) {
        return switch (name) {
            case "ratis-defaults" -> RaftTuning.RATIS_DEFAULTS;
            case "tuned" -> RaftTuning.DEFAULT;
            case "tuned-unsafe-flush" -> RaftTuning.DEFAULT.withOverrides(Map.of("unsafe-flush", "true"));
            case "tuned-async-flush" -> RaftTuning.DEFAULT.withOverrides(Map.of("async-flush", "true"));
            // The controller's settings before prompt-commit let metadata entries go (2026-11-27).
            case "tuned-log-metadata" -> RaftTuning.DEFAULT.withOverrides(Map.of("log-metadata", "true"));
            default -> throw new IllegalArgumentException("settings: '" + name
                    + "' (expected: ratis-defaults, tuned, tuned-unsafe-flush, tuned-async-flush or tuned-log-metadata)");
        };
    }

    FederationPeers start(String... ids) throws IOException {
        for (String id : ids) {
            nodes.put(id, FederationNode.start(options(id)));
        }
        return this;
    }

    FederationOptions options(String id) {
        FederationOptions options = new FederationOptions(id, peers, dir.resolve(id), Duration.ofSeconds(1),
                Duration.ofSeconds(2), Duration.ofSeconds(30), snapshotThreshold, 4L * 1024 * 1024).withTuning(tuning);
        if (!tls) {
            return options;
        }
        CertificateAuthority intermediate = root.createIntermediate(id, Duration.ofDays(1));
        WorkloadCertificate certificate = intermediate.issue(CONTROLLER, List.of(), Duration.ofHours(12));
        return options.withTls(PeerTls.of(() -> certificate, () -> bundle, Set.of(CONTROLLER)));
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
