package io.isthmus.controller.xds;

import static io.envoyproxy.controlplane.cache.Resources.V3.CLUSTER_TYPE_URL;
import static io.envoyproxy.controlplane.cache.Resources.V3.ENDPOINT_TYPE_URL;
import static io.envoyproxy.controlplane.cache.Resources.V3.LISTENER_TYPE_URL;
import static io.envoyproxy.controlplane.cache.Resources.V3.ROUTE_TYPE_URL;
import static io.envoyproxy.controlplane.cache.Resources.V3.SECRET_TYPE_URL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.rpc.Status;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status.Code;
import io.grpc.netty.NettyChannelBuilder;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The ADS server on 127.0.0.1 with a real gRPC client stream. */
class XdsServerTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String HELLOWORLD_CLUSTER = "outbound|5000||" + MeshFixture.HELLOWORLD;

    private MeshSnapshotCache cache;
    private SyncTracker tracker;
    private XdsServer server;
    private ManagedChannel channel;

    @BeforeEach
    void start() {
        cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
                Duration.ofMillis(20), Duration.ofMillis(200)));
        tracker = new SyncTracker();
        server = XdsServer.start(new XdsServerOptions("127.0.0.1", 0, 0, null, List.of()), cache, tracker);
        channel = NettyChannelBuilder.forAddress(server.plaintextAddress()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        cache.close();
    }

    static Node westCurlNode() {
        return Node.newBuilder()
                .setId("sidecar~127.102.1.1~curl-west-1.sample~sample.svc.cluster.local")
                .setCluster("curl.sample")
                .setLocality(Locality.newBuilder().setRegion("us-west").setZone("us-west-1a"))
                .setMetadata(Struct.newBuilder()
                        .putFields("CLUSTER_ID", string("west"))
                        .putFields("NETWORK", string("net1"))
                        .putFields("NAMESPACE", string("sample"))
                        .putFields("SERVICE_ACCOUNT", string("curl"))
                        .putFields("NAME", string("curl-west-1"))
                        .putFields("LABELS", Value.newBuilder().setStructValue(Struct.newBuilder()
                                .putFields("app", string("curl"))).build()))
                .build();
    }

    private static Value string(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }

    @Test
    void servesEveryTypeThenOnlyEdsWhenOnlyEndpointsChange() throws Exception {
        cache.onState(MeshFixture.state());
        try (AdsClient client = new AdsClient(channel)) {
            // Only the first request carries the node, as gRPC-Java's xDS client does.
            client.request(westCurlNode(), CLUSTER_TYPE_URL, List.of(), "", "");
            DiscoveryResponse cds = client.next(WAIT);
            assertThat(cds.getTypeUrl()).isEqualTo(CLUSTER_TYPE_URL);
            List<String> edsNames = new ArrayList<>();
            for (Any any : cds.getResourcesList()) {
                Cluster cluster = any.unpack(Cluster.class);
                if (cluster.getType() == Cluster.DiscoveryType.EDS) {
                    edsNames.add(cluster.getEdsClusterConfig().getServiceName());
                }
            }
            assertThat(edsNames).contains(HELLOWORLD_CLUSTER);
            client.ack(cds, List.of());

            client.request(null, ENDPOINT_TYPE_URL, edsNames, "", "");
            DiscoveryResponse eds = client.next(WAIT);
            assertThat(eds.getTypeUrl()).isEqualTo(ENDPOINT_TYPE_URL);
            assertThat(eds.getResourcesCount()).isEqualTo(edsNames.size());
            client.ack(eds, edsNames);

            client.request(null, LISTENER_TYPE_URL, List.of(), "", "");
            DiscoveryResponse lds = client.next(WAIT);
            assertThat(lds.getTypeUrl()).isEqualTo(LISTENER_TYPE_URL);
            client.ack(lds, List.of());

            client.request(null, ROUTE_TYPE_URL, List.of("5000", "80"), "", "");
            DiscoveryResponse rds = client.next(WAIT);
            assertThat(rds.getTypeUrl()).isEqualTo(ROUTE_TYPE_URL);
            assertThat(rds.getResourcesCount()).isEqualTo(2);
            client.ack(rds, List.of("5000", "80"));

            client.request(null, SECRET_TYPE_URL, List.of("ROOTCA"), "", "");
            DiscoveryResponse sds = client.next(WAIT);
            assertThat(sds.getTypeUrl()).isEqualTo(SECRET_TYPE_URL);
            client.ack(sds, List.of("ROOTCA"));

            String proxyId = westCurlNode().getId();
            await().atMost(WAIT).untilAsserted(() -> assertThat(tracker.status(proxyId)).hasValueSatisfying(s -> {
                assertThat(s.cluster()).isEqualTo("west");
                assertThat(s.types()).containsOnlyKeys("CDS", "EDS", "LDS", "RDS", "SDS");
                assertThat(s.types().values()).allMatch(ProxySyncStatus.TypeStatus::synced);
            }));

            // East's second pod becomes ready: only endpoints change.
            cache.onState(withEastPodReady(MeshFixture.state()));
            DiscoveryResponse update = client.next(WAIT);
            assertThat(update.getTypeUrl()).isEqualTo(ENDPOINT_TYPE_URL);
            assertThat(update.getVersionInfo()).isNotEqualTo(eds.getVersionInfo());
            ClusterLoadAssignment helloworld = update.getResourcesList().stream()
                    .map(a -> unpack(a, ClusterLoadAssignment.class))
                    .filter(c -> c.getClusterName().equals(HELLOWORLD_CLUSTER)).findFirst().orElseThrow();
            assertThat(helloworld.getEndpointsList().stream().flatMap(l -> l.getLbEndpointsList().stream())
                    .filter(e -> e.getEndpoint().getAddress().getSocketAddress().getAddress().equals("127.101.1.2")))
                    .singleElement()
                    .satisfies(e -> assertThat(e.getHealthStatus().name()).isEqualTo("HEALTHY"));
            client.ack(update, edsNames);
            // Nothing else follows: CDS, LDS, RDS and SDS kept their versions.
            assertThat(client.responses.poll(300, TimeUnit.MILLISECONDS)).isNull();

            // The proxy rejects the next EDS version: a NACK is recorded with its error.
            cache.onState(MeshFixture.state());
            DiscoveryResponse rejected = client.next(WAIT);
            assertThat(rejected.getTypeUrl()).isEqualTo(ENDPOINT_TYPE_URL);
            client.send(DiscoveryRequest.newBuilder()
                    .setTypeUrl(ENDPOINT_TYPE_URL)
                    .addAllResourceNames(edsNames)
                    .setVersionInfo(update.getVersionInfo())
                    .setResponseNonce(rejected.getNonce())
                    .setErrorDetail(Status.newBuilder().setCode(3).setMessage("bad endpoint 127.101.1.2"))
                    .build());
            await().atMost(WAIT).untilAsserted(() -> {
                ProxySyncStatus.TypeStatus status = tracker.status(proxyId).orElseThrow().types().get("EDS");
                assertThat(status.nacks()).isEqualTo(1);
                assertThat(status.lastNackError()).isEqualTo("bad endpoint 127.101.1.2");
                assertThat(status.ackedVersion()).isEqualTo(update.getVersionInfo());
                assertThat(status.sentVersion()).isEqualTo(rejected.getVersionInfo());
                assertThat(status.synced()).isFalse();
            });
            assertThat(cache.snapshot(proxyId)).hasValueSatisfying(s -> assertThat(s.node().cluster()).isEqualTo("west"));
        }
        // The last stream closed: the proxy and its snapshot are gone.
        await().atMost(WAIT).until(() -> cache.connectedProxies().isEmpty() && cache.snapshots().isEmpty());
    }

    @Test
    void proxyConnectingBeforeAnyStateGetsConfigWhenTheFirstStateArrives() throws Exception {
        try (AdsClient client = new AdsClient(channel)) {
            client.request(westCurlNode(), CLUSTER_TYPE_URL, List.of(), "", "");
            assertThat(client.responses.poll(200, TimeUnit.MILLISECONDS)).isNull();

            cache.onState(MeshFixture.state());

            assertThat(client.next(WAIT).getTypeUrl()).isEqualTo(CLUSTER_TYPE_URL);
        }
    }

    @Test
    void malformedNodeIsRejectedWithInvalidArgument() throws Exception {
        cache.onState(MeshFixture.state());
        try (AdsClient client = new AdsClient(channel)) {
            Node noCluster = westCurlNode().toBuilder()
                    .setMetadata(westCurlNode().getMetadata().toBuilder().removeFields("CLUSTER_ID"))
                    .build();
            client.request(noCluster, CLUSTER_TYPE_URL, List.of(), "", "");

            Throwable error = client.closed.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            io.grpc.Status status = io.grpc.Status.fromThrowable(error);
            assertThat(status.getCode()).isEqualTo(Code.INVALID_ARGUMENT);
            assertThat(status.getDescription()).contains("CLUSTER_ID");
        }
        assertThat(cache.connectedProxies()).isEmpty();
    }

    @Test
    void burstOfStatesIsDebouncedIntoOnePush() throws Exception {
        cache.onState(MeshFixture.state());
        try (AdsClient client = new AdsClient(channel)) {
            client.request(westCurlNode(), CLUSTER_TYPE_URL, List.of(), "", "");
            client.ack(client.next(WAIT), List.of());
            await().atMost(WAIT).until(() -> cache.pushedStateIndex() == 7);

            FederatedState base = MeshFixture.state();
            for (int i = 0; i < 10; i++) {
                cache.onState(new FederatedState(100 + i, base.clusters(), base.clusterStates(), base.trustRootsPem()));
            }

            await().atMost(WAIT).until(() -> cache.pushedStateIndex() == 109);
            assertThat(cache.snapshot(westCurlNode().getId()).orElseThrow().stateIndex()).isEqualTo(109);
        }
    }

    @Test
    void deltaStreamGetsResourcesAndOnlyWhatChanged() throws Exception {
        cache.onState(MeshFixture.state());
        java.util.concurrent.LinkedBlockingQueue<io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse>
                responses = new java.util.concurrent.LinkedBlockingQueue<>();
        io.grpc.stub.StreamObserver<io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest> requests =
                io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc.newStub(channel)
                        .deltaAggregatedResources(new io.grpc.stub.StreamObserver<>() {
                            @Override
                            public void onNext(io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse v) {
                                responses.add(v);
                            }

                            @Override
                            public void onError(Throwable t) {
                            }

                            @Override
                            public void onCompleted() {
                            }
                        });
        try {
            requests.onNext(io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest.newBuilder()
                    .setNode(westCurlNode()).setTypeUrl(ENDPOINT_TYPE_URL)
                    .addResourceNamesSubscribe(HELLOWORLD_CLUSTER).build());
            var first = responses.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(first).isNotNull();
            assertThat(first.getResourcesList()).extracting(r -> r.getName()).containsExactly(HELLOWORLD_CLUSTER);
            requests.onNext(io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest.newBuilder()
                    .setTypeUrl(ENDPOINT_TYPE_URL).setResponseNonce(first.getNonce()).build());

            cache.onState(withEastPodReady(MeshFixture.state()));

            var second = responses.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(second).isNotNull();
            assertThat(second.getResourcesList()).extracting(r -> r.getName()).containsExactly(HELLOWORLD_CLUSTER);
            assertThat(second.getResources(0).getVersion()).isNotEqualTo(first.getResources(0).getVersion());
        } finally {
            requests.onCompleted();
        }
    }

    private static FederatedState withEastPodReady(FederatedState state) {
        ClusterState east = state.clusterStates().get("east");
        List<Endpoint> endpoints = east.endpoints().stream()
                .map(e -> new Endpoint(e.service(), e.address(), e.ports(), true, e.locality(), e.cluster(),
                        e.network(), e.serviceAccount(), e.workload(), e.labels()))
                .toList();
        return MeshFixture.state(new ClusterState("east", "net1", east.services(), endpoints, east.gateways()),
                state.clusterStates().get("west"), state.clusterStates().get("eu"));
    }

    private static <T extends com.google.protobuf.Message> T unpack(Any any, Class<T> type) {
        try {
            return any.unpack(type);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }
}
