package io.isthmus.controller.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.trust.ServiceAccountIssuer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The remote-secret lifecycle against two real (mock, CRUD-mode) API servers: the primary's, which
 * holds the remote secret, and the remote cluster's, which the controller watches through the
 * kubeconfig in it.
 */
class RemoteClusterControllerTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private KubernetesMockServer primaryServer;
    private KubernetesMockServer remoteServer;
    private KubernetesClient primary;
    private KubernetesClient remote;
    private RemoteClusterController controller;
    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private final RecordingSink sink = new RecordingSink();
    private final ServiceAccountIssuer euIssuer = ServiceAccountIssuer.create("https://eu.example/issuer");

    @BeforeEach
    void start() throws Exception {
        primaryServer = server();
        remoteServer = server();
        primary = primaryServer.createClient();
        remote = remoteServer.createClient();
        remote.resource(new NamespaceBuilder().withNewMetadata().withName("istio-system")
                .addToLabels("topology.istio.io/network", "net2").endMetadata().build()).create();
        remote.resource(new NamespaceBuilder().withNewMetadata().withName("sample").endMetadata().build()).create();
        remote.resource(new ServiceBuilder().withNewMetadata().withName("helloworld").withNamespace("sample")
                .endMetadata().withNewSpec().addNewPort().withName("http").withPort(5000).withNewTargetPort(5000)
                .endPort().addToSelector("app", "helloworld").endSpec().build()).create();
        remote.resource(new PodBuilder().withNewMetadata().withName("helloworld-v2").withNamespace("sample")
                .addToLabels("app", "helloworld").addToLabels("version", "v2").endMetadata()
                .withNewSpec().withServiceAccountName("helloworld").endSpec()
                .withNewStatus().withPodIP("10.2.0.5").endStatus().build()).create();
        remote.resource(new EndpointSliceBuilder().withNewMetadata().withName("helloworld-abc").withNamespace("sample")
                .addToLabels("kubernetes.io/service-name", "helloworld").endMetadata()
                .withAddressType("IPv4")
                .addNewEndpoint().withAddresses("10.2.0.5").withNewConditions().withReady(true).endConditions()
                .withNewTargetRef().withKind("Pod").withName("helloworld-v2").withNamespace("sample").endTargetRef()
                .endEndpoint()
                .addNewPort().withName("http").withPort(5000).withProtocol("TCP").endPort().build()).create();
        remote.resource(new ConfigMapBuilder().withNewMetadata().withName("isthmus-sa-issuer")
                .withNamespace("istio-system").endMetadata().addToData("issuer", euIssuer.issuer())
                .addToData("jwks.json", euIssuer.jwksJson()).build()).create();
        controller = RemoteClusterController.start(primary, new RemoteClusterOptions("east", "istio-system", "net1",
                "cluster.local", "127.0.0.1:15012", Duration.ofSeconds(8)), sink, meters,
                RemoteClusterController::newClient, Clock.systemUTC());
    }

    private static KubernetesMockServer server() throws Exception {
        KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        return server;
    }

    @AfterEach
    void stop() {
        if (controller != null) {
            controller.close();
        }
        primary.close();
        remote.close();
        primaryServer.destroy();
        remoteServer.destroy();
        meters.close();
    }

    @Test
    void addRotateBreakFixAndDeleteARemoteSecret() throws Exception {
        primary.resource(remoteSecret("istio-remote-secret-eu", Map.of("eu", kubeconfig("token-1")))).create();

        await().atMost(TIMEOUT).until(() -> sink.opened.stream().anyMatch(c -> c.name().equals("eu"))
                && endpoints(sink.lastState("eu")) == 1);
        ClusterInfo opened = sink.opened.get(0);
        assertThat(opened.network()).as("network from the remote's istio-system label").isEqualTo("net2");
        assertThat(opened.controllerAddress()).isEqualTo("127.0.0.1:15012");
        await().atMost(TIMEOUT).until(() -> status("eu").status().equals(RemoteClusterStatus.SYNCED));

        // Its workloads' tokens are checked with the remote cluster's own issuer keys.
        await().atMost(TIMEOUT).until(() -> controller.issuer("eu") != null);
        String token = euIssuer.mint("sample", "helloworld", "helloworld-v2", List.of("istio-ca"),
                Duration.ofMinutes(10), java.time.Instant.now());
        assertThat(controller.issuer("eu").verify(token, "istio-ca").serviceAccount()).isEqualTo("helloworld");
        assertThat(controller.issuer("west")).isNull();

        // Rotate the credentials: a second watch syncs beside the first; endpoints never drop.
        int before = sink.states.size();
        primary.resource(remoteSecret("istio-remote-secret-eu", Map.of("eu", kubeconfig("token-2")))).update();
        await().atMost(TIMEOUT).until(() -> sink.states.size() > before
                && status("eu").reason().isEmpty() && status("eu").status().equals(RemoteClusterStatus.SYNCED));
        assertThat(sink.states).allSatisfy(s -> assertThat(endpoints(s)).isEqualTo(1));
        assertThat(sink.opened).as("one publication across the rotation").hasSize(1);

        // A broken kubeconfig is refused and counted; the previous one keeps serving.
        primary.resource(remoteSecret("istio-remote-secret-eu", Map.of("eu", "apiVersion: v1\nkind: [oops"))).update();
        await().atMost(TIMEOUT).until(() -> status("eu").reason().contains("does not parse"));
        assertThat(status("eu").reason()).contains("istio-system/istio-remote-secret-eu", "previous kubeconfig");
        assertThat(status("eu").status()).isEqualTo(RemoteClusterStatus.SYNCED);
        assertThat(meters.find(RemoteClusterController.REJECTED_METER).tag("cluster", "eu").counter().count())
                .isEqualTo(1.0);
        assertThat(sink.removed).isEmpty();

        // Fixed again: the error clears.
        primary.resource(remoteSecret("istio-remote-secret-eu", Map.of("eu", kubeconfig("token-3")))).update();
        await().atMost(TIMEOUT).until(() -> status("eu").reason().isEmpty()
                && status("eu").status().equals(RemoteClusterStatus.SYNCED));

        // Deleted: the cluster leaves the mesh.
        primary.secrets().inNamespace("istio-system").withName("istio-remote-secret-eu").delete();
        await().atMost(TIMEOUT).until(() -> sink.removed.contains("eu"));
        await().atMost(TIMEOUT).until(() -> controller.status().isEmpty());
    }

    @Test
    void refusesExecPluginsItsOwnNameAndDuplicates() {
        String exec = kubeconfig("t").replace("    token: t\n",
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/steal-secrets\n");
        primary.resource(remoteSecret("istio-remote-secret-bad", Map.of("west", exec, "east", kubeconfig("t"))))
                .create();
        primary.resource(remoteSecret("istio-remote-secret-a", Map.of("eu", kubeconfig("a")))).create();
        primary.resource(remoteSecret("istio-remote-secret-b", Map.of("eu", kubeconfig("b")))).create();

        await().atMost(TIMEOUT).until(() -> controller.status().size() == 3
                && status("eu").status().equals(RemoteClusterStatus.SYNCED));
        assertThat(status("west").status()).isEqualTo(RemoteClusterStatus.ERROR);
        assertThat(status("west").reason()).contains("exec plugin", "/bin/steal-secrets");
        assertThat(status("east").reason()).contains("own cluster");
        assertThat(status("eu").secret()).isEqualTo("istio-system/istio-remote-secret-a");
        assertThat(sink.opened).extracting(ClusterInfo::name).containsExactly("eu");
        assertThat(meters.find(RemoteClusterController.REJECTED_METER).counters()).hasSize(3);
    }

    @Test
    void anUnreachableRemoteTimesOutWithoutBlankingOthers() {
        String dead = kubeconfig("t").replace(remoteServer.getHostName() + ":" + remoteServer.getPort(),
                "127.0.0.1:1");
        primary.resource(remoteSecret("istio-remote-secret-gone", Map.of("gone", dead))).create();
        primary.resource(remoteSecret("istio-remote-secret-eu", Map.of("eu", kubeconfig("t")))).create();
        await().atMost(TIMEOUT).until(() -> controller.status().size() == 2
                && status("eu").status().equals(RemoteClusterStatus.SYNCED)
                && status("gone").status().equals(RemoteClusterStatus.TIMEOUT));
        assertThat(endpoints(sink.lastState("eu"))).isEqualTo(1);
        assertThat(sink.lastState("gone")).isNull();
    }

    @Test
    void aRemoteWhoseFirstWatchFailedToStartIsWatchedOnceItCanBe() {
        controller.close();
        java.util.concurrent.atomic.AtomicInteger attempts = new java.util.concurrent.atomic.AtomicInteger();
        controller = RemoteClusterController.start(primary, new RemoteClusterOptions("east", "istio-system", "net1",
                "cluster.local", "127.0.0.1:15012", Duration.ofSeconds(8)), sink, meters, kubeconfig -> {
                    if (attempts.incrementAndGet() == 1) {
                        throw new IllegalStateException("connect timed out (the remote API server was busy)");
                    }
                    return RemoteClusterController.newClient(kubeconfig);
                }, Clock.systemUTC());
        primary.resource(remoteSecret("istio-remote-secret-eu", Map.of("eu", kubeconfig("t")))).create();

        await().atMost(TIMEOUT).until(() -> status("eu").status().equals(RemoteClusterStatus.SYNCED)
                && controller.issuer("eu") != null);
        assertThat(attempts.get()).isGreaterThanOrEqualTo(2);
        assertThat(endpoints(sink.lastState("eu"))).isEqualTo(1);
    }

    private RemoteClusterStatus status(String cluster) {
        return controller.status().stream().filter(s -> s.cluster().equals(cluster)).findFirst()
                .orElse(new RemoteClusterStatus(cluster, "", "absent", "", "", java.time.Instant.EPOCH));
    }

    private static int endpoints(ClusterState state) {
        return state == null ? 0 : state.endpoints().size();
    }

    private String kubeconfig(String token) {
        String server = "http://" + remoteServer.getHostName() + ":" + remoteServer.getPort();
        return "apiVersion: v1\nkind: Config\ncurrent-context: eu\n"
                + "clusters:\n- name: eu\n  cluster:\n    server: " + server + "\n"
                + "contexts:\n- name: eu\n  context:\n    cluster: eu\n    user: eu\n"
                + "users:\n- name: eu\n  user:\n    token: " + token + "\n";
    }

    private static Secret remoteSecret(String name, Map<String, String> kubeconfigs) {
        Map<String, String> data = new HashMap<>();
        kubeconfigs.forEach((k, v) -> data.put(k,
                Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        return new SecretBuilder().withNewMetadata().withName(name).withNamespace("istio-system")
                .addToLabels(RemoteSecret.LABEL, "true").endMetadata().withData(data).build();
    }

    /** Records what the controller hands the federation. */
    private static final class RecordingSink implements RemoteClusterController.Sink {
        final List<ClusterInfo> opened = new CopyOnWriteArrayList<>();
        final List<ClusterState> states = new CopyOnWriteArrayList<>();
        final List<String> removed = new CopyOnWriteArrayList<>();

        @Override
        public RemoteClusterController.Publication open(ClusterInfo cluster) {
            opened.add(cluster);
            return new RemoteClusterController.Publication() {
                @Override
                public void offer(ClusterState state) {
                    states.add(state);
                }

                @Override
                public void close() {
                }
            };
        }

        @Override
        public void removed(String cluster) {
            removed.add(cluster);
        }

        ClusterState lastState(String cluster) {
            ClusterState last = null;
            for (ClusterState s : states) {
                if (s.cluster().equals(cluster)) {
                    last = s;
                }
            }
            return last;
        }
    }
}
