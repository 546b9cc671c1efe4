package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * How to run this controller's federation peer.
 *
 * <p>Election timeouts are the knob for links slower than loopback: a follower that hears no
 * heartbeat for a random time in [{@code electionTimeoutMin}, {@code electionTimeoutMax}] starts an
 * election, so a dead leader is replaced after about {@code electionTimeoutMax} plus one round
 * trip. Keep {@code electionTimeoutMin} several round trips long (and ≥ 1 s on busy machines),
 * or peers start needless elections.
 *
 * @param peerId             this peer's id, e.g. the cluster name ({@code east}); must be a key of
 *                           {@code peers}
 * @param peers              every peer of the group including this one, by id, used when the
 *                           data dir holds no log yet; afterwards the configuration in the log
 *                           wins (members change at runtime through
 *                           {@link FederationNode#addMember}/{@link FederationNode#removeMember})
 * @param dataDir            where this peer keeps its Raft log and snapshots; reuse it across
 *                           restarts, never share it between peers
 * @param electionTimeoutMin lower bound of the randomized election timeout (≥ 1 s is steadier on
 *                           a busy 2-core machine)
 * @param electionTimeoutMax upper bound, greater than {@code electionTimeoutMin}
 * @param requestTimeout     how long {@code submit} waits for a commit before failing
 * @param snapshotThreshold  applied entries after which a snapshot is taken and the log purged
 * @param logSegmentSizeBytes the size at which a log segment is closed; only closed segments are
 *                           purged after a snapshot
 * @param join               start as a new member of an existing group: this peer knows no
 *                           configuration and never starts an election until a member adds it
 *                           ({@link FederationNode#addMember}); {@code peers} then only needs to
 *                           hold this peer (others are used to find the leader)
 * @param tls                mutual TLS between peers with the controllers' mesh identities, or
 *                           {@code null} for plaintext (tests, single-process demos)
 * @param tuning             Ratis batching and pipelining settings ({@link RaftTuning#DEFAULT})
 */
public record FederationOptions(
        String peerId,
        Map<String, InetSocketAddress> peers,
        Path dataDir,
        Duration electionTimeoutMin,
        Duration electionTimeoutMax,
        Duration requestTimeout,
        long snapshotThreshold,
        long logSegmentSizeBytes,
        boolean join,
        PeerTls tls,
        RaftTuning tuning) {

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
        requireNonNull(tuning, "tuning");
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

    /** A founding member without TLS. */
    public FederationOptions(
            String peerId,
            Map<String, InetSocketAddress> peers,
            Path dataDir,
            Duration electionTimeoutMin,
            Duration electionTimeoutMax,
            Duration requestTimeout,
            long snapshotThreshold,
            long logSegmentSizeBytes) {
        this(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax, requestTimeout, snapshotThreshold,
                logSegmentSizeBytes, false, null, RaftTuning.DEFAULT);
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
                requestTimeout, threshold, logSegmentSizeBytes, join, tls, tuning);
    }

    public FederationOptions withLogSegmentSizeBytes(long bytes) {
        return new FederationOptions(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
                requestTimeout, snapshotThreshold, bytes, join, tls, tuning);
    }

    public FederationOptions withElectionTimeouts(Duration min, Duration max) {
        return new FederationOptions(peerId, peers, dataDir, min, max, requestTimeout, snapshotThreshold,
                logSegmentSizeBytes, join, tls, tuning);
    }

    /** This peer joins an existing group instead of founding one (see {@code join}). */
    public FederationOptions joining() {
        return new FederationOptions(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
                requestTimeout, snapshotThreshold, logSegmentSizeBytes, true, tls, tuning);
    }

    public FederationOptions withTls(PeerTls peerTls) {
        return new FederationOptions(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
                requestTimeout, snapshotThreshold, logSegmentSizeBytes, join, requireNonNull(peerTls, "peerTls"), tuning);
    }

    public FederationOptions withTuning(RaftTuning raftTuning) {
        return new FederationOptions(peerId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
                requestTimeout, snapshotThreshold, logSegmentSizeBytes, join, tls,
                requireNonNull(raftTuning, "raftTuning"));
    }

    /** The address this peer listens on. */
    public InetSocketAddress selfAddress() {
        return peers.get(peerId);
    }
}
