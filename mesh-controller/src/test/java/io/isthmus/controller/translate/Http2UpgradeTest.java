package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.Yaml;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * DestinationRule {@code connectionPool.http.h2UpgradePolicy} and {@code maxConcurrentStreams}
 * on helloworld's clusters seen from west's curl sidecar: which clusters speak HTTP/2 whatever
 * the caller speaks, and the stream cap.
 */
class Http2UpgradeTest {

    private static final String HOST = MeshFixture.HELLOWORLD;

    private static ProxyResources translate(String trafficPolicy, String subsetPolicy) {
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                %s
                  subsets:
                  - name: v1
                    labels: {version: v1}
                    trafficPolicy:
                %s
                """.formatted(trafficPolicy.indent(4).stripTrailing(),
                subsetPolicy.isEmpty() ? "      loadBalancer: {simple: RANDOM}" : subsetPolicy.indent(6).stripTrailing()));
    }

    /** {@code h2}, {@code downstream} or {@code none}, and the stream cap (0: none). */
    private static String protocol(ProxyResources r, String name) throws IOException {
        Cluster c = r.clusters().stream().filter(x -> x.getName().equals(name)).findFirst().orElseThrow();
        var any = c.getTypedExtensionProtocolOptionsMap().get(PolicyTranslator.HTTP_PROTOCOL_OPTIONS);
        if (any == null) {
            return "none";
        }
        HttpProtocolOptions o = any.unpack(HttpProtocolOptions.class);
        if (o.hasExplicitHttpConfig()) {
            return o.getExplicitHttpConfig().hasHttp2ProtocolOptions()
                    ? "h2 " + o.getExplicitHttpConfig().getHttp2ProtocolOptions().getMaxConcurrentStreams().getValue()
                    : "http1";
        }
        return "downstream " + o.getUseDownstreamProtocolConfig().getHttp2ProtocolOptions().getMaxConcurrentStreams()
                .getValue();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            // name # rule policy # subset policy # rule cluster # v1 subset cluster
            "UPGRADE # 'connectionPool: {http: {h2UpgradePolicy: UPGRADE}}' # '' # h2 0 # h2 0",
            "a subset's DO_NOT_UPGRADE # 'connectionPool: {http: {h2UpgradePolicy: UPGRADE}}'"
                    + " # 'connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}' # h2 0 # none",
            "useClientProtocol keeps the caller's # 'connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}'"
                    + " # '' # none # none",
            "port level # 'portLevelSettings: [{port: {number: 5000}, connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}]'"
                    + " # '' # h2 0 # h2 0",
            "another port's setting # 'portLevelSettings: [{port: {number: 9080}, connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}]'"
                    + " # '' # none # none",
            "maxConcurrentStreams with UPGRADE # 'connectionPool: {http: {h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 50}}'"
                    + " # '' # h2 50 # h2 50",
            "maxConcurrentStreams alone caps an HTTP/2 caller's # 'connectionPool: {http: {maxConcurrentStreams: 10}}'"
                    + " # '' # downstream 10 # downstream 10",
    })
    void upgradePolicyAndStreamCap(String name, String rule, String subset, String ruleCluster, String subsetCluster)
            throws IOException {
        ProxyResources r = translate(rule, subset);
        assertThat(protocol(r, "outbound|5000||" + HOST)).isEqualTo(ruleCluster);
        assertThat(protocol(r, "outbound|5000|v1|" + HOST)).isEqualTo(subsetCluster);
    }

    @Test
    void theUpgradeKeepsTheRulesOtherConnectionSettings() throws IOException {
        ProxyResources r = translate("connectionPool: {http: {h2UpgradePolicy: UPGRADE, idleTimeout: 30s,"
                + " maxRequestsPerConnection: 7}}", "");
        Cluster c = r.clusters().stream().filter(x -> x.getName().equals("outbound|5000||" + HOST)).findFirst()
                .orElseThrow();
        HttpProtocolOptions o = c.getTypedExtensionProtocolOptionsMap().get(PolicyTranslator.HTTP_PROTOCOL_OPTIONS)
                .unpack(HttpProtocolOptions.class);
        assertThat(o.hasExplicitHttpConfig()).isTrue();
        assertThat(o.getCommonHttpProtocolOptions().getIdleTimeout().getSeconds()).isEqualTo(30);
        assertThat(o.getCommonHttpProtocolOptions().getMaxRequestsPerConnection().getValue()).isEqualTo(7);
    }

    @Test
    void anUnknownPolicyOrANegativeStreamCapIsRejectedNamingTheField() {
        ConfigResource dr = Yaml.resources("""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                    connectionPool: {http: {h2UpgradePolicy: ALWAYS, maxConcurrentStreams: -1}}
                """, "sample", "2026-11-27T00:00:00Z").get(0);
        assertThatThrownBy(() -> ConfigParser.parse(dr))
                .hasMessageContaining("spec.trafficPolicy.connectionPool.http.h2UpgradePolicy: 'ALWAYS' (expected one of"
                        + " [DEFAULT, DO_NOT_UPGRADE, UPGRADE])")
                .hasMessageContaining("spec.trafficPolicy.connectionPool.http.maxConcurrentStreams");
    }
}
