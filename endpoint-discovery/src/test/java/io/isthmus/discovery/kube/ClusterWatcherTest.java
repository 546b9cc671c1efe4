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

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The watcher against a real (mock, CRUD-mode) Kubernetes API server, informers over WebSocket watches. */
class ClusterWatcherTest {

    private static final ServiceKey HELLO = new ServiceKey("sample", "helloworld");
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    // One API server and client for the class (starting them dominates a test); reset between tests.
    private static KubernetesMockServer server;
    private static KubernetesClient client;
    private ClusterWatcher watcher;
    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private final List<ClusterState> published = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void startServer() throws Exception {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
    }

    @AfterAll
    static void stopServer() {
        client.close();
        server.destroy();
    }

    @AfterEach
    void stop() {
        if (watcher != null) {
            watcher.close();
        }
        server.reset();
        meters.close();
    }

    private void createDemoObjects() {
        client.resource(namespace("sample", "net1")).create();
        client.resource(namespace("istio-system", "net1")).create();
        client.resource(node("east-node-1", "us-east", "us-east-1a")).create();
        client.resource(gateway("net1", "127.101.0.2")).create();
        client.resource(service("sample", "helloworld", "http", 5000, 5000)).create();
        client.resource(pod("sample", "helloworld-v1-a", "helloworld", "helloworld", "east-node-1", "127.101.1.1",
                Map.of())).create();
        client.resource(slice("sample", "helloworld-east", "helloworld", "http", 5000, "east-node-1",
                ep("127.101.1.1", true, "helloworld-v1-a"))).create();
    }

    private ClusterWatcher startWatcher() {
        return ClusterWatcher.start(client,
                new ClusterWatcherOptions("east", "net-default", "cluster.local", Duration.ofMillis(20)),
                published::add, meters);
    }

