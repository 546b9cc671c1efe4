package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RateLimit;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.XRateLimitHeadersRFCVersion;
import io.envoyproxy.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * RateLimitPolicy on eu's helloworld sidecar (namespace sample, labels app=helloworld,
 * version=v2, inbound port 5000): the golden inbound listener ({@code golden/ratelimit-helloworld-inbound.json},
 * refresh with {@code -Dgolden.refresh=true}) and tables of which filters, buckets and matches each
 * configuration gives.
 */
class RateLimitTranslatorTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");

    static final String POLICIES = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin}
            spec:
              action: DENY
              rules:
              - to: [{operation: {paths: ["/admin"]}}]
            ---
            apiVersion: policy.isthmus.io/v1alpha1
            kind: RateLimitPolicy
            metadata: {name: helloworld}
            spec:
              selector: {matchLabels: {app: helloworld}}
              rules:
              - name: writes
                match: {methods: [POST, PUT], paths: ["/hello*", "/exact", "*.js"], hosts: ["helloworld*"]}
                limit: {requests: 5, fillInterval: 500ms, burst: 20}
              - limit: {requests: 100, unit: MINUTE}
            ---
            apiVersion: policy.isthmus.io/v1alpha1
            kind: RateLimitPolicy
            metadata: {name: mesh-wide, namespace: istio-system}
            spec:
              dryRun: true
              responseHeaders: false
              rules:
              - limit: {requests: 1000, unit: SECOND}
            """;

    private static ProxyResources translate(String yaml) {
        return PolicyFixture.translate(MeshFixture.euHelloworldSidecar(), yaml);
    }

    private static Listener virtualInbound(ProxyResources r) {
        return r.listeners().stream().filter(l -> l.getName().equals(ResourceNames.VIRTUAL_INBOUND)).findFirst()
                .orElseThrow();
    }

    private static HttpConnectionManager hcm(FilterChain chain) {
        try {
            return chain.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    /** filter name → the per-route LocalRateLimit of the first inbound chain. */
    private static Map<String, LocalRateLimit> perRoute(ProxyResources r) {
        Map<String, LocalRateLimit> out = new TreeMap<>();
        hcm(virtualInbound(r).getFilterChains(0)).getRouteConfig().getVirtualHosts(0).getRoutes(0)
                .getTypedPerFilterConfigMap().forEach((name, any) -> {
                    try {
                        out.put(name, any.unpack(LocalRateLimit.class));
                    } catch (InvalidProtocolBufferException e) {
                        throw new AssertionError(e);
                    }
                });
        return out;
    }

    @Test
    void inboundListenerMatchesGoldenFile() throws IOException {
        String actual = ResourcesJson.toJson(virtualInbound(translate(POLICIES))) + "\n";
        Path golden = GOLDEN_DIR.resolve("ratelimit-helloworld-inbound.json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    @Test
    void filtersComeAfterRbacAndBeforeTheRouterOnePerPolicyInNamespaceOrder() {
        assertThat(hcm(virtualInbound(translate(POLICIES)).getFilterChains(0)).getHttpFiltersList())
                .extracting(HttpFilter::getName)
                .containsExactly("envoy.filters.http.rbac",
                        "envoy.filters.http.local_ratelimit/istio-system/mesh-wide",
                        "envoy.filters.http.local_ratelimit/sample/helloworld",
                        "envoy.filters.http.router");
    }

    @Test
    void eachRuleIsADescriptorWithItsBucketAndAnActionProducingIt() {
        LocalRateLimit hw = perRoute(translate(POLICIES)).get("envoy.filters.http.local_ratelimit/sample/helloworld");
        assertThat(hw.getStatus().getCodeValue()).isEqualTo(429);
        assertThat(hw.getEnableXRatelimitHeaders()).isEqualTo(XRateLimitHeadersRFCVersion.DRAFT_VERSION_03);
        assertThat(hw.getFilterEnforced().getDefaultValue().getNumerator()).isEqualTo(100);
        assertThat(hw.getAlwaysConsumeDefaultTokenBucket().getValue()).isFalse();
        assertThat(hw.getTokenBucket().getMaxTokens()).isEqualTo(-1); // 4294967295 unsigned: unbounded
        List<LocalRateLimitDescriptor> d = hw.getDescriptorsList();
        assertThat(d).extracting(x -> x.getEntries(0).getKey() + "=" + x.getEntries(0).getValue())
                .containsExactly("rule=writes", "rule=1");
        assertThat(d.get(0).getTokenBucket().getMaxTokens()).isEqualTo(20);
        assertThat(d.get(0).getTokenBucket().getTokensPerFill().getValue()).isEqualTo(5);
        assertThat(d.get(0).getTokenBucket().getFillInterval().getNanos()).isEqualTo(500_000_000);
        assertThat(d.get(1).getTokenBucket().getMaxTokens()).isEqualTo(100);
        assertThat(d.get(1).getTokenBucket().getFillInterval().getSeconds()).isEqualTo(60);
        RateLimit.Action writes = hw.getRateLimits(0).getActions(0);
        assertThat(writes.getHeaderValueMatch().getDescriptorValue()).isEqualTo("writes");
        assertThat(writes.getHeaderValueMatch().getHeadersList())
                .extracting(h -> h.getName() + " " + h.getStringMatch().getSafeRegex().getRegex())
                .containsExactly(":method (POST|PUT)", ":authority (?i)helloworld[^:]*(:[0-9]+)?",
                        ":path (/hello.*|/exact(\\?.*)?|[^?]*\\.js(\\?.*)?)");
        assertThat(hw.getRateLimits(1).getActions(0).getGenericKey().getDescriptorValue()).isEqualTo("1");
        LocalRateLimit mesh = perRoute(translate(POLICIES)).get("envoy.filters.http.local_ratelimit/istio-system/mesh-wide");
        assertThat(mesh.getFilterEnforced().getDefaultValue().getNumerator()).isZero();
        assertThat(mesh.getFilterEnabled().getDefaultValue().getNumerator()).isEqualTo(100);
        assertThat(mesh.getEnableXRatelimitHeaders()).isEqualTo(XRateLimitHeadersRFCVersion.OFF);
    }

    @Test
    void aPerHeaderRuleIsAWildcardDescriptorFilledByARequestHeadersAction() {
        LocalRateLimit hw = perRoute(translate(rl("sample", "users", """
                rules:
                - name: per-user
                  perHeader: {name: x-user-id, maxValues: 500}
                  limit: {requests: 5, unit: MINUTE}
                - limit: {requests: 100, unit: SECOND}
                """))).get("envoy.filters.http.local_ratelimit/sample/users");
        assertThat(hw.getDescriptors(0).getEntriesList())
                .extracting(e -> e.getKey() + "=" + e.getValue())
                .containsExactly("rule=per-user", "x-user-id=");
        assertThat(hw.getDescriptors(1).getEntriesList()).hasSize(1);
        RateLimit perUser = hw.getRateLimits(0);
        assertThat(perUser.getActions(0).getGenericKey().getDescriptorValue()).isEqualTo("per-user");
        RateLimit.Action.RequestHeaders header = perUser.getActions(1).getRequestHeaders();
        assertThat(header.getHeaderName()).isEqualTo("x-user-id");
        assertThat(header.getDescriptorKey()).isEqualTo("x-user-id");
        assertThat(header.getSkipIfAbsent()).isTrue();
        assertThat(hw.getMaxDynamicDescriptors().getValue()).isEqualTo(500);
        assertThat(hw.getRateLimits(1).getActionsCount()).isEqualTo(1);
    }

    private static String rl(String ns, String name, String spec) {
        return "apiVersion: policy.isthmus.io/v1alpha1\nkind: RateLimitPolicy\nmetadata: {name: " + name
                + ", namespace: " + ns + "}\nspec:\n" + spec.indent(2) + "---\n";
    }

    static Stream<Arguments> selections() {
        String any = "rules: [{limit: {requests: 1, unit: SECOND}}]";
        return Stream.of(
                Arguments.of("no policy: no filter", "", List.of()),
                Arguments.of("own namespace", rl("sample", "a", any), List.of("sample/a")),
                Arguments.of("root namespace: mesh-wide", rl("istio-system", "m", any), List.of("istio-system/m")),
                Arguments.of("another namespace does not apply", rl("other", "x", any), List.of()),
                Arguments.of("selector matching", rl("sample", "s", "selector: {matchLabels: {version: v2}}\n" + any),
                        List.of("sample/s")),
                Arguments.of("selector not matching", rl("sample", "s", "selector: {matchLabels: {version: v1}}\n"
                        + any), List.of()),
                Arguments.of("a rule for another port only: nothing on 5000", rl("sample", "p",
                        "rules: [{match: {ports: [\"9000\"]}, limit: {requests: 1, unit: SECOND}}]"), List.of()),
                Arguments.of("a rule for this port", rl("sample", "p",
                        "rules: [{match: {ports: [\"5000\"]}, limit: {requests: 1, unit: SECOND}}]"),
                        List.of("sample/p")),
                Arguments.of("several, sorted", rl("sample", "b", any) + rl("sample", "a", any),
                        List.of("sample/a", "sample/b")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("selections")
    void policiesSelectingTheWorkloadBecomeFilters(String name, String yaml, List<String> policies) {
        assertThat(hcm(virtualInbound(translate(yaml)).getFilterChains(0)).getHttpFiltersList())
                .extracting(HttpFilter::getName)
                .filteredOn(n -> n.startsWith(RateLimitTranslator.FILTER))
                .containsExactlyElementsOf(policies.stream().map(p -> RateLimitTranslator.FILTER + "/" + p).toList());
    }

    @Test
    void translationIsDeterministicAndWithoutPoliciesTheInboundSideIsUnchanged() {
        assertThat(ResourcesJson.toJson(translate(POLICIES))).isEqualTo(ResourcesJson.toJson(translate(POLICIES)));
        assertThat(virtualInbound(translate(""))).isEqualTo(virtualInbound(
                XdsTranslator.translate(MeshFixture.viewOf(MeshFixture.state(), MeshFixture.euHelloworldSidecar()),
                        MeshFixture.euHelloworldSidecar(), MeshFixture.ROOTS)));
    }
}
