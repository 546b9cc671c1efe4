package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Message;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.Viewpoint;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The shared translation of a push gives every proxy exactly the bytes the per-proxy translation
 * gives it, over many proxy shapes: every cluster and network, namespaces with and without a
 * Sidecar, labels that a Sidecar or DestinationRule selector or a VirtualService {@code sourceLabels} reads and
 * labels nothing reads, localities that locality load balancing orders differently, own
 * workloads (inbound ports), proxyless clients and gateways, in a shuffled order.
 */
class SharedTranslationTest {

    private static final String CONFIG = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: helloworld, namespace: sample}
            spec:
              host: helloworld.sample.svc.cluster.local
              trafficPolicy:
                outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s}
                loadBalancer:
                  simple: ROUND_ROBIN
                  localityLbSetting: {enabled: true, failover: [{from: us-west, to: us-east}]}
              subsets:
              - {name: v1, labels: {version: v1}}
              - {name: v2, labels: {version: v2}}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: helloworld-canary, namespace: sample}
            spec:
              host: helloworld.sample.svc.cluster.local
              workloadSelector: {matchLabels: {tier: canary}}
              trafficPolicy: {connectionPool: {tcp: {connectTimeout: 7s}}}
              subsets:
              - {name: canary, labels: {version: v2}}
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: helloworld, namespace: sample}
            spec:
              hosts: [helloworld.sample.svc.cluster.local]
              http:
              - match: [{sourceLabels: {version: v2}}]
                route: [{destination: {host: helloworld.sample.svc.cluster.local, subset: v2}}]
              - match: [{sourceNamespace: other}]
                fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
                route: [{destination: {host: helloworld.sample.svc.cluster.local, subset: v1}}]
              - route:
                - {destination: {host: helloworld.sample.svc.cluster.local, subset: v1}, weight: 80}
                - {destination: {host: helloworld.sample.svc.cluster.local, subset: v2}, weight: 20}
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: curl-only, namespace: sample}
            spec:
              workloadSelector: {labels: {role: narrow}}
              egress: [{hosts: ["./curl.sample.svc.cluster.local"]}]
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: default, namespace: other}
            spec:
              egress: [{hosts: ["sample/*"]}]
              outboundTrafficPolicy: {mode: ALLOW_ANY}
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: strict, namespace: sample}
            spec:
              selector: {matchLabels: {app: helloworld}}
              mtls: {mode: STRICT}
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: curl-only, namespace: sample}
            spec:
              selector: {matchLabels: {app: helloworld}}
              rules: [{from: [{source: {principals: ["cluster.local/ns/sample/sa/curl"]}}]}]
            """;

    @Test
    void everyProxyGetsTheBytesOfItsOwnTranslation() throws IOException {
        // helloworld in eu and east is exported to the clusterset by eu, so the view has that host too.
        ClusterState eu = MeshFixture.eu();
        FederatedState state = MeshFixture.state(MeshFixture.east(), MeshFixture.west(), new ClusterState("eu", "net2",
                eu.services().stream().map(s -> s.withClusterSetExport(true)).toList(), eu.endpoints(),
                eu.gateways()));
        List<ConfigResource> resources = Yaml.resources(CONFIG, "default", "2026-11-27T00:00:00Z");
        MeshPolicies policies = new MeshPolicies(MeshConfig.merge(Map.of("east", resources), MeshFixture.DOMAIN),
                state, MeshFixture.DOMAIN);

        List<ProxyNode> nodes = shapes();
        Collections.shuffle(nodes, new Random(42));
        for (SharedTranslation shared : List.of(SharedTranslation.of(policies), SharedTranslation.withoutPolicies())) {
            Map<Viewpoint, MeshView> views = new HashMap<>();
            for (ProxyNode node : nodes) {
                MeshView view = views.computeIfAbsent(node.viewpoint(), vp -> MeshView.of(state, vp,
                        MeshFixture.DOMAIN, MeshFixture.DOMAIN));
                ProxyResources alone = shared.policies() == null
                        ? XdsTranslator.translate(view, node, state.trustRootsPem())
                        : XdsTranslator.translate(view, node, state.trustRootsPem(), policies);
                ProxyResources together = XdsTranslator.translate(view, node, state.trustRootsPem(), shared);
                assertSameBytes(node, together, alone);
                assertThat(together).as(node.id()).isEqualTo(alone);
            }
            // The point of it: far fewer outbound computations than proxies.
            assertThat(shared.hits()).isGreaterThan(nodes.size() / 2);
            assertThat(shared.misses()).isLessThan(nodes.size() / 4);
        }
    }

    @Test
    void aNewViewForAViewpointIsNeverServedAStaleOutboundSide() {
        SharedTranslation shared = SharedTranslation.withoutPolicies();
        ProxyNode west = MeshFixture.westCurlSidecar();
        FederatedState before = MeshFixture.state();
        FederatedState after = MeshFixture.state(MeshFixture.east(), MeshFixture.west(),
                ClusterState.empty("eu", "net2"));
        ProxyResources first = XdsTranslator.translate(MeshFixture.viewOf(before, west), west, before.trustRootsPem(),
                shared);
        ProxyResources second = XdsTranslator.translate(MeshFixture.viewOf(after, west), west, after.trustRootsPem(),
                shared);
        assertThat(second).isEqualTo(MeshFixture.translate(after, west)).isNotEqualTo(first);
        assertThat(shared.hits()).isZero();
    }

    /** Every combination of placement, namespace, labels and workload that changes some resource. */
    private static List<ProxyNode> shapes() {
        String[][] placements = {
                {"east", "net1", "us-east", "us-east-1a"}, {"west", "net1", "us-west", "us-west-1a"},
                {"west", "net1", "us-west", "us-west-1b"}, {"eu", "net2", "eu-west", "eu-west-1a"}};
        List<Map<String, String>> labelSets = List.of(
                Map.of("app", "curl", "version", "v1"),
                Map.of("app", "curl", "version", "v1", "pod-template-hash", "abc"),
                Map.of("app", "curl", "version", "v2"),
                Map.of("app", "curl", "role", "narrow"),
                Map.of("app", "curl", "tier", "canary"),
                Map.of("app", "helloworld", "version", "v2"),
                Map.of());
        List<String> pods = List.of("client-1", "helloworld-v2-eu-1", "helloworld-v1-east-1", "");
        List<ProxyNode> nodes = new ArrayList<>();
        int n = 0;
        for (String[] p : placements) {
            for (String namespace : List.of("sample", "other")) {
                for (Map<String, String> labels : labelSets) {
                    for (String pod : pods) {
                        for (ProxyType type : List.of(ProxyType.SIDECAR, ProxyType.GRPC)) {
                            String ip = "10.9." + (n / 250) + "." + (n % 250);
                            n++;
                            nodes.add(new ProxyNode(type.name().toLowerCase() + "~" + ip + "~" + pod + "." + namespace
                                    + "~" + namespace + ".svc.cluster.local", type, ip, pod, namespace, "curl",
                                    p[0], p[1], new Locality(p[2], p[3], ""), labels));
                        }
                    }
                }
            }
        }
        nodes.add(MeshFixture.euGateway());
        nodes.add(MeshFixture.gateway("east", "net1", "127.101.0.2", MeshFixture.EAST_LOCALITY));
        return nodes;
    }

    /** Resource by resource, so a failure names the proxy and the resource that differ. */
    private static void assertSameBytes(ProxyNode node, ProxyResources actual, ProxyResources expected)
            throws IOException {
        List<List<? extends Message>> a = lists(actual);
        List<List<? extends Message>> e = lists(expected);
        for (int type = 0; type < a.size(); type++) {
            assertThat(a.get(type)).as(node.id() + " type " + type + " count").hasSameSizeAs(e.get(type));
            for (int i = 0; i < a.get(type).size(); i++) {
                assertThat(bytes(a.get(type).get(i))).as(node.id() + " type " + type + " resource " + i + ":\n"
                        + a.get(type).get(i) + "\nexpected:\n" + e.get(type).get(i))
                        .isEqualTo(bytes(e.get(type).get(i)));
            }
        }
    }

    private static List<List<? extends Message>> lists(ProxyResources r) {
        return List.of(r.clusters(), r.endpoints(), r.listeners(), r.routes(), r.secrets());
    }

    private static byte[] bytes(Message message) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream stream = CodedOutputStream.newInstance(bytes);
        stream.useDeterministicSerialization();
        message.writeTo(stream);
        stream.flush();
        return bytes.toByteArray();
    }
}
