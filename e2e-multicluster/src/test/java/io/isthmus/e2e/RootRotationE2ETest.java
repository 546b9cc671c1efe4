package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.isthmus.controller.ca.CacertsLoader;
import io.isthmus.meshctl.Meshctl;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 3: the mesh root is replaced in three phases driven by {@code meshctl trust rotate-root}
 * (add the new root → re-issue intermediates and leaves under it → remove the old root) while curl
 * in west calls helloworld in east and eu (eu only through its east-west gateway) at a steady
 * rate: no request fails. Before the removal a leaf under the old root is still accepted by a
 * sidecar's mTLS inbound port; after it, the same leaf is refused. Runs the demo topology on
 * 127.141-143.x.x with a 6 s certificate lifetime, so leaves renew within seconds.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class RootRotationE2ETest {

    private static final Logger log = LoggerFactory.getLogger(RootRotationE2ETest.class);
    private static final Duration CERT_TTL = Duration.ofSeconds(6);

    @TempDir
    static Path runDir;

    private static Topology topology;
    private static DemoScenario scenario;
    private static LocalMesh mesh;

    @BeforeAll
    static void startMesh() {
        topology = OwnMesh.topology("/io/isthmus/topologies/demo.yaml").withAddressBase(141).withCertTtl(CERT_TTL);
        scenario = DemoScenario.of(topology);
        mesh = OwnMesh.start(RootRotationE2ETest.class, topology, runDir, Duration.ofMinutes(5));
        OwnMesh.awaitAnswersFrom(mesh, scenario, "east", "eu");
    }

    @AfterAll
    static void stopMesh() throws IOException {
        OwnMesh.stop(mesh);
    }

    @Test
    void threePhaseRootRotationUnderTrafficDropsNoRequestAndThenRefusesTheOldRoot() throws Exception {
        WorkloadSpec server = topology.workloadsIn("east").stream()
                .filter(w -> w.role() == WorkloadSpec.Role.SERVER && w.httpPort().isPresent()).findFirst().orElseThrow();
        InetSocketAddress inbound = new InetSocketAddress(topology.podIp(server), server.httpPort().get().targetPort());
        // A leaf of curl's identity under east's current (old) intermediate, as an attacker holding
        // a pre-rotation certificate would present it.
        CertificateAuthority oldEast;
        try (KubernetesClient client = new KubernetesClientBuilder()
                .withConfig(Config.fromKubeconfig(Files.readString(mesh.kubeconfig("east")))).build()) {
            oldEast = CacertsLoader.loadCa(client);
        }
        WorkloadCertificate oldLeaf = oldEast.issue(SpiffeId.parse(scenario.client().identity(topology.trustDomain())),
                List.of(), Duration.ofHours(1));
        assertThat(inboundAccepts(inbound, oldLeaf)).as("a leaf under the current root is accepted").isTrue();

        List<String> errors = Collections.synchronizedList(new ArrayList<>());
        List<DemoTraffic.Answer> answers = Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean stop = new AtomicBoolean();
        Thread traffic = new Thread(() -> {
            while (!stop.get()) {
                DemoTraffic.Burst one = DemoTraffic.send(mesh, scenario, 1);
                answers.addAll(one.answers());
                one.errors().forEach(e -> errors.add(String.format("after %d answers: %s", answers.size(), e)));
                sleep(100);
            }
        }, "steady-traffic");
        traffic.start();
        try {
            sleep(2_000);
            meshctl("add");
            // Proxies receive the two-root bundle through xDS; give them a push cycle.
            sleep(3_000);
            meshctl("reissue");
            assertThat(inboundAccepts(inbound, oldLeaf)).as("between reissue and remove, the old root is still trusted")
                    .isTrue();
            meshctl("remove");
            // Keep the stream flowing across a few more renewals under the new root alone.
            sleep(2 * CERT_TTL.toMillis());
        } finally {
            stop.set(true);
            traffic.join(30_000);
        }
        log.info("{} answers, {} errors: {}", answers.size(), errors.size(), errors);
        assertThat(errors).as("failed requests during the root rotation; logs in %s", runDir).isEmpty();
        assertThat(answers).extracting(DemoTraffic.Answer::cluster).contains("east", "eu");
        assertThat(answers.size()).isGreaterThanOrEqualTo(50);

        assertThat(inboundAccepts(inbound, oldLeaf)).as("after removal, a leaf chained only to the old root is refused")
                .isFalse();
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    private static void meshctl(String phase) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Meshctl.run(new PrintWriter(out, true), new PrintWriter(err, true), "trust", "rotate-root",
                "--phase", phase, "--run-dir", mesh.runDirectory().toString(), "--wait", "90");
        log.info("meshctl trust rotate-root --phase {} → {}\n{}{}", phase, code, out, err);
        assertThat(code).as("meshctl trust rotate-root --phase %s\n%s%s", phase, out, err).isZero();
    }

    /**
     * Whether the sidecar's mTLS inbound port serves a request from a client presenting
     * {@code leaf}. The client does not check the server (this test is about the server's
     * verification of the client); with TLS 1.3 a refused client certificate shows as a closed
     * connection or an alert on the first read.
     */
    private static boolean inboundAccepts(InetSocketAddress address, WorkloadCertificate leaf) throws Exception {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("leaf", leaf.privateKey(), new char[0], leaf.chain().toArray(X509Certificate[]::new));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, new char[0]);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(kmf.getKeyManagers(), new TrustManager[] {new X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {}

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) {}

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        }}, null);
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket()) {
            socket.connect(address, 5_000);
            socket.setSoTimeout(10_000);
            socket.startHandshake();
            socket.getOutputStream().write(("GET /rotation HTTP/1.1\r\nHost: helloworld\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            byte[] head = socket.getInputStream().readNBytes(12);
            String status = new String(head, StandardCharsets.US_ASCII);
            log.info("inbound {} with a leaf under {}: {}", address, leaf.chain().get(leaf.chain().size() - 1)
                    .getSubjectX500Principal(), status);
            return status.startsWith("HTTP/1.1 200");
        } catch (IOException e) {
            log.info("inbound {} refused the leaf: {}", address, e.toString());
            return false;
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
