package io.isthmus.controller.federation.bench;

import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.PublishClusterState;
import io.isthmus.controller.federation.RegisterCluster;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Snapshot install of a federation holding 100,000 endpoints ({@value #CLUSTERS} clusters of
 * {@value #PER_CLUSTER}; one cluster state is one log entry, capped at 6 MiB): two peers commit
 * it and snapshot (threshold {@value #THRESHOLD}, so the log is purged), then the measured call
 * starts the third peer with an empty data dir and waits until it has the leader's state, which
 * only a snapshot install can give it. The snapshot size is printed (one line, "snapshot bytes").
 */
@State(Scope.Benchmark)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class SnapshotInstallBenchmark {

    static final int CLUSTERS = 10;
    static final int PER_CLUSTER = 10_000;
    static final int THRESHOLD = 8;

    private FederationPeers peers;
    private FederationNode leader;
    private FederationNode joined;
    private long target;

    @Setup(Level.Invocation)
    public void fill() throws Exception {
        peers = new FederationPeers(THRESHOLD, "east", "west", "eu").start("east", "west");
        leader = peers.leader();
        for (int c = 0; c < CLUSTERS; c++) {
            String cluster = "c" + c;
            leader.submit(new RegisterCluster(new ClusterInfo(cluster, "net1", CommitBenchmark.LOCALITY,
                    "127.0.0.1:15012"))).get(60, TimeUnit.SECONDS);
            MeshService service = new MeshService(CommitBenchmark.SERVICE, "svc.bench.svc.cluster.local",
                    List.of(new ServicePort("http", 80, 8080, "HTTP")), Map.of("app", "svc"),
                    new LinkedHashSet<>(List.of("*")), false);
            List<Endpoint> endpoints = new ArrayList<>(PER_CLUSTER);
            for (int i = 0; i < PER_CLUSTER; i++) {
                endpoints.add(CommitBenchmark.endpoint(cluster, "net1", i));
            }
            target = leader.submit(new PublishClusterState(new ClusterState(cluster, "net1", List.of(service),
                    endpoints, List.of(new NetworkGateway("net1", cluster, "127.0.0.2", 15443)))))
                    .get(60, TimeUnit.SECONDS);
        }
        // Pad past the threshold so a snapshot covers everything and the log before it is purged.
        for (int i = 0; i < THRESHOLD * 2; i++) {
            target = leader.submit(new RegisterCluster(new ClusterInfo("pad", "net1", CommitBenchmark.LOCALITY,
                    "127.0.0.1:" + (15000 + i)))).get(60, TimeUnit.SECONDS);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (leader.status().appliedIndex() < target && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        while (peers.snapshotSize(leader.peerId()) < 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        System.out.println("snapshot bytes: " + peers.snapshotSize(leader.peerId())
                + ", endpoints: " + leader.state().clusterStates().values().stream()
                        .mapToInt(s -> s.endpoints().size()).sum());
    }

    @TearDown(Level.Invocation)
    public void stop() throws Exception {
        peers.close();
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    public long installOnAFreshPeer() throws Exception {
        joined = FederationNode.start(peers.options("eu"));
        peers.nodes.put("eu", joined);
        String hash = leader.stateHash();
        while (joined.state().appliedIndex() < target || !joined.stateHash().equals(hash)) {
            Thread.sleep(5);
        }
        return joined.state().appliedIndex();
    }
}
