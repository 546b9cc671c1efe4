package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Tables of "DestinationRule traffic policy → the helloworld cluster's field" and "VirtualService
 * http route → the route's field", as the west curl sidecar of {@link MeshFixture} receives them.
 * Fields are compared as compact proto JSON.
 */
class TrafficPolicyTableTest {

    private static final String HOST = MeshFixture.HELLOWORLD;
    private static final String MAX = "4294967295";

    private static final Map<String, Function<Cluster, MessageOrBuilder>> CLUSTER_FIELDS = Map.of(
            "circuit_breakers", Cluster::getCircuitBreakers,
            "connect_timeout", Cluster::getConnectTimeout,
            "outlier_detection", Cluster::getOutlierDetection,
            "common_lb_config", Cluster::getCommonLbConfig);

    static Stream<Arguments> clusterFields() {
        return Stream.of(
                Arguments.of("connectionPool: {tcp: {maxConnections: 7}}", "circuit_breakers",
                        "{\"thresholds\":[{\"maxConnections\":7,\"maxPendingRequests\":" + MAX + ",\"maxRequests\":"
                                + MAX + ",\"maxRetries\":" + MAX + "}]}"),
                Arguments.of("connectionPool: {http: {http1MaxPendingRequests: 3, http2MaxRequests: 40, maxRetries: 2}}",
                        "circuit_breakers", "{\"thresholds\":[{\"maxConnections\":" + MAX
                                + ",\"maxPendingRequests\":3,\"maxRequests\":40,\"maxRetries\":2}]}"),
                Arguments.of("connectionPool: {tcp: {maxConnections: 0}, http: {maxRetries: 0}}", "circuit_breakers",
                        "{\"thresholds\":[{\"maxConnections\":" + MAX + ",\"maxPendingRequests\":" + MAX
                                + ",\"maxRequests\":" + MAX + ",\"maxRetries\":" + MAX + "}]}"),
                Arguments.of("connectionPool: {tcp: {connectTimeout: 250ms}}", "connect_timeout", "\"0.250s\""),
                Arguments.of("outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s,"
                                + " maxEjectionPercent: 50}", "outlier_detection",
                        "{\"consecutive5xx\":5,\"interval\":\"1s\",\"baseEjectionTime\":\"30s\",\"maxEjectionPercent\":50,"
                                + "\"enforcingConsecutive5xx\":100,\"enforcingSuccessRate\":0,"
                                + "\"enforcingConsecutiveGatewayFailure\":0}"),
                Arguments.of("outlierDetection: {consecutiveErrors: 3}", "outlier_detection",
                        "{\"consecutive5xx\":3,\"enforcingConsecutive5xx\":100,\"enforcingSuccessRate\":0,"
                                + "\"enforcingConsecutiveGatewayFailure\":0}"),
                Arguments.of("outlierDetection: {consecutiveGatewayErrors: 2}", "outlier_detection",
                        "{\"enforcingConsecutive5xx\":0,\"enforcingSuccessRate\":0,\"consecutiveGatewayFailure\":2,"
                                + "\"enforcingConsecutiveGatewayFailure\":100}"),
                Arguments.of("outlierDetection: {splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 4}",
                        "outlier_detection",
                        "{\"enforcingConsecutive5xx\":0,\"enforcingSuccessRate\":0,"
                                + "\"enforcingConsecutiveGatewayFailure\":0,\"splitExternalLocalOriginErrors\":true,"
                                + "\"consecutiveLocalOriginFailure\":4,\"enforcingConsecutiveLocalOriginFailure\":100}"),
                Arguments.of("outlierDetection: {consecutive5xxErrors: 1}", "common_lb_config",
                        "{\"healthyPanicThreshold\":{}}"),
                Arguments.of("outlierDetection: {consecutive5xxErrors: 1, minHealthPercent: 30}", "common_lb_config",
                        "{\"healthyPanicThreshold\":{\"value\":30.0}}"));
    }

    @ParameterizedTest(name = "{0} -> {1} {2}")
    @MethodSource("clusterFields")
    void trafficPolicySetsClusterField(String trafficPolicy, String field, String expected) throws Exception {
        String yaml = """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                """ + trafficPolicy.indent(4);
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
        Cluster cluster = r.clusters().stream().filter(c -> c.getName().equals("outbound|5000||" + HOST))
                .findFirst().orElseThrow();
        assertThat(json(CLUSTER_FIELDS.get(field).apply(cluster))).isEqualTo(expected);
    }

    private static final String V1 = "outbound|5000|v1|" + HOST;
    private static final String V2 = "outbound|5000|v2|" + HOST;

    private static final Map<String, Function<Route, MessageOrBuilder>> ROUTE_FIELDS = Map.of(
            "request_mirror_policies", r -> RouteAction.newBuilder()
                    .addAllRequestMirrorPolicies(r.getRoute().getRequestMirrorPoliciesList()),
            "rewrite", r -> {
                RouteAction.Builder rewrite = RouteAction.newBuilder().setPrefixRewrite(r.getRoute().getPrefixRewrite());
                if (r.getRoute().hasHostRewriteLiteral()) {
                    rewrite.setHostRewriteLiteral(r.getRoute().getHostRewriteLiteral());
                }
                return rewrite;
            },
            "headers", r -> Route.newBuilder()
                    .addAllRequestHeadersToAdd(r.getRequestHeadersToAddList())
                    .addAllRequestHeadersToRemove(r.getRequestHeadersToRemoveList())
                    .addAllResponseHeadersToAdd(r.getResponseHeadersToAddList())
                    .addAllResponseHeadersToRemove(r.getResponseHeadersToRemoveList()),
            "weighted_clusters", r -> r.getRoute().getWeightedClusters());

