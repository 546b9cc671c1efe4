package io.isthmus.controller.federation.bench;

import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.PublishClusterState;
import io.isthmus.controller.federation.RegisterCluster;
import io.isthmus.controller.federation.UpdateEndpoints;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Commits on a group of three peers on loopback (one JVM, real logs on disk, fsync on, mutual TLS
 * between peers): the latency of one endpoint delta submitted and committed at a time
 * (SampleTime: p50/p99 in the JMH output, submitted through a follower, as most controllers
 * are), and the throughput of {@value #BATCH} deltas, one command per log entry, submitted
 * asynchronously through all three peers' clients with at most {@value #WINDOW} in flight
 * (Ratis writes what arrives together as one group commit and one AppendEntries).
 *
 * <p>{@code settings} compares Ratis' own defaults with the controller's {@code RaftTuning} in
 * the same run; {@code tls=false} measures plaintext peers.
 */
@State(Scope.Benchmark)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class CommitBenchmark {

    static final int BATCH = 2048;
    static final int WINDOW = 512;
    static final ServiceKey SERVICE = new ServiceKey("bench", "svc");
    static final Locality LOCALITY = new Locality("r", "z", "");

    @Param({"ratis-defaults", "tuned"})
    public String settings;

    @Param({"true"})
    public boolean tls;

    private FederationPeers peers;
    private FederationNode submitter;
    private FederationNode leader;
    private List<FederationNode> submitters;
    private int counter;

    @Setup(Level.Trial)
    public void start() throws Exception {
        peers = new FederationPeers(100_000, "east", "west", "eu").tuning(FederationPeers.settings(settings));
        if (!tls) {
            peers.plaintext();
        }
        peers.start("east", "west", "eu");
        leader = peers.leader();
        submitter = peers.nodes.values().stream().filter(n -> n != leader).findFirst().orElseThrow();
        submitters = List.copyOf(peers.nodes.values());
        submitter.submit(new RegisterCluster(new ClusterInfo("east", "net1", LOCALITY, "127.0.0.1:15012")))
                .get(30, TimeUnit.SECONDS);
        MeshService service = new MeshService(SERVICE, "svc.bench.svc.cluster.local",
                List.of(new ServicePort("http", 80, 8080, "HTTP")), Map.of("app", "svc"),
                new LinkedHashSet<>(List.of("*")), false);
        submitter.submit(new PublishClusterState(new ClusterState("east", "net1", List.of(service), List.of(),
                List.of(new NetworkGateway("net1", "east", "127.0.0.2", 15443))))).get(30, TimeUnit.SECONDS);
    }

    @TearDown(Level.Trial)
    public void stop() throws Exception {
        peers.close();
    }

    private long cpuAtStart;
    private long commitsAtStart;
    private long commits;

    @Setup(Level.Iteration)
    public void markCpu() {
        cpuAtStart = processCpuNanos();
        commitsAtStart = commits;
    }

    /**
     * CPU the whole process (three peers, clients, TLS) spent per commit in the iteration: on a
     * shared machine the throughput shows the share of the cores this JVM got, this shows the
     * cost, so {@code cores / cpu per commit} estimates the throughput of an idle host.
     */
    @TearDown(Level.Iteration)
    public void printCpu() {
        long done = commits - commitsAtStart;
        if (done > 0) {
            System.out.printf("cpu per commit: %.1f us (%d commits, settings=%s, tls=%s)%n",
                    (processCpuNanos() - cpuAtStart) / 1000.0 / done, done, settings, tls);
        }
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    static Endpoint endpoint(String cluster, String network, int i) {
        return new Endpoint(SERVICE, "10." + ((i >> 16) & 255) + '.' + ((i >> 8) & 255) + '.' + (i & 255),
                Map.of("http", 8080), true, LOCALITY, cluster, network, "svc", "svc-" + i,
                Map.of("app", "svc", "version", "v1"));
    }

    private UpdateEndpoints next() {
        int i = counter++ % 4096;
        return new UpdateEndpoints("east", List.of(endpoint("east", "net1", i)), List.of());
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    public long commitOne() throws Exception {
        return commitOneThrough(submitter);
    }

    /** The same as {@link #commitOne}, submitted on the leader: the follower's forward hop is the difference. */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    public long commitOneOnLeader() throws Exception {
        return commitOneThrough(leader);
    }

    private long commitOneThrough(FederationNode node) throws Exception {
        long index = node.submit(next()).get(30, TimeUnit.SECONDS);
        commits++;
        return index;
    }

    /**
     * {@value #BATCH} deltas as in {@link #commitBatched}, but through each node's group commit
     * ({@code submitCoalesced}): deltas that arrive while an entry is in flight share the next
     * log entry as one {@code ApplyBatch}. Counts deltas, not log entries.
     */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OperationsPerInvocation(BATCH)
    public long commitBatchedDeltas() throws Exception {
        return submitAll(FederationNode::submitCoalesced);
    }

    /** {@value #BATCH} deltas, one command per log entry (no batch command). */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OperationsPerInvocation(BATCH)
    public long commitBatched() throws Exception {
        return submitAll(FederationNode::submit);
    }

    /** Submits {@value #BATCH} deltas round-robin through every peer, at most {@value #WINDOW} in flight. */
    private long submitAll(BiFunction<FederationNode, UpdateEndpoints, CompletableFuture<Long>> submit)
            throws Exception {
        Semaphore window = new Semaphore(WINDOW);
        List<CompletableFuture<Long>> submitted = new ArrayList<>(BATCH);
        for (int i = 0; i < BATCH; i++) {
            window.acquire();
            CompletableFuture<Long> future = submit.apply(submitters.get(i % submitters.size()), next());
            future.whenComplete((index, error) -> window.release());
            submitted.add(future);
        }
        long last = 0;
        for (CompletableFuture<Long> future : submitted) {
            last = Math.max(last, future.get(60, TimeUnit.SECONDS));
        }
        commits += BATCH;
        return last;
    }
}
