package io.isthmus.controller.xds;

import static org.awaitility.Awaitility.await;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The ProxylessGrpc* tests' mesh: real gRPC servers (the health service, each on its own loopback
 * address as a pod has its own IP, counting the calls it answers), the controller's real ADS
 * server, and one proxyless client: a channel to {@code xds:///greeter.sample.svc.cluster.local:<port>}
 * (50051, 50052, ...: one port per mesh) through grpc-xds with a bootstrap naming that ADS
 * server, the client in cluster {@code east},
 * locality {@code us-east/us-east-1a}. Tests push federation states (and Istio configuration)
 * into the controller's snapshot cache as discovery would.
 *
 * <p>The controller's snapshot cache and ADS server are one per JVM, never closed: grpc-xds reads
 * its bootstrap ({@code io.grpc.xds.bootstrapConfig}) once per JVM, so a second test with an ADS
 * server of its own would dial the first one's closed port. Each push carries a state index
 * above every earlier one, and each test pushes before its first call.
 */
final class ProxylessMesh implements AutoCloseable {

    static final String HOST = "greeter.sample.svc.cluster.local";
    /**
     * Each mesh serves greeter on a port of its own: grpc-xds' per-JVM client keeps the previous
     * test's listener, routes and clusters cached, and a new port gives this test fresh names.
     */
    private static final AtomicInteger NEXT_PORT = new AtomicInteger(50051);
    private final int port = NEXT_PORT.getAndIncrement();
    static final ServiceKey KEY = new ServiceKey("sample", "greeter");
    static final Locality EAST = MeshFixture.EAST_LOCALITY;
    static final Locality WEST = MeshFixture.WEST_LOCALITY;
    static final Locality EU = MeshFixture.EU_LOCALITY;

    private final List<Server> backends = new ArrayList<>();
    private final List<AtomicInteger> calls = new ArrayList<>();
    private static final AtomicInteger STATE_INDEX = new AtomicInteger();

    private final MeshSnapshotCache cache = Controller.CACHE;
    private final ManagedChannel channel;
    private final HealthGrpc.HealthBlockingStub stub;
    /** Whether a call of this mesh's channel has succeeded yet; the test thread's. */
    private boolean configured;

    /** The controller side, started on first use. */
    private static final class Controller {
        static final MeshSnapshotCache CACHE = new MeshSnapshotCache(new XdsOptions("cluster.local",
                "cluster.local", Duration.ofMillis(20), Duration.ofMillis(200)));
        static final XdsServer XDS = XdsServer.start(new XdsServerOptions("127.0.0.1", 0, 0, null, List.of()),
                CACHE, new SyncTracker());

        static {
            System.setProperty("io.grpc.xds.bootstrapConfig", bootstrap(XDS.plaintextAddress()));
        }
    }

    private ProxylessMesh(int backendCount) throws IOException {
        for (int i = 0; i < backendCount; i++) {
            AtomicInteger counter = new AtomicInteger();
            calls.add(counter);
            HealthStatusManager health = new HealthStatusManager();
            backends.add(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0." + (2 + i), 0))
                    .addService(ServerInterceptors.intercept(health.getHealthService(), counting(counter)))
                    .build().start());
        }
        channel = Grpc.newChannelBuilder("xds:///" + HOST + ":" + port, InsecureChannelCredentials.create()).build();
        stub = HealthGrpc.newBlockingStub(channel).withWaitForReady();
    }

    /** {@code backendCount} servers on 127.0.0.2, 127.0.0.3, ...; nothing pushed yet. */
    static ProxylessMesh start(int backendCount) throws IOException {
        return new ProxylessMesh(backendCount);
    }

    /** Backend {@code i} as a ready greeter pod of {@code cluster} (on net1) in {@code locality}. */
    Endpoint endpoint(int i, String cluster, Locality locality, String version) {
        InetSocketAddress address = (InetSocketAddress) backends.get(i).getListenSockets().get(0);
        return new Endpoint(KEY, address.getAddress().getHostAddress(), Map.of("grpc", address.getPort()), true,
                locality, cluster, "net1", "greeter", "greeter-" + i, Map.of("app", "greeter", "version", version));
    }

    /**
     * A ready greeter pod of cluster {@code eu} (net2, eu-west), which the client could reach only
     * through eu's east-west gateway: mTLS with SNI, which a plaintext proxyless client cannot do.
     */
    static Endpoint behindGateway() {
        return new Endpoint(KEY, "127.103.1.1", Map.of("grpc", 50051), true, EU, "eu", "net2", "greeter",
                "greeter-eu", Map.of("app", "greeter", "version", "v1"));
    }

    /**
     * A new federation state (east and west on net1, eu on net2, each serving greeter) without
     * Istio configuration, returning once the cache has translated it.
     */
    void push(List<Endpoint> endpoints) {
        // The cache is shared: clear what an earlier test configured.
        flushed(state(endpoints), MeshConfig.EMPTY);
    }

    /**
     * A new federation state with the Istio configuration {@code yaml} (namespace sample) in
     * force, returning once the cache has translated it.
     */
    void push(List<Endpoint> endpoints, String yaml) {
        flushed(state(endpoints), MeshConfig.merge(
                Map.of("east", Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z")), "cluster.local"));
    }

    /**
     * The cache debounces: until it flushes, the client (and a call that starts its name
     * resolution) would be served the previous test's state, which lacks this mesh's port.
     */
    private void flushed(FederatedState state, MeshConfig config) {
        cache.onState(state, config);
        await().atMost(Duration.ofSeconds(30)).until(() -> cache.pushedStateIndex() >= state.appliedIndex());
    }

    /**
     * Makes {@code n} calls, one after the other, and returns how many each backend answered. The
     * first call of a mesh is preceded by one that waits for LDS → RDS (inline) → CDS → EDS from
     * the controller (not counted).
     */
    int[] call(int n) {
        if (!configured) {
            awaitConfigured();
            configured = true;
        }
        int[] before = counts();
        for (int i = 0; i < n; i++) {
            stub.withDeadlineAfter(30, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
        }
        int[] answered = counts();
        for (int i = 0; i < answered.length; i++) {
            answered[i] -= before[i];
        }
        return answered;
    }

    /**
     * Until one call succeeds. grpc-xds gives up on a resource 15 s after asking for it (NOT_FOUND,
     * "Timed out waiting for resource") and fails calls meanwhile; a cold JVM on a loaded machine
     * can take that long to load, send and parse the first LDS answer. The client recovers when the
     * answer arrives, so that error (and only that one) is waited out.
     */
    private void awaitConfigured() {
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200))
                .ignoreExceptionsMatching(e -> e instanceof StatusRuntimeException sre
                        && sre.getStatus().getCode() == Status.Code.UNAVAILABLE
                        && String.valueOf(sre.getStatus().getDescription()).contains("Timed out waiting for resource"))
                .until(() -> {
                    stub.withDeadlineAfter(30, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
                    return true;
                });
    }

    private int[] counts() {
        return calls.stream().mapToInt(AtomicInteger::get).toArray();
    }

    private FederatedState state(List<Endpoint> endpoints) {
        MeshService greeter = new MeshService(KEY, HOST, List.of(new ServicePort("grpc", port, port, "GRPC")),
                Map.of("app", "greeter"), Set.of("*"), false);
        Map<String, ClusterState> clusters = Map.of(
                "east", new ClusterState("east", "net1", List.of(greeter), of(endpoints, "east"),
                        List.of(new NetworkGateway("net1", "east", "127.101.0.2", 15443))),
                "west", new ClusterState("west", "net1", List.of(greeter), of(endpoints, "west"),
                        List.of(new NetworkGateway("net1", "west", "127.102.0.2", 15443))),
                "eu", new ClusterState("eu", "net2", List.of(greeter), of(endpoints, "eu"),
                        List.of(new NetworkGateway("net2", "eu", "127.103.0.2", 15443))));
        return new FederatedState(STATE_INDEX.incrementAndGet(),
                Map.of("east", new ClusterInfo("east", "net1", EAST, "127.0.0.1:15012"),
                        "west", new ClusterInfo("west", "net1", WEST, "127.0.0.1:15012"),
                        "eu", new ClusterInfo("eu", "net2", EU, "127.0.0.1:15012")),
                clusters, MeshFixture.ROOTS);
    }

    private static List<Endpoint> of(List<Endpoint> endpoints, String cluster) {
        return endpoints.stream().filter(e -> e.cluster().equals(cluster)).toList();
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        for (Server backend : backends) {
            backend.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /**
     * What Istio's gRPC bootstrap writes, pointed at this controller's plaintext (loopback) ADS port.
     * It names the certificate provider the controller's mTLS clusters refer to (grpc-xds NACKs a
     * cluster naming an instance its bootstrap lacks); these clients dial with insecure channel
     * credentials, which ignore the clusters' TLS, so the files are never read.
     */
    private static String bootstrap(InetSocketAddress ads) {
        return """
                {
                  "xds_servers": [{
                    "server_uri": "127.0.0.1:%d",
                    "channel_creds": [{"type": "insecure"}],
                    "server_features": ["xds_v3"]
                  }],
                  "certificate_providers": {
                    "default": {
                      "plugin_name": "file_watcher",
                      "config": {
                        "certificate_file": "/nonexistent/cert-chain.pem",
                        "private_key_file": "/nonexistent/key.pem",
                        "ca_certificate_file": "/nonexistent/root-cert.pem"
                      }
                    }
                  },
                  "node": {
                    "id": "sidecar~127.0.0.9~client-1.sample~sample.svc.cluster.local",
                    "locality": {"region": "us-east", "zone": "us-east-1a"},
                    "metadata": {
                      "GENERATOR": "grpc",
                      "CLUSTER_ID": "east",
                      "NETWORK": "net1",
                      "NAMESPACE": "sample",
                      "SERVICE_ACCOUNT": "client"
                    }
                  }
                }
                """.formatted(ads.getPort());
    }

    private static ServerInterceptor counting(AtomicInteger counter) {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
                        next.startCall(call, headers)) {
                    @Override
                    public void onHalfClose() {
                        counter.incrementAndGet();
                        super.onHalfClose();
                    }
                };
            }
        };
    }
}