    static Stream<Arguments> routeFields() {
        String dest = "\n  route: [{destination: {host: helloworld, subset: v2}}]";
        return Stream.of(
                Arguments.of("- mirror: {host: helloworld, subset: v1}" + dest, "request_mirror_policies",
                        "{\"requestMirrorPolicies\":[{\"cluster\":\"" + V1
                                + "\",\"runtimeFraction\":{\"defaultValue\":{\"numerator\":100}}}]}"),
                Arguments.of("- mirror: {host: helloworld, subset: v1}\n  mirrorPercentage: {value: 12.5}" + dest,
                        "request_mirror_policies", "{\"requestMirrorPolicies\":[{\"cluster\":\"" + V1
                                + "\",\"runtimeFraction\":{\"defaultValue\":{\"numerator\":125000,"
                                + "\"denominator\":\"MILLION\"}}}]}"),
                Arguments.of("- mirror: {host: helloworld}\n  mirrorPercent: 30" + dest, "request_mirror_policies",
                        "{\"requestMirrorPolicies\":[{\"cluster\":\"outbound|5000||" + HOST
                                + "\",\"runtimeFraction\":{\"defaultValue\":{\"numerator\":30}}}]}"),
                Arguments.of("- rewrite: {uri: /v2/}" + dest, "rewrite", "{\"prefixRewrite\":\"/v2/\"}"),
                Arguments.of("- rewrite: {authority: helloworld.internal}" + dest, "rewrite",
                        "{\"hostRewriteLiteral\":\"helloworld.internal\"}"),
                Arguments.of("- rewrite: {uri: /, authority: a.example}" + dest, "rewrite",
                        "{\"prefixRewrite\":\"/\",\"hostRewriteLiteral\":\"a.example\"}"),
                Arguments.of("- headers:\n    request: {set: {x-a: '1'}, add: {x-b: '2'}, remove: [x-c]}" + dest,
                        "headers", "{\"requestHeadersToAdd\":["
                                + "{\"header\":{\"key\":\"x-a\",\"value\":\"1\"},\"appendAction\":\"OVERWRITE_IF_EXISTS_OR_ADD\"},"
                                + "{\"header\":{\"key\":\"x-b\",\"value\":\"2\"}}],"
                                + "\"requestHeadersToRemove\":[\"x-c\"]}"),
                Arguments.of("- headers:\n    response: {set: {x-d: '4'}, remove: [server]}" + dest, "headers",
                        "{\"responseHeadersToAdd\":[{\"header\":{\"key\":\"x-d\",\"value\":\"4\"},"
                                + "\"appendAction\":\"OVERWRITE_IF_EXISTS_OR_ADD\"}],"
                                + "\"responseHeadersToRemove\":[\"server\"]}"),
                Arguments.of("- route:\n  - destination: {host: helloworld, subset: v2}\n"
                                + "    headers: {request: {set: {x-e: '5'}}}", "headers",
                        "{\"requestHeadersToAdd\":[{\"header\":{\"key\":\"x-e\",\"value\":\"5\"},"
                                + "\"appendAction\":\"OVERWRITE_IF_EXISTS_OR_ADD\"}]}"),
                Arguments.of("- route:\n  - destination: {host: helloworld, subset: v1}\n    weight: 90\n"
                                + "    headers: {response: {add: {x-f: '6'}}}\n"
                                + "  - destination: {host: helloworld, subset: v2}\n    weight: 10\n"
                                + "    headers: {request: {remove: [x-g]}}", "weighted_clusters",
                        "{\"clusters\":[{\"name\":\"" + V1 + "\",\"weight\":90,\"responseHeadersToAdd\":["
                                + "{\"header\":{\"key\":\"x-f\",\"value\":\"6\"}}]},"
                                + "{\"name\":\"" + V2 + "\",\"weight\":10,\"requestHeadersToRemove\":[\"x-g\"]}]}"));
    }

    @ParameterizedTest(name = "{0} -> {1} {2}")
    @MethodSource("routeFields")
    void httpRouteSetsRouteField(String http, String field, String expected) throws Exception {
        String yaml = PolicyTranslatorGoldenTest.SUBSETS + """
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld}
                spec:
                  hosts: [helloworld]
                  http:
                """ + http.indent(2);
        VirtualHost vh = PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml));
        assertThat(vh.getRoutesList()).hasSize(1);
        assertThat(json(ROUTE_FIELDS.get(field).apply(vh.getRoutes(0)))).isEqualTo(expected);
    }

    private static String json(MessageOrBuilder message) throws InvalidProtocolBufferException {
        return JsonFormat.printer().omittingInsignificantWhitespace().print(message);
    }
}
