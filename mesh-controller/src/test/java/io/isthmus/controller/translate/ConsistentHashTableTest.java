package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.Yaml;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * DestinationRule {@code loadBalancer.consistentHash} and the connection settings of
 * {@code connectionPool}, as pilot translates them: tables of "rule → the cluster's lb_policy and
 * lb config", "rule (+ VirtualService) → every route's hash_policy", "pool → upstream protocol and
 * socket options", and the validation that rejects what Envoy would refuse.
 */
class ConsistentHashTableTest {

    private static final String HOST = MeshFixture.HELLOWORLD;
    private static final String PLAIN = "outbound|5000||" + HOST;
    private static final String V1 = "outbound|5000|v1|" + HOST;
    private static final String V2 = "outbound|5000|v2|" + HOST;

    private static String rule(String trafficPolicy, String v2Policy) {
        return """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                """ + trafficPolicy.indent(4) + """
                  subsets:
                  - name: v1
                    labels: {version: v1}
                  - name: v2
                    labels: {version: v2}
                """ + (v2Policy == null ? "" : "    trafficPolicy:\n" + v2Policy.indent(6));
    }

    private static ProxyResources translate(String yaml) {
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
    }

    private static Cluster cluster(ProxyResources r, String name) {
        return r.clusters().stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    private static VirtualHost helloworldHost(ProxyResources r) {
        return PolicyFixture.helloworld(r);
    }

    static Stream<Arguments> lbPolicies() {
        return Stream.of(
                Arguments.of("loadBalancer: {consistentHash: {httpHeaderName: x-user}}", "RING_HASH", "{}"),
                Arguments.of("loadBalancer: {consistentHash: {httpHeaderName: x-user, minimumRingSize: 2048}}",
                        "RING_HASH", "{\"ringHashLbConfig\":{\"minimumRingSize\":\"2048\"}}"),
                Arguments.of("loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 4096}}}",
                        "RING_HASH", "{\"ringHashLbConfig\":{\"minimumRingSize\":\"4096\"}}"),
                Arguments.of("loadBalancer: {consistentHash: {httpQueryParameterName: u, maglev: {tableSize: 65537}}}",
                        "MAGLEV", "{\"maglevLbConfig\":{\"tableSize\":\"65537\"}}"),
                Arguments.of("loadBalancer: {simple: LEAST_REQUEST}", "LEAST_REQUEST", "{}"),
                // A port-level setting wins over the rule's for its port.
                Arguments.of("loadBalancer: {simple: RANDOM}\nportLevelSettings:\n- port: {number: 5000}\n"
                        + "  loadBalancer: {consistentHash: {maglev: {tableSize: 251}, httpHeaderName: x-user}}",
                        "MAGLEV", "{\"maglevLbConfig\":{\"tableSize\":\"251\"}}"),
                Arguments.of("loadBalancer: {consistentHash: {httpHeaderName: x, ringHash: {minimumRingSize: 64}}}\n"
                        + "portLevelSettings:\n- port: {number: 5001}\n  loadBalancer: {simple: RANDOM}",
                        "RING_HASH", "{\"ringHashLbConfig\":{\"minimumRingSize\":\"64\"}}"));
    }

    @ParameterizedTest(name = "{0} -> {1} {2}")
    @MethodSource("lbPolicies")
    void consistentHashSetsTheClustersLbPolicy(String trafficPolicy, String lbPolicy, String lbConfig)
            throws Exception {
        Cluster c = cluster(translate(rule(trafficPolicy, null)), PLAIN);
        assertThat(c.getLbPolicy().name()).isEqualTo(lbPolicy);
        Cluster.Builder config = Cluster.newBuilder();
        if (c.hasRingHashLbConfig()) {
            config.setRingHashLbConfig(c.getRingHashLbConfig());
        }
        if (c.hasMaglevLbConfig()) {
            config.setMaglevLbConfig(c.getMaglevLbConfig());
        }
        assertThat(json(config)).isEqualTo(lbConfig);
    }

    @Test
    void aSubsetsSimplePolicyReplacesTheRulesHashAndViceVersa() {
        ProxyResources r = translate(rule("loadBalancer: {consistentHash: {httpHeaderName: x-user, minimumRingSize: 1024}}",
                "loadBalancer: {simple: ROUND_ROBIN}"));
        assertThat(cluster(r, V1).getLbPolicy()).isEqualTo(Cluster.LbPolicy.RING_HASH);
        assertThat(cluster(r, V2).getLbPolicy()).isEqualTo(Cluster.LbPolicy.ROUND_ROBIN);
        assertThat(cluster(r, V2).hasRingHashLbConfig()).isFalse();

        r = translate(rule("loadBalancer: {simple: RANDOM}", "loadBalancer: {consistentHash: {useSourceIp: true}}"));
        assertThat(cluster(r, V1).getLbPolicy()).isEqualTo(Cluster.LbPolicy.RANDOM);
        assertThat(cluster(r, V2).getLbPolicy()).isEqualTo(Cluster.LbPolicy.RING_HASH);
    }

    static Stream<Arguments> hashPolicies() {
        return Stream.of(
                Arguments.of("{httpHeaderName: x-user}", "{\"header\":{\"headerName\":\"x-user\"}}"),
                Arguments.of("{httpCookie: {name: session, path: /, ttl: 1h}}",
                        "{\"cookie\":{\"name\":\"session\",\"ttl\":\"3600s\",\"path\":\"/\"}}"),
                Arguments.of("{httpCookie: {name: session, ttl: 0s}}",
                        "{\"cookie\":{\"name\":\"session\",\"ttl\":\"0s\"}}"),
                Arguments.of("{useSourceIp: true}", "{\"connectionProperties\":{\"sourceIp\":true}}"),
                Arguments.of("{httpQueryParameterName: user}", "{\"queryParameter\":{\"name\":\"user\"}}"));
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("hashPolicies")
    void theDefaultRouteCarriesTheRulesHashPolicy(String consistentHash, String expected) throws Exception {
        VirtualHost vh = helloworldHost(translate(rule("loadBalancer: {consistentHash: " + consistentHash + "}", null)));
        assertThat(vh.getRoutesList()).hasSize(1);
        assertThat(vh.getRoutes(0).getRoute().getCluster()).isEqualTo(PLAIN);
        assertThat(vh.getRoutes(0).getRoute().getHashPolicyList()).hasSize(1);
        assertThat(json(vh.getRoutes(0).getRoute().getHashPolicy(0))).isEqualTo(expected);
    }

    @Test
    void virtualServiceRoutesCarryTheirDestinationsHashPolicy() throws Exception {
        String yaml = rule("loadBalancer: {consistentHash: {httpHeaderName: x-user}}",
                "loadBalancer: {consistentHash: {httpCookie: {name: v2, ttl: 10s}}}") + """
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld}
                spec:
                  hosts: [helloworld]
                  http:
                  - match: [{uri: {prefix: /v2}}]
                    route: [{destination: {host: helloworld, subset: v2}}]
                  - match: [{uri: {prefix: /split}}]
                    route:
                    - {destination: {host: helloworld, subset: v1}, weight: 50}
                    - {destination: {host: helloworld, subset: v2}, weight: 50}
                  - route: [{destination: {host: helloworld}}]
                """;
        List<RouteAction> actions = helloworldHost(translate(yaml)).getRoutesList().stream()
                .map(r -> r.getRoute()).toList();
        assertThat(actions).hasSize(3);
        assertThat(json(actions.get(0).getHashPolicy(0))).isEqualTo("{\"cookie\":{\"name\":\"v2\",\"ttl\":\"10s\"}}");
        // Envoy hashes once per route: the first destination whose rule asks for it decides.
        assertThat(actions.get(1).getHashPolicyList()).hasSize(1);
        assertThat(json(actions.get(1).getHashPolicy(0))).isEqualTo("{\"header\":{\"headerName\":\"x-user\"}}");
        assertThat(json(actions.get(2).getHashPolicy(0))).isEqualTo("{\"header\":{\"headerName\":\"x-user\"}}");
    }

    @Test
    void noConsistentHashNoHashPolicy() {
        VirtualHost vh = helloworldHost(translate(rule("loadBalancer: {simple: RANDOM}", null)));
        assertThat(vh.getRoutes(0).getRoute().getHashPolicyList()).isEmpty();
    }

    static Stream<Arguments> connectionSettings() {
        return Stream.of(
                Arguments.of("connectionPool: {http: {idleTimeout: 30s}}", "{\"idleTimeout\":\"30s\"}"),
                Arguments.of("connectionPool: {http: {maxRequestsPerConnection: 1}}", "{\"maxRequestsPerConnection\":1}"),
                Arguments.of("connectionPool: {tcp: {maxConnectionDuration: 10m}}", "{\"maxConnectionDuration\":\"600s\"}"),
                Arguments.of("connectionPool:\n  tcp: {maxConnectionDuration: 1h}\n"
                                + "  http: {idleTimeout: 1.5s, maxRequestsPerConnection: 100}",
                        "{\"idleTimeout\":\"1.500s\",\"maxConnectionDuration\":\"3600s\",\"maxRequestsPerConnection\":100}"),
                // Port level on top of the policy: field by field.
                Arguments.of("connectionPool: {http: {idleTimeout: 30s}}\nportLevelSettings:\n- port: {number: 5000}\n"
                                + "  connectionPool: {http: {maxRequestsPerConnection: 5}}",
                        "{\"idleTimeout\":\"30s\",\"maxRequestsPerConnection\":5}"));
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("connectionSettings")
    void connectionPoolSetsTheUpstreamHttpOptions(String trafficPolicy, String common) throws Exception {
        Cluster c = cluster(translate(rule(trafficPolicy, null)), PLAIN);
        HttpProtocolOptions options = c.getTypedExtensionProtocolOptionsOrThrow(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions").unpack(HttpProtocolOptions.class);
        assertThat(json(options.getCommonHttpProtocolOptions())).isEqualTo(common);
        // The upstream keeps following the caller's protocol (gRPC stays HTTP/2).
        assertThat(options.hasUseDownstreamProtocolConfig()).isTrue();
    }

    @Test
    void tcpKeepaliveSetsTheUpstreamSocketOptions() throws Exception {
        Cluster c = cluster(translate(rule("connectionPool: {tcp: {tcpKeepalive: {probes: 3, time: 7200s, interval: 75s}}}",
                null)), PLAIN);
        assertThat(json(c.getUpstreamConnectionOptions()))
                .isEqualTo("{\"tcpKeepalive\":{\"keepaliveProbes\":3,\"keepaliveTime\":7200,\"keepaliveInterval\":75}}");
        assertThat(c.getTypedExtensionProtocolOptionsMap()).isEmpty();
    }

    @Test
    void noConnectionSettingsNoProtocolOptions() {
        Cluster c = cluster(translate(rule("connectionPool: {tcp: {maxConnections: 5}}", null)), PLAIN);
        assertThat(c.getTypedExtensionProtocolOptionsMap()).isEmpty();
        assertThat(c.hasUpstreamConnectionOptions()).isFalse();
    }

    static Stream<Arguments> rejections() {
        return Stream.of(
                Arguments.of("loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}",
                        "spec.trafficPolicy.loadBalancer: sets both simple and consistentHash"),
                Arguments.of("loadBalancer: {consistentHash: {httpHeaderName: x, useSourceIp: true}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash: sets 2 hash keys"),
                Arguments.of("loadBalancer: {consistentHash: {httpCookie: {name: s}}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl: missing"),
                Arguments.of("loadBalancer: {consistentHash: {httpCookie: {ttl: 1s}}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: missing"),
                Arguments.of("loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: soon}}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl: 'soon' is not a duration"),
                Arguments.of("loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65536}}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: 65536 (expected: a prime"),
                Arguments.of("loadBalancer: {consistentHash: {useSourceIp: true, maglev: {}}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: missing"),
                Arguments.of("loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 8, ringHash: {}}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash: sets more than one of ringHash, maglev"),
                Arguments.of("loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 9999999999}}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize: 9999999999"),
                Arguments.of("loadBalancer: {consistentHash: {httpHeader: x}}",
                        "spec.trafficPolicy.loadBalancer.consistentHash: unknown field 'httpHeader'"),
                Arguments.of("connectionPool: {tcp: {tcpKeepalive: {time: 500ms}}}",
                        "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time: 500ms (expected: at least 1000ms)"),
                Arguments.of("connectionPool: {tcp: {tcpKeepalive: {probes: -1}}}",
                        "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.probes: -1 (expected: >= 0)"),
                Arguments.of("connectionPool: {tcp: {maxConnectionDuration: forever}}",
                        "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration: 'forever' is not a duration"),
                Arguments.of("connectionPool: {tcp: {idleTimeout: 1d}}",
                        "spec.trafficPolicy.connectionPool.tcp.idleTimeout: '1d' is not a duration"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rejections")
    void invalidSettingsAreRejectedNamingTheField(String trafficPolicy, String message) {
        ConfigResource resource = Yaml.resources(rule(trafficPolicy, null), "sample", "2026-11-27T00:00:00Z").get(0);
        assertThatThrownBy(() -> ConfigParser.parse(resource))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(message);
    }

    @Test
    void aHashWithoutKeyIsAcceptedWithAWarning() throws Exception {
        ConfigResource resource = Yaml.resources(rule("loadBalancer: {consistentHash: {maglev: {tableSize: 65537}}}",
                null), "sample", "2026-11-27T00:00:00Z").get(0);
        assertThat(ConfigParser.parse(resource).warnings()).singleElement().asString()
                .contains("consistentHash: no hash key");
    }

    private static String json(MessageOrBuilder message) throws InvalidProtocolBufferException {
        return JsonFormat.printer().omittingInsignificantWhitespace().print(message);
    }
}
