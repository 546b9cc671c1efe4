package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.controlplane.cache.Resources;
import io.envoyproxy.controlplane.cache.Response;
import io.envoyproxy.controlplane.cache.XdsRequest;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.controller.translate.ProxyNode;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A CDS request on an ADS stream that names a cluster the snapshot does not hold: Envoy gets no
 * answer until it does (java-control-plane's rule, for cluster warming), a proxyless gRPC client
 * gets the clusters that exist, as istiod answers it.
 */
class ProxylessWatchTest {

    private static final String MISSING = "outbound|5000|gone|helloworld.sample.svc.cluster.local";

    private final MeshSnapshotCache cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
            Duration.ofMillis(20), Duration.ofMillis(200)));

    @AfterEach
    void close() {
        cache.close();
    }

    @Test
    void aProxylessClientIsAnsweredWithWhatExistsAndEnvoyWaitsForAll() {
        ProxyNode node = MeshFixture.euHelloworldSidecar();
        cache.connect(node);
        cache.onState(MeshFixture.state(), MeshConfig.EMPTY);
        await().atMost(Duration.ofSeconds(30)).until(() -> cache.snapshot(node.id()).isPresent());
        String existing = cache.snapshot(node.id()).orElseThrow().resources().clusters().stream()
                .map(Cluster::getName).filter(n -> n.startsWith("outbound|")).findFirst().orElseThrow();

        List<Response> toEnvoy = watchClusters(node.id(), false, existing);
        List<Response> toGrpc = watchClusters(node.id(), true, existing);

        await().atMost(Duration.ofSeconds(30)).until(() -> !toGrpc.isEmpty());
        assertThat(toGrpc.get(0).resources()).extracting(r -> ((Cluster) r).getName()).containsExactly(existing);
        assertThat(toEnvoy).isEmpty();
    }

    private List<Response> watchClusters(String id, boolean proxyless, String existing) {
        Struct.Builder metadata = Struct.newBuilder();
        if (proxyless) {
            metadata.putFields("GENERATOR", Value.newBuilder().setStringValue("grpc").build());
        }
        DiscoveryRequest request = DiscoveryRequest.newBuilder()
                .setNode(Node.newBuilder().setId(id).setMetadata(metadata))
                .setTypeUrl(Resources.V3.CLUSTER_TYPE_URL)
                .addResourceNames(existing).addResourceNames(MISSING)
                .build();
        List<Response> responses = new CopyOnWriteArrayList<>();
        cache.configWatcher().createWatch(true, XdsRequest.create(request), Set.of(), responses::add, false, false);
        return responses;
    }
}
