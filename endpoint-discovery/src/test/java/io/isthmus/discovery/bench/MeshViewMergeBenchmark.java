package io.isthmus.discovery.bench;

import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.Viewpoint;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

/**
 * Issue 5's scale point: 10 clusters × 1,000 services × 10 endpoints, merged for one viewer. The
 * same services exist in every cluster (the worst case for the merge: 1,000 hosts with 100
 * endpoints each); half the clusters are on another network, so their endpoints fold into
 * gateway entries. The baseline is the same merge with one cluster, measured in the same run,
 * so the report is a ratio as well as a time. Heap retained by the state and by one view is
 * printed at setup. Run (after {@code ./mvnw install -DskipTests}): {@code ./mvnw -Pbench -pl endpoint-discovery verify -Dbench=MeshViewMerge
 * -Dbench.args="-f 1 -wi 3 -i 5 -prof gc"}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class MeshViewMergeBenchmark {

    @Param({"1", "10"})
    int clusters;

    @Param({"1000"})
    int services;

    @Param({"10"})
    int endpoints;

    private FederatedState state;
    private final Viewpoint viewer = new Viewpoint("cluster-0", "net0");

    @Setup(Level.Trial)
    public void build() {
        long before = usedHeap();
        state = mesh(clusters, services, endpoints);
        long withState = usedHeap();
        MeshView view = MeshView.of(state, viewer, "cluster.local", "cluster.local");
        long withView = usedHeap();
        System.out.printf("%n[heap] %d clusters x %d services x %d endpoints: state %.1f MiB, one view %.1f MiB,"
                        + " %d hosts%n", clusters, services, endpoints, (withState - before) / 1048576.0,
                (withView - withState) / 1048576.0, view.services().size());
    }

    @Benchmark
    public MeshView merge() {
        return MeshView.of(state, viewer, "cluster.local", "cluster.local");
    }

    static FederatedState mesh(int clusterCount, int serviceCount, int endpointCount) {
        Map<String, ClusterInfo> infos = new HashMap<>();
        Map<String, ClusterState> states = new HashMap<>();
        for (int c = 0; c < clusterCount; c++) {
            String cluster = "cluster-" + c;
            String network = "net" + (c % 2);
            Locality locality = new Locality("region-" + (c / 2), "zone-" + c, "");
            List<MeshService> svc = new ArrayList<>(serviceCount);
            List<Endpoint> eps = new ArrayList<>(serviceCount * endpointCount);
            for (int s = 0; s < serviceCount; s++) {
                ServiceKey key = new ServiceKey("ns-" + (s % 50), "svc-" + s);
                svc.add(new MeshService(key, key.hostname("cluster.local"),
                        List.of(new ServicePort("http", 8080, 8080, "HTTP")), Map.of("app", key.name()),
                        Set.of("*"), false));
                for (int e = 0; e < endpointCount; e++) {
                    String address = "10." + c + "." + (s / 25) + "." + ((s % 25) * 10 + e);
                    eps.add(new Endpoint(key, address, Map.of("http", 8080), true, locality, cluster, network,
                            "sa-" + s, key.name() + "-" + e, Map.of("app", key.name(), "version", "v1")));
                }
            }
            infos.put(cluster, new ClusterInfo(cluster, network, locality, "10." + c + ".0.1:15012"));
            states.put(cluster, new ClusterState(cluster, network, svc, eps,
                    List.of(new NetworkGateway(network, cluster, "10." + c + ".255.1", 15443))));
        }
        return new FederatedState(1, infos, states, List.of());
    }

    private static long usedHeap() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
