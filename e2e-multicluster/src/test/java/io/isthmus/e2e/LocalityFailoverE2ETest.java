package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoTraffic.Sample;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 7, "Done when": under steady load from curl in {@code west}, kill (SIGKILL, app and
 * sidecar) every pod of curl's own locality; traffic moves to the next locality within 1 s with no
 * failed request, and comes back once the pods are restarted.
 *
 * <p>On the shared {@link DemoMesh}, this class adds its own service, {@code failover}: two pods in
 * west (curl's locality us-west/us-west-1a), one in eu (another region, another network: through
 * its east-west gateway) and one in east (another region, curl's network). The DestinationRule
 * turns on outlier detection (one 5xx or connect failure ejects a host for 1 s × its ejections)
 * and locality failover from us-west to eu-central; the VirtualService retries connect failures,
 * resets and 5xx on another host. curl's sidecar therefore holds P0 = west's two pods, P1 = eu
 * (its east-west gateway), P2 = east. Killed pods stay Ready in west's API server, as after a node
 * crash before the kubelet notices: only the data plane (retries, outlier ejection, Envoy's
 * priority load) can move the traffic, and it must go to eu, never to east. The configuration and
 * the pods are removed afterwards.
 */
@SharedDemoMesh
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LocalityFailoverE2ETest {

    private static final Logger log = LoggerFactory.getLogger(LocalityFailoverE2ETest.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String SERVICE = "failover";
    private static final String HOST = SERVICE + ".sample.svc.cluster.local";
    private static final String CLUSTER = "outbound|5000||" + HOST;
    private static final String NEAREST = "west";
    private static final int PER_SECOND = 20;
    private static final Duration MOVE_WITHIN = Duration.ofSeconds(1);
    private static final Duration OUTAGE = Duration.ofSeconds(6);
    private static final Duration COME_BACK_WITHIN = Duration.ofSeconds(20);

    private static final List<WorkloadSpec> SERVERS = List.of(
            DemoMesh.server("failover-a", NEAREST, SERVICE, "v1"),
            DemoMesh.server("failover-b", NEAREST, SERVICE, "v1"),
            DemoMesh.server("failover-eu", "eu", SERVICE, "v2"),
            DemoMesh.server("failover-east", "east", SERVICE, "v3"));

    private static DemoMesh demo;
    private static Topology topology;
    private static LocalMesh mesh;
    private static Path runDir;
    private static DemoScenario scenario;

    @BeforeAll
    static void addTheService(DemoMesh shared) {
        demo = shared;
        mesh = demo.mesh();
        runDir = demo.runDir();
        // Without a DestinationRule every locality is P0: all three clusters answer once the
        // federation has spread their endpoints.
        scenario = demo.addServers(demo.fromWest().client(), SERVERS);
        topology = mesh.topology();
        assertThat(scenario.client().cluster()).isEqualTo(NEAREST);
    }

    /** Deletes the DestinationRule and VirtualService, waits until curl's sidecar has dropped them, and removes the pods. */
    @AfterAll
    static void removeTheService() {
        if (scenario == null) {
            return;
        }
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            for (String kind : List.of("VirtualService", "DestinationRule")) {
                east.genericKubernetesResources("networking.istio.io/v1", kind).inNamespace("sample").withName(SERVICE)
                        .delete();
            }
        }
        String adminUrl = mesh.sidecarAdminUrl(scenario.client());
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                .untilAsserted(() -> {
                    JsonNode dump = JSON.readTree(E2eSupport.get(adminUrl + "/config_dump"));
                    assertThat(cluster(dump).path("outlierDetection").isMissingNode())
                            .as("outlier detection on %s after the DestinationRule's deletion", CLUSTER).isTrue();
                    assertThat(retryPolicy(dump).path("numRetries").asInt(0)).as("retries on the route").isNotEqualTo(3);
                });
        demo.retire(SERVERS);
    }

    @Test
    void killingTheNearestLocalityMovesTrafficToTheFailoverRegionWithinASecondAndBack() throws Exception {
        // One at a time, each seen accepted by east's controller before the next: in 2 of 4 runs a
        // DestinationRule created right before a VirtualService of the same name never reached the
        // controller (only the VirtualService was accepted), which this test is not about.
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            east.resource(destinationRule()).create();
            awaitAccepted("DestinationRule");
            east.resource(virtualService()).create();
            awaitAccepted("VirtualService");
        }
        awaitPriorities();

        List<WorkloadSpec> nearest = SERVERS.stream().filter(w -> w.cluster().equals(NEAREST)).toList();
        assertThat(nearest).extracting(WorkloadSpec::name).containsExactly("failover-a", "failover-b");

        // Steady load from here to the end; the main thread kills and restarts under it.
        long start = System.nanoTime();
        AtomicLong restartedAt = new AtomicLong(Long.MAX_VALUE);
        CompletableFuture<List<Sample>> load = CompletableFuture.supplyAsync(() -> DemoTraffic.timeline(mesh,
                scenario, PER_SECOND, sent -> backForGood(sent, restartedAt.get())));
        sleep(Duration.ofSeconds(3));

        long killedAt = System.nanoTime();
        for (WorkloadSpec w : nearest) {
            mesh.kill(demo.component(NEAREST, w.name() + "-sidecar"));
            mesh.kill(demo.component(NEAREST, w.name()));
        }
        long killsDone = System.nanoTime();
        log.info("killed {} (apps and sidecars) in {} ms", nearest.stream().map(WorkloadSpec::name).toList(),
                (killsDone - killedAt) / 1_000_000);
        sleep(Duration.ofSeconds(1));
        JsonNode during = JSON.readTree(E2eSupport.get(mesh.sidecarAdminUrl(scenario.client()) + "/config_dump"));
        log.info("curl's sidecar 1 s into the outage: priority loads {}, ejected {}", during.path("priority_loads"),
                during.path("ejected_endpoints"));
        sleep(OUTAGE.minusSeconds(1));

        // Both pods come back at once, each app before its sidecar, as a restarted pod would.
        long restartAt = System.nanoTime();
        List<CompletableFuture<Void>> restarts = nearest.stream().map(w -> CompletableFuture.runAsync(() -> {
            mesh.restart(demo.component(NEAREST, w.name()), Duration.ofSeconds(60));
            mesh.restart(demo.component(NEAREST, w.name() + "-sidecar"), Duration.ofSeconds(60));
        })).toList();
        CompletableFuture.allOf(restarts.toArray(CompletableFuture[]::new)).get(90, TimeUnit.SECONDS);
        restartedAt.set(System.nanoTime());
        log.info("restarted {} in {} ms", nearest.stream().map(WorkloadSpec::name).toList(),
                (restartedAt.get() - restartAt) / 1_000_000);
        List<Sample> samples = load.get(COME_BACK_WITHIN.toSeconds() + 30, TimeUnit.SECONDS);

        log.info("timeline ({} requests at {}/s):\n{}", samples.size(), PER_SECOND, summary(samples, start,
                Map.of("kill", killedAt, "restart", restartAt, "restarted", restartedAt.get())));

        assertThat(samples.stream().flatMap(s -> s.error().stream()).toList())
                .as("failed requests (0 expected, retries on); logs in %s", runDir).isEmpty();
        // Requests answered before the kill; one still in flight when its pod died is retried elsewhere.
        assertThat(samples.stream().filter(s -> s.sentNanos() >= start && s.doneNanos() < killedAt)
                .map(LocalityFailoverE2ETest::cluster).distinct().toList())
                .as("who answered before the kill").containsOnly(NEAREST);

        // Traffic moves: the first answer from eu after the kill, and nothing but eu after that.
        Sample firstMoved = samples.stream().filter(s -> s.sentNanos() >= killedAt)
                .filter(s -> cluster(s).equals("eu")).findFirst().orElseThrow(() -> new AssertionError(
                        "no answer from eu after the kill\n" + summary(samples, start, Map.of())));
        Duration move = Duration.ofNanos(firstMoved.doneNanos() - killedAt);
        log.info("LOCALITY FAILOVER: traffic moved from west (P0) to eu (P1) {} ms after the kill",
                move.toMillis());
        assertThat(move).as("time from the kill to the first answer from eu").isLessThan(MOVE_WITHIN);
        assertThat(clustersOf(samples, killsDone, restartAt))
                .as("who answered while west's pods were down (eu is the failover region; east is P2)")
                .containsOnly("eu");
        Duration slowest = samples.stream().filter(s -> s.sentNanos() >= killedAt && s.sentNanos() < restartAt)
                .map(Sample::took).max(Duration::compareTo).orElseThrow();
        log.info("LOCALITY FAILOVER: slowest request during the outage {} ms (retries included)", slowest.toMillis());

        // Traffic comes back: all of it to west once both pods are back and their ejections ended
        // (while one is still ejected, P0 is 50% healthy and keeps 70% of the load).
        int lastNotEast = -1;
        for (int i = 0; i < samples.size(); i++) {
            if (!cluster(samples.get(i)).equals(NEAREST)) {
                lastNotEast = i;
            }
        }
        assertThat(lastNotEast).as("requests answered by west at the end\n%s", summary(samples, start, Map.of()))
                .isLessThan(samples.size() - 1);
        Sample allBack = samples.get(lastNotEast + 1);
        Duration comeBack = Duration.ofNanos(Math.max(0, allBack.sentNanos() - restartedAt.get()));
        log.info("LOCALITY FAILOVER: all traffic back on west {} ms after both pods were ready again",
                comeBack.toMillis());
        assertThat(comeBack).as("time from the pods' return to all traffic on west").isLessThan(COME_BACK_WITHIN);
        long lastSecond = samples.get(samples.size() - 1).sentNanos() - 1_000_000_000L;
        assertThat(clustersOf(samples, lastSecond, Long.MAX_VALUE)).as("who answered in the last second")
                .containsOnly(NEAREST);
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    /**
     * Whether the load can stop: after the restart, west answered every request of the last 3 s,
     * or {@link #COME_BACK_WITHIN} passed.
     */
    private static boolean backForGood(List<Sample> sent, long restartedAt) {
        long now = System.nanoTime();
        if (now < restartedAt || sent.isEmpty()) {
            return false;
        }
        if (now - restartedAt > COME_BACK_WITHIN.toNanos()) {
            return true;
        }
        long window = now - 3_000_000_000L;
        return window > restartedAt && sent.stream().filter(s -> s.sentNanos() >= window)
                .allMatch(s -> cluster(s).equals(NEAREST));
    }

    /** The clusters that answered requests sent in [from, to). */
    private static Set<String> clustersOf(List<Sample> samples, long from, long to) {
        return samples.stream().filter(s -> s.sentNanos() >= from && s.sentNanos() < to)
                .map(LocalityFailoverE2ETest::cluster).collect(Collectors.toCollection(java.util.TreeSet::new));
    }

    private static String cluster(Sample s) {
        return s.answer().map(DemoTraffic.Answer::cluster).orElse("(failed)");
    }

    /** Per half second: who answered and the slowest request, with the events in between. */
    private static String summary(List<Sample> samples, long start, Map<String, Long> events) {
        Map<Long, Map<String, Integer>> answered = new TreeMap<>();
        Map<Long, Long> slowest = new TreeMap<>();
        for (Sample s : samples) {
            long slot = (s.sentNanos() - start) / 500_000_000L;
            answered.computeIfAbsent(slot, k -> new TreeMap<>()).merge(cluster(s), 1, Integer::sum);
            slowest.merge(slot, s.took().toMillis(), Math::max);
        }
        Map<Long, List<String>> marks = new TreeMap<>();
        events.forEach((name, at) -> marks.computeIfAbsent((at - start) / 500_000_000L, k -> new ArrayList<>())
                .add(name + String.format(" at t+%.2fs", (at - start) / 1e9)));
        StringBuilder sb = new StringBuilder();
        answered.forEach((slot, counts) -> {
            marks.getOrDefault(slot, List.of()).forEach(m -> sb.append("  --- ").append(m).append('\n'));
            sb.append(String.format("  t+%4.1fs  %-32s slowest %d ms%n", slot / 2.0, counts, slowest.get(slot)));
        });
        return sb.toString();
    }

    /**
     * Waits until curl's sidecar holds the failover service's endpoints in the priorities the DestinationRule
     * asks for, with outlier detection on the cluster and retries on the route.
     */
    private static void awaitPriorities() {
        String adminUrl = mesh.sidecarAdminUrl(scenario.client());
        Map<String, Integer> expected = new TreeMap<>();
        for (WorkloadSpec w : SERVERS) {
            switch (w.cluster()) {
                case NEAREST -> expected.put(topology.podIp(w) + ":5000", 0);
                case "eu" -> expected.put(topology.gatewayAddress("eu") + ":" + LocalMesh.GATEWAY_PORT, 1);
                default -> expected.put(topology.podIp(w) + ":5000", 2);
            }
        }
        long begin = System.nanoTime();
        try {
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                    .untilAsserted(() -> {
                        JsonNode dump = JSON.readTree(E2eSupport.get(adminUrl + "/config_dump"));
                        assertThat(priorities(dump)).as("curl's EDS for %s: address → priority", CLUSTER)
                                .isEqualTo(expected);
                        assertThat(cluster(dump).path("outlierDetection").isMissingNode())
                                .as("outlier detection on %s: %s", CLUSTER, cluster(dump)).isFalse();
                        assertThat(retryPolicy(dump).path("numRetries").asInt()).as("retries on the route")
                                .isEqualTo(3);
                    });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            JsonNode dump = JSON.readTree(E2eSupport.get(adminUrl + "/config_dump"));
            StringBuilder eds = new StringBuilder();
            dump.path("endpoints").forEach(a -> {
                if (a.path("clusterName").asString("").equals(CLUSTER)) {
                    eds.append(a);
                }
            });
            throw new AssertionError(e.getMessage() + "\ncurl's EDS: " + eds
                    + "\neast controller's /debug/syncz: " + E2eSupport.get(mesh.controllerAdminUrl("east") + "/debug/syncz")
                    + "\ncurl's cluster: " + cluster(dump) + "\neast controller's /debug/config: "
                    + E2eSupport.get(mesh.controllerAdminUrl("east") + "/debug/config"), e);
        }
        log.info("curl's sidecar holds priorities {} after {} ms", expected, (System.nanoTime() - begin) / 1_000_000);
    }

    /** Waits until east's controller lists sample/failover of this kind as accepted. */
    private static void awaitAccepted(String kind) {
        String url = mesh.controllerAdminUrl("east") + "/debug/config";
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                .untilAsserted(() -> {
                    List<String> accepted = new ArrayList<>();
                    JSON.readTree(E2eSupport.get(url)).path("accepted").forEach(a -> accepted.add(a.path("kind").asString()
                            + " " + a.path("namespace").asString() + "/" + a.path("name").asString()));
                    assertThat(accepted).as("objects east's controller accepted (%s)", url)
                            .contains(kind + " sample/" + SERVICE);
                });
    }

    private static Map<String, Integer> priorities(JsonNode dump) {
        Map<String, Integer> found = new TreeMap<>();
        for (JsonNode assignment : dump.path("endpoints")) {
            if (!assignment.path("clusterName").asString("").equals(CLUSTER)) {
                continue;
            }
            for (JsonNode locality : assignment.path("endpoints")) {
                for (JsonNode lb : locality.path("lbEndpoints")) {
                    JsonNode socket = lb.path("endpoint").path("address").path("socketAddress");
                    found.put(socket.path("address").asString() + ':' + socket.path("portValue").asInt(),
                            locality.path("priority").asInt(0));
                }
            }
        }
        return found;
    }

    private static JsonNode cluster(JsonNode dump) {
        for (JsonNode c : dump.path("clusters")) {
            if (c.path("name").asString("").equals(CLUSTER)) {
                return c;
            }
        }
        throw new AssertionError("no cluster " + CLUSTER + " in curl's config dump");
    }

    private static JsonNode retryPolicy(JsonNode dump) {
        for (JsonNode config : dump.path("routes")) {
            for (JsonNode vhost : config.path("virtualHosts")) {
                for (JsonNode domain : vhost.path("domains")) {
                    if (domain.asString("").equals(HOST)) {
                        return vhost.path("routes").path(0).path("route").path("retryPolicy");
                    }
                }
            }
        }
        throw new AssertionError("no virtual host for " + HOST + " in curl's config dump");
    }

    private static GenericKubernetesResource destinationRule() {
        Map<String, Object> outlier = new LinkedHashMap<>();
        outlier.put("consecutive5xxErrors", 1);
        outlier.put("interval", "1s");
        outlier.put("baseEjectionTime", "1s");
        outlier.put("maxEjectionPercent", 100);
        Map<String, Object> lb = Map.of("simple", "ROUND_ROBIN", "localityLbSetting", Map.of(
                "enabled", true,
                "failover", List.of(Map.of("from", "us-west", "to", "eu-central"))));
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("host", HOST);
        spec.put("trafficPolicy", Map.of("loadBalancer", lb, "outlierDetection", outlier));
        return E2eSupport.istioObject("DestinationRule", SERVICE, spec);
    }

    private static GenericKubernetesResource virtualService() {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("hosts", List.of(HOST));
        spec.put("http", List.of(Map.of(
                "route", List.of(Map.of("destination", Map.of("host", HOST, "port", Map.of("number", 5000)))),
                "retries", Map.of("attempts", 3, "perTryTimeout", "2s", "retryOn", "connect-failure,reset,5xx"))));
        return E2eSupport.istioObject("VirtualService", SERVICE, spec);
    }

    private static void sleep(Duration d) throws InterruptedException {
        Thread.sleep(d.toMillis());
    }
}
