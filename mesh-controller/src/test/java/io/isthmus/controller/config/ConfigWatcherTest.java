package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.isthmus.discovery.kube.InformerRetry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Istio config informers against a CRUD-mode mock API server that fails chosen requests: a
 * kind whose first lists time out (a starved host at start) is retried and read, where fabric8's
 * default stopped it for good; a version that is not served does not keep the store from syncing
 * and is read once its CRD is installed.
 */
class ConfigWatcherTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private final Dispatcher dispatcher = new Dispatcher();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private KubernetesMockServer server;
    private KubernetesClient client;
    private ConfigStore store;
    private ConfigWatcher watcher;

    @BeforeEach
    void start() throws Exception {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        // A short first backoff keeps the test short; no retries inside the HTTP client, so every
        // failure reaches the informer.
        try (KubernetesClient defaults = server.createClient()) {
            client = new KubernetesClientBuilder().withConfig(new ConfigBuilder(defaults.getConfiguration())
                    .withWatchReconnectInterval(200).withRequestRetryBackoffLimit(0).build()).build();
        }
        store = new ConfigStore("east", registry, accepted -> { });
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
    void aKindWhoseFirstListsTimeOutIsRetriedAndTheStoreWaitsForIt() {
        create("v1", "DestinationRule", "destinationrules", """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld, namespace: sample}
                spec: {host: helloworld, subsets: [{name: v1, labels: {version: v1}}]}
                """);
        dispatcher.listFailures.set(3);

        watcher = ConfigWatcher.start(client, store, registry);

        await().atMost(TIMEOUT).until(store::synced);
        // Synced means listed: the rule is there as soon as the store says so.
        assertThat(store.accepted()).extracting(ConfigResource::kind).containsExactly("DestinationRule");
        assertThat(dispatcher.listFailures.get()).isZero();
        assertThat(registry.counter(InformerRetry.FAILURES_METER,
                "informer", "networking.istio.io/v1 DestinationRule").count()).isEqualTo(3);

        create("v1", "VirtualService", "virtualservices", """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld, namespace: sample}
                spec: {hosts: [helloworld], http: [{route: [{destination: {host: helloworld, subset: v1}}]}]}
                """);
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(store.accepted()).extracting(ConfigResource::kind)
                .containsExactlyInAnyOrder("DestinationRule", "VirtualService"));
    }

    @Test
    void aVersionThatIsNotServedDoesNotHoldBackTheStoreAndIsReadOnceItAppears() {
        dispatcher.v1alpha3NotServed.set(true);

        watcher = ConfigWatcher.start(client, store, registry);

        await().atMost(TIMEOUT).until(store::synced);
        assertThat(registry.counter(InformerRetry.FAILURES_METER,
                "informer", "networking.istio.io/v1alpha3 DestinationRule").count()).isZero();

        dispatcher.v1alpha3NotServed.set(false);
        create("v1alpha3", "DestinationRule", "destinationrules", """
                apiVersion: networking.istio.io/v1alpha3
                kind: DestinationRule
                metadata: {name: legacy, namespace: sample}
                spec: {host: helloworld}
                """);
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(store.accepted())
                .extracting(ConfigResource::name).containsExactly("legacy"));
    }

    private void create(String version, String kind, String plural, String yaml) {
        client.genericKubernetesResources(new ResourceDefinitionContext.Builder().withGroup("networking.istio.io")
                        .withVersion(version).withKind(kind).withPlural(plural).withNamespaced(true).build())
                .inNamespace("sample").resource(Serialization.unmarshal(yaml, GenericKubernetesResource.class))
                .create();
    }

    /**
     * The CRUD mock API server, answering 504 to the next {@link #listFailures} lists of v1
     * DestinationRules, and 404 to everything under {@code networking.istio.io/v1alpha3} while
     * {@link #v1alpha3NotServed} is set.
     */
    private static final class Dispatcher extends KubernetesCrudDispatcher {
        final AtomicInteger listFailures = new AtomicInteger();
        final AtomicBoolean v1alpha3NotServed = new AtomicBoolean();

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            String path = request.getPath();
            if (v1alpha3NotServed.get() && path.startsWith("/apis/networking.istio.io/v1alpha3/")) {
                return new MockResponse().setResponseCode(404).setBody("404 page not found");
            }
            if (request.getMethod().equals("GET") && !path.contains("watch=true")
                    && path.startsWith("/apis/networking.istio.io/v1/destinationrules")
                    && listFailures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                return new MockResponse().setResponseCode(504).setBody("""
                        {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Timeout","code":504}""");
            }
            return super.dispatch(request);
        }
    }
}
