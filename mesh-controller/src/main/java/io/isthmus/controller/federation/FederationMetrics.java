package io.isthmus.controller.federation;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.ToDoubleFunction;

/**
 * The federation's meters in {@link Metrics#globalRegistry}, tagged with the peer id so several
 * peers in one JVM (tests, the local launcher) stay apart. Removed again on close.
 *
 * <ul>
 *   <li>{@code isthmus.federation.term}, {@code isthmus.federation.commit.index},
 *       {@code isthmus.federation.applied.index}, {@code isthmus.federation.leader} (1 when this
 *       peer leads) — gauges
 *   <li>{@code isthmus.federation.stale} (1 when this peer follows no leader: it keeps serving
 *       its last applied state, which may be behind), {@code isthmus.federation.members} — gauges
 *   <li>{@code isthmus.federation.commands.rejected} — counter, tag {@code reason}
 *       ({@link RejectReason#tag()})
 *   <li>{@code isthmus.federation.snapshots.rejected} — counter: snapshots refused on load
 *       (checksum mismatch, undecodable); kept after close
 * </ul>
 */
final class FederationMetrics implements AutoCloseable {

    static final String REJECTED = "isthmus.federation.commands.rejected";
    static final String SNAPSHOT_REJECTED = "isthmus.federation.snapshots.rejected";

    private final MeterRegistry registry = Metrics.globalRegistry;
    private final String peerId;
    private final Map<RejectReason, Counter> rejected = new EnumMap<>(RejectReason.class);
    /** Kept apart from Micrometer: the global registry records nothing until a backend is added. */
    private final Map<RejectReason, LongAdder> rejectedCounts = new EnumMap<>(RejectReason.class);
    private final List<Meter> meters = new ArrayList<>();
    /** Outlives close(): a refused snapshot usually ends the peer's start, and must stay visible. */
    private final Counter snapshotRejected;
    private final LongAdder snapshotRejectedCount = new LongAdder();

    FederationMetrics(String peerId) {
        this.peerId = peerId;
        for (RejectReason reason : RejectReason.values()) {
            Counter counter = Counter.builder(REJECTED)
                    .description("Federation commands rejected (not applied), by reason")
                    .tag("peer", peerId)
                    .tag("reason", reason.tag())
                    .register(registry);
            rejected.put(reason, counter);
            rejectedCounts.put(reason, new LongAdder());
            meters.add(counter);
        }
        snapshotRejected = Counter.builder(SNAPSHOT_REJECTED)
                .description("Federation snapshots refused on load (checksum mismatch, undecodable)")
                .tag("peer", peerId)
                .register(registry);
    }

    void snapshotRejected() {
        snapshotRejected.increment();
        snapshotRejectedCount.increment();
    }

    long snapshotRejectedCount() {
        return snapshotRejectedCount.sum();
    }

    /** Registers the gauges once the node exists; they read {@code node} when scraped. */
    void bindGauges(FederationNode node) {
        // Straight from Ratis, not status(): a scrape must not hash the whole state.
        gauge("isthmus.federation.term", "Current Raft term seen by this peer", node,
                n -> n.division().getInfo().getCurrentTerm());
        gauge("isthmus.federation.commit.index", "Highest log index this peer knows committed", node,
                n -> n.division().getRaftLog().getLastCommittedIndex());
        gauge("isthmus.federation.applied.index", "Highest log index applied to this peer's state", node,
                n -> n.division().getInfo().getLastAppliedIndex());
        gauge("isthmus.federation.leader", "1 when this peer is the federation leader", node,
                n -> n.division().getInfo().isLeader() ? 1 : 0);
        gauge("isthmus.federation.stale", "1 when this peer follows no leader, so its replica may be behind",
                node, n -> n.hasLeader() ? 0 : 1);
        gauge("isthmus.federation.members", "Peers in the federation's current configuration", node,
                n -> n.division().getGroup().getPeers().size());
    }

    private void gauge(String name, String description, FederationNode node, ToDoubleFunction<FederationNode> f) {
        meters.add(Gauge.builder(name, node, n -> {
            try {
                return f.applyAsDouble(n);
            } catch (RuntimeException e) {
                return Double.NaN;
            }
        }).description(description).tag("peer", peerId).register(registry));
    }

    void rejected(RejectReason reason) {
        rejected.get(reason).increment();
        rejectedCounts.get(reason).increment();
    }

    long rejectedCount(RejectReason reason) {
        return rejectedCounts.get(reason).sum();
    }

    @Override
    public void close() {
        meters.forEach(registry::remove);
        meters.clear();
    }
}
