package io.isthmus.controller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import io.isthmus.controller.admin.Readiness;
import io.isthmus.controller.dashboard.DashboardData.GraphEdge;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardData.ProxyHealth;
import io.isthmus.controller.federation.FederationStatus;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyType;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two collectors ("west" and "eu") with real HTTP: west scrapes a healthy sidecar, one that
 * answers garbage and one that is down, asks eu's dashboard over HTTP for its part, and serves
 * the merged mesh, the page and its assets; bad input shows as unknown/down and is counted.
 */
class DashboardCollectorTest {

    private static final String HW = "helloworld.sample.svc.cluster.local";
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void close() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
    }

    private HttpServer server(String ip, int port, String path, java.util.function.Supplier<String> body) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(ip, port), 8);
        s.createContext(path, ex -> {
            byte[] b = body.get().getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(b);
            }
        });
        s.start();
        closeables.add(() -> s.stop(0));
        return s;
    }

    private static ProxyNode sidecar(String ip, String pod, String cluster) {
        return new ProxyNode("sidecar~" + ip + "~" + pod + ".sample~sample.svc.cluster.local", ProxyType.SIDECAR, ip,
                pod, "sample", pod, cluster, "net1", Locality.UNKNOWN, Map.of());
    }

    private static FederatedState state(int gatewayPort) {
        MeshService hw = new MeshService(new ServiceKey("sample", "helloworld"), HW,
                List.of(new ServicePort("http", 5000, 5000, "HTTP")), Map.of(), Set.of("*"), false);
        return new FederatedState(7, Map.of(
                "west", new ClusterInfo("west", "net1", new Locality("us-west", "us-west-1a", ""), "127.0.0.1:15012"),
                "eu", new ClusterInfo("eu", "net2", new Locality("eu-central", "eu-central-1a", ""), "127.0.0.3:15012")),
                Map.of("west", new ClusterState("west", "net1", List.of(), List.of(),
                                List.of(new NetworkGateway("net1", "west", "127.0.0.1", gatewayPort))),
                        "eu", new ClusterState("eu", "net2", List.of(hw), List.of(), List.of())),
                List.of());
    }

    private DashboardSources sources(String cluster, int adminPort, List<ProxyNode> proxies, int gatewayPort) {
        return new DashboardSources(cluster, "net1", "us-west/us-west-1a/", adminPort, () -> proxies,
                () -> state(gatewayPort), () -> new FederationStatus(cluster, "west", 3, 9, 9, List.of("eu", "west"), false, Map.of(), "", Map.of()),
                () -> Readiness.of(List.of()), () -> true, Map::of,
                () -> Map.of("VirtualService sample/bad", List.of("spec.http[0].route: missing")));
    }

    @Test
    void mergesOwnAndPeerTrafficAndShowsBrokenProxiesAsUnknownOrDown() throws Exception {
        AtomicInteger requests = new AtomicInteger();
        // A healthy sidecar at 127.0.0.1 whose counter keeps growing, as under traffic; its
        // ephemeral port is every sidecar's admin port here.
        int port = server("127.0.0.1", 0, "/stats/prometheus", () -> "# TYPE istio_requests_total counter\n"
                + "istio_requests_total{reporter=\"source\",source_workload=\"curl\",source_cluster=\"west\","
                + "destination_service=\"" + HW + "\",destination_cluster=\"eu\",response_code=\"200\","
                + "connection_security_policy=\"unknown\"} " + requests.addAndGet(50) + "\n"
                + "# TYPE istio_agent_cert_expiry_seconds gauge\n"
                + "istio_agent_cert_expiry_seconds{resource_name=\"default\"} 43200.0\n").getAddress().getPort();
        // One answering an HTML error page, and one (127.0.0.4) with nothing listening.
        server("127.0.0.2", port, "/stats/prometheus", () -> "<html>502 Bad Gateway</html>");
        ServerSocket gateway = new ServerSocket(0, 500, java.net.InetAddress.getByName("127.0.0.1"));
        closeables.add(gateway);

        DashboardOptions fast = new DashboardOptions(Duration.ofMillis(200), Duration.ofSeconds(5),
                Duration.ofMillis(500), Optional.empty(), List.of(port), 0);
        // eu: no proxies of its own, serving its part on 127.0.0.3.
        HttpServer euAdmin = HttpServer.create(new InetSocketAddress("127.0.0.3", 0), 8);
        int peerPort = euAdmin.getAddress().getPort();
        DashboardCollector eu = DashboardCollector.start(sources("eu", peerPort, List.of(), gateway.getLocalPort()),
                fast, new SimpleMeterRegistry(), Clock.systemUTC());
        closeables.add(eu);
        euAdmin.createContext("/dashboard", new DashboardHandler(eu));
        euAdmin.start();
        closeables.add(() -> euAdmin.stop(0));

        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        DashboardCollector west = DashboardCollector.start(sources("west", peerPort,
                List.of(sidecar("127.0.0.1", "curl-1", "west"), sidecar("127.0.0.2", "broken-1", "west"),
                        sidecar("127.0.0.4", "gone-1", "west")), gateway.getLocalPort()),
                fast, registry, Clock.systemUTC());
        closeables.add(west);
        HttpServer westAdmin = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
        westAdmin.createContext("/dashboard", new DashboardHandler(west));
        westAdmin.start();
        closeables.add(() -> westAdmin.stop(0));
        String base = "http://127.0.0.1:" + westAdmin.getAddress().getPort();

        AtomicReference<MeshGraph> graph = new AtomicReference<>();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/dashboard/api/mesh")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            MeshGraph g = DashboardCollector.JSON.readValue(r.body(), MeshGraph.class);
            assertThat(g.edges()).anySatisfy(e -> {
                assertThat(e.fromCluster()).isEqualTo("west");
                assertThat(e.toCluster()).isEqualTo("eu");
                assertThat(e.requestsPerSecond()).isGreaterThan(0);
            });
            assertThat(g.clusters()).allSatisfy(c -> assertThat(c.health()).isNotNull());
            graph.set(g);
        });
        MeshGraph g = graph.get();
        assertThat(g.problems()).isEmpty();
        assertThat(g.clusters()).filteredOn(c -> c.name().equals("eu")).singleElement()
                .satisfies(c -> assertThat(c.nodes()).extracting(DashboardData.Node::id).contains("svc:eu:" + HW));
        GraphEdge edge = g.edges().get(0);
        assertThat(edge.from()).isEqualTo("wl:west:curl");
        assertThat(g.proxies()).extracting(ProxyHealth::status).containsExactlyInAnyOrder("up", "unknown", "down");
        // The workload certificate's time left, from the healthy proxy's istio-agent gauge; unknown elsewhere.
        assertThat(g.proxies()).filteredOn(p -> p.status().equals("up")).singleElement()
                .satisfies(p -> assertThat(p.certExpiresInSeconds()).isEqualTo(43200.0));
        assertThat(g.proxies()).filteredOn(p -> !p.status().equals("up"))
                .allSatisfy(p -> assertThat(p.certExpiresInSeconds()).isNull());
        assertThat(g.proxies()).filteredOn(p -> p.status().equals("unknown")).singleElement()
                .satisfies(p -> assertThat(p.error()).contains("not Prometheus text", "line 1"));
        assertThat(g.clusters()).filteredOn(c -> c.name().equals("west")).singleElement().satisfies(c -> {
            assertThat(c.health().gateways()).singleElement().satisfies(gw -> assertThat(gw.reachable()).isTrue());
            assertThat(c.health().configErrors()).containsExactly("VirtualService sample/bad: spec.http[0].route: missing");
            assertThat(c.health().leader()).isEqualTo("west");
        });
        assertThat(registry.find("isthmus_dashboard_scrape_failures").tag("reason", "garbage").counter().count())
                .isGreaterThan(0);
        assertThat(registry.find("isthmus_dashboard_scrape_failures").tag("reason", "down").counter().count())
                .isGreaterThan(0);
        assertThat(g.localities()).anySatisfy(l -> {
            assertThat(l.client()).isEqualTo("curl");
            assertThat(l.servedFrom()).containsExactly("eu (eu-central/eu-central-1a/)");
        });

        HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(base + "/dashboard")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
        assertThat(page.body()).contains("<svg id=\"graph\"", "/dashboard/app.js").doesNotContain("src=\"http", "href=\"http");
        HttpResponse<String> js = http.send(HttpRequest.newBuilder(URI.create(base + "/dashboard/app.js")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(js.body()).contains("/dashboard/api/mesh");
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/dashboard/nope")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(404);
    }

    @Test
    void aPeerThatCannotBeAskedIsNamedNotFatal() throws Exception {
        // Bound on every address but not listening: connections to it are refused on any loopback
        // address, and no other socket can take the port meanwhile.
        java.net.Socket holder = new java.net.Socket();
        closeables.add(holder);
        holder.bind(new InetSocketAddress(0));
        int nobody = holder.getLocalPort();
        DashboardOptions fast = new DashboardOptions(Duration.ofMillis(200), Duration.ofSeconds(5),
                Duration.ofMillis(300), Optional.empty(), List.of(nobody), nobody);
        DashboardCollector west = DashboardCollector.start(sources("west", nobody, List.of(), nobody), fast,
                new SimpleMeterRegistry(), Clock.systemUTC());
        closeables.add(west);
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(west.meshGraph().problems())
                .singleElement().satisfies(p -> assertThat(p).startsWith("cluster eu: its controller's dashboard could not be read")));
        assertThat(west.meshGraph().clusters()).filteredOn(c -> c.name().equals("eu")).singleElement()
                .satisfies(c -> assertThat(c.health()).isNull());
        assertThat(west.localView().health().gateways()).singleElement()
                .satisfies(gw -> assertThat(gw.reachable()).isFalse());
    }

    private HttpResponse<String> get(String url, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
