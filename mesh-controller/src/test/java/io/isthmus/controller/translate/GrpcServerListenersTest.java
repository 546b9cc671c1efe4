package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.isthmus.controller.config.AuthorizationPolicySpec.Action;
import io.isthmus.controller.config.AuthorizationPolicySpec.Rule;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The inbound listeners of a proxyless gRPC server (eu's helloworld pod, serving 5000 without a
 * sidecar): one per PeerAuthentication mode compared with {@code golden/grpc-server-*.json}
 * (refresh with {@code -Dgolden.refresh=true}), the names a server asks for, and which
 * AuthorizationPolicy rules reach its RBAC filters.
 */
class GrpcServerListenersTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String WILDCARD = GrpcServerListeners.NAME_PREFIX + "0.0.0.0:5000";

    static final ProxyNode SERVER = new ProxyNode(
            "sidecar~127.103.1.1~helloworld-v2-eu-1.sample~sample.svc.cluster.local", ProxyType.GRPC,
            "127.103.1.1", "helloworld-v2-eu-1", "sample", "helloworld", "eu", "net2", MeshFixture.EU_LOCALITY,
            Map.of("app", "helloworld", "version", "v2"));

    private static String pa(String ns, String name, String spec) {
        return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: " + name + ", namespace: "
                + ns + "}\nspec:\n" + spec.indent(2) + "---\n";
    }

    static final String AUTHZ = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin}
            spec:
              action: DENY
              rules:
              - to: [{operation: {paths: ["/admin.Admin/*"]}}]
              - from: [{source: {notRequestPrincipals: ["*"]}}]
                to: [{operation: {paths: ["/secure.Vault/*"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-curl}
            spec:
              selector: {matchLabels: {app: helloworld}}
              rules:
              - from:
                - source: {principals: ["cluster.local/ns/sample/sa/curl"]}
                to:
                - operation: {methods: ["POST"], paths: ["/helloworld.Greeter/*"]}
                when:
                - key: request.headers[x-team]
                  values: ["blue"]
              - from:
                - source: {requestPrincipals: ["https://issuer.example/*"]}
            """;

    static Stream<Arguments> modes() {
        return Stream.of(
                Arguments.of("grpc-server-strict", ""),
                Arguments.of("grpc-server-permissive", pa("sample", "default", "mtls: {mode: PERMISSIVE}")),
                Arguments.of("grpc-server-disable", pa("istio-system", "default", "mtls: {mode: DISABLE}")),
                Arguments.of("grpc-server-port-disable", pa("sample", "hw",
                        "selector: {matchLabels: {app: helloworld}}\nmtls: {mode: STRICT}\n"
                                + "portLevelMtls: {5000: {mode: DISABLE}}")),
                Arguments.of("grpc-server-authz", AUTHZ));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void matchesGoldenFile(String name, String yaml) throws IOException {
        String actual = ResourcesJson.toJson(listener(PolicyFixture.translate(SERVER, yaml), WILDCARD)) + "\n";
        Path golden = GOLDEN_DIR.resolve(name + ".json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    @Test
    void oneListenerPerListenAddressAServerNamesAndItsAddressIsTheNamesAddress() {
        ProxyResources r = PolicyFixture.translate(SERVER, "");
        List<Listener> inbound = r.listeners().stream()
                .filter(l -> l.getName().startsWith(GrpcServerListeners.NAME_PREFIX)).toList();
        // grpc-java asks for 0.0.0.0:<port> whatever it binds; grpc-go for the address it bound.
        assertThat(inbound).extracting(l -> l.getName().substring(GrpcServerListeners.NAME_PREFIX.length()) + " @ "
                        + l.getAddress().getSocketAddress().getAddress() + ":"
                        + l.getAddress().getSocketAddress().getPortValue())
                .containsExactlyInAnyOrder("0.0.0.0:5000 @ 0.0.0.0:5000", "[::]:5000 @ :::5000",
                        "127.103.1.1:5000 @ 127.103.1.1:5000");
        // The client side is still there: the api_listeners of what it may dial.
        assertThat(r.listeners()).extracting(Listener::getName).contains(MeshFixture.HELLOWORLD + ":5000");
        assertThat(r.listeners()).extracting(Listener::getName).isSorted();
    }

    @Test
    void anIpv6PodIpIsBracketedInTheNameAndBareInTheAddress() {
        ProxyNode v6 = new ProxyNode(SERVER.id(), ProxyType.GRPC, "fd00::5", SERVER.podName(), SERVER.namespace(),
                SERVER.serviceAccount(), SERVER.cluster(), SERVER.network(), SERVER.locality(), SERVER.labels());
        Listener own = listener(PolicyFixture.translate(v6, ""), GrpcServerListeners.NAME_PREFIX + "[fd00::5]:5000");
        assertThat(own.getAddress().getSocketAddress().getAddress()).isEqualTo("fd00::5");
    }

    @Test
    void aPodNotReadyYetGetsItsListenerSoItsServerCanStartServing() {
        // helloworld-v1-east-2 is not ready: a server that serves only once it has its listener
        // must get it before its readiness probe can pass.
        ProxyNode notReady = new ProxyNode("sidecar~127.101.1.2~helloworld-v1-east-2.sample~sample.svc.cluster.local",
                ProxyType.GRPC, "127.101.1.2", "helloworld-v1-east-2", "sample", "helloworld", "east", "net1",
                MeshFixture.EAST_LOCALITY, Map.of("app", "helloworld", "version", "v1"));
        assertThat(PolicyFixture.translate(notReady, "").listeners()).extracting(Listener::getName)
                .contains(GrpcServerListeners.NAME_PREFIX + "127.101.1.2:5000", WILDCARD);
    }

    @Test
    void aClientThatServesNothingGetsNoServerListener() {
        ProxyNode client = new ProxyNode("sidecar~127.102.1.9~grpc-client.sample~sample.svc.cluster.local",
                ProxyType.GRPC, "127.102.1.9", "grpc-client", "sample", "client", "west", "net1",
                MeshFixture.WEST_LOCALITY, Map.of("app", "client"));
        assertThat(PolicyFixture.translate(client, "").listeners()).extracting(Listener::getName)
                .noneMatch(n -> n.startsWith(GrpcServerListeners.NAME_PREFIX));
    }

    @Test
    void theSameWithoutIstioConfigurationIsStrict() throws Exception {
        ProxyResources r = MeshFixture.translate(MeshFixture.state(), SERVER);
        FilterChain chain = listener(r, WILDCARD).getFilterChains(0);
        assertThat(chain.getTransportSocket().getTypedConfig().unpack(DownstreamTlsContext.class)
                .getRequireClientCertificate().getValue()).isTrue();
        assertThat(listener(r, WILDCARD)).isEqualTo(listener(PolicyFixture.translate(SERVER, ""), WILDCARD));
    }

    @Test
    void permissiveServesTheMtlsEveryMeshCallerDialsInOneUnmatchedChain() {
        // grpc-xds never chooses a chain that matches transport_protocol "tls", so one chain decides.
        Listener strict = listener(PolicyFixture.translate(SERVER, ""), WILDCARD);
        Listener permissive = listener(PolicyFixture.translate(SERVER,
                pa("sample", "default", "mtls: {mode: PERMISSIVE}")), WILDCARD);
        assertThat(permissive).isEqualTo(strict);
        assertThat(strict.getFilterChainsList()).singleElement()
                .satisfies(c -> assertThat(c.hasFilterChainMatch()).isFalse())
                .satisfies(c -> assertThat(c.hasTransportSocket()).isTrue());
        Listener disabled = listener(PolicyFixture.translate(SERVER,
                pa("sample", "default", "mtls: {mode: DISABLE}")), WILDCARD);
        assertThat(disabled.getFilterChainsList()).singleElement()
                .satisfies(c -> assertThat(c.hasTransportSocket()).isFalse());
    }

    @Test
    void rulesGrpcCannotCheckAllowLessAndDenyMore() throws Exception {
        List<HttpFilter> filters = hcm(listener(PolicyFixture.translate(SERVER, AUTHZ), WILDCARD)).getHttpFiltersList();
        assertThat(filters).extracting(HttpFilter::getName).containsExactly(
                "envoy.filters.http.rbac.DENY", "envoy.filters.http.rbac", "envoy.filters.http.router");
        RBAC deny = rules(filters.get(0));
        RBAC allow = rules(filters.get(1));
        // DENY: both rules stay; the second lost its request-principal condition, so denies any caller.
        assertThat(deny.getPoliciesMap()).containsOnlyKeys("ns[sample]-policy[deny-admin]-rule[0]",
                "ns[sample]-policy[deny-admin]-rule[1]");
        assertThat(deny.getPoliciesMap().get("ns[sample]-policy[deny-admin]-rule[1]").getPrincipals(0).getAny())
                .isTrue();
        // ALLOW: the JWT rule is gone (grpc-xds would never match it anyway), the mTLS one stays.
        assertThat(allow.getPoliciesMap()).containsOnlyKeys("ns[sample]-policy[allow-curl]-rule[0]");
    }

    @Test
    void ruleTable() {
        Rule plain = rule("from: [{source: {principals: [a/ns/b/sa/c]}}]");
        assertThat(GrpcServerListeners.forGrpc(plain, Action.ALLOW)).contains(plain);
        assertThat(GrpcServerListeners.forGrpc(plain, Action.DENY)).contains(plain);
        Rule grpcHeader = rule("when: [{key: 'request.headers[grpc-timeout]', values: ['1S']}]");
        assertThat(GrpcServerListeners.forGrpc(grpcHeader, Action.ALLOW)).isEmpty();
        assertThat(GrpcServerListeners.forGrpc(grpcHeader, Action.DENY)).get()
                .satisfies(r -> assertThat(r.when()).isEmpty());
        Rule claims = rule("to: [{operation: {paths: [/x]}}]\n    when: [{key: 'request.auth.claims[group]', values: [x]}]");
        assertThat(GrpcServerListeners.forGrpc(claims, Action.DENY)).get()
                .satisfies(r -> assertThat(r.when()).isEmpty())
                .satisfies(r -> assertThat(r.to()).isEqualTo(claims.to()));
    }

    private static Rule rule(String yaml) {
        String policy = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n"
                + "  rules:\n  - " + yaml + "\n";
        var config = PolicyFixture.config(policy);
        assertThat(config.authorizationPolicies()).as("%s: %s", policy, config.problems()).hasSize(1);
        return config.authorizationPolicies().get(0).spec().rules().get(0);
    }

    private static Listener listener(ProxyResources r, String name) {
        Optional<Listener> found = r.listeners().stream().filter(l -> l.getName().equals(name)).findFirst();
        return found.orElseThrow(() -> new AssertionError("no listener " + name + " in "
                + r.listeners().stream().map(Listener::getName).toList()));
    }

    private static HttpConnectionManager hcm(Listener l) throws Exception {
        return l.getFilterChains(0).getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
    }

    private static RBAC rules(HttpFilter f) throws Exception {
        return f.getTypedConfig().unpack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.class).getRules();
    }
}