    @Test
    void publishesTheClusterOnceSyncedThenFollowsAddUpdateDelete() {
        createDemoObjects();

        watcher = startWatcher();

        await().atMost(TIMEOUT).until(watcher::hasSynced);
        ClusterState initial = watcher.current();
        assertThat(published).first().isEqualTo(initial);
        assertThat(initial.services()).extracting(MeshService::key).containsExactly(HELLO);
        assertThat(initial.gateways()).containsExactly(new NetworkGateway("net1", "east", "127.101.0.2", 15443));
        assertThat(initial.endpoints()).singleElement().satisfies(e -> {
            assertThat(e.address()).isEqualTo("127.101.1.1");
            assertThat(e.locality()).isEqualTo(new Locality("us-east", "us-east-1a", ""));
            assertThat(e.network()).isEqualTo("net1");
            assertThat(e.serviceAccount()).isEqualTo("helloworld");
            assertThat(e.workload()).isEqualTo("helloworld-v1-a");
            assertThat(e.ready()).isTrue();
        });

        // add: a second pod and its endpoint
        client.resource(pod("sample", "helloworld-v1-b", "helloworld", "helloworld", "east-node-1", "127.101.1.2",
                Map.of())).create();
        client.resource(slice("sample", "helloworld-east", "helloworld", "http", 5000, "east-node-1",
                ep("127.101.1.1", true, "helloworld-v1-a"), ep("127.101.1.2", false, "helloworld-v1-b")))
                .update();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().endpoints())
                .extracting(e -> e.address() + " " + e.ready())
                .containsExactly("127.101.1.1 true", "127.101.1.2 false"));

        // update: the first pod moves to another network by its own label
        client.pods().inNamespace("sample").withName("helloworld-v1-a").edit(p -> new PodBuilder(p)
                .editMetadata().addToLabels("topology.istio.io/network", "net7").endMetadata().build());
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().endpoints())
                .extracting(Endpoint::network).containsExactly("net7", "net1"));

        // delete: the slice, then the service and the gateway
        client.discovery().v1().endpointSlices().inNamespace("sample").withName("helloworld-east").delete();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().endpoints()).isEmpty());
        client.services().inNamespace("sample").withName("helloworld").delete();
        client.services().inNamespace("istio-system").withName("istio-eastwestgateway").delete();
        await().atMost(TIMEOUT).untilAsserted(() -> {
            assertThat(watcher.current().services()).isEmpty();
            assertThat(watcher.current().gateways()).isEmpty();
        });

        // every published state differs from the one before it
        for (int i = 1; i < published.size(); i++) {
            assertThat(published.get(i)).isNotEqualTo(published.get(i - 1));
        }
    }

    @Test
    void followsServiceEntriesAndWorkloadEntriesWrittenAtAnyServedVersion() {
        createDemoObjects();
        watcher = startWatcher();
        await().atMost(TIMEOUT).until(watcher::hasSynced);

        client.genericKubernetesResources(istio("v1beta1", "ServiceEntry", "serviceentries")).inNamespace("sample")
                .resource(IstioWorkloadsTest.serviceEntry("sample", "billing", "v1beta1", """
                        hosts: [billing.vm.example]
                        location: MESH_INTERNAL
                        resolution: STATIC
                        ports: [{number: 8080, name: http}]
                        workloadSelector: {labels: {app: billing}}
                        """)).create();
        client.genericKubernetesResources(istio("v1", "WorkloadEntry", "workloadentries")).inNamespace("sample")
                .resource(IstioWorkloadsTest.resource("WorkloadEntry", "sample", "billing-vm", """
                        address: 10.9.0.8
                        labels: {app: billing}
                        """)).create();

        ServiceKey billing = new ServiceKey("sample", "billing.vm.example");
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().endpoints())
                .filteredOn(e -> e.service().equals(billing)).extracting(e -> e.address())
                .containsExactly("10.9.0.8"));

        client.genericKubernetesResources(istio("v1", "WorkloadEntry", "workloadentries")).inNamespace("sample")
                .withName("billing-vm").delete();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().endpoints())
                .noneMatch(e -> e.service().equals(billing)));
        assertThat(watcher.current().services()).extracting(MeshService::key).contains(billing);
    }

    @Test
    void aServiceExportMarksItsServiceForTheClusterSetAndMalformedImportsAreCounted() {
        createDemoObjects();
        watcher = startWatcher();
        await().atMost(TIMEOUT).until(watcher::hasSynced);
        assertThat(watcher.current().services()).singleElement()
                .satisfies(s -> assertThat(s.clusterSetExport()).isFalse());

        client.genericKubernetesResources(mcs("ServiceExport", "serviceexports")).inNamespace("sample")
                .resource(MultiClusterServicesTest.mcs("ServiceExport", "sample", "helloworld", null)).create();
        // An export of a service this cluster does not have changes nothing (KEP-1645: it is not valid).
        client.genericKubernetesResources(mcs("ServiceExport", "serviceexports")).inNamespace("sample")
                .resource(MultiClusterServicesTest.mcs("ServiceExport", "sample", "nowhere", null)).create();
        client.genericKubernetesResources(mcs("ServiceImport", "serviceimports")).inNamespace("sample")
                .resource(MultiClusterServicesTest.mcs("ServiceImport", "sample", "helloworld",
                        "type: Sideways\n")).create();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().services()).singleElement()
                .satisfies(s -> assertThat(s.clusterSetExport()).isTrue()));
        await().atMost(TIMEOUT).until(() -> rejected("ServiceImport", "invalid") == 1.0);
        assertThat(watcher.current().services()).extracting(MeshService::key).containsExactly(HELLO);

        client.genericKubernetesResources(mcs("ServiceExport", "serviceexports")).inNamespace("sample")
                .withName("helloworld").delete();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().services()).singleElement()
                .satisfies(s -> assertThat(s.clusterSetExport()).isFalse()));
        // The endpoints never went away meanwhile: exporting changes visibility, not the cluster's pods.
        assertThat(watcher.current().endpoints()).extracting(Endpoint::address).containsExactly("127.101.1.1");
    }

    private static ResourceDefinitionContext mcs(String kind, String plural) {
        return new ResourceDefinitionContext.Builder()
                .withGroup("multicluster.x-k8s.io").withVersion("v1alpha1").withKind(kind).withPlural(plural)
                .withNamespaced(true).build();
    }

    private static ResourceDefinitionContext istio(
            String version, String kind, String plural) {
        return new ResourceDefinitionContext.Builder()
                .withGroup("networking.istio.io").withVersion(version).withKind(kind).withPlural(plural)
                .withNamespaced(true).build();
    }

    @Test
    void anEmptyClusterIsPublishedOnceSynced() {
        watcher = startWatcher();

        await().atMost(TIMEOUT).until(watcher::hasSynced);
        assertThat(published).containsExactly(ClusterState.empty("east", "net-default"));
    }

    @Test
    void malformedObjectsAreSkippedAndCountedWhileTheRestFlows() {
        createDemoObjects();
        watcher = startWatcher();
        await().atMost(TIMEOUT).until(watcher::hasSynced);

        client.resource(new ServiceBuilder().withNewMetadata().withNamespace("sample").withName("no-ports")
                .endMetadata().withNewSpec().endSpec().build()).create();
        client.resource(pod("sample", "odd", "helloworld", "helloworld", "east-node-1", "127.101.1.9",
                Map.of("topology.istio.io/locality", "a.b.c.d.e"))).create();
        client.resource(slice("sample", "helloworld-bad", "helloworld", "http", 5000, "east-node-1",
                ep("999.1.1.1", true, null), ep("127.101.1.9", true, "odd"))).create();
        client.resource(service("sample", "goodbye", "http", 8080, 8080)).create();

        await().atMost(TIMEOUT).untilAsserted(() -> {
            assertThat(watcher.current().services()).extracting(MeshService::key)
                    .containsExactly(new ServiceKey("sample", "goodbye"), HELLO);
            // the odd pod's garbage locality label is ignored: it falls back to its node
            assertThat(watcher.current().endpoints()).extracting(e -> e.address() + " " + e.locality())
                    .containsExactly("127.101.1.1 us-east/us-east-1a/", "127.101.1.9 us-east/us-east-1a/");
            assertThat(rejected("Service", "no-ports")).isEqualTo(1.0);
            assertThat(rejected("EndpointSlice", "invalid-address")).isEqualTo(1.0);
            assertThat(rejected("Pod", "invalid-locality")).isEqualTo(1.0);
        });
    }

    @Test
    void unchangedStateIsNotPublishedAgain() {
        createDemoObjects();
        watcher = startWatcher();
        await().atMost(TIMEOUT).until(watcher::hasSynced);
        int before = published.size();

        // an annotation discovery does not read: the rebuilt state is equal, so nothing is published
        client.pods().inNamespace("sample").withName("helloworld-v1-a").edit(p -> new PodBuilder(p)
                .editMetadata().addToAnnotations("note", "irrelevant").endMetadata().build());
        await().during(Duration.ofMillis(300)).atMost(TIMEOUT).until(() -> published.size() == before);
        // then a change it does read, to prove the queue processed the first one
        client.resource(service("sample", "goodbye", "http", 8080, 8080)).create();

        // Awaited on the listener's list itself: the watcher sets current() before it calls the
        // listener, so current() alone can be ahead of what was published.
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(published).hasSize(before + 1)
                .last().satisfies(state -> assertThat(state.services()).hasSize(2)));
        await().during(Duration.ofMillis(300)).atMost(TIMEOUT).until(() -> published.size() == before + 1);
    }

    @Test
    void closeStopsTheQueueThread() {
        watcher = startWatcher();
        await().atMost(TIMEOUT).until(watcher::hasSynced);

        watcher.close();

        assertThat(Thread.getAllStackTraces().keySet())
                .noneMatch(t -> t.getName().equals("isthmus-discovery-east") && t.isAlive());
    }

    @Test
    void aFailingListenerDoesNotStopTheWatcher() {
        List<ClusterState> seen = new CopyOnWriteArrayList<>();
        watcher = ClusterWatcher.start(client,
                new ClusterWatcherOptions("east", "net-default", "cluster.local", Duration.ofMillis(20)),
                state -> {
                    seen.add(state);
                    throw new IllegalStateException("listener failure (expected by the test)");
                }, meters);
        await().atMost(TIMEOUT).until(watcher::hasSynced);

        client.resource(service("sample", "goodbye", "http", 8080, 8080)).create();

        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(seen).hasSize(2));
        assertThat(watcher.current().services()).hasSize(1);
    }

    @Test
    void anUnreachableApiServerNeverSyncsAndCloseIsPrompt() {
        try (KubernetesClient unreachable = new KubernetesClientBuilder()
                .withConfig(new ConfigBuilder().withMasterUrl("http://127.0.0.1:1").withRequestRetryBackoffLimit(0)
                        .build())
                .build()) {
            ClusterWatcher offline = ClusterWatcher.start(unreachable, ClusterWatcherOptions.of("east", "net1"),
                    published::add, meters);
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(30)).until(() -> !offline.hasSynced());
            assertThat(offline.current()).isEqualTo(ClusterState.empty("east", "net1"));

            long start = System.nanoTime();
            offline.close();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
            assertThat(published).isEmpty();
        }
    }

    private double rejected(String kind, String reason) {
        var counter = meters.find(ClusterWatcher.REJECTED_OBJECTS_METER)
                .tags("cluster", "east", "kind", kind, "reason", reason).counter();
        return counter == null ? 0 : counter.count();
    }
}
