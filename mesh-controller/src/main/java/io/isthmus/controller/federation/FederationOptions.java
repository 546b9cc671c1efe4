package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * How to run this controller's federation peer.
 *
 * <p>Peers talk plain gRPC for now. When peer mTLS arrives it will be one more component here (a
 * TLS configuration handed to Ratis' {@code GrpcTlsConfig}), with a constructor that keeps the
 * current ones working.
 *
 * @param peerId             this peer's id, e.g. the cluster name ({@code east}); must be a key of
 *                           {@code peers}
 * @param peers              every peer of the group including this one, by id; the group is
 *                           fixed at start (membership changes are not supported yet)
 * @param dataDir            where this peer keeps its Raft log and snapshots; reuse it across
 *                           restarts, never share it between peers
 * @param electionTimeoutMin lower bound of the randomized election timeout (≥ 1 s is steadier on
 *                           a busy 2-core machine)
 * @param electionTimeoutMax upper bound, greater than {@code electionTimeoutMin}
 * @param requestTimeout     how long {@code submit} waits for a commit before failing
 * @param snapshotThreshold  applied entries after which a snapshot is taken and the log purged
 * @param logSegmentSizeBytes the size at which a log segment is closed; only closed segments are
 *                           purged after a snapshot
 */
public record FederationOptions(
        String peerId,
        Map<String, InetSocketAddress> peers,
        Path dataDir,
        Duration electionTimeoutMin,
        Duration electionTimeoutMax,
        Duration requestTimeout,
        long snapshotThreshold,
        long logSegmentSizeBytes) {

    public static final Duration DEFAULT_ELECTION_TIMEOUT_MIN = Duration.ofSeconds(1);
    public static final Duration DEFAULT_ELECTION_TIMEOUT_MAX = Duration.ofSeconds(2);
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(10);
    public static final long DEFAULT_SNAPSHOT_THRESHOLD = 1024;
    public static final long DEFAULT_LOG_SEGMENT_SIZE_BYTES = 8L * 1024 * 1024;

    public FederationOptions {
        requireNonNull(peerId, "peerId");
        requireNonNull(peers, "peers");
        requireNonNull(dataDir, "dataDir");
        requireNonNull(electionTimeoutMin, "electionTimeoutMin");
        requireNonNull(electionTimeoutMax, "electionTimeoutMax");
        requireNonNull(requestTimeout, "requestTimeout");
        peers = Map.copyOf(peers);
        if (peerId.isEmpty()) {
            throw new IllegalArgumentException("peerId: '' (expected: a non-empty id, e.g. the cluster name)");
        }
        if (!peers.containsKey(peerId)) {
            throw new IllegalArgumentException("peers: " + peers.keySet() + " (expected: to contain this peer '"
                    + peerId + "'; list every peer including this one)");
        }
        peers.forEach((id, address) -> {
            if (id.isEmpty()) {
                throw new IllegalArgumentException("peers: an empty peer id (expected: non-empty ids)");
            }
            if (address.getPort() < 1) {
                throw new IllegalArgumentException("peers[" + id + "]: " + address + " (expected: a port 1-65535)");
            }
        });
        if (electionTimeoutMin.isNegative() || electionTimeoutMin.isZero()) {
            throw new IllegalArgumentException("electionTimeoutMin: " + electionTimeoutMin + " (expected: > 0)");
        }
        if (electionTimeoutMax.compareTo(electionTimeoutMin) <= 0) {
            throw new IllegalArgumentException("electionTimeoutMax: " + electionTimeoutMax
                    + " (expected: > electionTimeoutMin " + electionTimeoutMin + ")");
        }
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new IllegalArgumentException("requestTimeout: " + requestTimeout + " (expected: > 0)");
        }
        if (snapshotThreshold < 1) {
            throw new IllegalArgumentException("snapshotThreshold: " + snapshotThreshold + " (expected: >= 1)");
        }
        if (logSegmentSizeBytes < 1024) {
            throw new IllegalArgumentException("logSegmentSizeBytes: " + logSegmentSizeBytes + " (expected: >= 1024)");
        }
    }

    /** Options with the default snapshot threshold and log segment size. */
    public FederationOptions(
            String peerId,
            Map<String, InetSocketAddress> peers,
            Path dataDir,
            Duration electionTimeoutMin,
            Duration electionTimeoutMax,
            Duration requestTimeout) {
        this(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax, requestTimeout,
                DEFAULT_SNAPSHOT_THRESHOLD, DEFAULT_LOG_SEGMENT_SIZE_BYTES);
    }

    /** Options with default timeouts (elections 1–2 s, requests 10 s). */
    public static FederationOptions of(String peerId, Map<String, InetSocketAddress> peers, Path dataDir) {
        return new FederationOptions(peerId, peers, dataDir, DEFAULT_ELECTION_TIMEOUT_MIN,
                DEFAULT_ELECTION_TIMEOUT_MAX, DEFAULT_REQUEST_TIMEOUT);
    }

    public FederationOptions withSnapshotThreshold(long threshold) {
        return new FederationOptions(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
                requestTimeout, threshold, logSegmentSizeBytes);
    }

    public FederationOptions withLogSegmentSizeBytes(long bytes) {
        return new FederationOptions(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
                requestTimeout, snapshotThreshold, bytes);
    }

    /** The address this peer listens on. */
    public InetSocketAddress selfAddress() {
        return peers.get(peerId);
    }
}
