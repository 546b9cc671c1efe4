package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.PrometheusScrapeConfig;
import io.isthmus.topologies.WorkloadSpec;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 10, points 2 and 4, over the shared {@link DemoMesh} (three clusters of real processes,
 * every sidecar exporting spans to the mesh's OTLP/gRPC receiver):
 *
 * <ul>
 *   <li>a real Prometheus (Debian's {@code /usr/bin/prometheus}) scrapes the config the launcher
 *       writes ({@code :15020/stats/prometheus} of every sidecar) and
 *       {@code sum by (source_cluster, destination_cluster) (istio_requests_total{reporter="destination"})}
 *       for helloworld shows the traffic sent from west to east (same network) and to eu (through
 *       eu's gateway);
 *   <li>a real OTLP/gRPC receiver gets the spans of one request that crosses two clusters: the
 *       client span of west's sidecar and the server span of east's or eu's, one trace, parent and
 *       child, under the {@code traceparent} the caller sent.
 * </ul>
 */
@SharedDemoMesh
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class PrometheusAndTracingE2ETest {

    private static final Logger log = LoggerFactory.getLogger(PrometheusAndTracingE2ETest.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Path PROMETHEUS = Path.of("/usr/bin/prometheus");
    // helloworld only: other classes on the shared mesh send west's traffic to services of their own.
    private static final String SERVICE = "helloworld.sample.svc.cluster.local";
    private static final String QUERY = "sum by (source_cluster, destination_cluster) (istio_requests_total"
            + "{reporter=\"destination\",destination_service=\"" + SERVICE + "\"})";

    @TempDir
    static Path promDir;

    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private static List<ResourceSpans> received;
    private static LocalMesh mesh;
    private static DemoScenario scenario;
    private static Process prometheus;
    private static String prometheusUrl;

    @BeforeAll
    static void start(DemoMesh demo) throws Exception {
        assertThat(PROMETHEUS).as("Debian's prometheus (installed by .ci/run)").isExecutable();
        mesh = demo.mesh();
        scenario = demo.fromWest();
        received = demo.spans();
        assertThat(Files.readString(mesh.prometheusConfig())).contains(":15020']");

        int port = freePort();
        prometheusUrl = "http://127.0.0.1:" + port;
        Path config = Files.writeString(promDir.resolve("prometheus.yml"),
                PrometheusScrapeConfig.render(demo.topology(), Duration.ofSeconds(1)));
        prometheus = new ProcessBuilder(PROMETHEUS.toString(),
                "--config.file=" + config,
                "--storage.tsdb.path=" + promDir.resolve("data"),
                "--web.listen-address=127.0.0.1:" + port,
                "--log.level=warn")
                .redirectErrorStream(true)
                .redirectOutput(promDir.resolve("prometheus.log").toFile())
                .start();
        await("Prometheus ready at " + prometheusUrl).atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(250)).until(() -> status(prometheusUrl + "/-/ready") == 200);
    }

    @AfterAll
    static void stop() throws Exception {
        if (prometheus != null) {
            prometheus.destroy();
            if (!prometheus.waitFor(20, TimeUnit.SECONDS)) {
                prometheus.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void prometheusSeesTheCrossClusterTrafficByCluster() throws Exception {
        DemoTraffic.Burst burst = DemoTraffic.send(mesh, scenario, 40);
        Map<String, Long> answered = burst.answers().stream()
                .collect(Collectors.groupingBy(DemoTraffic.Answer::cluster, TreeMap::new, Collectors.counting()));
        log.info("burst answered by {}", answered);
        assertThat(answered).containsKeys("east", "eu");

        // Ground truth: what the destination sidecars count themselves, once the burst is over.
        Map<String, Double> truth = Map.of(
                "east", destinationCount(mesh.topology().workload("helloworld-v1")),
                "eu", destinationCount(mesh.topology().workload("helloworld-v2")));
        assertThat(truth.get("east")).isGreaterThanOrEqualTo(answered.get("east"));
        assertThat(truth.get("eu")).isGreaterThanOrEqualTo(answered.get("eu"));

        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
            Map<String, Double> byPair = query(QUERY);
            assertThat(byPair).containsEntry("west->east", truth.get("east"))
                    .containsEntry("west->eu", truth.get("eu"));
        });
    }

    @Test
    void oneRequestAcrossTwoClustersIsOneTraceOfParentAndChildSpans() throws Exception {
        String traceId = HexFormat.of().formatHex(randomBytes(16));
        String callerSpan = HexFormat.of().formatHex(randomBytes(8));
        WorkloadSpec client = scenario.client();
        String body = get(mesh.topology().podLocalhost(client), "/traced",
                scenario.authority(), "00-" + traceId + "-" + callerSpan + "-01");
        JsonNode answer = JSON.readTree(body.substring(body.indexOf('{')));
        String server = answer.get("cluster").asText();
        assertThat(server).isIn("east", "eu");

        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
            List<Hop> hops = hops(traceId);
            Hop clientSpan = hops.stream().filter(h -> h.span().getKind() == Span.SpanKind.SPAN_KIND_CLIENT)
                    .findFirst().orElseThrow(() -> new AssertionError("no client span yet in " + hops));
            Hop serverSpan = hops.stream().filter(h -> h.span().getKind() == Span.SpanKind.SPAN_KIND_SERVER)
                    .findFirst().orElseThrow(() -> new AssertionError("no server span yet in " + hops));
            assertThat(clientSpan.cluster()).isEqualTo("west");
            assertThat(serverSpan.cluster()).isEqualTo(server);
            assertThat(hex(clientSpan.span().getParentSpanId().toByteArray())).isEqualTo(callerSpan);
            assertThat(hex(serverSpan.span().getParentSpanId().toByteArray()))
                    .isEqualTo(hex(clientSpan.span().getSpanId().toByteArray()));
            assertThat(serverSpan.span().getName()).isEqualTo(scenario.authority() + "/*");
            assertThat(attribute(serverSpan.span(), "http.status_code")).isEqualTo("200");
            assertThat(attribute(clientSpan.span(), "upstream_cluster"))
                    .isEqualTo("outbound|5000||" + scenario.authority().replace(":5000", ""));
        });
        // The app saw the server span as its parent, under the same trace.
        assertThat(answer.toString()).contains(traceId);
    }

    private record Hop(String cluster, Span span) {}

    private static List<Hop> hops(String traceId) {
        List<Hop> hops = new java.util.ArrayList<>();
        for (ResourceSpans rs : received) {
            String cluster = rs.getResource().getAttributesList().stream()
                    .filter(kv -> kv.getKey().equals("istio.cluster_id")).map(kv -> kv.getValue().getStringValue())
                    .findFirst().orElse("?");
            for (ScopeSpans ss : rs.getScopeSpansList()) {
                for (Span span : ss.getSpansList()) {
                    if (hex(span.getTraceId().toByteArray()).equals(traceId)) {
                        hops.add(new Hop(cluster, span));
                    }
                }
            }
        }
        return hops;
    }

    private static String attribute(Span span, String key) {
        for (KeyValue kv : span.getAttributesList()) {
            if (kv.getKey().equals(key)) {
                return kv.getValue().hasIntValue() ? Long.toString(kv.getValue().getIntValue())
                        : kv.getValue().getStringValue();
            }
        }
        return null;
    }

    /**
     * {@code istio_requests_total{reporter="destination"}} of west's requests to helloworld, summed
     * over a server sidecar's own 15020 page.
     */
    private static double destinationCount(WorkloadSpec server) throws Exception {
        String url = "http://" + mesh.topology().podIp(server) + ":" + LocalMesh.METRICS_PORT + "/stats/prometheus";
        String text = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        return text.lines()
                .filter(l -> l.startsWith("istio_requests_total{") && l.contains("reporter=\"destination\"")
                        && l.contains("source_cluster=\"west\"")
                        && l.contains("destination_service=\"" + SERVICE + "\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .sum();
    }

    /** Runs an instant query; {@code "<source_cluster>-><destination_cluster>"} → value. */
    private static Map<String, Double> query(String promql) throws Exception {
        String url = prometheusUrl + "/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8);
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5))
                .build(), HttpResponse.BodyHandlers.ofString());
        JsonNode json = JSON.readTree(r.body());
        assertThat(json.path("status").asText()).as(r.body()).isEqualTo("success");
        Map<String, Double> out = new TreeMap<>();
        for (JsonNode sample : json.path("data").path("result")) {
            JsonNode metric = sample.path("metric");
            out.put(metric.path("source_cluster").asText() + "->" + metric.path("destination_cluster").asText(),
                    Double.parseDouble(sample.path("value").get(1).asText()));
        }
        return out;
    }

    private static String get(String host, String path, String authority, String traceparent) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, LocalMesh.OUTBOUND_PORT), 5_000);
            socket.setSoTimeout(15_000);
            String request = "GET " + path + " HTTP/1.1\r\nHost: " + authority + "\r\ntraceparent: " + traceparent
                    + "\r\nConnection: close\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            socket.getInputStream().transferTo(out);
            String response = out.toString(StandardCharsets.UTF_8);
            assertThat(response).as("response through west's sidecar").startsWith("HTTP/1.1 200");
            return response;
        }
    }

    private static int status(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        new java.security.SecureRandom().nextBytes(b);
        b[0] |= 1;
        return b;
    }

    private static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
