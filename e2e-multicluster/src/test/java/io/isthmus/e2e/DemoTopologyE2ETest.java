package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.topologies.Check;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoVerifier;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.MeshComponent;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The demo topology as real processes (three embedded API servers, three controllers in one Raft
 * group, three gateways, sidecars and echo apps), on the shared {@link DemoMesh}: a request from
 * curl in west reaches east directly and eu only through eu's east-west gateway, with mTLS and the
 * client's SPIFFE identity; and (issue 3, first step) workload certificates rotate under steady
 * traffic without a failed request. The mesh runs with a 6 s certificate lifetime, so every proxy
 * renews about every 3 s (half the remaining lifetime), also while the first test runs.
 */
@SharedDemoMesh
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class DemoTopologyE2ETest {

    private static final Logger log = LoggerFactory.getLogger(DemoTopologyE2ETest.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static Topology topology;
    private static DemoScenario scenario;
    private static LocalMesh mesh;
    private static Path runDir;

    @BeforeAll
    static void useSharedMesh(DemoMesh demo) {
        topology = demo.topology();
        scenario = demo.fromWest();
        mesh = demo.mesh();
        runDir = demo.runDir();
    }

    @Test
    @Order(1)
    void westReachesEastDirectlyAndEuOnlyThroughItsGateway() {
        assertThat(mesh.components()).extracting(MeshComponent::kind).contains(MeshComponent.Kind.values());

        Map<String, Double> before = new LinkedHashMap<>();
        for (ClusterSpec c : topology.clusters()) {
            before.put(c.name(), DemoVerifier.gatewayConnections(mesh, c.name()));
        }
        DemoTraffic.Burst burst = DemoTraffic.send(mesh, scenario, 40);
        log.info("burst:\n{}", burst.table());
        List<Check> checks = DemoVerifier.verify(mesh, scenario, burst, before);
        String report = checks.stream().map(Check::line).collect(Collectors.joining("\n"));
        log.info("checks:\n{}", report);

        assertThat(checks).extracting(Check::name).contains(
                "client sidecar holds outbound|5000||helloworld.sample.svc.cluster.local endpoints of other networks"
                        + " only as their gateways",
                "eu (net2) answers came only via its east-west gateway 127.113.0.2",
                "east (net1, the client's network) answers came direct",
                "caller identity is spiffe://cluster.local/ns/sample/sa/curl on every answer");
        assertThat(checks).as("every check passes:\n%s\n%s\nlogs in %s", report, burst.table(), runDir)
                .allMatch(Check::passed);
        assertThat(burst.answers()).extracting(DemoTraffic.Answer::cluster).contains("east", "eu");
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    @Test
    @Order(2)
    void certificatesRotateUnderTrafficWithoutFailedRequests() throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor();
        try {
            // Each sidecar's certificates (serial and notAfter), in the order they were first seen.
            Map<String, Set<String>> seen = new ConcurrentHashMap<>();
            Map<String, String> admins = new LinkedHashMap<>();
            for (WorkloadSpec w : topology.workloads()) {
                String name = w.cluster() + '/' + w.name() + "-sidecar";
                admins.put(name, mesh.sidecarAdminUrl(w));
                seen.put(name, Collections.synchronizedSet(new LinkedHashSet<>()));
            }
            Runnable poll = () -> admins.forEach((name, url) ->
                    certificate(http, url).ifPresent(c -> seen.get(name).add(c)));
            poll.run();
            Map<String, Integer> before = new LinkedHashMap<>();
            seen.forEach((name, s) -> before.put(name, s.size()));
            assertThat(before).as("every sidecar serves /certs").allSatisfy((name, n) -> assertThat(n).isOne());
            poller.scheduleWithFixedDelay(poll, 500, 500, TimeUnit.MILLISECONDS);

            Instant start = Instant.now();
            DemoTraffic.Burst traffic = DemoTraffic.steady(mesh, scenario, 20, Duration.ofSeconds(25));
            poller.shutdown();
            assertThat(poller.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
            poll.run();
            log.info("steady traffic for {} ms:\n{}", Duration.between(start, Instant.now()).toMillis(),
                    traffic.table());
            seen.forEach((name, s) -> log.info("{}: {} certificates: {}", name, s.size(), s));

            assertThat(traffic.errors()).as("failed requests while certificates rotated; logs in %s\n%s", runDir,
                    traffic.table()).isEmpty();
            assertThat(traffic.answers()).hasSizeGreaterThanOrEqualTo(400);
            assertThat(traffic.clusters()).containsExactlyInAnyOrder("east", "eu");
            seen.forEach((name, s) -> assertThat(s.size() - before.get(name))
                    .as("certificates %s issued during the traffic (seen: %s)", name, s)
                    .isGreaterThanOrEqualTo(2));
            assertThat(mesh.unexpectedExits()).isEmpty();
        } finally {
            poller.shutdownNow();
        }
    }

    /** The serial and notAfter of the leaf a proxy's {@code /certs} shows, if it shows one. */
    private static Optional<String> certificate(HttpClient http, String adminUrl) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(adminUrl + "/certs"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                return Optional.empty();
            }
            JsonNode json = JSON.readTree(r.body());
            JsonNode chain = json.get("chain");
            if (chain == null || chain.isEmpty()) {
                return Optional.empty();
            }
            return Optional.of(chain.get(0).get("serial").asString() + " until " + json.get("notAfter").asString());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
