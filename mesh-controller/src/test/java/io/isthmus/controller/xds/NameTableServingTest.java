package io.isthmus.controller.xds;

import static io.envoyproxy.controlplane.cache.Resources.V3.CLUSTER_TYPE_URL;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.isthmus.trust.nds.NameTable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Istio's NDS over the controller's real ADS server, beside java-control-plane's types on one
 * stream: the name table arrives once subscribed, again only when it changes, and a host that
 * only another cluster defines is in it.
 */
class NameTableServingTest {

    private static final Duration WAIT = Duration.ofSeconds(30);

    private MeshSnapshotCache cache;
    private XdsServer server;
    private ManagedChannel channel;

    @BeforeEach
    void start() {
        cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
                Duration.ofMillis(20), Duration.ofMillis(200)));
        server = XdsServer.start(new XdsServerOptions("127.0.0.1", 0, 0, null, List.of()), cache,
                new SyncTracker());
        channel = NettyChannelBuilder.forAddress(server.plaintextAddress()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        cache.close();
    }

    @Test
    void theNameTableIsServedOnTheAdsStreamAndPushedWhenItChanges() throws Exception {
        cache.onState(MeshFixture.state());
        Node node = XdsServerTest.westCurlNode().toBuilder()
                .setMetadata(XdsServerTest.westCurlNode().getMetadata().toBuilder()
                        .putFields("DNS_CAPTURE", Value.newBuilder().setStringValue("true").build()))
                .build();
        try (AdsClient client = new AdsClient(channel)) {
            client.request(node, CLUSTER_TYPE_URL, List.of(), "", "");
            client.request(null, NameTableStream.TYPE_URL, List.of(), "", "");
            DiscoveryResponse nds = next(client, NameTableStream.TYPE_URL);
            assertThat(nds.getResourcesList()).hasSize(1);
            NameTable table = nds.getResources(0).unpack(NameTable.class);
            assertThat(table.getTableMap()).containsKeys(MeshFixture.HELLOWORLD, MeshFixture.CURL);
            client.ack(nds, List.of());

            // A service only eu defines, with its ClusterIP: west's curl can resolve it.
            cache.onState(withRatingsInEu(MeshFixture.state()));
            DiscoveryResponse next = next(client, NameTableStream.TYPE_URL);
            assertThat(next.getVersionInfo()).isNotEqualTo(nds.getVersionInfo());
            assertThat(next.getNonce()).isNotEqualTo(nds.getNonce());
            assertThat(next.getResources(0).unpack(NameTable.class).getTableMap()
                    .get("ratings.sample.svc.cluster.local").getIpsList()).containsExactly("10.100.0.20");
            client.ack(next, List.of());

            // Same hosts, same VIPs: no NDS push (the clusters may still be re-sent).
            cache.onState(new FederatedState(99, withRatingsInEu(MeshFixture.state()).clusters(),
                    withRatingsInEu(MeshFixture.state()).clusterStates(), List.of("other root")));
            long quietUntil = System.nanoTime() + Duration.ofMillis(1500).toNanos();
            while (System.nanoTime() < quietUntil) {
                DiscoveryResponse later = client.responses.poll(100, TimeUnit.MILLISECONDS);
                if (later != null) {
                    assertThat(later.getTypeUrl()).isNotEqualTo(NameTableStream.TYPE_URL);
                }
            }
        }
    }

    @Test
    void aStreamThatNeverAsksGetsNoNameTable() throws Exception {
        cache.onState(MeshFixture.state());
        try (AdsClient client = new AdsClient(channel)) {
            client.request(XdsServerTest.westCurlNode(), CLUSTER_TYPE_URL, List.of(), "", "");
            DiscoveryResponse first = client.next(WAIT);
            assertThat(first.getTypeUrl()).isEqualTo(CLUSTER_TYPE_URL);
            assertThat(client.responses.poll(500, TimeUnit.MILLISECONDS)).isNull();
        }
    }

    private static DiscoveryResponse next(AdsClient client, String typeUrl) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            DiscoveryResponse response = client.responses.poll(200, TimeUnit.MILLISECONDS);
            if (response != null && response.getTypeUrl().equals(typeUrl)) {
                return response;
            }
        }
        throw new AssertionError("no " + typeUrl + " response within " + WAIT);
    }

    private static FederatedState withRatingsInEu(FederatedState state) {
        ClusterState eu = state.clusterStates().get("eu");
        List<MeshService> services = new ArrayList<>(eu.services());
        ServiceKey key = new ServiceKey("sample", "ratings");
        services.add(new MeshService(key, key.hostname("cluster.local"),
                List.of(new ServicePort("http", 9080, 9080, "HTTP")), Map.of(), Set.of("*"), false, false,
                List.of("10.100.0.20")));
        return MeshFixture.state(state.clusterStates().get("east"), state.clusterStates().get("west"),
                new ClusterState("eu", "net2", services, eu.endpoints(), eu.gateways()));
    }
}
