package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.Yaml;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A DestinationRule's {@code workloadSelector} (Istio 1.17+): the rule applies to the sidecars of
 * its own namespace whose labels it selects, where it wins over the namespace's rule without a
 * selector (merged with it as pilot merges two rules); every other proxy, and gateways, do not
 * see it. Each case reads helloworld's cluster {@code connect_timeout}, which each rule sets to a
 * value of its own.
 */
class DestinationRuleWorkloadSelectorTest {

    private static final String HOST = MeshFixture.HELLOWORLD;
    private static final String CLUSTER = "outbound|5000||" + HOST;

    /** Selects west's curl sidecar ({@code app: curl, version: v1}). */
    private static final String FOR_CURL = rule("for-curl", "sample", "helloworld", "{app: curl}", "7s", "");
    private static final String NAMESPACE_WIDE = rule("wide", "sample", "helloworld", null, "3s", "");

    @Test
    void aSelectedSidecarGetsTheSelectorRuleOverTheNamespacesRule() {
        String yaml = NAMESPACE_WIDE + "---\n" + FOR_CURL;
        assertThat(connectTimeout(MeshFixture.westCurlSidecar(), yaml)).isEqualTo(7);
        // Same namespace, labels the selector does not match: the rule without a selector.
        assertThat(connectTimeout(sidecar("sample", Map.of("app", "sleep")), yaml)).isEqualTo(3);
        // Order of creation does not matter.
        String reversed = rule("for-curl", "sample", "helloworld", "{app: curl}", "7s", "")
                + "---\n" + rule("wide", "sample", "helloworld", null, "3s", "").replace(PolicyFixture.CREATED,
                        "2026-11-28T00:00:00Z");
        assertThat(connectTimeout(MeshFixture.westCurlSidecar(), reversed)).isEqualTo(7);
    }

    @Test
    void aSelectorNeedsEveryLabelAndAnEmptyOneSelectsTheWholeNamespace() {
        String both = rule("both", "sample", "helloworld", "{app: curl, version: v2}", "7s", "");
        assertThat(connectTimeout(MeshFixture.westCurlSidecar(), NAMESPACE_WIDE + "---\n" + both)).isEqualTo(3);
        String empty = rule("empty", "sample", "helloworld", "{}", "8s", "");
        assertThat(connectTimeout(MeshFixture.westCurlSidecar(), NAMESPACE_WIDE + "---\n" + empty)).isEqualTo(8);
    }

    @Test
    void aSelectorRuleIsNotExportedToOtherNamespaces() {
        // A proxy in namespace other whose labels the sample rule would select still gets the
        // service namespace's rule without a selector, exported to every namespace.
        ProxyNode otherCurl = sidecar("other", Map.of("app", "curl"));
        assertThat(connectTimeout(otherCurl, NAMESPACE_WIDE + "---\n" + FOR_CURL)).isEqualTo(3);
        // With no rule but the selector one, it gets what it gets without any rule.
        assertThat(connectTimeout(otherCurl, FOR_CURL)).isEqualTo(connectTimeout(otherCurl, ""));
        // exportTo does not widen it.
        String exported = rule("for-curl", "sample", "helloworld", "{app: curl}", "7s", "  exportTo: ['*']\n");
        assertThat(connectTimeout(otherCurl, exported)).isEqualTo(connectTimeout(otherCurl, ""));
    }

    @Test
    void anUnselectedProxyFallsThroughToTheServicesNamespace() {
        // other/for-me selects no proxy here: the proxy in other falls back to sample's rule, as if
        // the selector rule did not exist, rather than to no rule at all.
        String yaml = NAMESPACE_WIDE + "---\n" + rule("for-me", "other", HOST, "{app: me}", "9s", "");
        assertThat(connectTimeout(sidecar("other", Map.of("app", "curl")), yaml)).isEqualTo(3);
        assertThat(connectTimeout(sidecar("other", Map.of("app", "me")), yaml)).isEqualTo(9);
    }

    @Test
    void theMostSpecificHostWinsBeforeTheSelector() {
        // As pilot: the namespace's most specific host first, then the selector among its rules.
        String wildcardSelected = rule("wild", "sample", "'*.sample.svc.cluster.local'", "{app: curl}", "7s", "");
        assertThat(connectTimeout(MeshFixture.westCurlSidecar(), NAMESPACE_WIDE + "---\n" + wildcardSelected))
                .isEqualTo(3);
        String wildcardWide = rule("wild", "sample", "'*.sample.svc.cluster.local'", null, "3s", "");
        assertThat(connectTimeout(MeshFixture.westCurlSidecar(), wildcardWide + "---\n" + FOR_CURL)).isEqualTo(7);
    }

