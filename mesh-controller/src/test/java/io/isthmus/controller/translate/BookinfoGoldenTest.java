package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Istio's own bookinfo networking samples, read at run time from
 * {@code ../shared/istio-corpus/samples/bookinfo/networking}, applied to bookinfo spread over two
 * networks (reviews v1/v2, ratings v1, details v1 in east on net1; reviews v3 and ratings v2 in eu
 * on net2), as productpage's sidecar in east sees them. Routes are compared with
 * {@code golden/bookinfo-*.json} (refresh: {@code -Dgolden.refresh=true}).
 */
class BookinfoGoldenTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String NS = "default";
    private static final String DOMAIN = "cluster.local";
    private static final String REVIEWS = "reviews.default.svc.cluster.local";
    private static final String RATINGS = "ratings.default.svc.cluster.local";

    static Stream<Arguments> scenarios() {
        return Stream.of(
                Arguments.of("reviews-80-20", "virtual-service-reviews-80-20.yaml",
                        List.of(new Request(REVIEWS, Map.of(), "weighted:outbound|9080|v1|" + REVIEWS + "=80,outbound|9080|v2|" + REVIEWS + "=20"))),
                Arguments.of("reviews-50-v3", "virtual-service-reviews-50-v3.yaml",
                        List.of(new Request(REVIEWS, Map.of(), "weighted:outbound|9080|v1|" + REVIEWS + "=50,outbound|9080|v3|" + REVIEWS + "=50"))),
                Arguments.of("reviews-jason-v2-v3", "virtual-service-reviews-jason-v2-v3.yaml",
                        List.of(new Request(REVIEWS, Map.of("end-user", "jason"), "outbound|9080|v2|" + REVIEWS),
                                new Request(REVIEWS, Map.of("end-user", "json"), "outbound|9080|v3|" + REVIEWS),
                                new Request(REVIEWS, Map.of(), "outbound|9080|v3|" + REVIEWS))),
                Arguments.of("ratings-test-delay", "virtual-service-ratings-test-delay.yaml",
                        List.of(new Request(RATINGS, Map.of("end-user", "jason"), "outbound|9080|v1|" + RATINGS),
                                new Request(RATINGS, Map.of(), "outbound|9080|v1|" + RATINGS))),
                Arguments.of("ratings-test-abort", "virtual-service-ratings-test-abort.yaml",
                        List.of(new Request(RATINGS, Map.of("end-user", "jason"), "outbound|9080|v1|" + RATINGS))));
    }

    record Request(String host, Map<String, String> headers, String expected) {}

    @ParameterizedTest(name = "{0}")
    @MethodSource("scenarios")
    void matchesGoldenFileAndRoutesRequests(String name, String file, List<Request> requests) throws IOException {
        Path dir = corpus();
        assumeTrue(dir != null, "../shared/istio-corpus is absent beside the repository; bookinfo samples not checked");
        List<ConfigResource> resources = new ArrayList<>();
        resources.addAll(Yaml.resources(Files.readString(dir.resolve("destination-rule-all.yaml")), NS, "2026-11-01T00:00:00Z"));
        resources.addAll(Yaml.resources(Files.readString(dir.resolve(file)), NS, "2026-11-02T00:00:00Z"));
        MeshConfig config = MeshConfig.merge(Map.of("east", resources), DOMAIN);
        assertThat(config.problems()).isEmpty();
        assertThat(config.warnings()).isEmpty();

        FederatedState state = state();
        ProxyNode productpage = new ProxyNode("sidecar~127.91.1.9~productpage-v1-1.default~default.svc.cluster.local",
                ProxyType.SIDECAR, "127.91.1.9", "productpage-v1-1", NS, "bookinfo-productpage", "east", "net1",
                MeshFixture.EAST_LOCALITY, Map.of("app", "productpage", "version", "v1"));
        ProxyResources r = XdsTranslator.translate(io.isthmus.discovery.MeshView.of(state, productpage.viewpoint(),
                DOMAIN, DOMAIN), productpage, MeshFixture.ROOTS, new MeshPolicies(config, state, DOMAIN));

        String actual = ResourcesJson.toJson(new ProxyResources(List.of(), List.of(), List.of(), r.routes(), List.of()));
        Path golden = GOLDEN_DIR.resolve("bookinfo-" + name + ".json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));

        for (Request request : requests) {
            VirtualHost vh = r.routes().stream().flatMap(rc -> rc.getVirtualHostsList().stream())
                    .filter(v -> v.getName().equals(request.host() + ":9080")).findFirst().orElseThrow();
            assertThat(RouteTable.decide(vh, "/", "GET", request.headers())).as(request.toString())
                    .isEqualTo(request.expected());
        }
        // Every cluster a route names exists (v3 lives only behind eu's gateway).
        List<String> clusters = r.clusters().stream().map(c -> c.getName()).toList();
        assertThat(clusters).contains("outbound|9080|v3|" + REVIEWS, "outbound|9080|v2-mysql|" + RATINGS);
        assertThat(r.endpoints().stream().filter(e -> e.getClusterName().equals("outbound|9080|v3|" + REVIEWS))
                .findFirst().orElseThrow().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress()
                .getSocketAddress().getAddress()).isEqualTo("127.92.0.2");
    }

    private static Path corpus() {
        Path dir = Path.of("").toAbsolutePath();
        for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
            Path candidate = dir.resolveSibling("shared").resolve("istio-corpus/samples/bookinfo/networking");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    private static FederatedState state() {
        List<MeshService> services = new ArrayList<>();
        for (String name : List.of("productpage", "reviews", "ratings", "details")) {
            services.add(new MeshService(new ServiceKey(NS, name), name + ".default.svc.cluster.local",
                    List.of(new ServicePort("http", 9080, 9080, "HTTP")), Map.of("app", name), Set.of("*"), false));
        }
        ClusterState east = new ClusterState("east", "net1", services, List.of(
                endpoint("productpage", "v1", "east", "net1", "127.91.1.9"),
                endpoint("reviews", "v1", "east", "net1", "127.91.1.1"),
                endpoint("reviews", "v2", "east", "net1", "127.91.1.2"),
                endpoint("ratings", "v1", "east", "net1", "127.91.1.3"),
                endpoint("details", "v1", "east", "net1", "127.91.1.4")),
                List.of(new NetworkGateway("net1", "east", "127.91.0.2", 15443)));
        ClusterState eu = new ClusterState("eu", "net2", services, List.of(
                endpoint("reviews", "v3", "eu", "net2", "127.92.1.1"),
                endpoint("ratings", "v2-mysql", "eu", "net2", "127.92.1.2")),
                List.of(new NetworkGateway("net2", "eu", "127.92.0.2", 15443)));
        return new FederatedState(3,
                Map.of("east", new ClusterInfo("east", "net1", MeshFixture.EAST_LOCALITY, "127.91.0.1:15012"),
                        "eu", new ClusterInfo("eu", "net2", MeshFixture.EU_LOCALITY, "127.92.0.1:15012")),
                Map.of("east", east, "eu", eu), MeshFixture.ROOTS);
    }

    private static Endpoint endpoint(String app, String version, String cluster, String network, String ip) {
        return new Endpoint(new ServiceKey(NS, app), ip, Map.of("http", 9080), true,
                cluster.equals("east") ? MeshFixture.EAST_LOCALITY : MeshFixture.EU_LOCALITY, cluster, network,
                "bookinfo-" + app, app + "-" + version + "-1", Map.of("app", app, "version", version));
    }
}
