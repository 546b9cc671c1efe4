package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshEndpoint;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Tables of "DestinationRule {@code localityLbSetting} → proxy → EDS localities with priorities
 * and weights", for one service whose endpoints are:
 *
 * <pre>
 *   10.1.1.1  us-west/us-west-1a  cluster west  net1  version=v1
 *   10.1.1.2  us-west/us-west-1a  cluster west  net1  version=v2
 *   10.1.2.1  us-west/us-west-1b  cluster west  net1  version=v1
 *   10.2.1.1  us-east/us-east-1a  cluster east  net1  version=v1
 *   10.3.0.1  eu-west/eu-west-1a  cluster eu    net2  (eu's gateway, standing for 2 endpoints; no labels)
 * </pre>
 *
 * Each expected group reads {@code region/zone[addresses] p<priority> w<load_balancing_weight>},
 * groups in EDS order.
 */
class LocalityLbTableTest {

    private static final String NETWORK = "topology.istio.io/network";
    private static final String CLUSTER = "topology.istio.io/cluster";
    private static final String REGION = "topology.kubernetes.io/region";
    private static final String ZONE = "topology.kubernetes.io/zone";

    private static final Locality WEST_1A = new Locality("us-west", "us-west-1a", "");
    private static final Locality WEST_1B = new Locality("us-west", "us-west-1b", "");
    private static final Locality EAST_1A = new Locality("us-east", "us-east-1a", "");
    private static final Locality EU_1A = new Locality("eu-west", "eu-west-1a", "");

    private static final List<MeshEndpoint> ENDPOINTS = List.of(
            pod("10.1.1.1", WEST_1A, "west", "net1", "v1"),
            pod("10.1.1.2", WEST_1A, "west", "net1", "v2"),
            pod("10.1.2.1", WEST_1B, "west", "net1", "v1"),
            pod("10.2.1.1", EAST_1A, "east", "net1", "v1"),
            new MeshEndpoint("10.3.0.1", 15443, EU_1A, "eu", "net2", "", "", Map.of(), true, true, 2));

    /** curl in west (us-west/us-west-1a, net1, version=v1) and in eu (eu-west/eu-west-1a, net2, version=v2). */
    private static final Map<String, ProxyNode> PROXIES = Map.of(
            "west curl v1", proxy("west", "net1", WEST_1A, "v1"),
            "eu curl v2", proxy("eu", "net2", EU_1A, "v2"));

    static Stream<Arguments> failoverPriority() {
        return Stream.of(
                row("{failoverPriority: [" + NETWORK + "]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p1 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"),
                row("{failoverPriority: [" + NETWORK + "]}", true, "eu curl v2",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p1 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p1 w2",
                        "us-west/us-west-1b[10.1.2.1] p1 w1"),
                // Same network, other cluster: 1 of 2 keys matches -> priority 1; other network -> 2.
                row("{failoverPriority: [" + NETWORK + ", " + CLUSTER + "]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p2 w2",
                        "us-east/us-east-1a[10.2.1.1] p1 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"),
                // A workload label: us-west-1a splits in two groups; the gateway entry has no labels.
                row("{failoverPriority: [version]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p1 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.2] p1 w1",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"),
                row("{failoverPriority: [version]}", true, "eu curl v2",
                        "eu-west/eu-west-1a[10.3.0.1] p1 w2",
                        "us-east/us-east-1a[10.2.1.1] p1 w1",
                        "us-west/us-west-1a[10.1.1.2] p0 w1",
                        "us-west/us-west-1a[10.1.1.1] p1 w1",
                        "us-west/us-west-1b[10.1.2.1] p1 w1"),
                // k = 3 keys: priority k - (leading keys that match).
                row("{failoverPriority: [" + REGION + ", " + ZONE + ", version]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p3 w2",
                        "us-east/us-east-1a[10.2.1.1] p3 w1",
                        "us-west/us-west-1a[10.1.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.2] p1 w1",
                        "us-west/us-west-1b[10.1.2.1] p2 w1"),
                // With failover: priority x 5 + locality priority (0 same zone, 2 same region,
                // 3 failover target, 4 other regions), then compacted: 0, 2, 4, 5, 8 -> 0..4.
                row("{failoverPriority: [version], failover: [{from: us-west, to: eu-west}]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p4 w2",
                        "us-east/us-east-1a[10.2.1.1] p2 w1",
                        "us-west/us-west-1a[10.1.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.2] p3 w1",
                        "us-west/us-west-1b[10.1.2.1] p1 w1"),
                // A key neither side has: '' equals '' (as Istio), one priority.
                row("{failoverPriority: [tier]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"),
                row("{failoverPriority: [" + NETWORK + "]}", false, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"),
                row("{failoverPriority: [" + NETWORK + "], enabled: false}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"));
    }

    @ParameterizedTest(name = "{0} (outlierDetection: {1}) from {2} -> {3}")
    @MethodSource("failoverPriority")
    void failoverPrioritySplitsLocalitiesByMatchingKeys(String setting, boolean outlierDetection, String proxy,
            List<String> expected) {
        assertThat(groups(setting, outlierDetection, proxy)).containsExactlyElementsOf(expected);
    }

    static Stream<Arguments> failover() {
        return Stream.of(
                // Istio's default: 0 same zone, 1 same region, 2 other regions.
                row("{}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p2 w2",
                        "us-east/us-east-1a[10.2.1.1] p2 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p1 w1"),
                row("{failover: [{from: us-west, to: eu-west}]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p2 w2",
                        "us-east/us-east-1a[10.2.1.1] p3 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p1 w1"),
                row("{failover: [{from: us-west, to: us-east}]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p3 w2",
                        "us-east/us-east-1a[10.2.1.1] p2 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p1 w1"),
                // A rule for another region than the proxy's changes nothing.
                row("{failover: [{from: us-east, to: eu-west}]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p2 w2",
                        "us-east/us-east-1a[10.2.1.1] p2 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p1 w1"),
                row("{failover: [{from: us-east, to: us-west}, {from: eu-west, to: us-east}]}", true, "eu curl v2",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p1 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p2 w2",
                        "us-west/us-west-1b[10.1.2.1] p2 w1"),
                row("{failover: [{from: us-west, to: eu-west}]}", false, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"));
    }

    @ParameterizedTest(name = "{0} (outlierDetection: {1}) from {2} -> {3}")
    @MethodSource("failover")
    void failoverOrdersRegions(String setting, boolean outlierDetection, String proxy, List<String> expected) {
        assertThat(groups(setting, outlierDetection, proxy)).containsExactlyElementsOf(expected);
    }

    static Stream<Arguments> distribute() {
        String westTo8020 = "{distribute: [{from: 'us-west/*', to: {'us-west/us-west-1a': 80, 'us-east/*': 20}}]}";
        return Stream.of(
                // Unlisted localities (us-west-1b, eu-west) are left out; no priorities.
                row(westTo8020, true, "west curl v1",
                        "us-east/us-east-1a[10.2.1.1] p0 w20",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w80"),
                // As Istio, weights apply without outlier detection too.
                row(westTo8020, false, "west curl v1",
                        "us-east/us-east-1a[10.2.1.1] p0 w20",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w80"),
                // A wildcard over several localities shares its weight by their weights (2:1), rounded up.
                row("{distribute: [{from: '*', to: {'us-west/*': 50, 'us-east/*': 25, 'eu-west/*': 25}}]}", true,
                        "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w25",
                        "us-east/us-east-1a[10.2.1.1] p0 w25",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w34",
                        "us-west/us-west-1b[10.1.2.1] p0 w17"),
                // The first rule whose from matches the proxy applies.
                row("{distribute: [{from: 'us-west/*', to: {'us-west/*': 100}},"
                                + " {from: 'eu-west/eu-west-1a', to: {'eu-west/*': 70, 'us-east/us-east-1a': 30}}]}",
                        true, "eu curl v2",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w70",
                        "us-east/us-east-1a[10.2.1.1] p0 w30"),
                // No rule from the proxy's locality: the plain assignment.
                row("{distribute: [{from: 'eu-west/*', to: {'eu-west/*': 100}}]}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"),
                row("{distribute: [{from: '*', to: {'us-east/*': 100}}], enabled: false}", true, "west curl v1",
                        "eu-west/eu-west-1a[10.3.0.1] p0 w2",
                        "us-east/us-east-1a[10.2.1.1] p0 w1",
                        "us-west/us-west-1a[10.1.1.1,10.1.1.2] p0 w2",
                        "us-west/us-west-1b[10.1.2.1] p0 w1"));
    }

    @ParameterizedTest(name = "{0} (outlierDetection: {1}) from {2} -> {3}")
    @MethodSource("distribute")
    void distributeWeighsLocalities(String setting, boolean outlierDetection, String proxy, List<String> expected) {
        assertThat(groups(setting, outlierDetection, proxy)).containsExactlyElementsOf(expected);
    }

    static Arguments row(String localityLbSetting, boolean outlierDetection, String proxy, String... groups) {
        return Arguments.of(localityLbSetting, outlierDetection, proxy, List.of(groups));
    }

    static List<String> groups(String localityLbSetting, boolean outlierDetection, String proxy) {
        String yaml = """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                    loadBalancer: {localityLbSetting: %s}
                """.formatted(localityLbSetting)
                + (outlierDetection ? "    outlierDetection: {consecutive5xxErrors: 5}\n" : "");
        MeshPolicies policies = PolicyFixture.policies(yaml);
        assertThat(policies.config().destinationRules()).as("the rule is valid").hasSize(1);
        TrafficPolicy tp = policies.config().destinationRules().get(0).spec().trafficPolicy();
        PolicyTranslator translator = new PolicyTranslator(policies, PROXIES.get(proxy), host -> Optional.empty());
        ClusterLoadAssignment cla = translator.loadAssignment("outbound|5000||" + MeshFixture.HELLOWORLD, ENDPOINTS,
                translator.localityPolicy(5000, tp, null));
        return cla.getEndpointsList().stream().map(LocalityLbTableTest::describe).toList();
    }

    private static String describe(LocalityLbEndpoints group) {
        return group.getLocality().getRegion() + "/" + group.getLocality().getZone()
                + group.getLbEndpointsList().stream()
                        .map(e -> e.getEndpoint().getAddress().getSocketAddress().getAddress())
                        .collect(Collectors.joining(",", "[", "]"))
                + " p" + group.getPriority() + " w" + group.getLoadBalancingWeight().getValue();
    }

    private static MeshEndpoint pod(String ip, Locality locality, String cluster, String network, String version) {
        return new MeshEndpoint(ip, 5000, locality, cluster, network, "spiffe://cluster.local/ns/sample/sa/helloworld",
                "helloworld-" + ip, Map.of("app", "helloworld", "version", version), true, false, 1);
    }

    private static ProxyNode proxy(String cluster, String network, Locality locality, String version) {
        return new ProxyNode("sidecar~10.9.9.9~curl-" + cluster + ".sample~sample.svc.cluster.local",
                ProxyType.SIDECAR, "10.9.9.9", "curl-" + cluster, "sample", "curl", cluster, network, locality,
                Map.of("app", "curl", "version", version));
    }
}
