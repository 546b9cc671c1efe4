package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.listener.v3.ListenerFilter;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Outbound listeners by protocol and address, as Istio's pilot builds them, on west's curl
 * sidecar: the listener (and its chains) each port's protocol gets, VIP listeners for every
 * cluster's ClusterIPs, ServiceEntry addresses and auto-allocated VIPs, SNI chains for external
 * TLS hosts, VIPs as virtual-host domains, and the conflicts, each reported.
 */
class OutboundListenersTest {

    private static final String MULTI = "multi.sample.svc.cluster.local";
    /** west's (the proxy's own cluster's) ClusterIP of {@code multi}. */
    private static final String MULTI_VIP = "10.96.0.20";

    private static MeshService service(String name, List<ServicePort> ports, boolean headless, String... vips) {
        return new MeshService(new ServiceKey("sample", name), name + ".sample.svc.cluster.local", ports,
                Map.of("app", name), Set.of("*"), headless, false, List.of(vips));
    }

    private static Endpoint endpoint(String name, String ip, String cluster, Map<String, Integer> ports) {
        return new Endpoint(new ServiceKey("sample", name), ip, ports, true,
                cluster.equals("west") ? MeshFixture.WEST_LOCALITY : MeshFixture.EAST_LOCALITY, cluster,
                "net1", name, name + "-" + cluster + "-1", Map.of("app", name));
    }

