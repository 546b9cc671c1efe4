package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import io.isthmus.topologies.internal.SimpleHttp;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 7 (security): PeerAuthentication and AuthorizationPolicy applied in {@code east}'s API
 * server travel through east's controller and reach helloworld's sidecar, which enforces them
 * on real mTLS connections from two clients in {@code west} with different SPIFFE identities.
 *
 * <ol>
 *   <li>PeerAuthentication PERMISSIVE for namespace sample: a plaintext request to helloworld's
 *       inbound port is answered; then STRICT: the same request gets no HTTP answer, while mTLS
 *       traffic from the clients keeps flowing.
 *   <li>AuthorizationPolicy ALLOW {@code cluster.local/ns/sample/sa/curl} on app=helloworld, plus
 *       DENY {@code /admin*}: curl is answered, intruder gets {@code 403 RBAC: access denied}, and
 *       curl too on {@code /admin} however it is encoded; the server sidecar counts the 403s.
 * </ol>
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AuthorizationE2ETest {

    private static final Logger log = LoggerFactory.getLogger(AuthorizationE2ETest.class);
    private static final String GROUP_VERSION = "security.istio.io/v1";
    private static final Duration PROPAGATION = Duration.ofSeconds(60);

    @TempDir
    static Path runDir;

    private static Topology topology;
    private static LocalMesh mesh;
    private static DemoScenario fromCurl;
    private static DemoScenario fromIntruder;
    private static WorkloadSpec server;
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    @BeforeAll
    static void startMesh() throws IOException {
        try (InputStream in = AuthorizationE2ETest.class.getResourceAsStream("/authz.yaml")) {
            assertThat(in).as("authz.yaml on the test class path").isNotNull();
            topology = Topology.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        DemoScenario first = DemoScenario.of(topology);
        fromCurl = first;
        fromIntruder = new DemoScenario(topology.workload("intruder"), first.service(), first.namespace(),
                first.port(), first.servers());
        assertThat(fromCurl.client().name()).isEqualTo("curl");
        server = topology.workload("helloworld-v1");

        mesh = LocalMesh.start(topology, LocalMeshOptions.defaults(runDir)
                .withReadyTimeout(Duration.ofMinutes(3))
                .withProgress(line -> log.info("{}", line)));
        log.info("mesh ready in {} ms", mesh.timeToReady().toMillis());
        for (DemoScenario s : List.of(fromCurl, fromIntruder)) {
            Set<String> seen = DemoTraffic.warmUp(mesh, s, Duration.ofSeconds(90));
            assertThat(seen).as("clusters that answered %s before any policy; logs in %s", s.client().name(), runDir)
                    .contains("east");
        }
    }

    @AfterAll
    static void stopMesh() {
        if (mesh != null) {
            mesh.close();
        }
        assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList())
                .as("no child process left running").isEmpty();
    }

    @Test
    @Order(1)
    void peerAuthenticationPermissiveAcceptsPlaintextAndStrictRefusesIt() {
        assertThat(plaintextStatus()).as("plaintext to the inbound port with no PeerAuthentication (mTLS only)")
                .isEmpty();
        apply(istioObject("PeerAuthentication", "default", Map.of("mtls", Map.of("mode", "PERMISSIVE"))));
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500))
                .untilAsserted(() -> assertThat(plaintextStatus()).as("plaintext answer under PERMISSIVE")
                        .contains(200));
        assertThat(status(fromCurl, "/mtls-still-works")).isEqualTo(200);

        apply(istioObject("PeerAuthentication", "default", Map.of("mtls", Map.of("mode", "STRICT"))));
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500))
                .untilAsserted(() -> assertThat(plaintextStatus()).as("plaintext answer under STRICT").isEmpty());
        assertThat(status(fromCurl, "/mtls-after-strict")).isEqualTo(200);
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    @Test
    @Order(2)
    void authorizationPolicyAllowsCurlDeniesIntruderAndAdminPaths() {
        apply(istioObject("AuthorizationPolicy", "allow-curl", Map.of(
                "selector", Map.of("matchLabels", Map.of("app", "helloworld")),
                "action", "ALLOW",
                "rules", List.of(Map.of("from", List.of(Map.of("source", Map.of(
                        "principals", List.of("cluster.local/ns/sample/sa/curl")))))))));
        apply(istioObject("AuthorizationPolicy", "deny-admin", Map.of(
                "action", "DENY",
                "rules", List.of(Map.of("to", List.of(Map.of("operation", Map.of("paths", List.of("/admin*")))))))));

        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500))
                .untilAsserted(() -> assertThat(response(fromIntruder, "/hello").status())
                        .as("intruder once the ALLOW policy is in force").isEqualTo(403));
        SimpleHttp.Response denied = response(fromIntruder, "/hello");
        assertThat(denied.body()).contains("RBAC: access denied");
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500))
                .untilAsserted(() -> assertThat(response(fromCurl, "/admin").status()).isEqualTo(403));
        for (int i = 0; i < 5; i++) {
            assertThat(status(fromCurl, "/hello/" + i)).as("curl, allowed by principal").isEqualTo(200);
            assertThat(status(fromIntruder, "/hello/" + i)).as("intruder, not allowed").isEqualTo(403);
        }
        for (String path : List.of("/admin", "//admin", "/./admin", "/a/../admin", "/%61dmin", "/admin/x", "/admin?x=1",
                "/admin;x", "/admin%2F")) {
            assertThat(status(fromCurl, path)).as("curl on %s (DENY /admin*)", path).isIn(400, 403);
        }
        assertThat(status(fromCurl, "/ADMIN")).as("paths are case-sensitive, as in Istio").isEqualTo(200);

        String metrics = get(mesh.sidecarAdminUrl(server) + "/stats/prometheus");
        assertThat(metrics).as("the server sidecar's metrics").containsPattern(
                "istio_requests_total\\{[^}]*response_code=\"403\"[^}]*source_workload=\"intruder\"[^}]*} [1-9]");
        assertThat(metrics).containsPattern(
                "isthmus_rbac_denied_total\\{policy=\"ns\\[sample]-policy\\[deny-admin]-rule\\[0]\",port=\"5000\"} [1-9]");
        assertThat(metrics).containsPattern("isthmus_rbac_denied_total\\{policy=\"none\",port=\"5000\"} [1-9]");
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    /** The HTTP status of a plaintext request straight to helloworld's inbound port; empty when refused. */
    private static Optional<Integer> plaintextStatus() {
        try {
            SimpleHttp.Response r = SimpleHttp.get(topology.podIp(server), fromCurl.port().targetPort(), "/plain",
                    fromCurl.authority(), Optional.empty(), 3000);
            return Optional.of(r.status());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static int status(DemoScenario s, String path) {
        return response(s, path).status();
    }

    /** A request as the client's app sends it: to its sidecar's outbound port, from the pod's localhost. */
    private static SimpleHttp.Response response(DemoScenario s, String path) {
        String localhost = topology.podLocalhost(s.client());
        try {
            return SimpleHttp.get(localhost, LocalMesh.OUTBOUND_PORT, path, s.authority(), Optional.of(localhost), 5000);
        } catch (IOException e) {
            throw new AssertionError(s.client().name() + " GET " + path + ": " + e, e);
        }
    }

    private static void apply(GenericKubernetesResource object) {
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            var resource = east.genericKubernetesResources(GROUP_VERSION, object.getKind()).inNamespace("sample")
                    .withName(object.getMetadata().getName());
            GenericKubernetesResource live = resource.get();
            if (live == null) {
                east.resource(object).create();
            } else {
                object.getMetadata().setResourceVersion(live.getMetadata().getResourceVersion());
                east.resource(object).update();
            }
        }
    }

    private static GenericKubernetesResource istioObject(String kind, String name, Map<String, Object> spec) {
        return new GenericKubernetesResourceBuilder()
                .withApiVersion(GROUP_VERSION).withKind(kind)
                .withNewMetadata().withName(name).withNamespace("sample").endMetadata()
                .withAdditionalProperties(Map.of("spec", spec))
                .build();
    }

    private static String get(String url) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as("GET %s", url).isEqualTo(200);
            return r.body();
        } catch (IOException e) {
            throw new AssertionError("GET " + url + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
