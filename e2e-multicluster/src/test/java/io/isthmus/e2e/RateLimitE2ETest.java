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
import io.isthmus.topologies.internal.SimpleHttp;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
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
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issues 6 and 7, rate limits end to end over real processes: a RateLimitPolicy
 * (policy.isthmus.io/v1alpha1) created in {@code west}'s API server travels west's controller → the
 * federation → east's controller → helloworld's sidecar in east, which then answers curl's requests
 * (from west) beyond the burst with 429 and the rate-limit headers, and only on the limited paths.
 * An invalid policy applied next is rejected with its field, and the first stays in force.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class RateLimitE2ETest {

    private static final Logger log = LoggerFactory.getLogger(RateLimitE2ETest.class);
    private static final Duration PROPAGATION = Duration.ofSeconds(60);

    @TempDir
    static Path runDir;

    private static LocalMesh mesh;
    private static DemoScenario scenario;

    @BeforeAll
    static void startMesh() throws IOException {
        Topology topology;
        try (InputStream in = RateLimitE2ETest.class.getResourceAsStream("/ratelimit.yaml")) {
            topology = Topology.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        scenario = DemoScenario.of(topology);
        mesh = LocalMesh.start(topology, LocalMeshOptions.defaults(runDir)
                .withReadyTimeout(Duration.ofMinutes(3))
                .withProgress(line -> log.info("{}", line)));
        assertThat(DemoTraffic.warmUp(mesh, scenario, Duration.ofSeconds(90))).as("logs in %s", runDir)
                .contains("east");
    }

    @AfterAll
    static void stopMesh() {
        if (mesh != null) {
            mesh.close();
        }
        assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList())
                .as("no child process left running").isEmpty();
    }

    private static GenericKubernetesResource policy(String name, Map<String, Object> limit) {
        return new GenericKubernetesResourceBuilder()
                .withApiVersion("policy.isthmus.io/v1alpha1").withKind("RateLimitPolicy")
                .withNewMetadata().withName(name).withNamespace("sample").endMetadata()
                .withAdditionalProperties(Map.of("spec", Map.of(
                        "selector", Map.of("matchLabels", Map.of("app", "helloworld")),
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
            west.resource(policy("helloworld", Map.of("requests", 3, "unit", "HOUR"))).create();
        }
        String sidecar = mesh.sidecarAdminUrl(mesh.topology().workload("helloworld-v1"));
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                .until(() -> E2eSupport.get(sidecar + "/config_dump")
                        .contains("envoy.filters.http.local_ratelimit/sample/helloworld"));

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
