package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.WorkloadSpec;
import io.isthmus.topologies.internal.SimpleHttp;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issues 6 and 7, rate limits end to end over real processes, on the shared {@link DemoMesh}: a
 * RateLimitPolicy (policy.isthmus.io/v1alpha1) created in {@code west}'s API server travels west's
 * controller → the federation → east's controller → the sidecar of this class's own service in
 * east ({@code ratelimited}, one pod, added for this class), which then answers curl's requests
 * (from west) beyond the burst with 429 and the rate-limit headers, and only on the limited paths.
 * An invalid policy applied next is rejected with its field, and the first stays in force. Both
 * policies and the pod are removed afterwards.
 */
@SharedDemoMesh
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class RateLimitE2ETest {

    private static final Duration PROPAGATION = Duration.ofSeconds(60);
    private static final String SERVICE = "ratelimited";
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final List<String> POLICIES = List.of("ratelimited", "broken");

    private static DemoMesh demo;
    private static LocalMesh mesh;
    private static Path runDir;
    private static WorkloadSpec server;
    private static DemoScenario scenario;

    @BeforeAll
    static void addTheService(DemoMesh shared) {
        demo = shared;
        mesh = demo.mesh();
        runDir = demo.runDir();
        server = DemoMesh.server("ratelimited-v1", "east", SERVICE, "v1");
        scenario = demo.addServers(demo.fromWest().client(), List.of(server));
    }

    /** Deletes both policies, waits until west's controller no longer holds them, and removes the pod. */
    @AfterAll
    static void removeThePoliciesAndTheService() {
        if (server == null) {
            return;
        }
        try (KubernetesClient west = mesh.apiServer("west").newClient()) {
            for (String name : POLICIES) {
                west.genericKubernetesResources("policy.isthmus.io/v1alpha1", "RateLimitPolicy").inNamespace("sample")
                        .withName(name).delete();
            }
        }
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                .untilAsserted(() -> assertThat(policiesIn(JSON.readTree(E2eSupport.get(mesh.controllerAdminUrl("west")
                        + "/debug/config")), new ArrayList<>())).as("RateLimitPolicies west's controller still holds")
                        .isEmpty());
        demo.retire(List.of(server));
    }

    /** The names of the RateLimitPolicies anywhere in a {@code /debug/config} document (accepted, rejected, in force). */
    private static List<String> policiesIn(JsonNode node, List<String> found) {
        if (node.path("kind").asString("").equals("RateLimitPolicy")) {
            found.add(node.path("name").asString(""));
        }
        node.forEach(child -> policiesIn(child, found));
        return found;
    }

    private static GenericKubernetesResource policy(String name, Map<String, Object> limit) {
        return new GenericKubernetesResourceBuilder()
                .withApiVersion("policy.isthmus.io/v1alpha1").withKind("RateLimitPolicy")
                .withNewMetadata().withName(name).withNamespace("sample").endMetadata()
                .withAdditionalProperties(Map.of("spec", Map.of(
                        "selector", Map.of("matchLabels", Map.of("app", SERVICE)),
                        "rules", List.of(Map.of("name", "limited",
                                "match", Map.of("paths", List.of("/limited/*")),
                                "limit", limit)))))
                .build();
    }

    private static SimpleHttp.Response call(String path) throws IOException {
        String localhost = mesh.topology().podLocalhost(scenario.client());
        return SimpleHttp.get(localhost, LocalMesh.OUTBOUND_PORT, path, scenario.authority(),
                Optional.of(localhost), 10_000);
    }

    @Test
    void aPolicyFromWestLimitsEastsSidecarWith429AndHeaders() throws Exception {
        try (KubernetesClient west = mesh.apiServer("west").newClient()) {
            west.resource(policy("ratelimited", Map.of("requests", 3, "unit", "HOUR"))).create();
        }
        String sidecar = mesh.sidecarAdminUrl(server);
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                .until(() -> E2eSupport.get(sidecar + "/config_dump")
                        .contains("envoy.filters.http.local_ratelimit/sample/ratelimited"));

        List<Integer> statuses = new ArrayList<>();
        SimpleHttp.Response limited = null;
        for (int i = 0; i < 6; i++) {
            SimpleHttp.Response r = call("/limited/" + i);
            statuses.add(r.status());
            if (r.status() == 429) {
                limited = r;
            }
        }
        assertThat(statuses).as("3 per hour: the burst, then 429s; logs in %s", runDir)
                .containsExactly(200, 200, 200, 429, 429, 429);
        assertThat(limited.body()).contains("local_rate_limited");
        assertThat(limited.headers()).containsEntry("x-ratelimit-limit", "3")
                .containsEntry("x-ratelimit-remaining", "0").containsKey("retry-after");
        assertThat(call("/other").status()).as("a path no rule matches").isEqualTo(200);
        assertThat(E2eSupport.get(sidecar + "/stats/prometheus")).containsPattern(
                "istio_requests_total\\{[^}]*response_code=\"429\"[^}]*response_flags=\"RL\"[^}]*} 3(\\.0)?\n");

        // An invalid one: rejected by west's controller with its field; the first stays in force.
        try (KubernetesClient west = mesh.apiServer("west").newClient()) {
            west.resource(policy("broken", Map.of("requests", 10, "unit", "SECOND", "burst", 5))).create();
        }
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                .until(() -> E2eSupport.get(mesh.controllerAdminUrl("west") + "/debug/config")
                        .contains("spec.rules[0].limit.burst: 5 is below requests 10"));
        assertThat(call("/limited/again").status()).isEqualTo(429);
        assertThat(mesh.unexpectedExits()).isEmpty();
    }
}
