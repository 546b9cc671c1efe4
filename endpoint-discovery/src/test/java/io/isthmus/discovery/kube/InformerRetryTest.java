package io.isthmus.discovery.kube;

import static io.isthmus.discovery.kube.KubeFixtures.namespace;
import static io.isthmus.discovery.kube.KubeFixtures.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.ServiceKey;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Informers whose first lists fail (a slow or refusing API server at start) keep retrying instead
 * of stopping for good, and a CRD that is not served does not hold back the cluster's first state
 * but is watched once it appears. Against a CRUD-mode mock API server that fails chosen requests.
 */
class InformerRetryTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final ServiceKey BILLING = new ServiceKey("sample", "billing.vm.example");

    private final FailingDispatcher dispatcher = new FailingDispatcher();
    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private final List<ClusterState> published = new CopyOnWriteArrayList<>();
    private KubernetesMockServer server;
    private KubernetesClient client;
    private ClusterWatcher watcher;

    @BeforeEach
    void start() throws Exception {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        // The informers' retry backoff starts at the watch reconnect interval: short, to keep the test
        // short. No retries inside the HTTP client, so every failure reaches the informer.
        try (KubernetesClient defaults = server.createClient()) {
            client = new KubernetesClientBuilder().withConfig(new ConfigBuilder(defaults.getConfiguration())
                    .withWatchReconnectInterval(200).withRequestRetryBackoffLimit(0).build()).build();
        }
        client.resource(namespace("sample", "net1")).create();
        client.resource(service("sample", "helloworld", "http", 5000, 5000)).create();
    }

    @AfterEach
    void stop() {
        if (watcher != null) {
            watcher.close();
        }
        client.close();
        server.destroy();
    }

    @Test
    void informersWhoseFirstListsFailKeepRetryingAndTheFirstStateWaitsForThem() {
        client.genericKubernetesResources(serviceEntries()).inNamespace("sample")
                .resource(IstioWorkloadsTest.serviceEntry("sample", "billing", "v1", BILLING_SPEC)).create();
        // As on a starved host: the first lists of Services and of v1 ServiceEntries time out.
        dispatcher.failLists("/api/v1/services", 3);
        dispatcher.failLists("/apis/networking.istio.io/v1/serviceentries", 3);

        watcher = ClusterWatcher.start(client, ClusterWatcherOptions.of("east", "net1"), published::add, meters);

        await().atMost(TIMEOUT).until(watcher::hasSynced);
        // The first state already holds both: it waited for their lists rather than publish without them.
        assertThat(published.get(0).services()).extracting(MeshService::key)
                .contains(new ServiceKey("sample", "helloworld"), BILLING);
        assertThat(dispatcher.failuresLeft()).isZero();
        assertThat(failures("cluster east: Service")).isEqualTo(3);
        assertThat(failures("cluster east: networking.istio.io/v1 ServiceEntry")).isEqualTo(3);

        // And the retried informers watch: later changes arrive.
        client.resource(service("sample", "goodbye", "http", 8080, 8080)).create();
        client.genericKubernetesResources(serviceEntries()).inNamespace("sample").withName("billing").delete();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().services())
                .extracting(MeshService::key)
                .contains(new ServiceKey("sample", "goodbye"))
                .doesNotContain(BILLING));
    }

    @Test
    void aKindThatIsNotServedDoesNotHoldBackTheFirstStateAndIsWatchedOnceItAppears() {
        dispatcher.notServed.set(true);

        watcher = ClusterWatcher.start(client, ClusterWatcherOptions.of("east", "net1"), published::add, meters);

        await().atMost(TIMEOUT).until(watcher::hasSynced);
        assertThat(watcher.current().services()).extracting(MeshService::key)
                .containsExactly(new ServiceKey("sample", "helloworld"));
        // "Not served" is the API server's answer, not a failure.
        assertThat(failures("cluster east: networking.istio.io/v1 ServiceEntry")).isZero();

        // The CRD is installed after the controller started: its objects are watched from then on.
        dispatcher.notServed.set(false);
        client.genericKubernetesResources(serviceEntries()).inNamespace("sample")
                .resource(IstioWorkloadsTest.serviceEntry("sample", "billing", "v1", BILLING_SPEC)).create();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(watcher.current().services())
                .extracting(MeshService::key).contains(BILLING));
    }

    private static final String BILLING_SPEC = """
            hosts: [billing.vm.example]
            location: MESH_INTERNAL
            resolution: STATIC
            ports: [{number: 8080, name: http}]
            endpoints: [{address: 10.9.0.8}]
            """;

    private double failures(String informer) {
        var counter = meters.find(InformerRetry.FAILURES_METER).tag("informer", informer).counter();
        return counter == null ? 0 : counter.count();
    }

    private static ResourceDefinitionContext serviceEntries() {
        return new ResourceDefinitionContext.Builder().withGroup("networking.istio.io").withVersion("v1")
                .withKind("ServiceEntry").withPlural("serviceentries").withNamespaced(true).build();
    }

    /**
     * The CRUD mock API server, answering 504 to the next lists of chosen paths, and 404 to every
     * request for Istio's and the MCS API's kinds while {@link #notServed} is set.
     */
    private static final class FailingDispatcher extends KubernetesCrudDispatcher {
        final AtomicBoolean notServed = new AtomicBoolean();
        private final Map<String, AtomicInteger> failingLists = new ConcurrentHashMap<>();

        void failLists(String path, int times) {
            failingLists.put(path, new AtomicInteger(times));
        }

        int failuresLeft() {
            return failingLists.values().stream().mapToInt(AtomicInteger::get).sum();
        }

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            String path = request.getPath();
            if (notServed.get() && (path.startsWith("/apis/networking.istio.io/")
                    || path.startsWith("/apis/multicluster.x-k8s.io/"))) {
                return new MockResponse().setResponseCode(404).setBody("404 page not found");
            }
            boolean isList = request.getMethod().equals("GET") && !path.contains("watch=true");
            AtomicInteger failures = failingLists.get(path.split("\\?", 2)[0]);
            if (isList && failures != null && failures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                return new MockResponse().setResponseCode(504).setBody("""
                        {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Timeout","code":504}""");
            }
            return super.dispatch(request);
        }
    }
}
