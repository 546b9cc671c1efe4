package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.isthmus.discovery.kube.InformerRetry;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.XdsOptions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Istio's mesh config in ConfigMap {@code istio-system/istio} against a CRUD-mode mock API server,
 * through the snapshot cache: a {@code clusterLocal} service setting takes the other clusters'
 * endpoints out of a proxy's EDS, and dropping it brings them back; {@code outboundTrafficPolicy}
 * decides where a sidecar's {@code virtualOutbound} sends unknown destinations.
 */
class MeshSettingsWatcherTest {

    /** Generous: the first snapshot of a cold JVM took over 10 s on a machine loaded twentyfold. */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String HELLOWORLD_CLUSTER = "outbound|5000||" + MeshFixture.HELLOWORLD;

    private KubernetesMockServer server;
    private KubernetesClient client;
    private MeshSnapshotCache cache;
    private MeshSettingsWatcher watcher;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    /** GETs the API server still answers 403 (as before the controller's RBAC binding exists). */
    private final AtomicInteger refusals = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new RefusingDispatcher(refusals), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
        cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local", Duration.ofMillis(10),
                Duration.ofMillis(100)));
    }

    @AfterEach
    void stop() {
        if (watcher != null) {
            watcher.close();
        }
        cache.close();
        client.close();
        server.destroy();
    }

    @Test
    void clusterLocalServiceSettingsFollowTheConfigMap() {
        cache.onState(MeshFixture.state());
        cache.connect(MeshFixture.euHelloworldSidecar());
        String proxy = MeshFixture.euHelloworldSidecar().id();
        // From eu: its two pods, and east's one ready pod through net1's gateway.
        await().atMost(TIMEOUT).until(() -> helloworldEndpoints(proxy).size() == 3);

        watcher = MeshSettingsWatcher.start(client, false, cache::onSettings, registry);
        client.configMaps().inNamespace("istio-system").resource(new ConfigMapBuilder()
                .withNewMetadata().withNamespace("istio-system").withName("istio").endMetadata()
                .withData(Map.of("mesh", """
                        serviceSettings:
                        - settings: {clusterLocal: true}
                          hosts: ["*.sample.svc.cluster.local"]
                        """))
                .build()).create();
        await().atMost(TIMEOUT)
                .until(() -> helloworldEndpoints(proxy).equals(List.of("127.103.1.1", "127.103.1.2")));

        // A version that does not parse is counted and changes nothing.
        client.configMaps().inNamespace("istio-system").withName("istio").edit(map -> new ConfigMapBuilder(map)
                .withData(Map.of("mesh", "serviceSettings: [{settings: {clusterLocal: maybe}, hosts: [x]}]")).build());
        await().atMost(TIMEOUT)
                .until(() -> registry.counter(MeshSettingsWatcher.REJECTED_METER).count() == 1.0);
        assertThat(helloworldEndpoints(proxy)).containsExactly("127.103.1.1", "127.103.1.2");

        client.configMaps().inNamespace("istio-system").withName("istio").delete();
        await().atMost(TIMEOUT).until(() -> helloworldEndpoints(proxy).size() == 3);
    }

    @Test
    void outboundTrafficPolicyFollowsTheConfigMapWithAllowAnyByDefault() {
        cache.onState(MeshFixture.state(), MeshConfig.EMPTY);
        cache.connect(MeshFixture.westCurlSidecar());
        String proxy = MeshFixture.westCurlSidecar().id();
        await().atMost(TIMEOUT).until(() -> unknownDestinations(proxy).equals("PassthroughCluster"));

        watcher = MeshSettingsWatcher.start(client, false, cache::onSettings, registry);
        client.configMaps().inNamespace("istio-system").resource(new ConfigMapBuilder()
                .withNewMetadata().withNamespace("istio-system").withName("istio").endMetadata()
                .withData(Map.of("mesh", "outboundTrafficPolicy: {mode: REGISTRY_ONLY}"))
                .build()).create();
        await().atMost(TIMEOUT).until(() -> unknownDestinations(proxy).equals("BlackHoleCluster"));

        client.configMaps().inNamespace("istio-system").withName("istio").delete();
        await().atMost(TIMEOUT).until(() -> unknownDestinations(proxy).equals("PassthroughCluster"));
    }

    @Test
    void theWatchRetriesWhenTheApiServerRefusesItsFirstLists() {
        cache.onState(MeshFixture.state(), MeshConfig.EMPTY);
        cache.connect(MeshFixture.westCurlSidecar());
        String proxy = MeshFixture.westCurlSidecar().id();
        client.configMaps().inNamespace("istio-system").resource(new ConfigMapBuilder()
                .withNewMetadata().withNamespace("istio-system").withName("istio").endMetadata()
                .withData(Map.of("mesh", "outboundTrafficPolicy: {mode: REGISTRY_ONLY}"))
                .build()).create();

        // fabric8's default gives up after a failed first list: the mesh config would never be read.
        refusals.set(2);
        watcher = MeshSettingsWatcher.start(client, false, cache::onSettings, registry);
        await().atMost(TIMEOUT).until(() -> unknownDestinations(proxy).equals("BlackHoleCluster"));
        assertThat(refusals.get()).isZero();
        assertThat(registry.counter(InformerRetry.FAILURES_METER, "informer", "mesh-config").count())
                .isGreaterThanOrEqualTo(2.0);
    }

    /** Where virtualOutbound sends a destination outside the registry. */
    private String unknownDestinations(String proxy) {
        return cache.snapshot(proxy).flatMap(s -> s.resources().listeners().stream()
                        .filter(l -> l.getName().equals("virtualOutbound")).findFirst())
                .map(l -> l.getDefaultFilterChain().getName())
                .orElse("");
    }

    private List<String> helloworldEndpoints(String proxy) {
        return cache.snapshot(proxy).map(s -> s.resources().endpoints().stream()
                        .filter(c -> c.getClusterName().equals(HELLOWORLD_CLUSTER))
                        .flatMap(c -> c.getEndpointsList().stream())
                        .flatMap(l -> l.getLbEndpointsList().stream())
                        .map(e -> e.getEndpoint().getAddress().getSocketAddress().getAddress())
                        .sorted()
                        .toList())
                .orElse(List.of());
    }

    /** The CRUD mock API server, answering 403 to the next {@code refusals} GETs. */
    private static final class RefusingDispatcher extends KubernetesCrudDispatcher {
        private final AtomicInteger refusals;

        RefusingDispatcher(AtomicInteger refusals) {
            this.refusals = refusals;
        }

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            if (request.getMethod().equals("GET") && refusals.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                return new MockResponse().setResponseCode(403).setBody("""
                        {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}""");
            }
            return super.dispatch(request);
        }
    }
}
