package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.JsonFormat;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.isthmus.trust.nds.NameTable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The name table (Istio's NDS) a sidecar gets: a golden file for west's curl in the demo mesh with
 * ClusterIPs, a remote-only service, a headless service, ServiceEntries with and without
 * addresses and a service kept private to its namespace; tables for Sidecar scoping and for the
 * auto-allocated VIPs.
 */
class NameTableTranslatorTest {

    private static final Path GOLDEN = Path.of("src", "test", "resources", "golden", "nametable-west-curl.json");
    private static final List<ServicePort> HTTP = List.of(new ServicePort("http", 5000, 5000, "HTTP"));

    /** The demo mesh plus: ClusterIPs for helloworld (one per cluster), and the extra hosts above. */
    static FederatedState state() {
        MeshService helloworldEast = service("sample", "helloworld", false, Set.of("*"), "10.96.0.10");
        MeshService helloworldEu = service("sample", "helloworld", false, Set.of("*"), "10.100.0.10");
        ClusterState east = MeshFixture.east();
        ClusterState eu = MeshFixture.eu();
        ClusterState west = MeshFixture.west();
        east = new ClusterState("east", "net1", List.of(helloworldEast,
                service("sample", "db", true, Set.of("*")),
                service("sample", "api.example.com", false, Set.of("*")),
                service("sample", "billing.example.com", false, Set.of("*"), "192.0.2.7")),
                concat(east.endpoints(), List.of(
                        endpoint("db", "127.101.1.7", "east", "net1"),
                        endpoint("db", "127.101.1.8", "east", "net1"))),
                east.gateways());
        eu = new ClusterState("eu", "net2", List.of(helloworldEu,
                service("sample", "ratings", false, Set.of("*"), "10.100.0.20"),
                service("sample", "db", true, Set.of("*")),
                service("private", "secret", false, Set.of("."), "10.100.0.30")),
                concat(eu.endpoints(), List.of(endpoint("db", "127.103.1.9", "eu", "net2"))),
                eu.gateways());
        return MeshFixture.state(east, west, eu);
    }

    static NameTable westCurl(FederatedState state, MeshPolicies policies) {
        ProxyNode node = MeshFixture.westCurlSidecar();
        return XdsTranslator.nameTable(MeshFixture.viewOf(state, node), node, policies);
    }

    @Test
    void matchesGoldenFile() throws IOException {
        String actual = JsonFormat.printer().sortingMapKeys().print(westCurl(state(), null)) + "\n";
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(GOLDEN, actual, StandardCharsets.UTF_8);
        }
        assertThat(GOLDEN).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(GOLDEN, StandardCharsets.UTF_8));
    }

    @ParameterizedTest(name = "{0} → {1}")
    @CsvSource(delimiter = '|', textBlock = """
            helloworld.sample.svc.cluster.local | 10.96.0.10  | the ClusterIP of east, the other cluster of the network with no VIP of its own in west
            ratings.sample.svc.cluster.local    | 10.100.0.20 | only eu defines it: its ClusterIP there
            db.sample.svc.cluster.local         | 127.101.1.7,127.101.1.8 | headless: the pods on west's network only
            billing.example.com                 | 192.0.2.7   | a ServiceEntry's address
            curl.sample.svc.cluster.local       | AUTO        | no ClusterIP anywhere (the embedded API server assigns none)
            api.example.com                     | AUTO        | a ServiceEntry without addresses
            secret.private.svc.cluster.local    | ABSENT      | exported to its own namespace only
            """)
    void answersByHost(String host, String expected, String why) {
        NameTable table = westCurl(state(), null);
        if (expected.equals("ABSENT")) {
            assertThat(table.getTableMap()).as(why).doesNotContainKey(host);
            return;
        }
        List<String> ips = table.getTableMap().get(host).getIpsList();
        if (expected.equals("AUTO")) {
            assertThat(ips).as(why).singleElement().asString().startsWith("240.240.");
        } else {
            assertThat(String.join(",", ips)).as(why).isEqualTo(expected);
        }
    }

    @Test
    void theProxysOwnClusterVipWins() {
        ProxyNode eu = MeshFixture.euHelloworldSidecar();
        NameTable table = XdsTranslator.nameTable(MeshFixture.viewOf(state(), eu), eu, (MeshPolicies) null);
        assertThat(table.getTableMap().get("helloworld.sample.svc.cluster.local").getIpsList())
                .containsExactly("10.100.0.10");
    }

    @Test
    void kubernetesHostsCarryTheirShortNameAndExternalOnesDoNot() {
        NameTable table = westCurl(state(), null);
        NameTable.NameInfo helloworld = table.getTableMap().get("helloworld.sample.svc.cluster.local");
        assertThat(helloworld.getRegistry()).isEqualTo("Kubernetes");
        assertThat(helloworld.getShortname()).isEqualTo("helloworld");
        assertThat(helloworld.getNamespace()).isEqualTo("sample");
        NameTable.NameInfo api = table.getTableMap().get("api.example.com");
        assertThat(api.getRegistry()).isEqualTo("External");
        assertThat(api.getShortname()).isEmpty();
    }

    @Test
    void aSidecarScopeNarrowsTheTable() {
        MeshPolicies policies = PolicyFixture.policies("""
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: sample, creationTimestamp: "2026-11-27T00:00:00Z"}
                spec:
                  egress:
                  - hosts: [./helloworld.sample.svc.cluster.local, "*/api.example.com"]
                """);
        NameTable scoped = westCurl(state(), policies);
        assertThat(scoped.getTableMap().keySet())
                .containsExactlyInAnyOrder("helloworld.sample.svc.cluster.local", "api.example.com");
        // Scoping changes which hosts, never their VIPs.
        NameTable all = westCurl(state(), null);
        assertThat(scoped.getTableMap().get("api.example.com"))
                .isEqualTo(all.getTableMap().get("api.example.com"));
    }

    @Test
    void autoAllocatedVipsAreStableForAHostAndDistinct() {
        List<String> hosts = new ArrayList<>();
        for (int i = 0; i < 3000; i++) {
            hosts.add("svc-" + i + ".example.com");
        }
        Map<String, String> all = VipAllocator.allocate(hosts);
        assertThat(new TreeSet<>(all.values())).hasSize(3000);
        assertThat(all.values()).allSatisfy(ip -> {
            assertThat(ip).startsWith("240.240.");
            int last = Integer.parseInt(ip.substring(ip.lastIndexOf('.') + 1));
            assertThat(last).isBetween(1, 254);
        });
        // A host keeps its VIP when others come and go, unless it collided with one of them.
        Map<String, String> fewer = VipAllocator.allocate(hosts.subList(0, 10));
        long kept = fewer.entrySet().stream().filter(e -> e.getValue().equals(all.get(e.getKey()))).count();
        assertThat(kept).isGreaterThanOrEqualTo(9);
        assertThat(VipAllocator.allocate(List.of("a.example.com"))).isEqualTo(VipAllocator.allocate(List.of("a.example.com")));
        assertThat(VipAllocator.allocate(List.of("*.example.com"))).isEmpty();
    }

    @Test
    void collidingHostsAreSettledInNameOrder() {
        // Find two hosts with one slot, then check the earlier name keeps it either way round.
        Map<String, String> slots = new java.util.HashMap<>();
        String a = null;
        String b = null;
        for (int i = 0; a == null; i++) {
            String host = "h" + i + ".example.com";
            String ip = VipAllocator.allocate(List.of(host)).get(host);
            String other = slots.putIfAbsent(ip, host);
            if (other != null) {
                a = other;
                b = host;
            }
        }
        String first = a.compareTo(b) < 0 ? a : b;
        Map<String, String> both = VipAllocator.allocate(List.of(b, a));
        assertThat(both.get(first)).isEqualTo(VipAllocator.allocate(List.of(first)).get(first));
        assertThat(both.get(a)).isNotEqualTo(both.get(b));
        assertThat(VipAllocator.allocate(List.of(a, b))).isEqualTo(both);
    }

    private static MeshService service(String namespace, String name, boolean headless, Set<String> exportTo,
            String... vips) {
        ServiceKey key = new ServiceKey(namespace, name);
        return new MeshService(key, key.hostname(MeshFixture.DOMAIN), HTTP, Map.of("app", name), exportTo,
                headless, false, List.of(vips));
    }

    private static Endpoint endpoint(String name, String ip, String cluster, String network) {
        return new Endpoint(new ServiceKey("sample", name), ip, Map.of("http", 5000), true,
                cluster.equals("eu") ? MeshFixture.EU_LOCALITY : MeshFixture.EAST_LOCALITY, cluster, network,
                name, name + "-" + ip, Map.of("app", name));
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
