package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
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
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * VirtualService {@code tcp} and {@code tls} routes, ServiceEntry address ranges and the
 * DestinationRule's TCP idle timeout as a sidecar's outbound TCP filter chains, the way Istio's
 * pilot builds them: for west's curl sidecar ({@code app=curl}, namespace {@code sample}), with a
 * golden file of the whole set ({@code golden/tcp-tls-routes-west-curl.json}, refresh with
 * {@code -Dgolden.refresh=true}).
 */
class L4RouteTranslatorTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String DB = "db.sample.svc.cluster.local";
    private static final String LEDGER = "ledger.sample.svc.cluster.local";
    private static final String DB_VIP = "10.96.0.50";
    private static final String LEDGER_VIP = "10.96.0.60";

    private static MeshService service(String name, ServicePort port, String vip) {
        return new MeshService(new ServiceKey("sample", name), name + ".sample.svc.cluster.local", List.of(port),
                Map.of("app", name), Set.of("*"), false, false, List.of(vip));
    }

    private static Endpoint endpoint(String name, String ip, String version, Map<String, Integer> ports) {
        return new Endpoint(new ServiceKey("sample", name), ip, ports, true, MeshFixture.WEST_LOCALITY, "west",
                "net1", name, name + "-" + version, Map.of("app", name, "version", version));
    }

    /** The demo mesh with west's {@code db} (TCP 5432) and {@code ledger} (TLS 8443), two versions each. */
    private static FederatedState state() {
        ClusterState w = MeshFixture.west();
        List<MeshService> services = new ArrayList<>(w.services());
        services.add(service("db", new ServicePort("tcp-pg", 5432, 5432, "TCP"), DB_VIP));
        services.add(service("ledger", new ServicePort("tls", 8443, 8443, "TLS"), LEDGER_VIP));
        List<Endpoint> endpoints = new ArrayList<>(w.endpoints());
        endpoints.add(endpoint("db", "127.102.1.50", "v1", Map.of("tcp-pg", 5432)));
        endpoints.add(endpoint("db", "127.102.1.51", "v2", Map.of("tcp-pg", 5432)));
        endpoints.add(endpoint("ledger", "127.102.1.60", "v1", Map.of("tls", 8443)));
        endpoints.add(endpoint("ledger", "127.102.1.61", "v2", Map.of("tls", 8443)));
        return MeshFixture.state(MeshFixture.east(),
                new ClusterState("west", "net1", services, endpoints, w.gateways()), MeshFixture.eu());
    }

    private static ProxyResources translate(String yaml) {
        return translate(yaml, MeshFixture.westCurlSidecar());
    }

    private static ProxyResources translate(String yaml, ProxyNode node) {
        MeshPolicies policies = PolicyFixture.policies(state(), yaml);
        assertThat(policies.config().problems()).as("every object is valid").isEmpty();
        return PolicyFixture.translate(node, policies);
    }

    private static final String SUBSETS = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: db}
            spec:
              host: db
              subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: ledger}
            spec:
              host: ledger
              subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
            ---
            """;

    /**
     * One listener per line: name, then its chains ({@code [prefix ranges]}, {@code sni(...)}) and
     * where each sends connections ({@code cluster} or {@code {cluster=weight, ...}}, with
     * {@code idle=<seconds>s} when set); {@code default=} the default chain.
     */
    static String describe(Listener listener) {
        StringBuilder out = new StringBuilder(listener.getName());
        for (FilterChain chain : listener.getFilterChainsList()) {
            out.append(' ').append(chain(chain));
        }
        if (listener.hasDefaultFilterChain()) {
            out.append(" default=").append(chain(listener.getDefaultFilterChain()));
        }
        return out.toString();
    }

    private static String chain(FilterChain chain) {
        StringBuilder out = new StringBuilder();
        var match = chain.getFilterChainMatch();
        if (match.getPrefixRangesCount() > 0) {
            out.append(match.getPrefixRangesList().stream()
                    .map(r -> r.getAddressPrefix() + "/" + r.getPrefixLen().getValue())
                    .collect(Collectors.joining(",", "[", "]")));
        }
        if (match.getServerNamesCount() > 0) {
            out.append("sni(").append(String.join(",", match.getServerNamesList())).append(")");
        }
        var filter = chain.getFilters(chain.getFiltersCount() - 1);
        if (!filter.getTypedConfig().is(TcpProxy.class)) {
            return out.append("http").toString();
        }
        TcpProxy proxy;
        try {
            proxy = filter.getTypedConfig().unpack(TcpProxy.class);
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
        out.append(out.length() > 0 ? ":" : "");
        if (proxy.hasWeightedClusters()) {
            out.append(proxy.getWeightedClusters().getClustersList().stream()
                    .map(c -> c.getName() + "=" + c.getWeight()).collect(Collectors.joining(", ", "{", "}")));
        } else {
            out.append(proxy.getCluster());
        }
        if (proxy.hasIdleTimeout()) {
            out.append(" idle=").append(proxy.getIdleTimeout().getSeconds()).append('s');
        }
        return out.toString();
    }

    private static String listener(ProxyResources r, String name) {
        return r.listeners().stream().filter(l -> l.getName().equals(name)).map(L4RouteTranslatorTest::describe)
                .findFirst().orElse("none");
    }

    @Test
    void aWeightedTcpRouteSplitsTheServicesVipListenerAcrossSubsets() {
        ProxyResources r = translate(SUBSETS + """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: db}
                spec:
                  hosts: [db]
                  tcp:
                  - route: [{destination: {host: db, subset: v1}, weight: 80},
                            {destination: {host: db, subset: v2}, weight: 20}]
                """);

        assertThat(listener(r, DB_VIP + "_5432")).isEqualTo(DB_VIP + "_5432"
                + " {outbound|5432|v1|" + DB + "=80, outbound|5432|v2|" + DB + "=20}");
        assertThat(r.listenerConflicts()).isEmpty();
    }

    @Test
    void aSubnetMatchIsAPrefixChainBeforeTheCatchAllAndLaterRoutesAreNotReached() {
        ProxyResources r = translate(SUBSETS + """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: db}
                spec:
                  hosts: [db]
                  tcp:
                  - match: [{destinationSubnets: [10.96.0.0/16]}, {destinationSubnets: [10.97.0.9]}]
                    route: [{destination: {host: db, subset: v2}}]
                  - match: [{port: 5432}]
                    route: [{destination: {host: db, subset: v1}}]
                  - route: [{destination: {host: db}}]
                """);

        assertThat(listener(r, DB_VIP + "_5432")).isEqualTo(DB_VIP + "_5432"
                + " [10.96.0.0/16,10.97.0.9/32]:outbound|5432|v2|" + DB
                + " default=outbound|5432|v1|" + DB);
    }

    @Test
    void matchesForOtherSourcesOrPortsAreDroppedForThisProxy() {
        String yaml = SUBSETS + """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: db}
                spec:
                  hosts: [db]
                  tcp:
                  - match: [{sourceLabels: {app: reviews}}]
                    route: [{destination: {host: db, subset: v2}}]
                  - match: [{sourceNamespace: other}, {port: 6000}, {gateways: [ingress]}]
                    route: [{destination: {host: db, subset: v2}}]
                  - match: [{sourceLabels: {app: curl}, sourceNamespace: sample, gateways: [mesh], port: 5432}]
                    route: [{destination: {host: db, subset: v1}}]
                """;
        // curl: the first two routes are for others; the third selects it.
        assertThat(listener(translate(yaml), DB_VIP + "_5432"))
                .isEqualTo(DB_VIP + "_5432 outbound|5432|v1|" + DB);

        // A proxy none selects keeps the service's own cluster.
        ProxyNode other = new ProxyNode("sidecar~127.102.1.9~web-1.sample~sample.svc.cluster.local",
                ProxyType.SIDECAR, "127.102.1.9", "web-1", "sample", "web", "west", "net1",
                MeshFixture.WEST_LOCALITY, Map.of("app", "web"));
        assertThat(listener(translate(yaml, other), DB_VIP + "_5432"))
                .isEqualTo(DB_VIP + "_5432 outbound|5432||" + DB);
    }

    @Test
    void aTlsRouteIsAChainOnItsSniHostsAndTheRestFallsThrough() {
        ProxyResources r = translate(SUBSETS + """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: ledger}
                spec:
                  hosts: [ledger.sample.svc.cluster.local, '*.ledger.example.com']
                  tls:
                  - match: [{sniHosts: [ledger.sample.svc.cluster.local], port: 8443}]
                    route: [{destination: {host: ledger, subset: v2}}]
                  - match: [{sniHosts: [eu.ledger.example.com, us.ledger.example.com]}]
                    route: [{destination: {host: ledger, subset: v1}, weight: 50},
                            {destination: {host: ledger, subset: v2}, weight: 50}]
                """);

        assertThat(listener(r, LEDGER_VIP + "_8443")).isEqualTo(LEDGER_VIP + "_8443"
                + " sni(" + LEDGER + "):outbound|8443|v2|" + LEDGER
                + " sni(eu.ledger.example.com,us.ledger.example.com):{outbound|8443|v1|" + LEDGER + "=50,"
                + " outbound|8443|v2|" + LEDGER + "=50}"
                + " default=PassthroughCluster");
        Listener ledger = r.listeners().stream().filter(l -> l.getName().equals(LEDGER_VIP + "_8443")).findFirst()
                .orElseThrow();
        assertThat(ledger.getListenerFiltersList()).extracting(f -> f.getName())
                .containsExactly(Protos.TLS_INSPECTOR);
        assertThat(ledger.getFilterChains(0).getFilterChainMatch().getTransportProtocol()).isEqualTo("tls");
    }

    @Test
    void aServiceEntryRangeIsAPrefixChainOnTheWildcardListener() {
        ProxyResources r = translate("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: pg}
                spec:
                  hosts: [pg.internal.example.com]
                  addresses: [10.20.0.0/24, 10.30.0.0/16]
                  location: MESH_EXTERNAL
                  resolution: NONE
                  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: vault}
                spec:
                  hosts: [vault.internal.example.com]
                  addresses: [10.40.0.0/24]
                  location: MESH_EXTERNAL
                  resolution: NONE
                  ports: [{number: 8200, name: tls, protocol: TLS}]
                """);

        assertThat(listener(r, "0.0.0.0_5432")).isEqualTo("0.0.0.0_5432"
                + " [10.20.0.0/24]:outbound|5432||pg.internal.example.com"
                + " [10.30.0.0/16]:outbound|5432||pg.internal.example.com"
                + " default=PassthroughCluster");
        // TLS in a range: matched on the range and on SNI = the host, as Istio does.
        assertThat(listener(r, "0.0.0.0_8200")).isEqualTo("0.0.0.0_8200"
                + " [10.40.0.0/24]sni(vault.internal.example.com):outbound|8200||vault.internal.example.com"
                + " default=PassthroughCluster");
        assertThat(r.listenerConflicts()).isEmpty();
    }

    @Test
    void theTcpIdleTimeoutGoesOnTheTcpProxyAndStandsInForTheHttpOne() throws Exception {
        ProxyResources r = translate("""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: db}
                spec:
                  host: db
                  trafficPolicy:
                    connectionPool: {tcp: {idleTimeout: 30m}}
                    portLevelSettings: [{port: {number: 5432}, connectionPool: {tcp: {idleTimeout: 90s}}}]
                  subsets:
                  - {name: v1, labels: {version: v1}}
                  - name: v2
                    labels: {version: v2}
                    trafficPolicy: {connectionPool: {tcp: {idleTimeout: 5s}}}
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: db}
                spec:
                  hosts: [db]
                  tcp:
                  - match: [{destinationSubnets: [10.96.0.0/16]}]
                    route: [{destination: {host: db, subset: v2}}]
                """);

        // The port-level setting beats the rule's, the subset's beats both.
        assertThat(listener(r, DB_VIP + "_5432")).isEqualTo(DB_VIP + "_5432"
                + " [10.96.0.0/16]:outbound|5432|v2|" + DB + " idle=5s"
                + " default=outbound|5432||" + DB + " idle=90s");
        Cluster cluster = r.clusters().stream().filter(c -> c.getName().equals("outbound|5432||" + DB))
                .findFirst().orElseThrow();
        HttpProtocolOptions options = cluster.getTypedExtensionProtocolOptionsMap()
                .get(PolicyTranslator.HTTP_PROTOCOL_OPTIONS).unpack(HttpProtocolOptions.class);
        assertThat(options.getCommonHttpProtocolOptions().getIdleTimeout().getSeconds()).isEqualTo(90);
    }

    @Test
    void matchesTheGoldenFile() throws IOException {
        ProxyResources r = translate(SUBSETS + """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: db}
                spec:
                  hosts: [db]
                  tcp:
                  - match: [{destinationSubnets: [10.96.0.0/16], sourceLabels: {app: curl}}]
                    route: [{destination: {host: db, subset: v2}}]
                  - route: [{destination: {host: db, subset: v1}, weight: 80},
                            {destination: {host: db, subset: v2}, weight: 20}]
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: ledger}
                spec:
                  hosts: [ledger]
                  tls:
                  - match: [{sniHosts: [ledger]}]
                    route: [{destination: {host: ledger, subset: v2}}]
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: pg}
                spec:
                  hosts: [pg.internal.example.com]
                  addresses: [10.20.0.0/24]
                  location: MESH_EXTERNAL
                  resolution: NONE
                  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
                """);
        StringBuilder actual = new StringBuilder();
        r.listeners().stream()
                .filter(l -> l.getName().endsWith("_5432") || l.getName().endsWith("_8443"))
                .forEach(l -> actual.append(ResourcesJson.toJson(l)).append("\n"));
        Path golden = GOLDEN_DIR.resolve("tcp-tls-routes-west-curl.json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual.toString()).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }
}
