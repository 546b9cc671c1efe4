package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * PeerAuthentication and AuthorizationPolicy on eu's helloworld sidecar (namespace sample, labels
 * app=helloworld, version=v2, inbound port 5000): the golden inbound listener
 * ({@code golden/security-*.json}, refresh with {@code -Dgolden.refresh=true}), and tables of which
 * chains and which RBAC filters each configuration gives.
 */
class SecurityTranslatorTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");

    static final String POLICIES = """
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default, namespace: istio-system}
            spec:
              mtls: {mode: STRICT}
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: helloworld}
            spec:
              selector: {matchLabels: {app: helloworld}}
              mtls: {mode: PERMISSIVE}
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin}
            spec:
              action: DENY
              rules:
              - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-curl}
            spec:
              selector: {matchLabels: {app: helloworld}}
              rules:
              - from:
                - source: {principals: ["cluster.local/ns/sample/sa/curl"]}
                - source: {namespaces: ["ops"], notIpBlocks: ["10.0.0.0/8"]}
                to:
                - operation: {methods: ["GET", "HEAD"], notPaths: ["/private*"]}
                when:
                - key: request.headers[x-team]
                  values: ["blue"]
                - key: destination.port
                  values: ["5000"]
            """;

    private static ProxyResources translate(String yaml) {
        return PolicyFixture.translate(MeshFixture.euHelloworldSidecar(), yaml);
    }

    private static Listener virtualInbound(ProxyResources r) {
        return r.listeners().stream().filter(l -> l.getName().equals(ResourceNames.VIRTUAL_INBOUND)).findFirst()
                .orElseThrow();
    }

    private static List<String> transports(ProxyResources r) {
        return virtualInbound(r).getFilterChainsList().stream()
                .map(c -> c.getFilterChainMatch().getDestinationPort().getValue() + "/"
                        + c.getFilterChainMatch().getTransportProtocol())
                .toList();
    }

    private static HttpConnectionManager hcm(FilterChain chain) {
        try {
            return chain.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    /** Each RBAC filter of the first inbound chain as "ACTION: policy names". */
    private static List<String> rbac(ProxyResources r) {
        List<String> out = new ArrayList<>();
        for (HttpFilter f : hcm(virtualInbound(r).getFilterChains(0)).getHttpFiltersList()) {
            if (!f.getName().equals(SecurityTranslator.RBAC_FILTER)) {
                continue;
            }
            try {
                RBAC rbac = f.getTypedConfig().unpack(RBAC.class);
                out.add(rbac.getRules().getAction() + ": " + new java.util.TreeSet<>(rbac.getRules().getPoliciesMap().keySet()));
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                throw new AssertionError(e);
            }
        }
        return out;
    }

    @Test
    void inboundListenerMatchesGoldenFile() throws IOException {
        String actual = ResourcesJson.toJson(virtualInbound(translate(POLICIES))) + "\n";
        Path golden = GOLDEN_DIR.resolve("security-helloworld-inbound.json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    private static String pa(String ns, String name, String spec) {
        return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: " + name + ", namespace: "
                + ns + "}\nspec:\n" + spec.indent(2) + "---\n";
    }

    static Stream<Arguments> modes() {
        return Stream.of(
                Arguments.of("no PeerAuthentication: the mesh's mTLS-only contract", "", List.of("5000/tls")),
                Arguments.of("mesh-wide PERMISSIVE", pa("istio-system", "default", "mtls: {mode: PERMISSIVE}"),
                        List.of("5000/tls", "5000/raw_buffer")),
                Arguments.of("mesh-wide DISABLE", pa("istio-system", "default", "mtls: {mode: DISABLE}"),
                        List.of("5000/raw_buffer")),
                Arguments.of("namespace STRICT over mesh PERMISSIVE",
                        pa("istio-system", "default", "mtls: {mode: PERMISSIVE}")
                                + pa("sample", "default", "mtls: {mode: STRICT}"), List.of("5000/tls")),
                Arguments.of("namespace UNSET inherits mesh PERMISSIVE",
                        pa("istio-system", "default", "mtls: {mode: PERMISSIVE}")
                                + pa("sample", "default", "mtls: {mode: UNSET}"), List.of("5000/tls", "5000/raw_buffer")),
                Arguments.of("another namespace's policy does not apply", pa("other", "default", "mtls: {mode: DISABLE}"),
                        List.of("5000/tls")),
                Arguments.of("workload DISABLE over namespace STRICT",
                        pa("sample", "default", "mtls: {mode: STRICT}")
                                + pa("sample", "hw", "selector: {matchLabels: {app: helloworld}}\nmtls: {mode: DISABLE}"),
                        List.of("5000/raw_buffer")),
                Arguments.of("workload selector not matching",
                        pa("sample", "hw", "selector: {matchLabels: {app: reviews}}\nmtls: {mode: DISABLE}"),
                        List.of("5000/tls")),
                Arguments.of("port level PERMISSIVE over workload STRICT",
                        pa("sample", "hw", "selector: {matchLabels: {version: v2}}\nmtls: {mode: STRICT}\n"
                                + "portLevelMtls: {5000: {mode: PERMISSIVE}}"), List.of("5000/tls", "5000/raw_buffer")),
                Arguments.of("port level for another port",
                        pa("sample", "hw", "selector: {matchLabels: {version: v2}}\nmtls: {mode: PERMISSIVE}\n"
                                + "portLevelMtls: {9000: {mode: STRICT}}"), List.of("5000/tls", "5000/raw_buffer")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("modes")
    void peerAuthenticationPicksTheInboundChains(String name, String yaml, List<String> chains) {
        assertThat(transports(translate(yaml.isEmpty() ? "" : yaml))).isEqualTo(chains);
    }

    private static String ap(String ns, String name, String spec) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: " + name
                + ", namespace: " + ns + "}\nspec:\n" + spec.indent(2) + "---\n";
    }

    static Stream<Arguments> selections() {
        return Stream.of(
                Arguments.of("no policy: no RBAC filter", "", List.of()),
                Arguments.of("ALLOW without rules: an ALLOW filter with no policy (denies all)",
                        ap("sample", "nothing", "{}"), List.of("ALLOW: []")),
                Arguments.of("empty rule: allows all", ap("sample", "all", "rules: [{}]"),
                        List.of("ALLOW: [ns[sample]-policy[all]-rule[0]]")),
                Arguments.of("DENY before ALLOW", ap("sample", "a", "rules: [{}]") + ap("sample", "d", "action: DENY\nrules: [{}, {}]"),
                        List.of("DENY: [ns[sample]-policy[d]-rule[0], ns[sample]-policy[d]-rule[1]]",
                                "ALLOW: [ns[sample]-policy[a]-rule[0]]")),
                Arguments.of("root namespace applies mesh-wide", ap("istio-system", "mesh", "action: DENY\nrules: [{}]"),
                        List.of("DENY: [ns[istio-system]-policy[mesh]-rule[0]]")),
                Arguments.of("root namespace with a matching selector", ap("istio-system", "hw",
                        "selector: {matchLabels: {app: helloworld}}\naction: DENY\nrules: [{}]"),
                        List.of("DENY: [ns[istio-system]-policy[hw]-rule[0]]")),
                Arguments.of("another namespace does not apply", ap("other", "x", "action: DENY\nrules: [{}]"), List.of()),
                Arguments.of("selector not matching", ap("sample", "x", "selector: {matchLabels: {version: v1}}\n"
                        + "action: DENY\nrules: [{}]"), List.of()),
                Arguments.of("targetRef is for gateways", ap("sample", "x", "targetRef: {kind: Gateway, name: g}\n"
                        + "action: DENY\nrules: [{}]"), List.of()),
                Arguments.of("AUDIT changes no decision", ap("sample", "x", "action: AUDIT\nrules: [{}]"), List.of()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("selections")
    void authorizationPoliciesBecomeRbacFiltersInIstiosOrder(String name, String yaml, List<String> filters) {
        assertThat(rbac(translate(yaml))).isEqualTo(filters);
    }

    @Test
    void withAuthorizationTheInboundConnectionManagerNormalizesPathsAndRejectsEncodedSlashes() {
        HttpConnectionManager hcm = hcm(virtualInbound(translate(POLICIES)).getFilterChains(0));
        assertThat(hcm.getNormalizePath().getValue()).isTrue();
        assertThat(hcm.getMergeSlashes()).isTrue();
        assertThat(hcm.getPathWithEscapedSlashesAction())
                .isEqualTo(HttpConnectionManager.PathWithEscapedSlashesAction.REJECT_REQUEST);
        assertThat(hcm.getHttpFiltersList()).extracting(HttpFilter::getName)
                .containsExactly("envoy.filters.http.rbac", "envoy.filters.http.rbac", "envoy.filters.http.router");
        // Without security configuration the inbound chains are exactly what they were.
        assertThat(virtualInbound(translate(""))).isEqualTo(virtualInbound(
                XdsTranslator.translate(MeshFixture.viewOf(MeshFixture.state(), MeshFixture.euHelloworldSidecar()),
                        MeshFixture.euHelloworldSidecar(), MeshFixture.ROOTS)));
    }
}
