package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Per-object validation: what is rejected, with which message; what only warns. */
class ConfigParserTest {

    private static ConfigResource one(String yaml) {
        return Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z").get(0);
    }

    private static String vs(String http) {
        return "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [reviews]\n"
                + "  http:\n" + http.indent(2);
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of(vs("- route: [{destination: {host: reviews}, weight: 80}, {destination: {host: reviews, subset: b}, weight: 10}]"),
                        "VirtualService sample/r: spec.http[0].route: weights sum to 90 (expected: 100"),
                Arguments.of(vs("- route: [{destination: {host: reviews}}]\n  timeout: 5 seconds"),
                        "spec.http[0].timeout: '5 seconds' is not a duration"),
                Arguments.of(vs("- match: [{uri: {regex: \"(unclosed\"}}]\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].match[0].uri.regex: '(unclosed' does not compile"),
                Arguments.of(vs("- match: [{uri: {regex: \"" + "a".repeat(1100) + "\"}}]\n  route: [{destination: {host: reviews}}]"),
                        "is 1100 characters long (expected: at most 1024)"),
                Arguments.of(vs("- fault: {abort: {httpStatus: 503, percentage: {value: 150}}}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].fault.abort.percentage.value: 150.0 (expected: 0-100)"),
                Arguments.of(vs("- retries: {attempts: -1}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].retries.attempts: -1 (expected: >= 0)"),
                Arguments.of(vs("- retries: {attempts: 2, retryOn: '5xx,retry-forever'}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].retries.retryOn: 'retry-forever' is not a retry condition (expected: an HTTP status code or one of ["),
                Arguments.of(vs("- retries: {attempts: 2, backoff: soon}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].retries.backoff: 'soon' is not a duration"),
                Arguments.of(vs("- fault: {abort: {grpcStatus: '14'}}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].fault.abort.grpcStatus: '14' (expected: a gRPC status name such as UNAVAILABLE"),
                Arguments.of(vs("- fault: {abort: {grpcStatus: UNAVAILABLE, httpStatus: 503}}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].fault.abort: sets more than one of httpStatus, grpcStatus, http2Error"),
                Arguments.of(vs("- mirror: {host: a}\n  mirrors: [{destination: {host: b}}]\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].mirrors: set together with mirror (expected: one of them"),
                Arguments.of(vs("- mirrors: [{destination: {host: b}, percentage: {value: 101}}]\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].mirrors[0].percentage.value: 101.0 (expected: 0-100)"),
                Arguments.of(vs("- corsPolicy: {allowOrigins: [{exact: a, prefix: b}]}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].corsPolicy.allowOrigins[0]"),
                Arguments.of(vs("- corsPolicy: {unmatchedPreflights: DROP}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].corsPolicy.unmatchedPreflights: 'DROP' (expected: UNSPECIFIED, FORWARD or IGNORE)"),
                Arguments.of(vs("- corsPolicy: {maxAge: forever}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].corsPolicy.maxAge: 'forever' is not a duration"),
                Arguments.of(vs("- corsPolicy: {allowMethod: [GET]}\n  route: [{destination: {host: reviews}}]"),
                        "unknown field 'allowMethod'"),
                Arguments.of(vs("- match: [{uri: {regex: \"/(?!admin).*\"}}]\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].match[0].uri.regex: '/(?!admin).*' uses '(?!', which RE2 does not support"),
                Arguments.of(vs("- rewrite: {uriRegexRewrite: {match: '^/(a)\\1$', rewrite: /b}}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].rewrite.uriRegexRewrite.match: '^/(a)\\1$' uses '\\1', which RE2 does not support"),
                Arguments.of(vs("- rewrite: {uri: /x, uriRegexRewrite: {match: '^/a', rewrite: /b}}\n  route: [{destination: {host: reviews}}]"),
                        "spec.http[0].rewrite: sets both uri and uriRegexRewrite (expected: one of them)"),
                Arguments.of(vs("- redirect: {uri: /b, derivePort: FROM_SOMEWHERE}"),
                        "spec.http[0].redirect.derivePort: 'FROM_SOMEWHERE' (expected: FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT)"),
                Arguments.of(vs("- route: [{destination: {host: reviews}}]\n  retires: {attempts: 3}"),
                        "spec.http[0]: unknown field 'retires'"),
                Arguments.of("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec: {http: []}",
                        "spec.hosts: missing"),
                Arguments.of("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n"
                        + "  host: reviews\n  subsets: [{name: v1}, {name: v1}]", "spec.subsets[1].name: 'v1' is defined twice"),
                Arguments.of("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n"
                        + "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: FASTEST}}",
                        "spec.trafficPolicy.loadBalancer.simple: 'FASTEST'"),
                Arguments.of("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n"
                        + "  host: reviews\n  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 5}\n"
                        + "    loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: eu-west}],"
                        + " failoverPriority: [topology.istio.io/network, topology.kubernetes.io/zone]}}",
                        "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: 'topology.kubernetes.io/zone'"
                                + " together with failover"),
                Arguments.of("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n"
                        + "  host: reviews\n  trafficPolicy: {outlierDetection: {baseEjectionTime: 30}}",
                        "spec.trafficPolicy.outlierDetection.baseEjectionTime: '30' is not a duration"),
                Arguments.of(sidecar("egress: [{hosts: [reviews.sample.svc.cluster.local]}]"),
                        "Sidecar sample/s: spec.egress[0].hosts[0]: 'reviews.sample.svc.cluster.local' (expected:"
                                + " namespace/dnsName"),
                Arguments.of(sidecar("egress: [{hosts: ['./re*views']}]"), "spec.egress[0].hosts[0]: './re*views'"),
                Arguments.of(sidecar("egress: [{port: {number: 9080}}]"), "spec.egress[0].hosts: missing"),
                Arguments.of(sidecar("workloadSelector: {labels: {}}\negress: [{hosts: ['./*']}]"),
                        "spec.workloadSelector.labels: empty"),
                Arguments.of(sidecar("egres: [{hosts: ['./*']}]"), "Sidecar sample/s: spec: unknown field 'egres'"),
                Arguments.of(sidecar("egress: [{port: {number: 0}, hosts: ['./*']}]"),
                        "spec.egress[0].port.number: 0 (expected: 1-65535"),
                Arguments.of(sidecar("egress: [{hosts: ['./*']}]\noutboundTrafficPolicy: {mode: ALLOW_SOME}"),
                        "spec.outboundTrafficPolicy.mode: \"ALLOW_SOME\" (expected: ALLOW_ANY or REGISTRY_ONLY)"),
                Arguments.of(sidecar("egress: [{captureMode: NOPE, hosts: ['./*']}]"),
                        "spec.egress[0].captureMode: 'NOPE' (expected: one of [DEFAULT, IPTABLES, NONE])"),
                Arguments.of(sidecar("egress: [{bind: localhost, captureMode: NONE, hosts: ['./*']}]"),
                        "spec.egress[0].bind: 'localhost' (expected: an IP address such as 127.0.0.1)"),
                Arguments.of(sidecar("egress: [{bind: 'unix:///var/run/app.sock', captureMode: NONE, hosts: ['./*']}]"),
                        "spec.egress[0].bind: 'unix:///var/run/app.sock' (expected: an IP address such as 127.0.0.1;"
                                + " Isthmus sidecars do not listen on unix domain sockets)"),
                Arguments.of(sidecar("ingress: [{defaultEndpoint: '127.0.0.1:8080'}]"),
                        "spec.ingress[0].port.number: missing (expected: 1-65535"),
                Arguments.of(sidecar("ingress: [{port: {number: 9080}, defaultEndpoint: 'localhost:8080'}]"),
                        "spec.ingress[0].defaultEndpoint: 'localhost:8080' (expected: 127.0.0.1:<port>, 0.0.0.0:<port>,"),
                Arguments.of(sidecar("ingress: [{port: {number: 9080}, defaultEndpoint: '127.0.0.1:99999'}]"),
                        "spec.ingress[0].defaultEndpoint: '127.0.0.1:99999'"),
                Arguments.of(sidecar("ingress: [{port: {number: 9080}}, {port: {number: 9080}}]"),
                        "spec.ingress[1].port.number: 9080 (expected: each ingress port once"),
                Arguments.of(sidecar("ingress: [{port: {number: 9080}, captureMode: OFF}]"),
                        "spec.ingress[0].captureMode: 'OFF'"),
                Arguments.of(sidecar("ingress: [{port: {number: 9080}, bind: 'pod'}]"),
                        "spec.ingress[0].bind: 'pod' (expected: an IP address"),
                Arguments.of(sidecar("ingress: [{port: {number: 9080}, connectionPool: {tcp: {maxConnections: -1}}}]"),
                        "spec.ingress[0].connectionPool.tcp.maxConnections"),
                Arguments.of(sidecar("inboundConnectionPool: {http: {idleTimeout: soon}}"),
                        "spec.inbound.connectionPool.http.idleTimeout"));
    }

    private static String sidecar(String spec) {
        return "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec:\n" + spec.indent(2);
    }

    @Test
    void acceptsIstiosSidecarShapes() throws ConfigException {
        ConfigParser.Parsed parsed = ConfigParser.parse(one(sidecar("""
                workloadSelector: {labels: {app: ratings}}
                ingress:
                - port: {number: 9080, protocol: HTTP, name: somename}
                  defaultEndpoint: unix:///var/run/someuds.sock
                egress:
                - port: {number: 9080, protocol: HTTP, name: egresshttp}
                  hosts: [prod-us1/*]
                - hosts: [istio-system/*, ./*, '*/*.example.com', '~/*']
                outboundTrafficPolicy: {mode: REGISTRY_ONLY}
                """)));
        SidecarSpec spec = (SidecarSpec) parsed.spec();
        assertThat(spec.selects(java.util.Map.of("app", "ratings"))).isTrue();
        assertThat(spec.egress()).hasSize(2);
    }

    @ParameterizedTest
    @MethodSource("invalid")
    void rejectsNamingKindObjectFieldAndFix(String yaml, String message) {
        assertThatThrownBy(() -> ConfigParser.parse(one(yaml)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(message);
    }

    @Test
    void localityFailoverWithoutOutlierDetectionOnlyWarns() throws ConfigException {
        ConfigParser.Parsed parsed = ConfigParser.parse(one("apiVersion: networking.istio.io/v1beta1\n"
                + "kind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: reviews\n  trafficPolicy:\n"
                + "    loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: eu-west}]}}"));
        assertThat(parsed.warnings()).singleElement().asString()
                .contains("DestinationRule sample/d", "has no effect without outlierDetection");
    }

    @Test
    void durationsParseIstioForms() {
        assertThat(Durations.parse("1s")).isEqualTo(Duration.ofSeconds(1));
        assertThat(Durations.parse("250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(Durations.parse("1.5s")).isEqualTo(Duration.ofMillis(1500));
        assertThat(Durations.parse("1m30s")).isEqualTo(Duration.ofSeconds(90));
        assertThatThrownBy(() -> Durations.parse("1.5")).hasMessageContaining("expected e.g. 1s");
    }

    @Test
    void canonicalSpecSortsKeysSoEqualSpecsAreEqualStrings() {
        assertThat(ConfigParser.canonicalSpec(Map.of("b", 1, "a", Map.of("z", 1, "y", 2))))
                .isEqualTo("{\"a\":{\"y\":2,\"z\":1},\"b\":1}");
    }

    @Test
    void oldestDefinitionWinsAcrossPrimariesAndTheLoserIsReported() {
        String yaml = vs("- route: [{destination: {host: reviews, subset: v9}}]");
        ConfigResource older = Yaml.resources(yaml, "sample", "2026-11-01T00:00:00Z").get(0);
        ConfigResource newer = Yaml.resources(yaml.replace("v9", "v1"), "sample", "2026-11-02T00:00:00Z").get(0);

        MeshConfig merged = MeshConfig.merge(Map.of("west", List.of(older), "east", List.of(newer)), "cluster.local");

        assertThat(merged.virtualServices()).singleElement().satisfies(e -> assertThat(e.cluster()).isEqualTo("west"));
        assertThat(merged.conflicts()).singleElement().asString()
                .contains("VirtualService sample/r from cluster east", "cluster west", "older and wins");
        assertThat(merged.warnings()).singleElement().asString()
                .contains("subset: 'v9' is defined by no DestinationRule for reviews.sample.svc.cluster.local");
        // Ties on creationTimestamp: cluster name order.
        MeshConfig tie = MeshConfig.merge(Map.of("west", List.of(older), "east",
                List.of(Yaml.resources(yaml, "sample", "2026-11-01T00:00:00Z").get(0))), "cluster.local");
        assertThat(tie.virtualServices()).singleElement().satisfies(e -> assertThat(e.cluster()).isEqualTo("east"));
    }

    @Test
    void storeKeepsTheLastGoodVersionCountsRejectionsOnceAndPublishesOnlyAfterSync() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        List<List<ConfigResource>> published = new ArrayList<>();
        ConfigStore store = new ConfigStore("east", registry, published::add);
        ConfigResource good = one(vs("- route: [{destination: {host: reviews}}]"));
        ConfigResource bad = one(vs("- route: [{destination: {host: reviews}, weight: 20}, {destination: {host: x}, weight: 20}]"));

        store.upsert(good);
        assertThat(published).isEmpty();
        store.markSynced();
        assertThat(published).containsExactly(List.of(good));

        store.upsert(bad);
        store.upsert(new ConfigResource(bad.kind(), "networking.istio.io/v1beta1", bad.namespace(), bad.name(),
                bad.creationTimestamp(), bad.spec()));
        assertThat(store.accepted()).containsExactly(good);
        assertThat(store.rejected()).containsOnlyKeys("VirtualService/sample/r");
        assertThat(registry.get("isthmus.config.rejected").tag("kind", "VirtualService").counter().count())
                .isEqualTo(1.0);
        assertThat(published).hasSize(1);
        assertThat(store.debug(MeshConfig.EMPTY).toString()).contains("weights sum to 40", "lastAcceptedInForce=true");

        store.delete(good);
        store.delete(bad);
        store.delete(new ConfigResource(bad.kind(), "networking.istio.io/v1beta1", bad.namespace(), bad.name(),
                bad.creationTimestamp(), bad.spec()));
        assertThat(store.accepted()).isEmpty();
        assertThat(published).last().isEqualTo(List.of());
    }
}
