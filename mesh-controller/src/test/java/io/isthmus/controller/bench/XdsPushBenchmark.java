package io.isthmus.controller.bench;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.isthmus.controller.translate.MeshPolicies;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyResources;
import io.isthmus.controller.translate.XdsTranslator;
import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.SyncTracker;
import io.isthmus.controller.xds.XdsOptions;
import io.isthmus.controller.xds.XdsServer;
import io.isthmus.controller.xds.XdsServerOptions;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshView;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
 * Issue 6's push figure: {@code proxies} sidecars hold ADS streams (CDS, LDS wildcard; EDS, RDS by
 * name; every response ACKed at once, as Envoy does) to a real xDS server on loopback; one
 * invocation changes the configuration (a VirtualService's weights on every tenth service of
 * {@link MeshScale}) and measures the time until the last proxy has received and ACKed its new
 * routes: debounce, the translation (the outbound side shared by proxies with the same view key,
 * {@code SharedTranslation}; the inbound side per proxy), serialization and the gRPC writes. The 1-proxy run
 * is the baseline of the same run. Run (after {@code ./mvnw install -DskipTests}):
 * {@code ./mvnw -Pbench -pl mesh-controller verify -Dbench=XdsPushBenchmark -Dbench.args="-f 1 -wi 2 -i 5"}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class XdsPushBenchmark {

    private static final String CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    private static final String EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    private static final String LDS = "type.googleapis.com/envoy.config.listener.v3.Listener";
    private static final String RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    private static final int STREAMS_PER_CONNECTION = 50;
    private static final Duration PUSH_TIMEOUT = Duration.ofMinutes(2);

    @Param({"1", "500"})
    int proxies;

    @Param({"100"})
    int services;

    private FederatedState state;
    private MeshSnapshotCache cache;
    private XdsServer server;
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<Proxy> streams = new ArrayList<>();
    private int v1Weight = 80;

    @Setup(Level.Trial)
    public void connect() throws InterruptedException {
        state = MeshScale.state(services, 3, 1);
        cache = new MeshSnapshotCache(new XdsOptions(MeshScale.DOMAIN, MeshScale.DOMAIN,
                XdsOptions.DEFAULT_QUIET, XdsOptions.DEFAULT_MAX));
        cache.onState(state, MeshScale.config(services, v1Weight));
        server = XdsServer.start(new XdsServerOptions("127.0.0.1", 0, 0, null, List.of()), cache, new SyncTracker());

        ProxyNode first = MeshScale.westSidecar(0);
        ProxyResources resources = XdsTranslator.translate(
                MeshView.of(state, first.viewpoint(), MeshScale.DOMAIN, MeshScale.DOMAIN), first, MeshScale.ROOTS,
                new MeshPolicies(MeshScale.config(services, v1Weight), state, MeshScale.DOMAIN));
        List<String> edsNames = resources.endpoints().stream().map(c -> c.getClusterName()).toList();
        List<String> rdsNames = resources.routes().stream().map(r -> r.getName()).toList();

        for (int i = 0; i < proxies; i++) {
            if (i % STREAMS_PER_CONNECTION == 0) {
                channels.add(NettyChannelBuilder.forAddress(server.plaintextAddress()).usePlaintext()
                        .maxInboundMessageSize(64 << 20).build());
            }
            streams.add(new Proxy(channels.get(channels.size() - 1), node(MeshScale.westSidecar(i)), edsNames,
                    rdsNames));
        }
        long deadline = System.nanoTime() + PUSH_TIMEOUT.toNanos();
        for (Proxy proxy : streams) {
            while (proxy.rds.get() == 0 || proxy.eds.get() == 0) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("proxy " + proxy.node.getId() + " got no RDS/EDS in "
                            + PUSH_TIMEOUT);
                }
                Thread.sleep(5);
            }
        }
    }

    @Benchmark
    public long pushConfigChangeUntilLastAck() throws InterruptedException {
        int[] before = new int[streams.size()];
        for (int i = 0; i < before.length; i++) {
            before[i] = streams.get(i).rds.get();
        }
        v1Weight = v1Weight == 80 ? 70 : 80;
        cache.onState(state, MeshScale.config(services, v1Weight));
        long deadline = System.nanoTime() + PUSH_TIMEOUT.toNanos();
        int acked = 0;
        for (int i = 0; i < before.length; i++) {
            while (streams.get(i).rds.get() == before[i]) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("proxy " + i + " got no new RDS in " + PUSH_TIMEOUT);
                }
                Thread.sleep(1);
            }
            acked++;
        }
        return acked;
    }

    @TearDown(Level.Trial)
    public void close() throws InterruptedException {
        streams.forEach(Proxy::close);
        for (ManagedChannel channel : channels) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        server.close();
        cache.close();
    }

    private static Node node(ProxyNode proxy) {
        return Node.newBuilder()
                .setId(proxy.id())
                .setCluster(proxy.serviceAccount() + "." + proxy.namespace())
                .setLocality(Locality.newBuilder().setRegion(proxy.locality().region())
                        .setZone(proxy.locality().zone()))
                .setMetadata(Struct.newBuilder()
                        .putFields("CLUSTER_ID", string(proxy.cluster()))
                        .putFields("NETWORK", string(proxy.network()))
                        .putFields("NAMESPACE", string(proxy.namespace()))
                        .putFields("SERVICE_ACCOUNT", string(proxy.serviceAccount()))
                        .putFields("NAME", string(proxy.podName())))
                .build();
    }

    private static Value string(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }

    /** One proxy's ADS stream: subscribes to the four types and ACKs every response at once. */
    private static final class Proxy implements StreamObserver<DiscoveryResponse> {
        final Node node;
        final AtomicInteger eds = new AtomicInteger();
        final AtomicInteger rds = new AtomicInteger();
        private final List<String> edsNames;
        private final List<String> rdsNames;
        private final StreamObserver<DiscoveryRequest> requests;

        Proxy(ManagedChannel channel, Node node, List<String> edsNames, List<String> rdsNames) {
            this.node = node;
            this.edsNames = edsNames;
            this.rdsNames = rdsNames;
            requests = AggregatedDiscoveryServiceGrpc.newStub(channel).streamAggregatedResources(this);
            synchronized (this) {
                requests.onNext(request(CDS, List.of(), "", "").setNode(node).build());
                requests.onNext(request(LDS, List.of(), "", "").build());
                requests.onNext(request(EDS, edsNames, "", "").build());
                requests.onNext(request(RDS, rdsNames, "", "").build());
            }
        }

        @Override
        public void onNext(DiscoveryResponse response) {
            String type = response.getTypeUrl();
            List<String> names = type.equals(EDS) ? edsNames : type.equals(RDS) ? rdsNames : List.of();
            synchronized (this) {
                requests.onNext(request(type, names, response.getVersionInfo(), response.getNonce()).build());
            }
            // Counted after the ACK is written: the figure is "until the last ACK".
            if (type.equals(EDS)) {
                eds.incrementAndGet();
            } else if (type.equals(RDS)) {
                rds.incrementAndGet();
            }
        }

        @Override
        public void onError(Throwable t) {
            System.err.println("stream of " + node.getId() + " failed: " + t);
        }

        @Override
        public void onCompleted() {
        }

        void close() {
            try {
                synchronized (this) {
                    requests.onCompleted();
                }
            } catch (IllegalStateException alreadyClosed) {
                // The server closed it first.
            }
        }

        private static DiscoveryRequest.Builder request(String type, List<String> names, String version,
                String nonce) {
            return DiscoveryRequest.newBuilder().setTypeUrl(type).addAllResourceNames(names)
                    .setVersionInfo(version).setResponseNonce(nonce);
        }
    }
}
