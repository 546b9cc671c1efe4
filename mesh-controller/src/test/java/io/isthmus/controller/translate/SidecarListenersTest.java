package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sidecar {@code egress[].bind/captureMode} and {@code ingress[]} on west's curl sidecar (the mesh
 * has helloworld.sample:5000, HTTP, and curl.sample:80, the proxy's own workload): the listeners a
 * Sidecar adds or changes, as golden files ({@code golden/sidecar-listeners-*.json}, refresh with
 * {@code -Dgolden.refresh=true}), and tables of what binds where.
 */
class SidecarListenersTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String HELLOWORLD = "outbound|5000||helloworld.sample.svc.cluster.local";

    private static ProxyResources translate(String spec) {
        String yaml = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: sample}\n"
                + "spec:\n" + spec.indent(2);
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
    }

    private static Optional<Listener> listener(ProxyResources r, String name) {
        return r.listeners().stream().filter(l -> l.getName().equals(name)).findFirst();
    }

    private static Cluster cluster(ProxyResources r, String name) {
        return r.clusters().stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "none-http # egress: [{port: {number: 5000, protocol: HTTP, name: http}, bind: 127.0.0.1, captureMode: NONE,"
                    + " hosts: [./helloworld.sample.svc.cluster.local]}]"
                    + " # 127.0.0.1_5000",
            "none-tcp-default-bind # egress: [{port: {number: 5000, protocol: TCP, name: tcp}, captureMode: NONE,"
                    + " hosts: ['./*']}] # 127.0.0.1_5000",
            "none-every-port # egress: [{bind: 127.0.0.7, captureMode: NONE, hosts: ['./*']}]"
                    + " # 127.0.0.7_5000 127.0.0.7_80",
            "none-port-no-host-has # egress: [{port: {number: 8080, protocol: HTTP, name: http}, captureMode: NONE,"
                    + " hosts: ['./*']}] # 127.0.0.1_8080",
            "ingress # ingress: [{port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: '127.0.0.1:8080',"
                    + " connectionPool: {tcp: {maxConnections: 7}}}] # virtualInbound",
            "ingress-none-tcp # ingress: [{port: {number: 9080, protocol: TCP, name: tcp}, captureMode: NONE,"
                    + " defaultEndpoint: '0.0.0.0:8080'}] # virtualInbound " + "__POD__" + "_9080",
    })
    void sidecarListenersMatchGoldenFiles(String name, String spec, String listeners) throws IOException {
        ProxyResources r = translate(spec);
        StringBuilder actual = new StringBuilder();
        for (String l : listeners.trim().split(" ")) {
            String listenerName = l.replace("__POD__", MeshFixture.westCurlSidecar().ip());
            Listener found = listener(r, listenerName).orElseThrow(() -> new AssertionError(
                    listenerName + " not among " + r.listeners().stream().map(Listener::getName).toList()));
            actual.append(ResourcesJson.toJson(found)).append('\n');
        }
        r.clusters().stream().filter(c -> c.getName().startsWith("inbound|"))
                .forEach(c -> actual.append(ResourcesJson.toJson(c)).append('\n'));
        Path golden = GOLDEN_DIR.resolve("sidecar-listeners-" + name + ".json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual.toString()).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    @Test
    void anEgressListenerWithCaptureModeNoneIsARealListenerTheAppDials() {
        ProxyResources r = translate("egress: [{port: {number: 5000, protocol: HTTP}, bind: 127.0.0.1,"
                + " captureMode: NONE, hosts: [./helloworld.sample.svc.cluster.local]}]");
        Listener bound = listener(r, "127.0.0.1_5000").orElseThrow();
        assertThat(bound.getBindToPort().getValue()).isTrue();
        assertThat(bound.getAddress().getSocketAddress().getAddress()).isEqualTo("127.0.0.1");
        // A route configuration of its own, with the listener's hosts on its port.
        assertThat(ResourcesJson.toJson(bound)).contains("\"routeConfigName\": \"127.0.0.1:5000\"");
        assertThat(domainsOf(r, "127.0.0.1:5000")).contains(MeshFixture.HELLOWORLD);
        // The service is still reached by capture too, and its routes are the port's.
        assertThat(r.routes()).anyMatch(rc -> rc.getName().equals("5000"));
        assertThat(r.clusters()).extracting(Cluster::getName).contains(HELLOWORLD);
        // Captured listeners stay virtual.
        assertThat(r.listeners()).filteredOn(l -> !l.getName().equals("127.0.0.1_5000")
                        && l.getTrafficDirection() == io.envoyproxy.envoy.config.core.v3.TrafficDirection.OUTBOUND
                        && !l.getName().equals(ResourceNames.VIRTUAL_OUTBOUND))
                .allMatch(l -> l.hasBindToPort() && !l.getBindToPort().getValue());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "captureMode DEFAULT # egress: [{port: {number: 5000}, bind: 127.0.0.1, captureMode: DEFAULT, hosts: ['./*']}]",
            "captureMode IPTABLES # egress: [{port: {number: 5000}, captureMode: IPTABLES, hosts: ['./*']}]",
            "no captureMode # egress: [{port: {number: 5000}, hosts: ['./*']}]",
    })
    void anEgressListenerThatIsCapturedBindsNothing(String name, String spec) {
        ProxyResources r = translate(spec);
        assertThat(r.listeners()).noneMatch(l -> l.hasBindToPort() && l.getBindToPort().getValue());
    }

    @Test
    void ingressReplacesTheServicePortsAndForwardsToTheDefaultEndpoint() {
        ProxyResources without = translate("egress: [{hosts: ['./*']}]");
        assertThat(without.clusters()).extracting(Cluster::getName).contains("inbound|8080||");

        ProxyResources r = translate("ingress: [{port: {number: 9080, protocol: HTTP}, defaultEndpoint: '127.0.0.1:8080'}]"
                + "\ninboundConnectionPool: {tcp: {maxConnections: 50, connectTimeout: 2s}}");
        assertThat(r.clusters()).extracting(Cluster::getName).contains("inbound|9080||").doesNotContain("inbound|8080||");
        Cluster inbound = cluster(r, "inbound|9080||");
        var address = inbound.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress()
                .getSocketAddress();
        assertThat(address.getAddress() + ":" + address.getPortValue()).isEqualTo("127.0.0.1:8080");
        assertThat(inbound.getCircuitBreakers().getThresholds(0).getMaxConnections().getValue()).isEqualTo(50);
        assertThat(inbound.getConnectTimeout().getSeconds()).isEqualTo(2);
        Listener virtualInbound = listener(r, ResourceNames.VIRTUAL_INBOUND).orElseThrow();
        assertThat(virtualInbound.getFilterChainsList()).isNotEmpty()
                .allMatch(c -> c.getFilterChainMatch().getDestinationPort().getValue() == 9080);
    }

    @Test
    void anIngressConnectionPoolOverridesTheSidecarsOnItsPort() {
        ProxyResources r = translate("ingress: [{port: {number: 9080}, connectionPool: {tcp: {maxConnections: 3}}},"
                + " {port: {number: 9090}}]\ninboundConnectionPool: {tcp: {maxConnections: 50}}");
        assertThat(cluster(r, "inbound|9080||").getCircuitBreakers().getThresholds(0).getMaxConnections().getValue())
                .isEqualTo(3);
        assertThat(cluster(r, "inbound|9090||").getCircuitBreakers().getThresholds(0).getMaxConnections().getValue())
                .isEqualTo(50);
    }

    /** curl.sample's DestinationRule, with a port-level pool for its port 80 (the pod's 8080). */
    private static final String CURL_RULE = "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            + "metadata: {name: curl, namespace: sample}\n"
            + "spec:\n  host: curl.sample.svc.cluster.local\n"
            + "  trafficPolicy:\n"
            + "    connectionPool: {tcp: {maxConnections: 9}, http: {http2MaxRequests: 4}}\n"
            + "    portLevelSettings: [{port: {number: 80}, connectionPool: {http: {http1MaxPendingRequests: 2}}}]\n";

    private static ProxyResources translateWithRule(String sidecarSpec) {
        String yaml = (sidecarSpec == null ? "" : "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
                + "metadata: {name: default, namespace: sample}\nspec:\n" + sidecarSpec.indent(2)) + CURL_RULE;
        MeshPolicies policies = PolicyFixture.policies(yaml);
        ProxyNode node = MeshFixture.westCurlSidecar();
        ProxyResources unshared = PolicyFixture.translate(node, policies);
        // The push's shared path finds the port's services from its own index: the same answer.
        ProxyResources shared = XdsTranslator.translate(MeshFixture.viewOf(policies.state(), node), node,
                MeshFixture.ROOTS, SharedTranslation.of(policies));
        assertThat(shared).isEqualTo(unshared);
        return unshared;
    }

    @Test
    void aDestinationRulesConnectionPoolLimitsTheInboundClusterOfItsServicesPort() {
        var t = cluster(translateWithRule(null), "inbound|8080||").getCircuitBreakers().getThresholds(0);
        // The rule's pool, the port-level pool of service port 80 on top, as pilot's inbound cluster.
        assertThat(t.getMaxConnections().getValue()).isEqualTo(9);
        assertThat(t.getMaxRequests().getValue()).isEqualTo(4);
        assertThat(t.getMaxPendingRequests().getValue()).isEqualTo(2);
    }

    @Test
    void theSidecarsPoolReplacesTheDestinationRulesAndAnIngressPoolReplacesTheSidecarsWhole() {
        ProxyResources r = translateWithRule("ingress: [{port: {number: 8080}, connectionPool: {http: {http2MaxRequests: 1}}},"
                + " {port: {number: 9090}}]\ninboundConnectionPool: {tcp: {maxConnections: 50}}");
        var ingress = cluster(r, "inbound|8080||").getCircuitBreakers().getThresholds(0);
        // Istio's InboundConnectionPoolForPort: the ingress's pool alone, not merged with the others.
        assertThat(ingress.getMaxRequests().getValue()).isEqualTo(1);
        assertThat(Integer.toUnsignedLong(ingress.getMaxConnections().getValue())).isEqualTo(4294967295L);
        assertThat(Integer.toUnsignedLong(ingress.getMaxPendingRequests().getValue())).isEqualTo(4294967295L);
        var sidecarWide = cluster(r, "inbound|9090||").getCircuitBreakers().getThresholds(0);
        assertThat(sidecarWide.getMaxConnections().getValue()).isEqualTo(50);
        assertThat(Integer.toUnsignedLong(sidecarWide.getMaxRequests().getValue())).isEqualTo(4294967295L);
    }

    @Test
    void aDestinationRuleWithAWorkloadSelectorDoesNotLimitTheInboundSide() {
        String yaml = CURL_RULE.replace("spec:\n", "spec:\n  workloadSelector: {matchLabels: {app: curl}}\n");
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml.substring(4));
        assertThat(cluster(r, "inbound|8080||").hasCircuitBreakers()).isFalse();
    }

    /** The domains of route configuration {@code name}'s virtual hosts. */
    private static List<String> domainsOf(ProxyResources r, String name) {
        return r.routes().stream().filter(rc -> rc.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no route configuration " + name + " among "
                        + r.routes().stream().map(rc -> rc.getName()).toList()))
                .getVirtualHostsList().stream().flatMap(v -> v.getDomainsList().stream()).toList();
    }

    /** api.example.com, HTTP on 5000 (helloworld's port) and TCP on 5432, in sample. */
    private static final String API_ENTRY = "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            + "metadata: {name: api, namespace: sample}\n"
            + "spec:\n  hosts: [api.example.com]\n  location: MESH_EXTERNAL\n  resolution: DNS\n"
            + "  ports: [{number: 5000, name: http, protocol: HTTP}, {number: 5432, name: tcp, protocol: TCP}]\n";

    private static ProxyResources translateWithEntry(String sidecarSpec) {
        String yaml = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: sample}\n"
                + "spec:\n" + sidecarSpec.indent(2) + API_ENTRY;
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
    }

    @Test
    void anExplicitEgressPortNoHostHasIsBoundAndRoutesNothingElse() {
        // helloworld has 5000, curl 80: neither has 8080.
        ProxyResources r = translate("egress: [{port: {number: 8080, protocol: HTTP, name: http}, captureMode: NONE,"
                + " hosts: ['./*']}]");
        Listener bound = listener(r, "127.0.0.1_8080").orElseThrow(() -> new AssertionError(
                "no 127.0.0.1_8080 among " + r.listeners().stream().map(Listener::getName).toList()));
        assertThat(bound.getBindToPort().getValue()).isTrue();
        assertThat(ResourcesJson.toJson(bound)).contains("\"routeConfigName\": \"127.0.0.1:8080\"");
        // Pilot routes a port-P listener to its hosts' port P only: no host, no virtual host (404).
        assertThat(domainsOf(r, "127.0.0.1:8080")).isEmpty();
        // A TCP egress port no host has has no cluster to relay to: no listener.
        ProxyResources tcp = translate("egress: [{port: {number: 8080, protocol: TCP, name: tcp}, captureMode: NONE,"
                + " hosts: ['./*']}]");
        assertThat(listener(tcp, "127.0.0.1_8080")).isEmpty();
    }

    @Test
    void anExplicitEgressListenerRoutesOnlyItsOwnHostsOnItsPort() {
        // The shared route configuration 5000 holds helloworld and api.example.com (imported by the
        // second, captured, listener); the explicit listener's holds helloworld alone.
        ProxyResources r = translateWithEntry("egress:\n"
                + "- {port: {number: 5000, protocol: HTTP, name: http}, captureMode: NONE,"
                + " hosts: [./helloworld.sample.svc.cluster.local]}\n"
                + "- {hosts: [./api.example.com]}");
        assertThat(domainsOf(r, "5000")).contains(MeshFixture.HELLOWORLD, "api.example.com");
        assertThat(domainsOf(r, "127.0.0.1:5000")).contains(MeshFixture.HELLOWORLD)
                .doesNotContain("api.example.com");
    }

    @Test
    void serviceEntryHostsGetExplicitEgressListenersAsServicesDo() {
        ProxyResources r = translateWithEntry("egress: [{bind: 127.0.0.2, captureMode: NONE, hosts: [./api.example.com]}]");
        Listener http = listener(r, "127.0.0.2_5000").orElseThrow(() -> new AssertionError(
                "no 127.0.0.2_5000 among " + r.listeners().stream().map(Listener::getName).toList()));
        assertThat(http.getBindToPort().getValue()).isTrue();
        assertThat(ResourcesJson.toJson(http)).contains("\"routeConfigName\": \"127.0.0.2:5000\"");
        assertThat(domainsOf(r, "127.0.0.2:5000")).contains("api.example.com")
                .doesNotContain(MeshFixture.HELLOWORLD);
        Listener tcp = listener(r, "127.0.0.2_5432").orElseThrow();
        assertThat(ResourcesJson.toJson(tcp)).contains("\"cluster\": \"outbound|5432||api.example.com\"");
        assertThat(r.clusters()).extracting(Cluster::getName).contains("outbound|5432||api.example.com");
    }

    @Test
    void anIngressToAUnixSocketIsLeftOut() {
        ProxyResources r = translate("ingress: [{port: {number: 9080}, defaultEndpoint: 'unix:///var/run/app.sock'},"
                + " {port: {number: 9090}, defaultEndpoint: '127.0.0.1:8090'}]");
        assertThat(r.clusters()).extracting(Cluster::getName).contains("inbound|9090||").doesNotContain("inbound|9080||");
    }
}
