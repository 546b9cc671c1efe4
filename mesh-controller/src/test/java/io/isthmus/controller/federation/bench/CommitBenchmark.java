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
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Commits on a group of three peers on loopback (one JVM, real logs on disk): the latency of one
 * endpoint delta submitted and committed at a time (SampleTime: p50/p99 in the JMH output), and
 * the throughput of {@value #BATCH} deltas in flight at once (async submits, Ratis batches them
 * per append). Submitted through a follower, as most controllers are.
 */
@State(Scope.Benchmark)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class CommitBenchmark {

    static final int BATCH = 256;
    static final ServiceKey SERVICE = new ServiceKey("bench", "svc");
    static final Locality LOCALITY = new Locality("r", "z", "");

    private FederationPeers peers;
    private FederationNode submitter;
    private int counter;

    @Setup(Level.Trial)
    public void start() throws Exception {
        peers = new FederationPeers(100_000, "east", "west", "eu").start("east", "west", "eu");
        FederationNode leader = peers.leader();
        submitter = peers.nodes.values().stream().filter(n -> n != leader).findFirst().orElseThrow();
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
        return submitter.submit(next()).get(30, TimeUnit.SECONDS);
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OperationsPerInvocation(BATCH)
    public long commitBatched() throws Exception {
        List<CompletableFuture<Long>> inFlight = new ArrayList<>(BATCH);
        for (int i = 0; i < BATCH; i++) {
            inFlight.add(submitter.submit(next()));
        }
        long last = 0;
        for (CompletableFuture<Long> future : inFlight) {
            last = future.get(60, TimeUnit.SECONDS);
        }
        return last;
    }
}
