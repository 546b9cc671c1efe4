package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * RequestAuthentication → jwt_authn, and AuthorizationPolicy's JWT keys → RBAC metadata matchers
 * on the verified payload, on eu's helloworld sidecar (namespace sample, app=helloworld): the
 * golden inbound listener ({@code golden/security-helloworld-jwt-inbound.json}, refresh with
 * {@code -Dgolden.refresh=true}) and tables.
 */
class JwtTranslatorTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String KEYS = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\","
            + "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";
    private static final String FETCHED = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"sXch\",\"e\":\"AQAB\"}]}";

    static final String POLICIES = """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: jwt, namespace: sample}
            spec:
              selector: {matchLabels: {app: helloworld}}
              jwtRules:
              - issuer: https://issuer.example.com
                audiences: [helloworld]
                jwks: '%s'
                fromHeaders: [{name: x-jwt, prefix: "Token "}]
                fromParams: [token]
                forwardOriginalToken: true
                outputPayloadToHeader: x-jwt-payload
                outputClaimToHeaders: [{header: x-sub, claim: sub}]
              - issuer: https://accounts.example.org
                jwksUri: https://accounts.example.org/keys
            ---
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: mesh, namespace: istio-system}
            spec:
              jwtRules:
              - issuer: https://unfetched.example.net
                jwksUri: https://unfetched.example.net/jwks
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: require-jwt, namespace: sample}
            spec:
              selector: {matchLabels: {app: helloworld}}
              rules:
              - from:
                - source: {requestPrincipals: ["https://issuer.example.com/alice", "https://accounts.example.org/*"]}
                when:
                - key: request.auth.claims[groups]
                  values: ["admins", "ops*"]
                - key: request.auth.claims[realm][role]
                  notValues: ["guest"]
                - key: request.auth.audiences
                  values: ["helloworld"]
                - key: request.auth.presenter
                  values: ["web"]
            """.formatted(KEYS);

    private static ProxyResources translate(String yaml, Map<String, String> jwks) {
        List<ConfigResource> resources = Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z");
        MeshPolicies policies = new MeshPolicies(MeshConfig.merge(Map.of("eu", resources), MeshFixture.DOMAIN),
                MeshFixture.state(), MeshFixture.DOMAIN, jwks);
        ProxyNode node = MeshFixture.euHelloworldSidecar();
        return XdsTranslator.translate(MeshFixture.viewOf(MeshFixture.state(), node), node, MeshFixture.ROOTS,
                policies);
    }

    private static Listener virtualInbound(ProxyResources r) {
        return r.listeners().stream().filter(l -> l.getName().equals(ResourceNames.VIRTUAL_INBOUND)).findFirst()
                .orElseThrow();
    }

    private static List<HttpFilter> filters(ProxyResources r) throws Exception {
        return virtualInbound(r).getFilterChains(0).getFilters(0).getTypedConfig()
                .unpack(HttpConnectionManager.class).getHttpFiltersList();
    }

    private static JwtAuthentication jwt(ProxyResources r) throws Exception {
        for (HttpFilter f : filters(r)) {
            if (f.getName().equals(JwtTranslator.JWT_FILTER)) {
                return f.getTypedConfig().unpack(JwtAuthentication.class);
            }
        }
        throw new AssertionError("no jwt_authn filter");
    }

    @Test
    void inboundListenerMatchesGoldenFile() throws IOException {
        String actual = ResourcesJson.toJson(virtualInbound(translate(POLICIES,
                Map.of("https://accounts.example.org/keys", FETCHED)))) + "\n";
        Path golden = GOLDEN_DIR.resolve("security-helloworld-jwt-inbound.json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    @Test
    void jwtFilterComesFirstThenRbacThenRouter() throws Exception {
        List<String> names = filters(translate(POLICIES, Map.of())).stream().map(HttpFilter::getName).toList();
        assertThat(names).containsExactly(JwtTranslator.JWT_FILTER, SecurityTranslator.RBAC_FILTER,
                "envoy.filters.http.router");
    }

    @Test
    void oneProviderPerRuleAnyOfThemOrNoTokenAtAll() throws Exception {
        JwtAuthentication config = jwt(translate(POLICIES, Map.of("https://accounts.example.org/keys", FETCHED)));
        // Root namespace first, then the sidecar's namespace: istio-system/mesh, sample/jwt (two rules).
        assertThat(config.getProvidersMap().keySet()).containsExactlyInAnyOrder("origins-0", "origins-1", "origins-2");
        assertThat(config.getProvidersOrThrow("origins-0").getIssuer()).isEqualTo("https://unfetched.example.net");
        assertThat(config.getRulesCount()).isEqualTo(1);
        var any = config.getRules(0).getRequires().getRequiresAny().getRequirementsList();
        assertThat(any).extracting(r -> r.getRequiresTypeCase().name())
                .containsExactly("PROVIDER_NAME", "PROVIDER_NAME", "PROVIDER_NAME", "ALLOW_MISSING");
        assertThat(config.getRules(0).getMatch().getPrefix()).isEqualTo("/");
        assertThat(config.getBypassCorsPreflight()).isTrue();
    }

    @Test
    void providerCarriesEveryFieldOfTheRule() throws Exception {
        JwtProvider p = jwt(translate(POLICIES, Map.of())).getProvidersOrThrow("origins-1");
        assertThat(p.getIssuer()).isEqualTo("https://issuer.example.com");
        assertThat(p.getAudiencesList()).containsExactly("helloworld");
        assertThat(p.getLocalJwks().getInlineString()).isEqualTo(KEYS);
        assertThat(p.getFromHeaders(0).getName()).isEqualTo("x-jwt");
        assertThat(p.getFromHeaders(0).getValuePrefix()).isEqualTo("Token ");
        assertThat(p.getFromParamsList()).containsExactly("token");
        assertThat(p.getForward()).isTrue();
        assertThat(p.getForwardPayloadHeader()).isEqualTo("x-jwt-payload");
        assertThat(p.getClaimToHeaders(0).getHeaderName()).isEqualTo("x-sub");
        assertThat(p.getClaimToHeaders(0).getClaimName()).isEqualTo("sub");
        assertThat(p.getPayloadInMetadata()).isEqualTo(JwtTranslator.PAYLOAD);
    }

    @Test
    void fetchedKeysAreInlinedAndUnfetchedOnesRefuseEveryToken() throws Exception {
        JwtAuthentication fetched = jwt(translate(POLICIES, Map.of("https://accounts.example.org/keys", FETCHED)));
        assertThat(fetched.getProvidersOrThrow("origins-2").getLocalJwks().getInlineString()).isEqualTo(FETCHED);
        assertThat(fetched.getProvidersOrThrow("origins-0").getLocalJwks().getInlineString())
                .isEqualTo(JwtTranslator.NO_KEYS);
        JwtAuthentication none = jwt(translate(POLICIES, Map.of()));
        assertThat(none.getProvidersOrThrow("origins-2").getLocalJwks().getInlineString())
                .isEqualTo(JwtTranslator.NO_KEYS);
    }

    @Test
    void aPolicyForOtherWorkloadsOrNamespacesAddsNoFilter() throws Exception {
        String elsewhere = """
                apiVersion: security.istio.io/v1beta1
                kind: RequestAuthentication
                metadata: {name: other-app, namespace: sample}
                spec:
                  selector: {matchLabels: {app: curl}}
                  jwtRules: [{issuer: a, jwks: '{"keys":[]}'}]
                ---
                apiVersion: security.istio.io/v1beta1
                kind: RequestAuthentication
                metadata: {name: other-ns, namespace: ops}
                spec:
                  jwtRules: [{issuer: b, jwks: '{"keys":[]}'}]
                """;
        assertThat(filters(translate(elsewhere, Map.of()))).extracting(HttpFilter::getName)
                .doesNotContain(JwtTranslator.JWT_FILTER);
    }

    /** Istio's request principal values → the iss and sub matchers on the payload. */
    static Stream<Arguments> requestPrincipals() {
        return Stream.of(
                Arguments.of("https://issuer.example.com/alice", "exact:https://issuer.example.com", "exact:alice"),
                Arguments.of("https://issuer.example.com/*", "exact:https://issuer.example.com", "regex:.+"),
                Arguments.of("https://issuer.example.com/al*", "exact:https://issuer.example.com", "prefix:al"),
                Arguments.of("*/alice", "regex:.+", "exact:alice"),
                Arguments.of("*.example.com/alice", "suffix:.example.com", "exact:alice"),
                Arguments.of("*", "regex:.+", "regex:.+"),
                Arguments.of("*ice", "regex:.+", "suffix:ice"),
                Arguments.of("https:*", "prefix:https:", "regex:.+"),
                Arguments.of("issuer-without-slash", "exact:issuer-without-slash", "exact:"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("requestPrincipals")
    void requestPrincipalsMatchIssAndSubAsIstioSplitsThem(String value, String iss, String sub) throws Exception {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: sample}
                spec:
                  rules: [{from: [{source: {requestPrincipals: ["%s"]}}]}]
                """.formatted(value);
        Principal principal = onlyPrincipal(translate(yaml, Map.of()));
        List<Principal> ids = principal.getAndIds().getIds(0).getAndIds().getIdsList();
        assertThat(describe(ids.get(0).getMetadata())).isEqualTo("payload.iss " + iss);
        assertThat(describe(ids.get(1).getMetadata())).isEqualTo("payload.sub " + sub);
    }

    /** when keys → metadata paths into the payload, string or list values alike. */
    static Stream<Arguments> claimKeys() {
        return Stream.of(
                Arguments.of("request.auth.claims[groups]", "payload.groups"),
                Arguments.of("request.auth.claims[realm][roles]", "payload.realm.roles"),
                Arguments.of("request.auth.claims[a][b][c]", "payload.a.b.c"),
                Arguments.of("request.auth.audiences", "payload.aud"),
                Arguments.of("request.auth.presenter", "payload.azp"),
                Arguments.of("request.auth.principal", "payload.iss"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("claimKeys")
    void whenKeysOnTheTokenReadThePayload(String key, String path) throws Exception {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: sample}
                spec:
                  rules: [{when: [{key: "%s", values: ["x/y"]}]}]
                """.formatted(key);
        Principal p = onlyPrincipal(translate(yaml, Map.of())).getAndIds().getIds(0);
        MetadataMatcher m = p.hasAndIds() ? p.getAndIds().getIds(0).getMetadata() : p.getMetadata();
        assertThat(m.getFilter()).isEqualTo(JwtTranslator.JWT_FILTER);
        assertThat(String.join(".", m.getPathList().stream().map(MetadataMatcher.PathSegment::getKey).toList()))
                .isEqualTo(path);
        if (!key.equals("request.auth.principal")) {
            // A string claim or a list of strings: Istio's or(list one_of, value).
            assertThat(m.getValue().getOrMatch().getValueMatchers(0).getListMatch().getOneOf().getStringMatch()
                    .getExact()).isEqualTo("x/y");
            assertThat(m.getValue().getOrMatch().getValueMatchers(1).getStringMatch().getExact()).isEqualTo("x/y");
        }
    }

    @Test
    void notValuesBecomeOneNegatedMatcher() throws Exception {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: sample}
                spec:
                  action: DENY
                  rules: [{from: [{source: {notRequestPrincipals: ["*"]}}]}]
                """;
        Principal p = onlyPrincipal(translate(yaml, Map.of())).getAndIds().getIds(0);
        assertThat(p.hasNotId()).isTrue();
        assertThat(p.getNotId().getAndIds().getIdsCount()).isEqualTo(2);
    }

    @Test
    void sourcesListEveryJwksToFetchWithTheLongestTimeout() {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: a, namespace: sample}
                spec:
                  jwtRules:
                  - {issuer: x, jwksUri: "https://x.example/keys", timeout: 2s}
                  - {issuer: "https://oidc.example/", timeout: 1s}
                  - {issuer: inline, jwks: '{"keys":[]}'}
                ---
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: b, namespace: ops}
                spec:
                  jwtRules: [{issuer: x, jwksUri: "https://x.example/keys", timeout: 7s}]
                """;
        MeshConfig config = MeshConfig.merge(Map.of("eu", Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z")),
                MeshFixture.DOMAIN);
        assertThat(JwksSources.of(config)).containsExactly(
                Map.entry("https://oidc.example/.well-known/openid-configuration", new JwksSources.Source(
                        "https://oidc.example/.well-known/openid-configuration", true, Duration.ofSeconds(1))),
                Map.entry("https://x.example/keys",
                        new JwksSources.Source("https://x.example/keys", false, Duration.ofSeconds(7))));
    }

    private static Principal onlyPrincipal(ProxyResources r) throws Exception {
        for (HttpFilter f : filters(r)) {
            if (f.getName().equals(SecurityTranslator.RBAC_FILTER)) {
                var policies = f.getTypedConfig().unpack(RBAC.class).getRules().getPoliciesMap().values();
                return new ArrayList<>(policies).get(0).getPrincipals(0);
            }
        }
        throw new AssertionError("no RBAC filter");
    }

    private static String describe(MetadataMatcher m) {
        String path = String.join(".", m.getPathList().stream().map(MetadataMatcher.PathSegment::getKey).toList());
        ValueMatcher v = m.getValue();
        StringMatcher s = v.getStringMatch();
        String match = switch (s.getMatchPatternCase()) {
            case EXACT -> "exact:" + s.getExact();
            case PREFIX -> "prefix:" + s.getPrefix();
            case SUFFIX -> "suffix:" + s.getSuffix();
            case SAFE_REGEX -> "regex:" + s.getSafeRegex().getRegex();
            default -> s.toString();
        };
        return path + " " + match;
    }
}
