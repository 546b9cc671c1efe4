package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.Topology;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 5's propagation figure, a measurement rather than a test (opt-in, not in CI): in the
 * local three-cluster mesh, an endpoint is added to helloworld's EndpointSlice in {@code east}'s
 * API server, then removed, {@value #WARM_UP} times to warm up (printed, not counted) and then
 * {@value #CHANGES} times; each change is timed from the API write until the sidecar of
 * {@code curl} in {@code west} holds it in its EDS (polled on its admin port every
 * {@value #POLL_MS} ms, so a figure can be up to that much late). The path: east's informer
 * and debounce → a Raft commit → west's controller → its push debounce → the sidecar.
 * Prints p50, p90, p99, max and every sample in order, and writes them to
 * {@code target/endpoint-propagation.txt}.
 * Run: {@code ./mvnw -pl e2e-multicluster -am verify -Dtest=EndpointPropagationMeasurement
 * -Disthmus.measure=true -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@EnabledIfSystemProperty(named = "isthmus.measure", matches = "true")
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class EndpointPropagationMeasurement {

    private static final Logger log = LoggerFactory.getLogger(EndpointPropagationMeasurement.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String CLUSTER = "outbound|5000||helloworld.sample.svc.cluster.local";
    private static final int CHANGES = 200;
    /** The first changes run through code the JIT has not compiled yet; timed and shown, not counted. */
    private static final int WARM_UP = 10;
    private static final long POLL_MS = 10;
    private static final Duration CHANGE_TIMEOUT = Duration.ofSeconds(30);
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    @TempDir
    Path runDir;

    @Test
    void endpointSliceChangeInEastReachesASidecarInWest() throws Exception {
        Topology topology;
        try (InputStream in = getClass().getResourceAsStream("/propagation.yaml")) {
            topology = Topology.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        DemoScenario scenario = DemoScenario.of(topology);
        assertThat(scenario.client().cluster()).isEqualTo("west");
        try (LocalMesh mesh = LocalMesh.start(topology, LocalMeshOptions.defaults(runDir)
                .withReadyTimeout(Duration.ofMinutes(3)).withProgress(line -> log.info("{}", line)));
                KubernetesClient east = mesh.apiServer("east").newClient()) {
            DemoTraffic.warmUp(mesh, scenario, Duration.ofSeconds(90));
            String admin = mesh.sidecarAdminUrl(scenario.client());
            // An address in east's pod range that no workload uses; no pod behind it, as for an
            // endpoint that is not a pod.
            String extra = topology.podIp(topology.workload("helloworld-v1")).replaceAll("\\.\\d+$", ".250");

            List<Long> millis = new ArrayList<>();
            List<Long> inOrder = new ArrayList<>();
            for (int i = 0; i < WARM_UP + CHANGES; i++) {
                boolean add = i % 2 == 0;
                EndpointSlice slice = east.discovery().v1().endpointSlices().inNamespace("sample")
                        .withName("helloworld-east").get();
                EndpointSliceBuilder edited = new EndpointSliceBuilder(slice);
                if (add) {
                    edited.addNewEndpoint().withAddresses(extra).withNewConditions().withReady(true).endConditions()
                            .endEndpoint();
                } else {
                    edited.withEndpoints(slice.getEndpoints().stream()
                            .filter(e -> !e.getAddresses().contains(extra)).toList());
                }
                long start = System.nanoTime();
                east.resource(edited.build()).update();
                while (holds(admin, extra) != add) {
                    if (System.nanoTime() - start > CHANGE_TIMEOUT.toNanos()) {
                        throw new AssertionError("change " + i + " (" + (add ? "add " : "remove ") + extra
                                + ") did not reach west's sidecar in " + CHANGE_TIMEOUT);
                    }
                    Thread.sleep(POLL_MS);
                }
                long took = (System.nanoTime() - start) / 1_000_000;
                inOrder.add(took);
                if (i >= WARM_UP) {
                    millis.add(took);
                }
                // Spaced out, so each change is timed on its own rather than batched by a debounce.
                Thread.sleep(300);
            }
            Collections.sort(millis);
            String report = String.format(Locale.ROOT,
                    "endpoint propagation east API server -> west sidecar over %d changes after %d warm-up changes:"
                            + " p50 %d ms, p90 %d ms, p99 %d ms, max %d ms (polled every %d ms); every change in"
                            + " order, warm-up first: %s%n",
                    millis.size(), WARM_UP, pct(millis, 50), pct(millis, 90), pct(millis, 99),
                    millis.get(millis.size() - 1), POLL_MS, inOrder);
            log.info(report);
            System.out.print(report);
            Files.writeString(Path.of("target", "endpoint-propagation.txt"), report);
        }
    }

    private static boolean holds(String admin, String address) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(admin + "/config_dump"))
                .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
        return ConfigDumps.endpoints(JSON.readTree(response.body()), CLUSTER).stream()
                .anyMatch(e -> e.startsWith(address + ":"));
    }

    private static long pct(List<Long> sorted, int p) {
        int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
    }
}