    /** The demo mesh with {@code west} and {@code east} extra services and endpoints. */
    private static FederatedState state(List<MeshService> west, List<Endpoint> westEndpoints,
            List<MeshService> east, List<Endpoint> eastEndpoints) {
        ClusterState w = MeshFixture.west();
        ClusterState e = MeshFixture.east();
        return MeshFixture.state(
                new ClusterState("east", "net1", concat(e.services(), east), concat(e.endpoints(), eastEndpoints),
                        e.gateways()),
                new ClusterState("west", "net1", concat(w.services(), west), concat(w.endpoints(), westEndpoints),
                        w.gateways()),
                MeshFixture.eu());
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static ProxyResources translate(FederatedState state, String yaml) {
        return PolicyFixture.translate(state, MeshFixture.westCurlSidecar(), yaml);
    }

    private static ProxyResources translate(String yaml) {
        return translate(MeshFixture.state(), yaml);
    }

    /** {@code multi} in west: one port of each protocol class. */
    private static ProxyResources multi() {
        MeshService multi = service("multi", List.of(
                new ServicePort("http-web", 8080, 8080, "HTTP"),
                new ServicePort("grpc", 9090, 9090, "GRPC"),
                new ServicePort("tcp-db", 5432, 5432, "TCP"),
                new ServicePort("tls", 8443, 8443, "TLS"),
                new ServicePort("mongo", 27017, 27017, "Mongo"),
                new ServicePort("legacy", 7000, 7000, "UnsupportedProtocol"),
                new ServicePort("dns", 53, 53, "UDP")), false, MULTI_VIP);
        return translate(state(List.of(multi), List.of(), List.of(), List.of()), "");
    }

    /**
     * One line per listener: name, then its chains ({@code http:<rds>}, {@code tcp:<cluster>},
     * {@code sni(<names>):<cluster>}, with {@code [alpn]} where matched on it), {@code default=}
     * the default chain, and {@code +tls_inspector}/{@code +http_inspector}.
     */
    static String describe(Listener listener) {
        StringBuilder out = new StringBuilder(listener.getName());
        for (ListenerFilter filter : listener.getListenerFiltersList()) {
            out.append(" +").append(filter.getName().substring(filter.getName().lastIndexOf('.') + 1));
        }
        for (FilterChain chain : listener.getFilterChainsList()) {
            out.append(' ').append(chain(chain));
        }
        if (listener.hasDefaultFilterChain()) {
            out.append(" default=").append(chain(listener.getDefaultFilterChain()));
        }
        return out.toString();
    }

    private static String chain(FilterChain chain) {
        Filter filter = chain.getFilters(chain.getFiltersCount() - 1);
        String what;
        try {
            if (filter.getTypedConfig().is(HttpConnectionManager.class)) {
                what = "http:" + filter.getTypedConfig().unpack(HttpConnectionManager.class).getRds()
                        .getRouteConfigName();
            } else {
                what = "tcp:" + filter.getTypedConfig().unpack(TcpProxy.class).getCluster();
            }
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
        var match = chain.getFilterChainMatch();
        if (match.getServerNamesCount() > 0) {
            what = "sni(" + String.join(",", match.getServerNamesList()) + ")" + what.substring(3);
        }
        if (match.getApplicationProtocolsCount() > 0) {
            what += match.getApplicationProtocolsList();
        }
        return what;
    }

    private static List<String> listeners(ProxyResources r) {
        return r.listeners().stream()
                .filter(l -> !l.getName().startsWith("virtual"))
                .map(OutboundListenersTest::describe).toList();
    }

    private static String listener(ProxyResources r, String name) {
        return r.listeners().stream().filter(l -> l.getName().equals(name)).map(OutboundListenersTest::describe)
                .findFirst().orElse("none");
    }

    private static List<String> domains(ProxyResources r, String routeConfig, String vhost) {
        return r.routes().stream().filter(c -> c.getName().equals(routeConfig))
                .flatMap(c -> c.getVirtualHostsList().stream())
                .filter(v -> v.getName().equals(vhost)).findFirst()
                .<List<String>>map(v -> List.copyOf(v.getDomainsList())).orElse(List.of());
    }

    @ParameterizedTest(name = "{0} port {1} → {2}")
    @CsvSource(delimiter = '#', value = {
            "HTTP  # 8080  # 0.0.0.0_8080 http:8080",
            "GRPC  # 9090  # 0.0.0.0_9090 http:9090",
            "TCP   # 5432  # 10.96.0.20_5432 tcp:outbound|5432||multi.sample.svc.cluster.local",
            "TLS   # 8443  # 10.96.0.20_8443 tcp:outbound|8443||multi.sample.svc.cluster.local",
            "Mongo # 27017 # 10.96.0.20_27017 tcp:outbound|27017||multi.sample.svc.cluster.local",
            // Undeclared: HTTP/1.1 and h2c by the service's own routes, anything else raw TCP.
            "auto  # 7000  # 10.96.0.20_7000 +tls_inspector +http_inspector"
                    + " http:multi.sample.svc.cluster.local:7000[http/1.1, h2c]"
                    + " default=tcp:outbound|7000||multi.sample.svc.cluster.local",
    })
    void eachPortGetsTheListenerOfItsProtocol(String protocol, int port, String expected) {
        ProxyResources r = multi();
        String name = expected.substring(0, expected.indexOf(' '));
        assertThat(listener(r, name)).isEqualTo(expected);
        assertThat(r.listenerConflicts()).isEmpty();
    }

    @Test
    void udpGetsNoListenerAndTcpPortsNoVirtualHost() {
        ProxyResources r = multi();
        assertThat(r.listeners()).extracting(Listener::getName).noneMatch(n -> n.endsWith("_53"));
        assertThat(r.routes()).extracting(RouteConfiguration::getName)
                .contains("8080", "9090", "7000", MULTI + ":7000")
                .doesNotContain("5432", "8443", "27017");
        // The auto-detected port's own route configuration holds that one service.
        RouteConfiguration own = r.routes().stream().filter(c -> c.getName().equals(MULTI + ":7000"))
                .findFirst().orElseThrow();
        assertThat(own.getVirtualHostsList()).extracting(VirtualHost::getName).containsExactly(MULTI + ":7000");
    }

    @Test
    void httpVirtualHostsAnswerTheirVipAsHost() {
        ProxyResources r = multi();
        assertThat(domains(r, "8080", MULTI + ":8080")).contains(MULTI_VIP, MULTI_VIP + ":8080")
                .doesNotContain(MULTI_VIP + ":9090");
        assertThat(domains(r, "7000", MULTI + ":7000")).contains(MULTI_VIP, MULTI_VIP + ":7000");
    }

    @Test
    void aServiceSpanningClustersListensOnEveryClustersClusterIp() {
        // db in east (10.1.0.5) and west (10.96.0.5): both VIPs lead to the one merged cluster.
        ServicePort port = new ServicePort("tcp", 5432, 5432, "TCP");
        FederatedState state = state(
                List.of(service("db", List.of(port), false, "10.96.0.5")), List.of(),
                List.of(service("db", List.of(port), false, "10.1.0.5")), List.of());
        String cluster = "outbound|5432||db.sample.svc.cluster.local";

        assertThat(listeners(translate(state, ""))).contains(
                "10.1.0.5_5432 tcp:" + cluster,
                "10.96.0.5_5432 tcp:" + cluster);
    }

    @Test
    void aVipTwoClustersGaveToDifferentServicesBelongsToTheProxysOwnClustersService() {
        // east's cache and west's db share 10.1.0.9 (every cluster has its own service CIDR).
        ServicePort port = new ServicePort("tcp", 6379, 6379, "TCP");
        FederatedState state = state(
                List.of(service("db", List.of(port), false, "10.1.0.9")), List.of(),
                List.of(service("cache", List.of(port), false, "10.1.0.9")), List.of());

        ProxyResources west = translate(state, "");

        assertThat(listener(west, "10.1.0.9_6379")).isEqualTo(
                "10.1.0.9_6379 tcp:outbound|6379||db.sample.svc.cluster.local");
        assertThat(west.listenerConflicts()).containsExactly(new ListenerConflict("10.1.0.9_6379",
                "tcp_over_current_tcp", "db.sample.svc.cluster.local:6379 (TCP)",
                "cache.sample.svc.cluster.local:6379 (TCP)",
                "rejected: the VIP and port belong to db.sample.svc.cluster.local"));
    }

    @Test
    void aServiceWithoutClusterIpListensOnTheVipTheNameTableAnswers() {
        ServicePort port = new ServicePort("redis", 6379, 6379, "Redis");
        FederatedState state = state(List.of(service("cache", List.of(port), false)), List.of(),
                List.of(), List.of());
        ProxyNode node = MeshFixture.westCurlSidecar();
        String vip = XdsTranslator.nameTable(MeshFixture.viewOf(state, node), node, (MeshPolicies) null)
                .getTableMap().get("cache.sample.svc.cluster.local").getIps(0);

        assertThat(vip).startsWith("240.240.");
        assertThat(listeners(translate(state, ""))).contains(
                vip + "_6379 tcp:outbound|6379||cache.sample.svc.cluster.local");
    }

    @Test
    void aHeadlessServiceGetsOneListenerPerPod() {
        ServicePort port = new ServicePort("tcp-peer", 7001, 7001, "TCP");
        FederatedState state = state(List.of(service("kafka", List.of(port), true)),
                List.of(endpoint("kafka", "127.102.1.7", "west", Map.of("tcp-peer", 7001)),
                        endpoint("kafka", "127.102.1.8", "west", Map.of("tcp-peer", 7001))),
                List.of(), List.of());
        String cluster = "outbound|7001||kafka.sample.svc.cluster.local";

        assertThat(listeners(translate(state, ""))).contains(
                "127.102.1.7_7001 tcp:" + cluster, "127.102.1.8_7001 tcp:" + cluster)
                .noneMatch(l -> l.startsWith("0.0.0.0_7001"));
    }

    private static String externalEntry(String name, String host, String addresses, String resolution, int port,
            String protocol) {
        return """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: %s, namespace: sample}
                spec:
                  hosts: ["%s"]
                  addresses: [%s]
                  location: MESH_EXTERNAL
                  resolution: %s
                  ports: [{number: %d, name: p, protocol: %s}]
                ---
                """.formatted(name, host, addresses, resolution, port, protocol);
    }

    @Test
    void aServiceEntrysAddressesAreItsVips() {
        ProxyResources r = translate(externalEntry("pg", "pg.example.com", "192.0.2.10, 192.0.2.11/32", "DNS",
                5432, "TCP"));
        assertThat(listeners(r)).contains(
                "192.0.2.10_5432 tcp:outbound|5432||pg.example.com",
                "192.0.2.11_5432 tcp:outbound|5432||pg.example.com")
                .noneMatch(l -> l.startsWith("0.0.0.0_5432"));

        // A range: as Istio, a chain on 0.0.0.0 matched on it (prefix_ranges), never the whole port
        // (L4RouteTranslatorTest shows the match).
        ProxyResources range = translate(externalEntry("pg", "pg.example.com", "192.0.2.0/24", "DNS", 5432,
                "TCP"));
        assertThat(listener(range, "0.0.0.0_5432"))
                .isEqualTo("0.0.0.0_5432 tcp:outbound|5432||pg.example.com default=tcp:PassthroughCluster");
        assertThat(range.listeners()).filteredOn(l -> l.getName().equals("0.0.0.0_5432"))
                .singleElement().satisfies(l -> assertThat(l.getFilterChains(0).getFilterChainMatch()
                        .getPrefixRanges(0).getAddressPrefix()).isEqualTo("192.0.2.0"));
    }

    @Test
    void externalTlsHostsShareThePortMatchedOnSni() {
        String yaml = externalEntry("httpbin", "httpbin.org", "", "DNS", 443, "TLS")
                + externalEntry("wiki", "*.wikipedia.org", "", "NONE", 443, "HTTPS")
                + externalEntry("api", "api.example.com", "", "DNS", 443, "TLS");

        ProxyResources r = translate(yaml);

        assertThat(listener(r, "0.0.0.0_443")).isEqualTo("0.0.0.0_443 +tls_inspector"
                + " sni(*.wikipedia.org):outbound|443||*.wikipedia.org"
                + " sni(api.example.com):outbound|443||api.example.com"
                + " sni(httpbin.org):outbound|443||httpbin.org"
                + " default=tcp:PassthroughCluster");
        assertThat(r.listenerConflicts()).isEmpty();

        // REGISTRY_ONLY: a hello no chain names is closed, as by virtualOutbound.
        ProxyResources registryOnly = translate(yaml + """
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: sample}
                spec:
                  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
                """);
        assertThat(listener(registryOnly, "0.0.0.0_443")).endsWith(" default=tcp:BlackHoleCluster");
    }

    @Test
    void twoTcpHostsWithoutVipOnOnePortKeepTheFirstAndReportTheOther() {
        ProxyResources r = translate(externalEntry("a", "a.example.com", "", "DNS", 9000, "TCP")
                + externalEntry("b", "b.example.com", "", "DNS", 9000, "TCP"));

        assertThat(listener(r, "0.0.0.0_9000")).isEqualTo("0.0.0.0_9000 tcp:outbound|9000||a.example.com");
        assertThat(r.listenerConflicts()).singleElement().satisfies(c -> {
            assertThat(c.type()).isEqualTo("tcp_over_current_tcp");
            assertThat(c.current()).isEqualTo("a.example.com:9000 (TCP)");
            assertThat(c.incoming()).isEqualTo("b.example.com:9000 (TCP)");
            assertThat(c.resolution()).startsWith("rejected");
        });
    }

    @Test
    void anHttpAndATcpServiceOnOnePortShareItByProtocolDetection() {
        // helloworld is HTTP on 5000 (0.0.0.0_5000); a TCP ServiceEntry without VIP joins it.
        ProxyResources r = translate(externalEntry("legacy", "legacy.example.com", "", "DNS", 5000, "TCP"));

        assertThat(listener(r, "0.0.0.0_5000")).isEqualTo("0.0.0.0_5000 +tls_inspector +http_inspector"
                + " http:5000[http/1.1, h2c] default=tcp:outbound|5000||legacy.example.com");
        assertThat(r.listenerConflicts()).singleElement().satisfies(c -> {
            assertThat(c.type()).isEqualTo("tcp_over_current_http");
            assertThat(c.resolution()).startsWith("merged");
        });
    }

    @Test
    void mysqlSharesItsPortWithNoOtherProtocol() {
        // Host order decides who comes first: db.example.com (MySQL), then web (HTTP).
        MeshService web = service("web", List.of(new ServicePort("http", 3306, 3306, "HTTP")), false);
        ProxyResources r = translate(state(List.of(web), List.of(), List.of(), List.of()),
                externalEntry("db", "db.example.com", "", "DNS", 3306, "MySQL"));

        assertThat(listener(r, "0.0.0.0_3306")).isEqualTo("0.0.0.0_3306 tcp:outbound|3306||db.example.com");
        assertThat(r.listenerConflicts()).singleElement().satisfies(c -> {
            assertThat(c.type()).isEqualTo("http_over_current_tcp");
            assertThat(c.current()).isEqualTo("db.example.com:3306 (MYSQL)");
            assertThat(c.resolution()).startsWith("rejected");
        });
    }

    @Test
    void theOutcomeDoesNotDependOnTheOrderServicesArrive() {
        ServicePort port = new ServicePort("tcp", 6379, 6379, "TCP");
        List<MeshService> east = List.of(service("cache", List.of(port), false, "10.1.0.9"),
                service("queue", List.of(port), false, "10.1.0.9"));
        List<MeshService> reversed = new ArrayList<>(east);
        java.util.Collections.reverse(reversed);
        ProxyResources one = translate(state(List.of(), List.of(), east, List.of()), "");
        ProxyResources other = translate(state(List.of(), List.of(), reversed, List.of()), "");

        assertThat(one).isEqualTo(other);
        // Neither is the proxy's own cluster's: the first by host name keeps the VIP.
        assertThat(listener(one, "10.1.0.9_6379")).isEqualTo(
                "10.1.0.9_6379 tcp:outbound|6379||cache.sample.svc.cluster.local");
        assertThat(one.listenerConflicts()).extracting(ListenerConflict::incoming)
                .containsExactly("queue.sample.svc.cluster.local:6379 (TCP)");
    }
}
