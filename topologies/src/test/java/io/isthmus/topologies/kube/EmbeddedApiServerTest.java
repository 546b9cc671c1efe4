package io.isthmus.topologies.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedApiServerTest {

    private static EmbeddedApiServer server;
    private static KubernetesClient client;

    @BeforeAll
    static void start() {
        server = EmbeddedApiServer.start("test", "127.0.0.1", 0);
        client = server.newClient();
    }

    @AfterAll
    static void stop() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void servesDiscoveryEvenWithKubectlsQueryString() {
        assertThat(server.url()).startsWith("https://127.0.0.1:");

        String apis = client.raw("/apis?timeout=32s");
        assertThat(apis).contains("\"APIGroupList\"", "networking.istio.io", "security.istio.io", "discovery.k8s.io");
        assertThat(client.raw("/api")).contains("\"APIVersions\"", "\"v1\"");
        assertThat(client.raw("/api/v1?timeout=32s")).contains("\"pods\"", "\"services\"", "\"secrets\"");
        assertThat(client.raw("/apis/networking.istio.io/v1beta1"))
                .contains("\"virtualservices\"", "\"VirtualService\"", "\"vs\"");
        assertThat(client.raw("/apis/security.istio.io/v1")).contains("\"authorizationpolicies\"");
    }

    @Test
    void storesCoreAndIstioObjectsAndTheirStatus() {
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("crud")
                .addToLabels("topology.istio.io/network", "net1").endMetadata().build()).create();
        client.services().inNamespace("crud").resource(new ServiceBuilder().withNewMetadata().withName("web")
                .endMetadata().withNewSpec().addNewPort().withName("http").withPort(80).endPort().endSpec().build()).create();
        Pod pod = client.pods().inNamespace("crud").resource(new PodBuilder().withNewMetadata().withName("web-1")
                .addToLabels("app", "web").endMetadata().withNewSpec().addNewContainer().withName("app").withImage("x")
                .endContainer().endSpec().build()).create();
        pod.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPodIP("127.9.1.1").withPhase("Running")
                .build());
        client.pods().inNamespace("crud").resource(pod).updateStatus();

        assertThat(client.namespaces().withName("crud").get().getMetadata().getLabels())
                .containsEntry("topology.istio.io/network", "net1");
        assertThat(client.services().inNamespace("crud").withName("web").get().getSpec().getPorts()).hasSize(1);
        assertThat(client.pods().inNamespace("crud").withLabel("app", "web").list().getItems())
                .singleElement().satisfies(p -> assertThat(p.getStatus().getPodIP()).isEqualTo("127.9.1.1"));

        GenericKubernetesResource vs = new GenericKubernetesResourceBuilder()
                .withApiVersion("networking.istio.io/v1").withKind("VirtualService")
                .withNewMetadata().withName("web").withNamespace("crud").endMetadata()
                .withAdditionalProperties(Map.of("spec", Map.of("hosts", List.of("web.crud.svc.cluster.local"))))
                .build();
        client.genericKubernetesResources("networking.istio.io/v1", "VirtualService").inNamespace("crud")
                .resource(vs).create();
        List<GenericKubernetesResource> listed = client.genericKubernetesResources("networking.istio.io/v1",
                "VirtualService").inNamespace("crud").list().getItems();
        assertThat(listed).singleElement().satisfies(r -> assertThat(r.get("spec", "hosts").toString())
                .contains("web.crud.svc.cluster.local"));

        client.genericKubernetesResources("networking.istio.io/v1", "VirtualService").inNamespace("crud")
                .withName("web").delete();
        await().atMost(Duration.ofSeconds(30)).until(() -> client.genericKubernetesResources(
                "networking.istio.io/v1", "VirtualService").inNamespace("crud").list().getItems().isEmpty());
    }

    @Test
    void servesTheMultiClusterServicesKindsSoAServiceCanBeExported() {
        assertThat(client.raw("/apis?timeout=32s")).contains("multicluster.x-k8s.io");
        assertThat(client.raw("/apis/multicluster.x-k8s.io/v1alpha1"))
                .contains("\"serviceexports\"", "\"serviceimports\"", "\"svcex\"");
        GenericKubernetesResource export = new GenericKubernetesResourceBuilder()
                .withApiVersion("multicluster.x-k8s.io/v1alpha1").withKind("ServiceExport")
                .withNewMetadata().withName("web").withNamespace("mcs").endMetadata()
                .build();
        client.genericKubernetesResources("multicluster.x-k8s.io/v1alpha1", "ServiceExport").inNamespace("mcs")
                .resource(export).create();
        assertThat(client.genericKubernetesResources("multicluster.x-k8s.io/v1alpha1", "ServiceExport")
                .inAnyNamespace().list().getItems()).extracting(r -> r.getMetadata().getName()).containsExactly("web");
    }

    @Test
    void informersSeeAddsUpdatesAndDeletes() {
        List<String> events = new CopyOnWriteArrayList<>();
        SharedIndexInformer<Pod> informer = client.pods().inNamespace("informed").inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Pod p) {
                events.add("add " + p.getMetadata().getName());
            }

            @Override
            public void onUpdate(Pod before, Pod after) {
                if (!before.getMetadata().getResourceVersion().equals(after.getMetadata().getResourceVersion())) {
                    events.add("update " + after.getMetadata().getName());
                }
            }

            @Override
            public void onDelete(Pod p, boolean unknownFinalState) {
                events.add("delete " + p.getMetadata().getName());
            }
        });
        try {
            await().atMost(Duration.ofSeconds(20)).until(informer::hasSynced);
            var pods = client.pods().inNamespace("informed");
            pods.resource(new PodBuilder().withNewMetadata().withName("p").endMetadata().build()).create();
            await().atMost(Duration.ofSeconds(20)).until(() -> events.contains("add p"));
            pods.withName("p").edit(p -> new PodBuilder(p).editMetadata().addToLabels("v", "2").endMetadata().build());
            await().atMost(Duration.ofSeconds(20)).until(() -> events.contains("update p"));
            pods.withName("p").delete();
            await().atMost(Duration.ofSeconds(20)).until(() -> events.contains("delete p"));
        } finally {
            informer.close();
        }
    }

    @Test
    void kubectlCanCreateGetAndDeleteAnIstioResource(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/kubectl")), "kubectl is not installed");
        Path kubeconfig = server.writeKubeconfig(dir.resolve("kubeconfig"));
        Path manifest = dir.resolve("dr.yaml");
        Files.writeString(manifest, """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: reviews
                  namespace: kubectl
                spec:
                  host: reviews.kubectl.svc.cluster.local
                """);

        assertThat(kubectl(kubeconfig, dir, "create", "--validate=false", "-f", manifest.toString()))
                .contains("destinationrule.networking.istio.io/reviews created");
        assertThat(kubectl(kubeconfig, dir, "get", "destinationrules", "-n", "kubectl", "-o", "name"))
                .contains("destinationrule.networking.istio.io/reviews");
        assertThat(kubectl(kubeconfig, dir, "delete", "dr", "reviews", "-n", "kubectl")).contains("deleted");
    }

    private static String kubectl(Path kubeconfig, Path home, String... args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of("kubectl", "--kubeconfig", kubeconfig.toString(),
                "--request-timeout=20s"));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("HOME", home.toString()); // kubectl's discovery cache goes here, not into ~/.kube
        Process p = pb.start();
        try {
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("kubectl finished").isTrue();
            assertThat(p.exitValue()).as("kubectl %s: %s", String.join(" ", args), out).isZero();
            return out;
        } finally {
            p.destroyForcibly();
        }
    }
}
