package io.isthmus.controller.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RootCertPublisher} against a CRUD-mode mock Kubernetes API server: what Istio's namespace
 * controller guarantees about {@code istio-ca-root-cert}.
 */
class RootCertPublisherTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final String OLD_ROOT = Pem.encodeCertificate(
            CertificateAuthority.createRoot("Old", Duration.ofDays(1)).certificate());
    private static final String NEW_ROOT = Pem.encodeCertificate(
            CertificateAuthority.createRoot("New", Duration.ofDays(1)).certificate());

    private KubernetesMockServer server;
    private KubernetesClient client;
    private RootCertPublisher publisher;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @BeforeEach
    void startApiServer() throws Exception {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
    }

    @AfterEach
    void stop() {
        if (publisher != null) {
            publisher.close();
        }
        client.close();
        server.destroy();
    }

    @Test
    void everyNamespaceGetsTheRootsIncludingNamespacesCreatedLaterButNotKubernetesOwn() {
        namespace("sample");
        namespace("kube-system");
        // A namespace that already holds a stale copy is corrected at start.
        namespace("stale");
        client.configMaps().inNamespace("stale").resource(rootCertMap("stale", "not a certificate")).create();

        publisher = RootCertPublisher.start(client, OLD_ROOT, registry);

        await().atMost(TIMEOUT).untilAsserted(() -> {
            assertThat(rootCert("sample")).isEqualTo(OLD_ROOT);
            assertThat(rootCert("stale")).isEqualTo(OLD_ROOT);
        });
        namespace("created-later");
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(rootCert("created-later")).isEqualTo(OLD_ROOT));
        assertThat(client.configMaps().inNamespace("kube-system").withName(RootCertPublisher.CONFIG_MAP).get()).isNull();
        assertThat(registry.get(RootCertPublisher.WRITES).tag("action", "create").counter().count()).isEqualTo(2.0);
        assertThat(registry.get(RootCertPublisher.WRITES).tag("action", "update").counter().count()).isEqualTo(1.0);
    }

    @Test
    void aDeletedOrEditedCopyIsRestored() {
        namespace("sample");
        publisher = RootCertPublisher.start(client, OLD_ROOT, registry);
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(rootCert("sample")).isEqualTo(OLD_ROOT));

        client.configMaps().inNamespace("sample").withName(RootCertPublisher.CONFIG_MAP).delete();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(rootCert("sample")).isEqualTo(OLD_ROOT));

        client.configMaps().inNamespace("sample").withName(RootCertPublisher.CONFIG_MAP)
                .edit(map -> new ConfigMapBuilder(map).withData(Map.of("root-cert.pem", NEW_ROOT, "extra", "x")).build());
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(rootCert("sample")).isEqualTo(OLD_ROOT));
    }

    @Test
    void aRootRotationRewritesEveryCopyThroughItsPhases() {
        namespace("a");
        namespace("b");
        publisher = RootCertPublisher.start(client, OLD_ROOT, registry);
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(rootCert("a")).isEqualTo(OLD_ROOT));

        // add: both roots; remove: the new root alone.
        publisher.publish(OLD_ROOT + NEW_ROOT);
        await().atMost(TIMEOUT).untilAsserted(() -> {
            assertThat(rootCert("a")).isEqualTo(OLD_ROOT + NEW_ROOT);
            assertThat(rootCert("b")).isEqualTo(OLD_ROOT + NEW_ROOT);
        });
        publisher.publish(NEW_ROOT);
        await().atMost(TIMEOUT).untilAsserted(() -> {
            assertThat(rootCert("a")).isEqualTo(NEW_ROOT);
            assertThat(rootCert("b")).isEqualTo(NEW_ROOT);
        });
    }

    private void namespace(String name) {
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    }

    private String rootCert(String namespace) {
        ConfigMap map = client.configMaps().inNamespace(namespace).withName(RootCertPublisher.CONFIG_MAP).get();
        return map == null || map.getData() == null ? null : map.getData().get(RootCertPublisher.KEY);
    }

    private static ConfigMap rootCertMap(String namespace, String value) {
        return new ConfigMapBuilder().withNewMetadata().withName(RootCertPublisher.CONFIG_MAP).withNamespace(namespace)
                .endMetadata().addToData(RootCertPublisher.KEY, value).build();
    }
}
