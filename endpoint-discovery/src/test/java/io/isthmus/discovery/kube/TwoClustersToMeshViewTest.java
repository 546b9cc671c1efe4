package io.isthmus.discovery.kube;

import static io.isthmus.discovery.kube.KubeFixtures.ep;
import static io.isthmus.discovery.kube.KubeFixtures.gateway;
import static io.isthmus.discovery.kube.KubeFixtures.namespace;
import static io.isthmus.discovery.kube.KubeFixtures.node;
import static io.isthmus.discovery.kube.KubeFixtures.pod;
import static io.isthmus.discovery.kube.KubeFixtures.service;
import static io.isthmus.discovery.kube.KubeFixtures.slice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.Viewpoint;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The discovery half of the demo: east (net1) and eu (net2) each watched from their own API
 * server, their states merged as west (net1) sees them.
 */
class TwoClustersToMeshViewTest {

    private final Map<String, ClusterState> states = new ConcurrentHashMap<>();
    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private final List<AutoCloseable> resources = new java.util.ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
        meters.close();
    }

    @Test
    void westReachesEastDirectlyAndEuThroughItsGateway() throws Exception {
        KubernetesClient east = cluster("east", "net1", "us-east", "127.101", 1);
        KubernetesClient eu = cluster("eu", "net2", "eu-west", "127.103", 2);
        ClusterWatcher eastWatcher = watch(east, "east", "net1");
        ClusterWatcher euWatcher = watch(eu, "eu", "net2");
        await().atMost(Duration.ofSeconds(60)).until(() -> eastWatcher.hasSynced() && euWatcher.hasSynced());

        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            MeshView view = MeshView.of(new FederatedState(1, Map.of(), Map.copyOf(states), List.of()),
                    new Viewpoint("west", "net1"), "cluster.local", "cluster.local");
            List<MeshEndpoint> endpoints = view.service("helloworld.sample.svc.cluster.local").orElseThrow()
                    .endpoints(5000);
            assertThat(endpoints).extracting(e -> e.address() + ":" + e.port() + " " + e.viaGateway() + " w"
                            + e.weight() + " " + e.identity())
                    .containsExactly(
                            "127.101.1.1:5000 false w1 spiffe://cluster.local/ns/sample/sa/helloworld",
                            "127.103.0.2:15443 true w2 ");
            assertThat(endpoints.get(1).locality().region()).isEqualTo("eu-west");
        });
    }

    /** An API server holding what the launcher writes for one cluster, with {@code pods} helloworld pods. */
    private KubernetesClient cluster(String name, String network, String region, String prefix, int pods)
            throws Exception {
        KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        resources.add(server::destroy);
        KubernetesClient client = server.createClient();
        resources.add(client);

        String nodeName = name + "-node-1";
        client.resource(namespace("sample", network)).create();
        client.resource(namespace("istio-system", network)).create();
        client.resource(node(nodeName, region, region + "-1a")).create();
        client.resource(gateway(network, prefix + ".0.2")).create();
        client.resource(service("sample", "helloworld", "http", 5000, 5000)).create();
        KubeFixtures.EndpointSpec[] endpoints = new KubeFixtures.EndpointSpec[pods];
        for (int i = 1; i <= pods; i++) {
            String podName = "helloworld-" + name + "-" + i;
            String ip = prefix + ".1." + i;
            client.resource(pod("sample", podName, "helloworld", "helloworld", nodeName, ip, Map.of())).create();
            endpoints[i - 1] = ep(ip, true, podName);
        }
        client.resource(slice("sample", "helloworld-" + name, "helloworld", "http", 5000, nodeName, endpoints))
                .create();
        return client;
    }

    private ClusterWatcher watch(KubernetesClient client, String cluster, String network) {
        ClusterWatcher watcher = ClusterWatcher.start(client,
                new ClusterWatcherOptions(cluster, network, "cluster.local", Duration.ofMillis(20)),
                state -> states.put(state.cluster(), state), meters);
        resources.add(watcher);
        return watcher;
    }
}
