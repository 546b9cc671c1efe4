package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.isthmus.controller.config.Hosts;
import org.junit.jupiter.api.Test;

/**
 * DestinationRule and VirtualService hosts with wildcards ({@code *.suffix}, {@code *}): a rule
 * covers every service under it; a rule naming the service exactly wins, then the most specific
 * wildcard (pilot's most-specific host match).
 */
class WildcardHostsTest {

    private static final String HOST = MeshFixture.HELLOWORLD;
    private static final String CLUSTER = "outbound|5000||" + HOST;

    @Test
    void specificityOfAHostPattern() {
        assertThat(Hosts.specificity(HOST, HOST)).isEqualTo(Hosts.EXACT);
        assertThat(Hosts.specificity("*.sample.svc.cluster.local", HOST))
                .isGreaterThan(Hosts.specificity("*.svc.cluster.local", HOST))
                .isGreaterThan(Hosts.specificity("*", HOST));
        assertThat(Hosts.specificity("*", HOST)).isZero();
        assertThat(Hosts.specificity("*.other.svc.cluster.local", HOST)).isNegative();
        assertThat(Hosts.specificity("*.sample.svc.cluster.local", "sample.svc.cluster.local")).isNegative();
        assertThat(Hosts.specificity("*.example.com", "*.api.example.com")).isPositive();
        assertThat(Hosts.specificity("*.EXAMPLE.com", "api.example.com")).isPositive();
    }

    @Test
    void aWildcardDestinationRuleAppliesUnlessAMoreSpecificOneNamesTheService() {
        String wildcardOnly = rule("everything", "'*.svc.cluster.local'", "3s")
                + "---\n" + rule("sample", "'*.sample.svc.cluster.local'", "4s");
        assertThat(connectTimeoutSeconds(wildcardOnly)).isEqualTo(4);

        String withExact = wildcardOnly + "---\n" + rule("helloworld", "helloworld", "5s");
        assertThat(connectTimeoutSeconds(withExact)).isEqualTo(5);

        assertThat(connectTimeoutSeconds(rule("other", "'*.other.svc.cluster.local'", "6s")))
                .isNotEqualTo(6);
    }

    @Test
    void aWildcardVirtualServiceRoutesEveryServiceItCoversUnlessOneNamesItExactly() {
        String wildcard = """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: everything, namespace: sample}
                spec:
                  hosts: ['*.sample.svc.cluster.local']
                  http:
                  - timeout: 2s
                    route: [{destination: {host: helloworld}}]
                """;
        var vh = PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), wildcard));
        assertThat(vh.getRoutesList()).singleElement()
                .satisfies(r -> assertThat(r.getRoute().getTimeout().getSeconds()).isEqualTo(2));

        String exact = wildcard + """
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld, namespace: sample, creationTimestamp: '2026-11-28T00:00:00Z'}
                spec:
                  hosts: [helloworld]
                  http:
                  - timeout: 7s
                    route: [{destination: {host: helloworld}}]
                """;
        vh = PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), exact));
        // The exact one wins although it is newer.
        assertThat(vh.getRoutesList()).singleElement()
                .satisfies(r -> assertThat(r.getRoute().getTimeout().getSeconds()).isEqualTo(7));
    }

    private static long connectTimeoutSeconds(String yaml) {
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml).clusters().stream()
                .filter(c -> c.getName().equals(CLUSTER)).findFirst().map(Cluster::getConnectTimeout)
                .orElseThrow().getSeconds();
    }

    private static String rule(String name, String host, String connectTimeout) {
        return """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: %s, namespace: sample}
                spec:
                  host: %s
                  trafficPolicy: {connectionPool: {tcp: {connectTimeout: %s}}}
                """.formatted(name, host, connectTimeout);
    }
}
