package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.isthmus.controller.config.VirtualServiceSpec.HttpRoute;
import io.isthmus.controller.config.VirtualServiceSpec.MatchRequest;
import io.isthmus.controller.config.VirtualServiceSpec.StringMatch;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** VirtualService delegation as pilot merges it: which delegate routes apply, with which matches and fields. */
class VirtualServiceDelegationTest {

    private static final String HOST = MeshFixture.HELLOWORLD;

    @Test
    void delegateRoutesReplaceTheRootRouteMergedWithIt() {
        String yaml = """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld, namespace: sample}
                spec:
                  hosts: [helloworld]
                  http:
                  - name: api
                    match: [{uri: {prefix: /api}}, {uri: {prefix: /v1/api}}]
                    timeout: 3s
                    delegate: {name: helloworld-api, namespace: team}
                  - match: [{uri: {prefix: /local}}]
                    delegate: {name: local}
                  - match: [{uri: {prefix: /hidden}}]
                    delegate: {name: private, namespace: team}
                  - match: [{uri: {prefix: /missing}}]
                    delegate: {name: nowhere}
                  - route: [{destination: {host: helloworld}}]
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld-api, namespace: team}
                spec:
                  exportTo: [sample]
                  http:
                  - name: v2
                    match: [{uri: {prefix: /api/v2}, headers: {x-tier: {exact: gold}}}]
                    route: [{destination: {host: helloworld.sample.svc.cluster.local, subset: v2}}]
                  - match: [{uri: {prefix: /api/reviews}}]
                    route: [{destination: {host: reviews}}]
                  - match: [{uri: {prefix: /other}}]
                    route: [{destination: {host: helloworld.sample.svc.cluster.local}}]
                  - timeout: 1s
                    route: [{destination: {host: helloworld.sample.svc.cluster.local}}]
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: local, namespace: sample}
                spec:
                  http:
                  - route: [{destination: {host: helloworld, subset: v1}}]
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: private, namespace: team}
                spec:
                  exportTo: ['.']
                  http:
                  - route: [{destination: {host: helloworld.sample.svc.cluster.local}}]
                """;
        VirtualHost vh = PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml));

        List<Route> routes = vh.getRoutesList();
        assertThat(routes).extracting(r -> r.getMatch().getPrefix()).containsExactly(
                "/api/v2", "/api/reviews", "/api", "/v1/api", "/local", "/");
        // A delegate route's own match narrowed the root's; the root's timeout filled in; names joined.
        assertThat(routes.get(0).getName()).isEqualTo("api-v2");
        assertThat(routes.get(0).getMatch().getHeadersList()).singleElement()
                .satisfies(h -> assertThat(h.getName()).isEqualTo("x-tier"));
        assertThat(routes.get(0).getRoute().getCluster()).isEqualTo("outbound|5000|v2|" + HOST);
        assertThat(routes.get(0).getRoute().getTimeout().getSeconds()).isEqualTo(3);
        // A short host in a delegate is a service of the delegate's namespace.
        assertThat(routes.get(1).getRoute().getCluster()).endsWith("|reviews.team.svc.cluster.local");
        // A delegate route without a match takes the root's matches, and keeps its own timeout.
        assertThat(routes.get(2).getName()).isEqualTo("api");
        assertThat(routes.get(2).getRoute().getTimeout().getSeconds()).isEqualTo(1);
        assertThat(routes.get(3).getRoute().getTimeout().getSeconds()).isEqualTo(1);
        // A delegate in the root's namespace by default, its short names resolved there.
        assertThat(routes.get(4).getRoute().getCluster()).isEqualTo("outbound|5000|v1|" + HOST);
        // /other narrows no root match, /hidden's delegate is not exported to sample, /missing's does not exist.
        assertThat(routes.get(5).getRoute().getCluster()).isEqualTo("outbound|5000||" + HOST);
    }

    @Test
    void aDelegateMatchMustNarrowARootMatch() {
        assertThat(conflicts(prefix("/a"), prefix("/a/b"))).isFalse();
        assertThat(conflicts(prefix("/a"), exact("/a/b"))).isFalse();
        assertThat(conflicts(prefix("/a/b"), prefix("/a"))).isTrue();
        assertThat(conflicts(exact("/a"), exact("/a"))).isFalse();
        assertThat(conflicts(exact("/a"), exact("/b"))).isTrue();
        assertThat(conflicts(exact("/a"), prefix("/a"))).isTrue();
        assertThat(conflicts(new StringMatch(null, null, "/a.*"), prefix("/a"))).isTrue();
        assertThat(conflicts(null, prefix("/anything"))).isFalse();
    }

    @Test
    void mergedMatchesAddTheRootsConditionsTheDelegateLeavesOut() {
        MatchRequest root = match("root", prefix("/api"), Map.of("x-team", exact("blue")), 5000);
        MatchRequest leaf = match("leaf", null, Map.of("x-tier", exact("gold")), null);

        List<MatchRequest> merged = VirtualServiceDelegation.mergeMatches(List.of(root), List.of(leaf)).orElseThrow();

        assertThat(merged).singleElement().satisfies(m -> {
            assertThat(m.name()).isEqualTo("root-leaf");
            assertThat(m.uri()).isEqualTo(prefix("/api"));
            assertThat(m.headers()).containsOnlyKeys("x-team", "x-tier");
            assertThat(m.port()).isEqualTo(5000);
        });
        // The same header with another value does not narrow the root: a conflict, the route is dropped.
        MatchRequest other = match("leaf", null, Map.of("x-team", exact("red")), null);
        assertThat(VirtualServiceDelegation.mergeMatches(List.of(root), List.of(other))).isEmpty();
        assertThat(VirtualServiceDelegation.merge(route(root), route(other))).isEmpty();
    }

    private static boolean conflicts(StringMatch root, StringMatch leaf) {
        return VirtualServiceDelegation.mergeMatches(List.of(match(null, root, Map.of(), null)),
                List.of(match(null, leaf, Map.of(), null))).isEmpty();
    }

    private static HttpRoute route(MatchRequest match) {
        return new HttpRoute(null, List.of(match), List.of(), null, null, null, null, null, null, null, null, null,
                null, List.of(), null, null);
    }

    private static MatchRequest match(String name, StringMatch uri, Map<String, StringMatch> headers, Integer port) {
        return new MatchRequest(name, uri, null, null, null, headers, port, Map.of(), List.of(), Map.of(), null,
                Map.of(), null, null);
    }

    private static StringMatch prefix(String value) {
        return new StringMatch(null, value, null);
    }

    private static StringMatch exact(String value) {
        return new StringMatch(value, null, null);
    }
}
