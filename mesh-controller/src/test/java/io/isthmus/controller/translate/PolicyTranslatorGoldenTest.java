package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The bookinfo samples' shapes (subsets, 80/20 and 50/50, {@code end-user: jason}, fault delay
 * and abort) applied to the demo mesh's helloworld (v1 in east, v2 behind eu's gateway), compared
 * with {@code golden/policy-*.json} (refresh: {@code -Dgolden.refresh=true}), plus tables of
 * "request → route".
 */
class PolicyTranslatorGoldenTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String HOST = MeshFixture.HELLOWORLD;

    static final String SUBSETS = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: helloworld}
            spec:
              host: helloworld
              trafficPolicy:
                loadBalancer:
                  simple: RANDOM
                  localityLbSetting:
                    failover: [{from: us-west, to: us-east}]
                connectionPool:
                  tcp: {maxConnections: 100, connectTimeout: 250ms}
                  http: {http1MaxPendingRequests: 10, maxRetries: 3}
                outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
              subsets:
              - name: v1
                labels: {version: v1}
              - name: v2
                labels: {version: v2}
            """;

    static Stream<Arguments> scenarios() {
        return Stream.of(
                Arguments.of("policy-reviews-80-20", SUBSETS + """
                        ---
                        apiVersion: networking.istio.io/v1
                        kind: VirtualService
                        metadata: {name: helloworld}
                        spec:
                          hosts: [helloworld]
                          http:
                          - route:
                            - destination: {host: helloworld, subset: v1}
                              weight: 80
                            - destination: {host: helloworld, subset: v2}
                              weight: 20
                        """),
                Arguments.of("policy-jason-fault", SUBSETS + """
                        ---
                        apiVersion: networking.istio.io/v1
                        kind: VirtualService
                        metadata: {name: helloworld}
                        spec:
                          hosts: [helloworld]
                          http:
                          - name: jason
                            match:
                            - headers:
                                end-user: {exact: jason}
                            fault:
                              delay: {percentage: {value: 100.0}, fixedDelay: 7s}
                              abort: {percentage: {value: 10}, httpStatus: 500}
                            route:
                            - destination: {host: helloworld, subset: v2}
                          - match:
                            - uri: {prefix: /api}
                              method: {exact: POST}
                              queryParams: {debug: {regex: "[0-9]+"}}
                            rewrite: {uri: /v2/api, authority: helloworld.internal}
                            retries: {attempts: 3, perTryTimeout: 1.5s, retryOn: "5xx,503"}
                            timeout: 10s
                            headers:
                              request: {set: {x-mesh: isthmus}, remove: [x-debug]}
                              response: {add: {x-served-by: isthmus}}
                            mirror: {host: helloworld, subset: v1}
                            mirrorPercentage: {value: 12.5}
                            route:
                            - destination: {host: helloworld, subset: v1}
                              weight: 50
                            - destination: {host: helloworld, subset: v2}
                              weight: 50
                          - route:
                            - destination: {host: helloworld, subset: v1}
                        """),
                Arguments.of("policy-http-features", SUBSETS + """
                        ---
                        apiVersion: networking.istio.io/v1
                        kind: VirtualService
                        metadata: {name: helloworld}
                        spec:
                          hosts: [helloworld]
                          http:
                          - name: grpc-fault
                            match:
                            - headers:
                                content-type: {prefix: application/grpc}
                            fault:
                              abort: {grpcStatus: UNAVAILABLE, percentage: {value: 5}}
                            retries: {attempts: 3, retryOn: "unavailable,cancelled", retryRemoteLocalities: true, backoff: 50ms}
                            route:
                            - destination: {host: helloworld, subset: v2}
                          - name: service
                            match:
                            - uri: {regex: "/service/[^/]+/.*"}
                            rewrite:
                              uriRegexRewrite: {match: "^/service/([^/]+)(/.*)$", rewrite: '\\2/instance/\\1'}
                            corsPolicy:
                              allowOrigins: [{exact: "https://app.example"}, {regex: "https://[a-z]+[.]dev[.]example"}]
                              allowMethods: [GET, POST]
                              allowHeaders: [x-user]
                              exposeHeaders: [x-served-by]
                              maxAge: 10m
                              allowCredentials: true
                              unmatchedPreflights: IGNORE
                            mirrors:
                            - destination: {host: helloworld, subset: v1}
                              percentage: {value: 10}
                            - destination: {host: helloworld, subset: v2}
                            route:
                            - destination: {host: helloworld, subset: v1}
                          - name: moved
                            match:
                            - uri: {prefix: /old}
                            redirect: {uri: /new, derivePort: FROM_REQUEST_PORT}
                          - route:
                            - destination: {host: helloworld}
                        """),
                Arguments.of("policy-consistent-hash", """
                        apiVersion: networking.istio.io/v1
                        kind: DestinationRule
                        metadata: {name: helloworld}
                        spec:
                          host: helloworld
                          trafficPolicy:
                            loadBalancer:
                              consistentHash:
                                httpHeaderName: x-user
                                ringHash: {minimumRingSize: 1024}
                            connectionPool:
                              tcp:
                                maxConnectionDuration: 1h
                                tcpKeepalive: {probes: 3, time: 600s, interval: 60s}
                              http: {idleTimeout: 30s, maxRequestsPerConnection: 100}
                          subsets:
                          - name: v1
                            labels: {version: v1}
                          - name: v2
                            labels: {version: v2}
                            trafficPolicy:
                              loadBalancer:
                                consistentHash:
                                  httpCookie: {name: session, path: /, ttl: 1h}
                                  maglev: {tableSize: 65537}
                        ---
                        apiVersion: networking.istio.io/v1
                        kind: VirtualService
                        metadata: {name: helloworld}
                        spec:
                          hosts: [helloworld]
                          http:
                          - match:
                            - headers:
                                end-user: {exact: jason}
                            route:
                            - destination: {host: helloworld, subset: v2}
                          - route:
                            - destination: {host: helloworld, subset: v1}
                        """));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scenarios")
    void matchesGoldenFile(String name, String yaml) throws IOException {
        String actual = ResourcesJson.toJson(PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml));
        Path golden = GOLDEN_DIR.resolve(name + ".json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    @Test
    void subsetClustersHoldOnlyMatchingEndpointsAndCountRemoteOnesBehindTheGateway() {
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), SUBSETS);
        assertThat(r.clusters()).extracting(Cluster::getName).contains(
                "outbound|5000||" + HOST, "outbound|5000|v1|" + HOST, "outbound|5000|v2|" + HOST);
        Cluster v2 = cluster(r, "outbound|5000|v2|" + HOST);
        assertThat(v2.getTransportSocket().getTypedConfig().toString()).contains("outbound_.5000_.v2_." + HOST);
        assertThat(v2.getLbPolicy()).isEqualTo(Cluster.LbPolicy.RANDOM);
        assertThat(v2.getCircuitBreakers().getThresholds(0).getMaxConnections().getValue()).isEqualTo(100);
        ClusterLoadAssignment v2Eds = endpoints(r, "outbound|5000|v2|" + HOST);
        assertThat(v2Eds.getEndpointsList()).hasSize(1);
        assertThat(v2Eds.getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress().getSocketAddress().getAddress())
                .isEqualTo("127.103.0.2");
        assertThat(v2Eds.getEndpoints(0).getLbEndpoints(0).getLoadBalancingWeight().getValue()).isEqualTo(2);
        ClusterLoadAssignment v1Eds = endpoints(r, "outbound|5000|v1|" + HOST);
        assertThat(v1Eds.getEndpointsList()).hasSize(1);
        assertThat(v1Eds.getEndpoints(0).getLbEndpointsList()).extracting(
                e -> e.getEndpoint().getAddress().getSocketAddress().getAddress())
                .containsExactly("127.101.1.1", "127.101.1.2");
    }

    @Test
    void failoverOrdersLocalitiesByPriorityOnlyWithOutlierDetection() {
        ClusterLoadAssignment all = endpoints(PolicyFixture.translate(MeshFixture.westCurlSidecar(), SUBSETS),
                "outbound|5000||" + HOST);
        // west proxy (us-west): us-east is the named failover region, priority 0 after compaction; eu after it.
        assertThat(all.getEndpointsList()).extracting(l -> l.getLocality().getRegion() + "=" + l.getPriority())
                .containsExactlyInAnyOrder("us-east=0", "eu-west=1");
        String noOutlier = SUBSETS.replace(
                "outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}", "");
        ClusterLoadAssignment plain = endpoints(PolicyFixture.translate(MeshFixture.westCurlSidecar(), noOutlier),
                "outbound|5000||" + HOST);
        assertThat(plain.getEndpointsList()).extracting(l -> l.getPriority()).containsOnly(0);
        assertThat(PolicyFixture.policies(noOutlier).config().warnings()).isEmpty();
    }

    @Test
    void gatewayServesSubsetSnisWithItsOwnMatchingPods() {
        ProxyResources r = PolicyFixture.translate(MeshFixture.euGateway(), SUBSETS);
        assertThat(r.clusters()).extracting(Cluster::getName).containsExactly(
                "outbound_.5000_._." + HOST, "outbound_.5000_.v2_." + HOST);
        assertThat(endpoints(r, "outbound_.5000_.v2_." + HOST).getEndpoints(0).getLbEndpointsList()).hasSize(2);
        // A rule exported only to its own namespace still gives the gateway its subsets: callers
        // in that namespace dial them through it.
        ProxyResources exportedToSample = PolicyFixture.translate(MeshFixture.euGateway(),
                SUBSETS.replace("spec:\n  host: helloworld\n", "spec:\n  host: helloworld\n  exportTo: ['.']\n"));
        assertThat(exportedToSample.clusters()).extracting(Cluster::getName).contains("outbound_.5000_.v2_." + HOST);
    }

    static Stream<Arguments> requests() {
        return Stream.of(
                Arguments.of("/", Map.of("end-user", "jason"), "GET", "outbound|5000|v2|" + HOST),
                Arguments.of("/", Map.of("end-user", "mallory"), "GET", "outbound|5000|v1|" + HOST),
                Arguments.of("/api/x?debug=42", Map.of(), "POST", "weighted:outbound|5000|v1|" + HOST + "=50,outbound|5000|v2|" + HOST + "=50"),
                Arguments.of("/api/x?debug=abc", Map.of(), "POST", "outbound|5000|v1|" + HOST),
                Arguments.of("/api/x?debug=1", Map.of(), "GET", "outbound|5000|v1|" + HOST));
    }

    @ParameterizedTest(name = "{2} {0} {1} -> {3}")
    @MethodSource("requests")
    void requestGoesToExpectedCluster(String pathAndQuery, Map<String, String> headers, String method, String expected) {
        String yaml = (String) scenarios().toList().get(1).get()[1];
        VirtualHost vh = PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml));
        assertThat(RouteTable.decide(vh, pathAndQuery, method, headers)).isEqualTo(expected);
    }

    static Stream<Arguments> applicability() {
        String route = "  http:\n  - route: [{destination: {host: helloworld.sample.svc.cluster.local, subset: v2}}]\n";
        String head = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n";
        String v2 = "outbound|5000|v2|" + HOST;
        String base = "outbound|5000||" + HOST;
        return Stream.of(
                Arguments.of("short name in its own namespace", head
                        + "metadata: {name: a, namespace: sample}\nspec:\n  hosts: [helloworld]\n" + route, v2),
                Arguments.of("short name in another namespace is another host", head
                        + "metadata: {name: a, namespace: other}\nspec:\n  hosts: [helloworld]\n" + route, base),
                Arguments.of("FQDN from another namespace", head
                        + "metadata: {name: a, namespace: other}\nspec:\n  hosts: [" + HOST + "]\n" + route, v2),
                Arguments.of("exportTo '.' of another namespace", head + "metadata: {name: a, namespace: other}\n"
                        + "spec:\n  exportTo: ['.']\n  hosts: [" + HOST + "]\n" + route, base),
                Arguments.of("bound to an ingress gateway only", head + "metadata: {name: a, namespace: sample}\n"
                        + "spec:\n  gateways: [ingress]\n  hosts: [helloworld]\n" + route, base),
                Arguments.of("bound to mesh", head + "metadata: {name: a, namespace: sample}\n"
                        + "spec:\n  gateways: [mesh, ingress]\n  hosts: [helloworld]\n" + route, v2),
                Arguments.of("sourceLabels of another app", head + "metadata: {name: a, namespace: sample}\n"
                        + "spec:\n  hosts: [helloworld]\n  http:\n  - match: [{sourceLabels: {app: productpage}}]\n"
                        + "    route: [{destination: {host: helloworld, subset: v2}}]\n", "none"),
                Arguments.of("sourceLabels of the caller", head + "metadata: {name: a, namespace: sample}\n"
                        + "spec:\n  hosts: [helloworld]\n  http:\n  - match: [{sourceLabels: {app: curl}}]\n"
                        + "    route: [{destination: {host: helloworld, subset: v2}}]\n", v2),
                Arguments.of("port match of another port", head + "metadata: {name: a, namespace: sample}\n"
                        + "spec:\n  hosts: [helloworld]\n  http:\n  - match: [{port: 9080}]\n"
                        + "    route: [{destination: {host: helloworld, subset: v2}}]\n", "none"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("applicability")
    void virtualServiceAppliesWhereIstioAppliesIt(String name, String yaml, String expected) {
        VirtualHost vh = PolicyFixture.helloworld(
                PolicyFixture.translate(MeshFixture.westCurlSidecar(), SUBSETS + "---\n" + yaml));
        assertThat(RouteTable.decide(vh, "/", "GET", Map.of())).isEqualTo(expected);
    }

    @Test
    void redirectDirectResponseAndDelegateRoutes() {
        String yaml = """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld, namespace: sample}
                spec:
                  hosts: [helloworld]
                  http:
                  - match: [{uri: {exact: /old}}]
                    redirect: {uri: /new, redirectCode: 308}
                  - match: [{uri: {prefix: /teapot}}]
                    directResponse: {status: 418, body: {string: short and stout}}
                  - match: [{uri: {prefix: /delegated}}]
                    delegate: {name: elsewhere, namespace: other}
                  - route: [{destination: {host: helloworld}}]
                """;
        VirtualHost vh = PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml));
        assertThat(vh.getRoutesList()).hasSize(3);
        assertThat(vh.getRoutes(0).getRedirect().getPathRedirect()).isEqualTo("/new");
        assertThat(vh.getRoutes(0).getRedirect().getResponseCode())
                .isEqualTo(io.envoyproxy.envoy.config.route.v3.RedirectAction.RedirectResponseCode.PERMANENT_REDIRECT);
        assertThat(vh.getRoutes(1).getDirectResponse().getStatus()).isEqualTo(418);
        assertThat(vh.getRoutes(1).getDirectResponse().getBody().getInlineString()).isEqualTo("short and stout");
        assertThat(vh.getRoutes(2).getRoute().getCluster()).isEqualTo("outbound|5000||" + HOST);
    }

    private static Cluster cluster(ProxyResources r, String name) {
        return r.clusters().stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    private static ClusterLoadAssignment endpoints(ProxyResources r, String name) {
        return r.endpoints().stream().filter(c -> c.getClusterName().equals(name)).findFirst().orElseThrow();
    }
}
