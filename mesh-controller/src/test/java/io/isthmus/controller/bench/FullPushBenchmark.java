package io.isthmus.controller.bench;

import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.XdsOptions;
import io.isthmus.discovery.FederatedState;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Issue 5's "time to a full push": {@code clusters} × {@code services} × {@code endpoints}
 * ({@link MeshScale#wideState}, every tenth service with a DestinationRule and VirtualService),
 * {@code proxiesPerCluster} sidecars connected to the snapshot cache in every cluster. One
 * invocation publishes the next federation state (an endpoint changes in every cluster: a
 * mesh-wide change) and measures until every connected proxy's snapshot is computed from it:
 * the merge for each (cluster, network) viewpoint and the translation for each proxy, without
 * the gRPC writes ({@link XdsPushBenchmark} measures those). The 1-cluster run is the baseline
 * of the same run. Heap retained by the cache (state, views and every snapshot) is printed at
 * setup. Run: {@code ./mvnw -Pbench -pl mesh-controller -am verify -Dbench=FullPushBenchmark
 * -Dbench.args="-f 1 -wi 1 -i 3 -prof gc"}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class FullPushBenchmark {

    private static final Duration PUSH_TIMEOUT = Duration.ofMinutes(5);

    @Param({"1", "10"})
    int clusters;

    @Param({"1000"})
    int services;

    @Param({"10"})
    int endpoints;

    @Param({"10"})
    int proxiesPerCluster;

    private MeshSnapshotCache cache;
    private MeshConfig config;
    // Two states that differ in one endpoint per cluster, alternated: built once, outside the measurement.
    private final FederatedState[] states = new FederatedState[2];
    private long version = 1;

    @Setup(Level.Trial)
    public void connect() throws InterruptedException {
        long before = usedHeap();
        config = MeshScale.config(services, 80);
        states[0] = MeshScale.wideState(clusters, services, endpoints, 0);
        states[1] = MeshScale.wideState(clusters, services, endpoints, 1);
        cache = new MeshSnapshotCache(new XdsOptions(MeshScale.DOMAIN, MeshScale.DOMAIN, Duration.ZERO,
                Duration.ZERO));
        for (int c = 0; c < clusters; c++) {
            for (int i = 0; i < proxiesPerCluster; i++) {
                cache.connect(MeshScale.sidecar(c, i));
            }
        }
        push();
        System.out.printf("%n[heap] %d clusters x %d services x %d endpoints, %d proxies: %.1f MiB retained"
                        + " (state, views, snapshots)%n", clusters, services, endpoints, clusters * proxiesPerCluster,
                (usedHeap() - before) / 1048576.0);
    }

    @Benchmark
    public long push() throws InterruptedException {
        FederatedState next = states[(int) (++version % 2)];
        FederatedState state = new FederatedState(version, next.clusters(), next.clusterStates(),
                next.trustRootsPem());
        cache.onState(state, config);
        long deadline = System.nanoTime() + PUSH_TIMEOUT.toNanos();
        while (cache.pushedStateIndex() != state.appliedIndex()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no full push of state " + state.appliedIndex() + " in "
                        + PUSH_TIMEOUT);
            }
            Thread.sleep(1);
        }
        return cache.pushedStateIndex();
    }

    @TearDown(Level.Trial)
    public void close() {
        cache.close();
    }

    private static long usedHeap() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
