package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoVerifier;
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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
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
 * Issue 6, "Done when": a VirtualService applied in {@code east} only splits helloworld 80/20
 * between subsets v1 (east, net1) and v2 (eu, net2), and the split is seen from a client in
 * {@code west} (net1) and one in {@code eu} (net2). The configuration has to travel east's API
 * server → east's controller → the federation → west's and eu's controllers → their sidecars; the
 * subset traffic of the other network has to pass through that network's east-west gateway
 * (SNI {@code outbound_.5000_.<subset>_.<host>}). Replacing the VirtualService with 100% v2 then
 * shows that updates propagate the same way.
 *
 * <p>The sidecar picks a weighted cluster at random per request, so the share of v1 among
 * {@value #REQUESTS} answers is binomial: sigma = sqrt(0.8 × 0.2 / 200) ≈ 0.028; the tolerance
 * {@value #TOLERANCE} is 3.5 sigma (a false failure about once in 2000 runs per client), still far
 * from the 50/50 the mesh gives without the VirtualService and from 100/0.
 */
@SharedDemoMesh
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class TrafficSplitE2ETest {

    private static final Logger log = LoggerFactory.getLogger(TrafficSplitE2ETest.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static final String HOST = "helloworld.sample.svc.cluster.local";
    private static final int PORT = 5000;
    private static final String V1 = "outbound|5000|v1|" + HOST;
    private static final String V2 = "outbound|5000|v2|" + HOST;
    private static final String ALL = "outbound|5000||" + HOST;
    private static final String GROUP_VERSION = "networking.istio.io/v1";
    private static final int REQUESTS = 200;
    private static final double TOLERANCE = 0.10;
    private static final Duration PROPAGATION = Duration.ofSeconds(60);

    private static Path runDir;
    private static Topology topology;
    private static LocalMesh mesh;
    private static DemoScenario fromWest;
    private static DemoScenario fromEu;

    @BeforeAll
    static void useSharedMesh(DemoMesh demo) {
        topology = demo.topology();
        mesh = demo.mesh();
        runDir = demo.runDir();
        fromWest = demo.fromWest();
        fromEu = demo.fromEu();
        assertThat(fromWest.client().cluster()).isEqualTo("west");
        assertThat(fromWest.authority()).isEqualTo(HOST + ":" + PORT);
        // Before any Istio configuration: both versions answer both clients, so whatever changes
        // later is the VirtualService's doing.
        for (DemoScenario s : List.of(fromWest, fromEu)) {
            awaitRoute(s, Map.of(ALL, 100));
            Set<String> seen = DemoTraffic.warmUp(mesh, s, Duration.ofSeconds(90));
            assertThat(seen).as("clusters that answered %s before any VirtualService; logs in %s",
                    s.client().name(), runDir).contains("east", "eu");
        }
    }

    /** Deletes the VirtualService and DestinationRule, and waits until both clients route to all of helloworld again. */
    @AfterAll
    static void deleteTheConfiguration() {
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            for (String kind : List.of("VirtualService", "DestinationRule")) {
                east.genericKubernetesResources(GROUP_VERSION, kind).inNamespace("sample").withName("helloworld")
                        .delete();
            }
        }
        for (DemoScenario s : List.of(fromWest, fromEu)) {
            awaitRoute(s, Map.of(ALL, 100));
        }
    }

    @Test
    @Order(1)
    void aVirtualServiceInEastSplitsEightyTwentyForClientsOnBothNetworks() {
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            east.resource(destinationRule()).create();
            east.resource(virtualService(Map.of("v1", 80, "v2", 20))).create();
        }

        for (DemoScenario s : List.of(fromWest, fromEu)) {
            awaitRoute(s, Map.of(V1, 80, V2, 20));
            JsonNode dump = JSON.readTree(E2eSupport.get(mesh.sidecarAdminUrl(s.client()) + "/config_dump"));
            assertThat(sni(dump, V1)).as("%s's SNI for subset v1", s.client().name()).isEqualTo(sni("v1"));
            assertThat(sni(dump, V2)).as("%s's SNI for subset v2", s.client().name()).isEqualTo(sni("v2"));
        }
        // Each network's gateway relays a subset's SNI to its own matching pods only.
        awaitGatewayEndpoints("east", Map.of(sni("v1"), List.of(topology.podIp(topology.workload("helloworld-v1"))
                + ":" + PORT), sni("v2"), List.of()));
        awaitGatewayEndpoints("eu", Map.of(sni("v2"), List.of(topology.podIp(topology.workload("helloworld-v2"))
                + ":" + PORT), sni("v1"), List.of()));
        // Only east's API server holds the objects: west and eu have them through the federation.
        try (KubernetesClient west = mesh.apiServer("west").newClient()) {
            assertThat(west.genericKubernetesResources(GROUP_VERSION, "VirtualService").inAnyNamespace().list()
                    .getItems()).as("VirtualServices in west's API server").isEmpty();
        }
        for (String cluster : List.of("west", "eu")) {
            JsonNode config = JSON.readTree(E2eSupport.get(mesh.controllerAdminUrl(cluster) + "/debug/config"));
            assertThat(config.path("accepted")).as("%s controller's own accepted objects", cluster).isEmpty();
            List<String> inForce = new ArrayList<>();
            config.path("mesh").path("resources").forEach(r -> inForce.add(r.path("kind").asString() + " "
                    + r.path("namespace").asString() + "/" + r.path("name").asString() + " from "
                    + r.path("fromCluster").asString()));
            assertThat(inForce).as("mesh configuration in force at %s's controller: %s", cluster, config)
                    .contains("VirtualService sample/helloworld from east",
                            "DestinationRule sample/helloworld from east");
        }

        for (DemoScenario s : List.of(fromWest, fromEu)) {
            String otherGateway = s == fromWest ? "eu" : "east";
            double gatewayBefore = DemoVerifier.gatewayConnections(mesh, otherGateway);
            assertThat(gatewayBefore).as("%s gateway's connection counters (-1: unreadable)", otherGateway)
                    .isNotNegative();
            DemoTraffic.Burst burst = DemoTraffic.send(mesh, s, REQUESTS);
            log.info("80/20 from {}:\n{}", s.client().name(), burst.table());
            assertEveryAnswerCameTheRightWay(s, burst);
            long v1 = burst.answers().stream().filter(a -> a.version().equals("v1")).count();
            double share = (double) v1 / burst.answers().size();
            assertThat(share).as("share of v1 answers to %s (80%% expected, ± %s)\n%s", s.client().name(),
                    TOLERANCE, burst.table()).isBetween(0.80 - TOLERANCE, 0.80 + TOLERANCE);
            assertThat(DemoVerifier.gatewayConnections(mesh, otherGateway))
                    .as("connections %s's east-west gateway relayed during the burst from %s", otherGateway,
                            s.client().name()).isGreaterThan(gatewayBefore);
        }
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    @Test
    @Order(2)
    void replacingTheVirtualServiceWithAllToV2ReachesBothClients() {
        try (KubernetesClient east = mesh.apiServer("east").newClient()) {
            GenericKubernetesResource live = east.genericKubernetesResources(GROUP_VERSION, "VirtualService")
                    .inNamespace("sample").withName("helloworld").get();
            assertThat(live).as("the VirtualService the first test created").isNotNull();
            GenericKubernetesResource replacement = virtualService(Map.of("v2", 100));
            replacement.getMetadata().setResourceVersion(live.getMetadata().getResourceVersion());
            east.resource(replacement).update();
        }

        for (DemoScenario s : List.of(fromWest, fromEu)) {
            awaitRoute(s, Map.of(V2, 100));
        }

        for (DemoScenario s : List.of(fromWest, fromEu)) {
            DemoTraffic.Burst burst = DemoTraffic.send(mesh, s, 50);
            log.info("100% v2 from {}:\n{}", s.client().name(), burst.table());
            assertEveryAnswerCameTheRightWay(s, burst);
            assertThat(burst.answers()).as("answers to %s after the VirtualService sends everything to v2\n%s",
                    s.client().name(), burst.table()).extracting(DemoTraffic.Answer::version).containsOnly("v2");
        }
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    /**
     * Every request answered; v1 by east and v2 by eu; a cluster on the client's network answered
     * directly (the serving sidecar saw the client pod), one on the other network through that
     * network's east-west gateway (the serving sidecar saw the gateway); the caller is the client's
     * SPIFFE identity, verified by the serving sidecar.
     */
    private static void assertEveryAnswerCameTheRightWay(DemoScenario s, DemoTraffic.Burst burst) {
        String client = s.client().name();
        assertThat(burst.errors()).as("failed requests from %s; logs in %s\n%s", client, runDir, burst.table())
                .isEmpty();
        String clientNetwork = topology.cluster(s.client().cluster()).network();
        String clientPodIp = topology.podIp(s.client());
        String identity = s.client().identity(topology.trustDomain());
        for (DemoTraffic.Answer a : burst.answers()) {
            String expectedCluster = a.version().equals("v1") ? "east" : "eu";
            assertThat(a.cluster()).as("cluster of a %s answer to %s", a.version(), client)
                    .isEqualTo(expectedCluster);
            String expectedPeer = topology.cluster(a.cluster()).network().equals(clientNetwork)
                    ? clientPodIp
                    : topology.gatewayAddress(a.cluster());
            assertThat(a.forwardedFor()).as("address %s's sidecar saw for a request from %s (%s)", a.cluster(),
                    client, a.path()).contains(expectedPeer);
            assertThat(a.callerIdentity()).as("caller identity %s saw for %s", a.cluster(), client)
                    .contains(identity);
        }
    }

    /**
     * Waits until the client's sidecar holds the helloworld route with exactly these weighted
     * clusters (one cluster: a plain route to it), and EDS for each of them with at least one
     * endpoint: the route alone would send requests to a subset whose endpoints have not arrived.
     */
    private static void awaitRoute(DemoScenario s, Map<String, Integer> expected) {
        String adminUrl = mesh.sidecarAdminUrl(s.client());
        long start = System.nanoTime();
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500)).ignoreExceptions().untilAsserted(() -> {
            JsonNode dump = JSON.readTree(E2eSupport.get(adminUrl + "/config_dump"));
            JsonNode route = helloworldRoute(dump);
            assertThat(targets(route)).as("%s's sidecar route for %s:%d: %s", s.client().name(), HOST, PORT, route)
                    .isEqualTo(expected);
            for (String cluster : expected.keySet()) {
                assertThat(ConfigDumps.endpoints(dump, cluster))
                        .as("%s's sidecar EDS for %s", s.client().name(), cluster)
                        .isNotEmpty();
            }
        });
        JsonNode dump = JSON.readTree(E2eSupport.get(adminUrl + "/config_dump"));
        Map<String, List<String>> eds = new TreeMap<>();
        expected.keySet().forEach(c -> eds.put(c, ConfigDumps.endpoints(dump, c)));
        log.info("{}'s sidecar holds {} after {} ms, endpoints {}", s.client().name(), expected,
                (System.nanoTime() - start) / 1_000_000, eds);
    }

    /** Waits until a gateway's {@code /config_dump} holds these SNI clusters with exactly these endpoints. */
    private static void awaitGatewayEndpoints(String cluster, Map<String, List<String>> expected) {
        String adminUrl = mesh.gatewayAdminUrl(cluster);
        await().atMost(PROPAGATION).pollInterval(Duration.ofMillis(500)).ignoreExceptions().untilAsserted(() -> {
            JsonNode dump = JSON.readTree(E2eSupport.get(adminUrl + "/config_dump"));
            Map<String, List<String>> held = new TreeMap<>();
            expected.keySet().forEach(sni -> held.put(sni, ConfigDumps.endpoints(dump, sni)));
            assertThat(held).as("%s gateway's endpoints per SNI cluster", cluster).isEqualTo(new TreeMap<>(expected));
        });
    }

    /** The SNI a sidecar sends for a subset of helloworld:5000, which the gateways route on. */
    private static String sni(String subset) {
        return "outbound_." + PORT + "_." + subset + "_." + HOST;
    }

    /** The SNI of a cluster's upstream TLS context in a {@code /config_dump}. */
    private static String sni(JsonNode dump, String cluster) {
        for (JsonNode c : dump.path("clusters")) {
            if (c.path("name").asString("").equals(cluster)) {
                return c.path("transportSocket").path("typedConfig").path("sni").asString("(none)");
            }
        }
        return "(no cluster " + cluster + ")";
    }

    /** The first route of the virtual host for helloworld in route configuration "5000". */
    private static JsonNode helloworldRoute(JsonNode dump) {
        for (JsonNode config : dump.path("routes")) {
            if (!config.path("name").asString("").equals(String.valueOf(PORT))) {
                continue;
            }
            for (JsonNode vhost : config.path("virtualHosts")) {
                for (JsonNode domain : vhost.path("domains")) {
                    if (domain.asString("").equals(HOST)) {
                        return vhost.path("routes").path(0);
                    }
                }
            }
        }
        throw new AssertionError("no virtual host for " + HOST + " in route configuration " + PORT);
    }

    /** Cluster → weight of a route action: its weighted clusters, or its one cluster with weight 100. */
    private static Map<String, Integer> targets(JsonNode route) {
        JsonNode action = route.path("route");
        Map<String, Integer> targets = new TreeMap<>();
        if (action.has("weightedClusters")) {
            for (JsonNode c : action.path("weightedClusters").path("clusters")) {
                targets.put(c.path("name").asString(), c.path("weight").asInt());
            }
        } else if (action.has("cluster")) {
            targets.put(action.path("cluster").asString(), 100);
        }
        return targets;
    }

    private static GenericKubernetesResource destinationRule() {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("host", HOST);
        spec.put("subsets", List.of(
                Map.of("name", "v1", "labels", Map.of("version", "v1")),
                Map.of("name", "v2", "labels", Map.of("version", "v2"))));
        return E2eSupport.helloworldObject("DestinationRule", spec);
    }

    /** A VirtualService for helloworld routing to the given subsets with the given weights. */
    private static GenericKubernetesResource virtualService(Map<String, Integer> weights) {
        List<Object> destinations = new ArrayList<>();
        new TreeMap<>(weights).forEach((subset, weight) -> destinations.add(Map.of(
                "destination", Map.of("host", HOST, "subset", subset, "port", Map.of("number", PORT)),
                "weight", weight)));
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("hosts", List.of(HOST));
        spec.put("http", List.of(Map.of("route", destinations)));
        return E2eSupport.helloworldObject("VirtualService", spec);
    }
}
