package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
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
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 6, "Done when": a gRPC-Java proxyless client ({@code xds:///} target, grpc-xds, bootstrap
 * naming the controller's ADS server) calls real gRPC servers through the routes, clusters and
 * endpoints the controller serves it, and follows an endpoint change pushed by the controller.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ProxylessGrpcTest {

    private static final String HOST = "greeter.sample.svc.cluster.local";
    private static final int PORT = 50051;
    private static final ServiceKey KEY = new ServiceKey("sample", "greeter");
    private static final String BOOTSTRAP_PROPERTY = "io.grpc.xds.bootstrapConfig";

    private MeshSnapshotCache cache;
    private XdsServer xds;
    private final List<Server> backends = new ArrayList<>();
    private final List<AtomicInteger> calls = new ArrayList<>();
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        for (String address : List.of("127.0.0.2", "127.0.0.3")) {
            AtomicInteger counter = new AtomicInteger();
            calls.add(counter);
            HealthStatusManager health = new HealthStatusManager();
            // Each backend on its own loopback address, as a pod has its own IP.
            backends.add(NettyServerBuilder.forAddress(new InetSocketAddress(address, 0))
                    .addService(ServerInterceptors.intercept(health.getHealthService(), counting(counter)))
                    .build().start());
        }
        cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
                Duration.ofMillis(20), Duration.ofMillis(200)));
        cache.onState(state(List.of(0, 1)));
        xds = XdsServer.start(new XdsServerOptions("127.0.0.1", 0, 0, null, List.of()), cache, new SyncTracker());
        System.setProperty(BOOTSTRAP_PROPERTY, bootstrap(xds.plaintextAddress()));
        channel = Grpc.newChannelBuilder("xds:///" + HOST + ":" + PORT, InsecureChannelCredentials.create()).build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        System.clearProperty(BOOTSTRAP_PROPERTY);
        if (xds != null) {
            xds.close();
        }
        if (cache != null) {
            cache.close();
        }
        for (Server backend : backends) {
            backend.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void callsBothEndpointsThroughTheServedConfigAndFollowsAnEndpointPush() {
        HealthGrpc.HealthBlockingStub stub = HealthGrpc.newBlockingStub(channel).withWaitForReady();
        for (int i = 0; i < 20; i++) {
            // The first call waits for LDS → RDS (inline) → CDS → EDS from the controller.
            HealthCheckResponse response = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance());
            assertThat(response.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        }
        // Round robin over the two endpoints of one locality.
        assertThat(calls.get(0).get()).isGreaterThanOrEqualTo(5);
        assertThat(calls.get(1).get()).isGreaterThanOrEqualTo(5);

        // The first endpoint leaves the mesh: the controller pushes EDS and the client follows.
        cache.onState(state(List.of(1)));
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            int before = calls.get(0).get();
            for (int i = 0; i < 10; i++) {
                stub.withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
            }
            assertThat(calls.get(0).get()).isEqualTo(before);
        });
    }

    private FederatedState state(List<Integer> serving) {
        List<Endpoint> endpoints = new ArrayList<>();
        for (int i : serving) {
            InetSocketAddress address = (InetSocketAddress) backends.get(i).getListenSockets().get(0);
            endpoints.add(new Endpoint(KEY, address.getAddress().getHostAddress(), Map.of("grpc", address.getPort()),
                    true, MeshFixture.EAST_LOCALITY, "east", "net1", "greeter", "greeter-" + i,
                    Map.of("app", "greeter", "version", "v1")));
        }
        ClusterState east = new ClusterState("east", "net1",
                List.of(new MeshService(KEY, HOST, List.of(new ServicePort("grpc", PORT, PORT, "GRPC")),
                        Map.of("app", "greeter"), Set.of("*"), false)),
                endpoints, List.of(new NetworkGateway("net1", "east", "127.101.0.2", 15443)));
        return new FederatedState(serving.size(),
                Map.of("east", new ClusterInfo("east", "net1", MeshFixture.EAST_LOCALITY, "127.0.0.1:15012")),
                Map.of("east", east), MeshFixture.ROOTS);
    }

    /** What Istio's gRPC bootstrap writes, pointed at this controller's plaintext (loopback) ADS port. */
    private static String bootstrap(InetSocketAddress ads) {
        return """
                {
                  "xds_servers": [{
                    "server_uri": "127.0.0.1:%d",
                    "channel_creds": [{"type": "insecure"}],
                    "server_features": ["xds_v3"]
                  }],
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