    @Test
    void theSelectedRuleIsMergedWithTheNamespacesRuleAsPilotMergesThem() {
        String wide = """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: wide, namespace: sample}
                spec:
                  host: helloworld
                  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 3s}}}
                  subsets:
                  - {name: v1, labels: {version: v1}}
                  - {name: v2, labels: {version: v2}}
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: canary, namespace: sample}
                spec:
                  host: helloworld
                  workloadSelector: {matchLabels: {app: curl}}
                  subsets:
                  - {name: v2, labels: {version: v2}, trafficPolicy: {connectionPool: {tcp: {connectTimeout: 6s}}}}
                  - {name: canary, labels: {version: v2}}
                """;
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), wide);
        // Its subsets, then the other rule's it lacks; the other's top-level policy as it has none.
        assertThat(seconds(r, "outbound|5000|v2|" + HOST)).isEqualTo(6);
        assertThat(seconds(r, "outbound|5000|canary|" + HOST)).isEqualTo(3);
        assertThat(seconds(r, "outbound|5000|v1|" + HOST)).isEqualTo(3);
        assertThat(seconds(r, CLUSTER)).isEqualTo(3);
        // A proxy it does not select has no canary subset.
        assertThat(PolicyFixture.translate(sidecar("sample", Map.of("app", "sleep")), wide).clusters())
                .extracting(Cluster::getName).doesNotContain("outbound|5000|canary|" + HOST)
                .contains("outbound|5000|v1|" + HOST);
    }

    @Test
    void gatewaysRelayTheSubsetsOfSelectorRules() {
        String yaml = rule("gw", "istio-system", HOST, "{istio: eastwestgateway}", "7s",
                "  subsets: [{name: canary, labels: {version: v2}}]\n");
        ProxyResources r = PolicyFixture.translate(MeshFixture.euGateway(), yaml);
        // A caller's sidecar selected by such a rule may send to its subsets through the gateway.
        assertThat(r.clusters()).extracting(Cluster::getName)
                .contains("outbound_.5000_.canary_." + HOST);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "a wildcard value # {app: '*'} # spec.workloadSelector.matchLabels: 'app=*'",
            "a wildcard key # {'a*': b} # spec.workloadSelector.matchLabels: 'a*=b'",
            "an empty key # {'': b} # spec.workloadSelector.matchLabels: '=b' has an empty key",
            "an unknown field # {labels: {app: a}} # spec.workloadSelector: unknown field 'labels'",
    })
    void badSelectorsAreRejected(String name, String selector, String message) {
        var dr = Yaml.resources(rule("bad", "sample", "helloworld", null, "1s", "").replace("spec:\n",
                "spec:\n  workloadSelector: " + (selector.startsWith("{labels") ? selector
                        : "{matchLabels: " + selector + "}") + "\n"), "sample", PolicyFixture.CREATED).get(0);
        assertThatThrownBy(() -> ConfigParser.parse(dr)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(message.trim());
    }

    private static long connectTimeout(ProxyNode node, String yaml) {
        return seconds(PolicyFixture.translate(node, yaml), CLUSTER);
    }

    private static long seconds(ProxyResources r, String cluster) {
        return r.clusters().stream().filter(c -> c.getName().equals(cluster)).findFirst()
                .orElseThrow(() -> new AssertionError("no cluster " + cluster))
                .getConnectTimeout().getSeconds();
    }

    /** A sidecar in west beside curl, in {@code namespace} with {@code labels}. */
    private static ProxyNode sidecar(String namespace, Map<String, String> labels) {
        return new ProxyNode("sidecar~127.102.1.9~pod-1." + namespace + "~" + namespace + ".svc.cluster.local",
                ProxyType.SIDECAR, "127.102.1.9", "pod-1", namespace, "default", "west", "net1",
                MeshFixture.westCurlSidecar().locality(), labels);
    }

    private static String rule(String name, String namespace, String host, String selector, String connectTimeout,
            String extra) {
        return """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: %s, namespace: %s, creationTimestamp: '%s'}
                spec:
                  host: %s
                %s  trafficPolicy: {connectionPool: {tcp: {connectTimeout: %s}}}
                %s""".formatted(name, namespace, PolicyFixture.CREATED, host,
                selector == null ? "" : "  workloadSelector: {matchLabels: " + selector + "}\n", connectTimeout,
                extra);
    }
}
