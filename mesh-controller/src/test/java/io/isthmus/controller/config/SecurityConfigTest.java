package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** PeerAuthentication, AuthorizationPolicy and RequestAuthentication: what is accepted, what is rejected and how. */
class SecurityConfigTest {

    private static ConfigResource one(String yaml) {
        return Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z").get(0);
    }

    private static String pa(String spec) {
        return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n" + spec.indent(2);
    }

    private static String ap(String spec) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n" + spec.indent(2);
    }

    private static String ra(String spec) {
        return "apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: j}\nspec:\n"
                + spec.indent(2);
    }

    /** Istio's documentation examples (security tasks), each accepted as is. */
    static Stream<Arguments> valid() {
        return Stream.of(
                Arguments.of(pa("mtls: {mode: STRICT}")),
                Arguments.of(pa("mtls: {mode: PERMISSIVE}")),
                Arguments.of(pa("mtls: {mode: DISABLE}")),
                Arguments.of(pa("mtls: {mode: UNSET}")),
                Arguments.of(pa("selector: {matchLabels: {app: finance}}\nmtls: {mode: STRICT}\n"
                        + "portLevelMtls: {8080: {mode: DISABLE}}")),
                Arguments.of(ap("{}")),
                Arguments.of(ap("rules: [{}]")),
                Arguments.of(ap("action: DENY\nrules: [{}]")),
                Arguments.of(ap("selector: {matchLabels: {app: httpbin, version: v1}}\naction: ALLOW\nrules:\n"
                        + "- from:\n  - source: {principals: [\"cluster.local/ns/default/sa/curl\"]}\n"
                        + "  - source: {namespaces: [\"dev\"]}\n"
                        + "  to:\n  - operation: {methods: [\"GET\"], paths: [\"/info*\"]}\n"
                        + "  - operation: {methods: [\"POST\"], paths: [\"/data\"], ports: [\"8000\"], hosts: [\"*.example.com\"]}\n"
                        + "  when:\n  - key: request.auth.claims[iss]\n    values: [\"https://accounts.google.com\"]\n"
                        + "  - key: request.headers[version]\n    notValues: [\"v1\"]")),
                Arguments.of(ap("action: DENY\nrules:\n- from: [{source: {notNamespaces: [foo], ipBlocks: [10.0.0.0/8, 1.2.3.4]}}]\n"
                        + "  to: [{operation: {notPaths: [\"/healthz\"], notMethods: [GET]}}]\n"
                        + "  when: [{key: source.ip, values: [\"192.168.0.0/16\"]}, {key: destination.port, values: [\"9080\"]}]")),
                Arguments.of(ap("action: AUDIT\nrules: [{to: [{operation: {paths: [\"/headers\"]}}]}]")),
                Arguments.of(ap("rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]")),
                Arguments.of(ap("rules: [{from: [{source: {remoteIpBlocks: [\"2001:db8::/32\"], notRemoteIpBlocks: [\"::1\"]}}]}]")),
                Arguments.of(ra("selector: {matchLabels: {app: httpbin}}\njwtRules:\n- issuer: \"testing@secure.istio.io\"\n"
                        + "  jwksUri: \"https://raw.githubusercontent.com/istio/istio/master/security/tools/jwt/samples/jwks.json\"\n"
                        + "  fromHeaders: [{name: x-jwt-assertion, prefix: \"Bearer \"}]\n  forwardOriginalToken: true")),
                Arguments.of(ra("jwtRules:\n- issuer: https://kubernetes.default.svc/east\n"
                        + "  jwks: '{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"x\"}]}'\n  audiences: [istio-ca]")));
    }

    @ParameterizedTest
    @MethodSource("valid")
    void acceptsIstioExamples(String yaml) throws ConfigException {
        assertThat(ConfigParser.parse(one(yaml)).warnings()).isEmpty();
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of(pa("mtls: {mode: STRCT}"), "PeerAuthentication sample/p: spec.mtls.mode"),
                Arguments.of(pa("mtls: {mode: STRICT}\nportLevelMtls: {8080: {mode: DISABLE}}"),
                        "spec.portLevelMtls: set without selector (expected: a selector with matchLabels"),
                Arguments.of(pa("selector: {matchLabels: {app: a}}\nportLevelMtls: {0: {mode: DISABLE}}"),
                        "spec.portLevelMtls[0]: port 0 (expected: 1-65535)"),
                Arguments.of(pa("mtls: {mode: STRICT}\nmtlsMode: STRICT"), "unknown field 'mtlsMode'"),
                Arguments.of(ap("action: CUSTOM\nprovider: {name: ext}\nrules: [{}]"),
                        "AuthorizationPolicy sample/a: spec.action: CUSTOM (not supported"),
                Arguments.of(ap("action: DENY\nprovider: {name: ext}\nrules: [{}]"),
                        "spec.provider: set with action DENY (expected: only with action CUSTOM"),
                Arguments.of(ap("action: REJECT"), "spec.action"),
                Arguments.of(ap("rules: [{from: [{source: {}}]}]"), "spec.rules[0].from[0].source: empty"),
                Arguments.of(ap("rules: [{to: [{operation: {}}]}]"), "spec.rules[0].to[0].operation: empty"),
                Arguments.of(ap("rules: [{from: [{source: {principal: [a]}}]}]"),
                        "spec.rules[0].from[0].source: unknown field 'principal'"),
                Arguments.of(ap("rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]"),
                        "spec.rules[0].from[0].source.ipBlocks[0]: '10.0.0.0/33' (expected: an IP address or CIDR"),
                Arguments.of(ap("rules: [{from: [{source: {remoteIpBlocks: [example.com]}}]}]"),
                        "source.remoteIpBlocks[0]: 'example.com' (expected: an IP address or CIDR"),
                Arguments.of(ap("rules: [{to: [{operation: {ports: [\"http\"]}}]}]"),
                        "spec.rules[0].to[0].operation.ports[0]: 'http' (expected: a port number 1-65535)"),
                Arguments.of(ap("rules: [{to: [{operation: {methods: [get]}}]}]"),
                        "operation.methods[0]: 'get' (expected: an HTTP method in upper case"),
                Arguments.of(ap("rules: [{to: [{operation: {paths: [\"/a/*/b\"]}}]}]"),
                        "operation.paths[0]: '/a/*/b' has a wildcard inside"),
                Arguments.of(ap("rules: [{to: [{operation: {paths: [\"/a/{*}/b\"]}}]}]"),
                        "is a path template (not supported by Isthmus yet"),
                Arguments.of(ap("rules: [{to: [{operation: {paths: [\"admin\"]}}]}]"),
                        "operation.paths[0]: 'admin' (expected: a path starting with /"),
                Arguments.of(ap("rules: [{when: [{key: \"request.headers[x-token]\"}]}]"),
                        "spec.rules[0].when[0]: has neither values nor notValues"),
                Arguments.of(ap("rules: [{when: [{key: \"request.header[x]\", values: [a]}]}]"),
                        "spec.rules[0].when[0].key: 'request.header[x]' (expected one of request.headers[<name>]"),
                Arguments.of(ap("rules: [{when: [{key: experimental.envoy.filters.a, values: [a]}]}]"),
                        "experimental keys are not supported"),
                Arguments.of(ap("rules: [{when: [{key: destination.port, values: [\"99999\"]}]}]"),
                        "spec.rules[0].when[0].values[0]: '99999' (expected: a port number"),
                Arguments.of(ap("rules: [{from: [{source: {serviceAccounts: [curl]}}]}]"),
                        "source.serviceAccounts[0]: 'curl' (expected: <namespace>/<service-account>)"),
                Arguments.of(ap("selector: {matchLabels: {app: a}}\ntargetRef: {kind: Gateway, name: g}\nrules: [{}]"),
                        "spec.selector: set with targetRef(s)"),
                Arguments.of(ap("rules:\n- "), "spec.rules[0]: null (expected: a rule; write {}"),
                Arguments.of(ra("jwtRules: [{jwksUri: \"https://example.com/jwks\"}]"),
                        "RequestAuthentication sample/j: spec.jwtRules[0].issuer: missing"),
                Arguments.of(ra("jwtRules: [{issuer: a, jwksUri: \"file:///etc/jwks\"}]"),
                        "spec.jwtRules[0].jwksUri: 'file:///etc/jwks' (expected: an http or https URL)"),
                Arguments.of(ra("jwtRules: [{issuer: a, jwksUri: \"https://e.com/k\", jwks: '{\"keys\":[]}'}]"),
                        "spec.jwtRules[0]: has both jwksUri and jwks"),
                Arguments.of(ra("jwtRules: [{issuer: a, jwks: 'not json'}]"),
                        "spec.jwtRules[0].jwks: not a JSON Web Key Set"),
                Arguments.of(ra("jwtRules: [{issuer: a, timeout: soon}]"), "spec.jwtRules[0].timeout"));
    }

    @ParameterizedTest
    @MethodSource("invalid")
    void rejectsNamingKindObjectFieldAndFix(String yaml, String message) {
        assertThatThrownBy(() -> ConfigParser.parse(one(yaml)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(message);
    }

    @Test
    void parsedSpecsCarryIstioDefaults() throws ConfigException {
        var apSpec = (AuthorizationPolicySpec) ConfigParser.parse(one(ap("{}"))).spec();
        assertThat(apSpec.action()).as("absent action").isEqualTo(AuthorizationPolicySpec.Action.ALLOW);
        assertThat(apSpec.rules()).isEmpty();
        var paSpec = (PeerAuthenticationSpec) ConfigParser.parse(one(pa("selector: {matchLabels: {app: a}}\n"
                + "portLevelMtls: {\"9000\": {mode: PERMISSIVE}}"))).spec();
        assertThat(paSpec.mode()).isEqualTo(PeerAuthenticationSpec.Mode.UNSET);
        assertThat(paSpec.portLevelMtls()).containsOnlyKeys(9000);
        assertThat(paSpec.selector().matches(Map.of("app", "a", "version", "v1"))).isTrue();
        assertThat(paSpec.selector().matches(Map.of("app", "b"))).isFalse();
    }

    @Test
    void securityKindsAreReadThroughTheirOwnGroupNewestVersionFirst() {
        assertThat(ConfigKind.AUTHORIZATION_POLICY.group()).isEqualTo("security.istio.io");
        assertThat(ConfigKind.AUTHORIZATION_POLICY.versions()).containsExactly("v1", "v1beta1");
        assertThat(ConfigKind.VIRTUAL_SERVICE.group()).isEqualTo("networking.istio.io");
        List<List<ConfigResource>> notified = new ArrayList<>();
        ConfigStore store = new ConfigStore("east", new SimpleMeterRegistry(), notified::add);
        store.markSynced();
        ConfigResource v1 = one(ap("action: DENY\nrules: [{}]"));
        ConfigResource beta = new ConfigResource(v1.kind(), "security.istio.io/v1beta1", v1.namespace(), v1.name(),
                v1.creationTimestamp(), ConfigParser.canonicalSpec(Map.of("action", "ALLOW")));
        store.upsert(beta);
        store.upsert(v1);
        assertThat(store.accepted()).containsExactly(v1);
        MeshConfig merged = MeshConfig.merge(Map.of("east", store.accepted()), "cluster.local");
        assertThat(merged.authorizationPolicies()).singleElement()
                .satisfies(e -> assertThat(e.spec().action()).isEqualTo(AuthorizationPolicySpec.Action.DENY));
    }

    @Test
    void rejectedSecurityObjectIsCountedByKind() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        ConfigStore store = new ConfigStore("east", registry, r -> { });
        store.upsert(one(ap("action: CUSTOM\nprovider: {name: x}\nrules: [{}]")));
        assertThat(store.rejected()).containsOnlyKeys("AuthorizationPolicy/sample/a");
        assertThat(registry.get("isthmus.config.rejected").tag("kind", "AuthorizationPolicy").counter().count())
                .isEqualTo(1.0);
    }

    /**
     * Every security.istio.io object in the Istio corpus (pilot's xDS benchmarks, Go templates
     * instantiated with index 0) is accepted.
     */
    @Test
    void acceptsEverySecurityObjectOfTheCorpus() throws IOException, ConfigException {
        Path samples = IstioCorpusTest.corpus();
        assumeTrue(samples != null, "../shared/istio-corpus is absent beside the repository");
        Path root = samples.getParent();
        List<Path> files;
        try (Stream<Path> walk = Files.walk(root)) {
            files = walk.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        }
        List<String> seen = new ArrayList<>();
        for (Path file : files) {
            String text = Files.readString(file);
            if (!text.contains("security.istio.io")) {
                continue;
            }
            String instantiated = text.lines()
                    .filter(l -> !l.trim().startsWith("{{"))
                    .map(l -> l.replaceAll("\\{\\{[^}]*}}", "0"))
                    .reduce("", (a, b) -> a + b + "\n");
            for (ConfigResource r : Yaml.resources(instantiated, "default", "")) {
                if (!r.apiVersion().startsWith("security.istio.io/")) {
                    continue;
                }
                ConfigParser.parse(r);
                seen.add(r.kind());
            }
        }
        assertThat(seen).contains("AuthorizationPolicy", "PeerAuthentication");
    }
}
