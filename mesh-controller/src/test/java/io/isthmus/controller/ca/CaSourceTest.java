package io.isthmus.controller.ca;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The controller's CA follows its {@code cacerts} Secret on a CRUD-mode mock API server through the
 * three phases of a root rotation, and refuses a broken Secret naming the file, keeping the last
 * good CA.
 */
class CaSourceTest {

    private static final CertificateAuthority OLD_ROOT = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(30));
    private static final CertificateAuthority OLD_EAST = OLD_ROOT.createIntermediate("east", Duration.ofDays(10));
    private static final CertificateAuthority NEW_ROOT = CertificateAuthority.createRoot("Isthmus next", Duration.ofDays(30));
    private static final CertificateAuthority NEW_EAST = NEW_ROOT.createIntermediate("east", Duration.ofDays(10));

    private KubernetesMockServer server;
    private KubernetesClient client;
    private final SimpleMeterRegistry metrics = new SimpleMeterRegistry();

    @BeforeEach
    void start() throws Exception {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
    }

    @AfterEach
    void stop() {
        client.close();
        server.destroy();
    }

    private void write(Map<String, String> files) {
        client.resource(new SecretBuilder().withNewMetadata().withNamespace("istio-system").withName("cacerts").endMetadata()
                .withStringData(files).build()).createOr(op -> op.update());
    }

    @Test
    void followsTheThreePhasesAndRefusesABrokenSecret() {
        write(OLD_EAST.toCacerts());
        CaSource source = new CaSource(client, CacertsLoader.loadCa(client), metrics);
        List<CertificateAuthority> changes = new CopyOnWriteArrayList<>();
        source.addListener(changes::add);
        ServingCertificate serving = new ServingCertificate(source, "cluster.local", Duration.ofHours(1), Clock.systemUTC());
        WorkloadCertificate firstServing = serving.get();

        source.poll();
        assertThat(changes).as("an unchanged Secret is not a change").isEmpty();

        String both = Pem.encodeCertificates(List.of(OLD_ROOT.certificate(), NEW_ROOT.certificate()));
        Map<String, String> added = new HashMap<>(OLD_EAST.toCacerts());
        added.put("root-cert.pem", both);
        write(added);
        source.poll();
        assertThat(source.get().trustedRoots()).containsExactly(OLD_ROOT.certificate(), NEW_ROOT.certificate());
        assertThat(source.get().root()).isEqualTo(OLD_ROOT.certificate());
        assertThat(CaSource.rootsPem(changes.get(0))).hasSize(2);

        Map<String, String> reissued = new HashMap<>(NEW_EAST.toCacerts());
        reissued.put("root-cert.pem", both);
        write(reissued);
        source.poll();
        assertThat(source.get().root()).isEqualTo(NEW_ROOT.certificate());
        assertThat(serving.get().chain()).as("the serving certificate follows the new CA at once")
                .last().isEqualTo(NEW_ROOT.certificate());
        assertThat(serving.get()).isNotEqualTo(firstServing);

        // A broken update: the previous CA keeps signing; counted once however often it is polled.
        Map<String, String> broken = new HashMap<>(NEW_EAST.toCacerts());
        broken.put("ca-key.pem", OLD_EAST.toCacerts().get("ca-key.pem"));
        write(broken);
        source.poll();
        source.poll();
        assertThat(source.get().root()).isEqualTo(NEW_ROOT.certificate());
        assertThat(source.get().trustedRoots()).hasSize(2);
        assertThat(metrics.get(CaSource.RELOAD_FAILURES_METRIC).tag("file", "ca-key.pem").counter().count()).isEqualTo(1.0);
        assertThat(source.get().signCsr(io.isthmus.trust.WorkloadKeys.csrPem(io.isthmus.trust.WorkloadKeys.newKeyPair(),
                SpiffeId.of("cluster.local", "a", "b")), SpiffeId.of("cluster.local", "a", "b"), Duration.ofHours(1)))
                .last().isEqualTo(NEW_ROOT.certificate());

        write(NEW_EAST.toCacerts());
        source.poll();
        assertThat(source.get().trustedRoots()).containsExactly(NEW_ROOT.certificate());
        assertThat(changes).hasSize(3);

        client.secrets().inNamespace("istio-system").withName("cacerts").delete();
        source.poll();
        assertThat(source.get().trustedRoots()).containsExactly(NEW_ROOT.certificate());
        source.close();
    }
}
