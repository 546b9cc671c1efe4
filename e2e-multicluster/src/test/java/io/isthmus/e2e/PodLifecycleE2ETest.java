package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoTraffic.Sample;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.WorkloadSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 5, "Done when": a pod becoming ready in one cluster serves cross-cluster traffic, and a pod
 * deleted in one cluster receives none. On the shared {@link DemoMesh}, this class adds its own
 * service, {@code lifecycle}, which runs only in east (pods a and b); curl in west sends it a
 * steady stream, with retries on. A third pod, c, starts in east the way a Deployment scales up:
 * its Pod Running but not Ready and its EndpointSlice endpoint {@code ready: false}, its app and
 * sidecar up and able to answer. It gets no request until it is marked ready, then gets its share.
 * Then pod a is deleted (its Pod and its endpoint) while its processes keep running, as during a
 * termination grace period: once the deletion has propagated it gets no request although it would
 * answer one. No request fails throughout. The VirtualService and the pods are removed afterwards.
 */
@SharedDemoMesh
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PodLifecycleE2ETest {

    private static final Logger log = LoggerFactory.getLogger(PodLifecycleE2ETest.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String SERVICE = "lifecycle";
    private static final String HOST = SERVICE + ".sample.svc.cluster.local";
    private static final String CLUSTER = "outbound|5000||" + HOST;
    private static final int PER_SECOND = 20;
    // Bounds for a loaded 2-core machine; the measured times are printed.
    private static final Duration SERVES_WITHIN = Duration.ofSeconds(15);
    private static final Duration DRAINED_WITHIN = Duration.ofSeconds(10);

    private static final WorkloadSpec A = DemoMesh.server("lifecycle-a", "east", SERVICE, "v1");
    private static final WorkloadSpec B = DemoMesh.server("lifecycle-b", "east", SERVICE, "v1");
    private static final WorkloadSpec C = DemoMesh.server("lifecycle-c", "east", SERVICE, "v1");

    private static DemoMesh demo;
    private static LocalMesh mesh;
    private static Path runDir;
    private static DemoScenario scenario;

    @BeforeAll
    static void addTheService(DemoMesh shared) {
        demo = shared;
        mesh = demo.mesh();
        runDir = demo.runDir();
        scenario = demo.addServers(demo.fromWest().client(), List.of(A, B));
    }

    /** Deletes the VirtualService, waits until curl's sidecar has dropped its retries, and removes the pods. */
    @AfterAll
    static void removeTheService() {
        if (scenario == null) {
            return;
        }
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            east.genericKubernetesResources("networking.istio.io/v1", "VirtualService").inNamespace("sample")
                    .withName(SERVICE).delete();
        }
        String curlAdmin = mesh.sidecarAdminUrl(scenario.client());
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                .untilAsserted(() -> assertThat(retries(JSON.readTree(E2eSupport.get(curlAdmin + "/config_dump"))))
                        .as("retries on curl's route to %s after the VirtualService's deletion", HOST)
                        .isNotEqualTo(3));
        demo.retire(mesh.topology().workloads().stream().filter(w -> w.service().equals(Optional.of(SERVICE)))
                .toList());
    }

    @Test
    void aPodGetsTrafficOnlyOnceReadyAndNoneOnceDeleted() throws Exception {
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            east.resource(E2eSupport.istioObject("VirtualService", SERVICE, Map.of(
                    "hosts", List.of(HOST),
                    "http", List.of(Map.of(
                            "route", List.of(Map.of("destination", Map.of("host", HOST, "port", Map.of("number", 5000)))),
                            "retries", Map.of("attempts", 3, "perTryTimeout", "2s",
                                    "retryOn", "connect-failure,reset,5xx")))))).create();
        }
        String curlAdmin = mesh.sidecarAdminUrl(scenario.client());
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                .untilAsserted(() -> assertThat(retries(JSON.readTree(E2eSupport.get(curlAdmin + "/config_dump"))))
                        .as("retries on curl's route to %s", HOST).isEqualTo(3));

        WorkloadSpec a = A;
        WorkloadSpec c = C;
        String cPod = mesh.topology().podName(c);
        AtomicBoolean stop = new AtomicBoolean();
        // What the load has seen so far, counted on its own thread (the samples list is not shared).
        AtomicInteger answeredByC = new AtomicInteger();
        AtomicInteger sentCount = new AtomicInteger();
        long start = System.nanoTime();
        CompletableFuture<List<Sample>> load = CompletableFuture.supplyAsync(() -> DemoTraffic.timeline(mesh,
                scenario, PER_SECOND, sent -> {
                    if (!sent.isEmpty() && pod(sent.get(sent.size() - 1)).equals(cPod)) {
                        answeredByC.incrementAndGet();
                    }
                    sentCount.set(sent.size());
                    return stop.get();
                }));
        await("the load's first " + 2 * PER_SECOND + " requests").atMost(Duration.ofSeconds(60))
                .until(() -> sentCount.get() >= 2 * PER_SECOND);

        // c starts not ready: its endpoint reaches curl's sidecar as UNHEALTHY, and it gets nothing.
        mesh.addWorkload(c, false, Duration.ofSeconds(60));
        long cUp = System.nanoTime();
        String cEndpoint = mesh.topology().podIp(mesh.topology().workload(c.name())) + ":5000";
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                .untilAsserted(() -> assertThat(ConfigDumps.health(JSON.readTree(E2eSupport.get(curlAdmin
                        + "/config_dump")), CLUSTER)).as("curl's endpoints of %s", CLUSTER)
                        .containsEntry(cEndpoint, "UNHEALTHY"));
        long cSeenUnready = System.nanoTime();
        // Three seconds of the stream while curl holds c as not ready (however slow the machine is).
        int sentAtUnready = sentCount.get();
        await("three seconds of requests while curl holds c as not ready").atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(100)).until(() -> sentCount.get() >= sentAtUnready + 3 * PER_SECOND);

        int sentBeforeReady = sentCount.get();
        assertThat(answeredByC.get()).as("requests c answered while not ready").isZero();
        long readyAt = System.nanoTime();
        mesh.setReady(c, true);
        await().atMost(SERVES_WITHIN).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                .untilAsserted(() -> assertThat(ConfigDumps.health(JSON.readTree(E2eSupport.get(curlAdmin
                        + "/config_dump")), CLUSTER)).containsEntry(cEndpoint, "HEALTHY"));
        // Its share of a steady stream: about a third of the requests.
        await("c answering " + PER_SECOND / 2 + " requests once ready").atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(100)).until(() -> answeredByC.get() >= PER_SECOND / 2);

        long deletedAt = System.nanoTime();
        mesh.deletePod(a);
        String aEndpoint = mesh.topology().podIp(a) + ":5000";
        await().atMost(DRAINED_WITHIN).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                .untilAsserted(() -> assertThat(ConfigDumps.endpoints(JSON.readTree(E2eSupport.get(curlAdmin
                        + "/config_dump")), CLUSTER)).doesNotContain(aEndpoint));
        long aGoneFromCurl = System.nanoTime();
        // a keeps running (a terminating pod's grace period): it would answer anything sent to it.
        int sentAtGone = sentCount.get();
        await("three seconds of requests after a left curl's endpoints").atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(100)).until(() -> sentCount.get() >= sentAtGone + 3 * PER_SECOND);
        stop.set(true);
        List<Sample> samples = load.get(30, TimeUnit.SECONDS);
        long end = System.nanoTime();
        assertThat(E2eSupport.get("http://" + mesh.topology().podLocalhost(a) + ":5000/still-up"))
                .as("pod a's app after the load (deleted, still running)").contains(mesh.topology().podName(a));
        mesh.kill(demo.component("east", a.name() + "-sidecar"));
        mesh.kill(demo.component("east", a.name()));

        String aPod = mesh.topology().podName(a);
        log.info("{} requests at {}/s over {} ms ({} before c was ready): c up at t+{} ms (seen unhealthy by curl at"
                        + " t+{} ms), ready at t+{} ms; a deleted at t+{} ms (gone from curl's EDS at t+{} ms)\n{}",
                samples.size(), PER_SECOND, (end - start) / 1_000_000, sentBeforeReady, (cUp - start) / 1_000_000,
                (cSeenUnready - start) / 1_000_000, (readyAt - start) / 1_000_000, (deletedAt - start) / 1_000_000,
                (aGoneFromCurl - start) / 1_000_000, perSecond(samples, start));

        assertThat(samples.stream().flatMap(s -> s.error().stream()).toList())
                .as("failed requests (0 expected, retries on); logs in %s", runDir).isEmpty();
        assertThat(samples.stream().filter(s -> s.doneNanos() < readyAt && pod(s).equals(cPod)).count())
                .as("requests pod c answered before it was ready").isZero();
        Sample firstOnC = samples.stream().filter(s -> pod(s).equals(cPod)).findFirst()
                .orElseThrow(() -> new AssertionError("pod c never answered after it was marked ready"));
        Duration readyToServed = Duration.ofNanos(firstOnC.doneNanos() - readyAt);
        assertThat(readyToServed).as("from ready to the first request served by c").isLessThan(SERVES_WITHIN);
        assertThat(samples.stream().filter(s -> s.sentNanos() > readyAt && s.doneNanos() < deletedAt)
                .filter(s -> pod(s).equals(cPod)).count())
                .as("requests c served between ready and the deletion of a").isGreaterThanOrEqualTo(PER_SECOND / 2);

        Sample lastOnA = samples.stream().filter(s -> pod(s).equals(aPod)).reduce((x, y) -> y)
                .orElseThrow(() -> new AssertionError("pod a answered nothing"));
        Duration deleteToLast = Duration.ofNanos(Math.max(0, lastOnA.doneNanos() - deletedAt));
        assertThat(deleteToLast).as("from the deletion of a to the last request it served").isLessThan(DRAINED_WITHIN);
        long afterDrain = samples.stream().filter(s -> s.sentNanos() > lastOnA.doneNanos()).count();
        assertThat(afterDrain).as("requests sent after a's last one (none of them reached a)")
                .isGreaterThan(3L * PER_SECOND);
        assertThat(samples.stream().filter(s -> s.sentNanos() > aGoneFromCurl).map(PodLifecycleE2ETest::pod))
                .as("who answered once a left curl's endpoints").doesNotContain(aPod);

        log.info("POD LIFECYCLE: ready-to-first-request {} ms, delete-to-last-request {} ms, {} requests, 0 failed",
                readyToServed.toMillis(), deleteToLast.toMillis(), samples.size());
        System.out.printf("POD LIFECYCLE: ready-to-first-request %d ms, delete-to-last-request %d ms%n",
                readyToServed.toMillis(), deleteToLast.toMillis());
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    /** Per second since {@code start}: how many requests each pod answered. */
    private static String perSecond(List<Sample> samples, long start) {
        Map<Long, Map<String, Integer>> bySecond = new java.util.TreeMap<>();
        for (Sample s : samples) {
            bySecond.computeIfAbsent((s.sentNanos() - start) / 1_000_000_000L, k -> new java.util.TreeMap<>())
                    .merge(pod(s), 1, Integer::sum);
        }
        StringBuilder sb = new StringBuilder();
        bySecond.forEach((second, pods) -> sb.append(String.format("  t+%2ds %s%n", second, pods)));
        return sb.toString();
    }

    private static String pod(Sample s) {
        return s.answer().map(DemoTraffic.Answer::pod).orElse("(failed)");
    }

    private static int retries(JsonNode dump) {
        for (JsonNode config : dump.path("routes")) {
            for (JsonNode vhost : config.path("virtualHosts")) {
                for (JsonNode domain : vhost.path("domains")) {
                    if (domain.asString("").equals(HOST)) {
                        return vhost.path("routes").path(0).path("route").path("retryPolicy").path("numRetries").asInt();
                    }
                }
            }
        }
        return -1;
    }
}
