package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * VirtualService HTTP route features as pilot emits them, one table per feature: the retry policy
 * ({@code retry.ConvertPolicy}), read back from the west curl sidecar's route for helloworld.
 */
class HttpRouteFeaturesTest {

    private static String vs(String routeFields) {
        return """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld}
                spec:
                  hosts: [helloworld]
                  http:
                  - route:
                    - destination: {host: helloworld}
                """ + routeFields.indent(4);
    }

    private static Route firstRoute(String yaml) {
        return PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml)).getRoutes(0);
    }

    /** The policy in one line: retry_on | codes | retries | host predicates | priority | per-try | back-off. */
    private static String describe(Route route) {
        if (!route.getRoute().hasRetryPolicy()) {
            return "none";
        }
        RetryPolicy p = route.getRoute().getRetryPolicy();
        String priority = "-";
        if (p.hasRetryPriority()) {
            try {
                priority = p.getRetryPriority().getName() + "/" + p.getRetryPriority().getTypedConfig()
                        .unpack(PreviousPrioritiesConfig.class).getUpdateFrequency();
            } catch (InvalidProtocolBufferException e) {
                throw new AssertionError(e);
            }
        }
        return p.getRetryOn() + " | " + p.getRetriableStatusCodesList() + " | " + p.getNumRetries().getValue()
                + " | " + p.getRetryHostPredicateList().stream().map(RetryPolicy.RetryHostPredicate::getName).toList()
                + "/" + p.getHostSelectionRetryMaxAttempts()
                + " | " + priority
                + " | " + (p.hasPerTryTimeout() ? p.getPerTryTimeout().getSeconds() + "s" + p.getPerTryTimeout().getNanos() / 1_000_000 + "ms" : "-")
                + " | " + (p.hasRetryBackOff() ? p.getRetryBackOff().getBaseInterval().getNanos() / 1_000_000 + "ms" : "-");
    }

    private static final String DEFAULT = RetryPolicies.DEFAULT_RETRY_ON
            + " | [503] | 2 | [envoy.retry_host_predicates.previous_hosts]/5 | - | - | -";

    static Stream<Arguments> retries() {
        return Stream.of(
                Arguments.of("no retries: Istio's default", "", DEFAULT),
                Arguments.of("attempts 0 disables", "retries: {attempts: 0}", "none"),
                Arguments.of("attempts absent reads as 0 (pilot)", "retries: {perTryTimeout: 1s}", "none"),
                Arguments.of("attempts only keeps the default conditions", "retries: {attempts: 4}",
                        DEFAULT.replace(" 2 |", " 4 |")),
                Arguments.of("retryOn replaces conditions and codes", "retries: {attempts: 3, retryOn: 5xx}",
                        "5xx | [] | 3 | [envoy.retry_host_predicates.previous_hosts]/5 | - | - | -"),
                Arguments.of("numeric codes add retriable-status-codes",
                        "retries: {attempts: 3, retryOn: 'gateway-error, 502,504', perTryTimeout: 1.5s}",
                        "gateway-error,retriable-status-codes | [502, 504] | 3"
                                + " | [envoy.retry_host_predicates.previous_hosts]/5 | - | 1s500ms | -"),
                Arguments.of("retryIgnorePreviousHosts false drops the predicate",
                        "retries: {attempts: 2, retryIgnorePreviousHosts: false}",
                        RetryPolicies.DEFAULT_RETRY_ON + " | [503] | 2 | []/5 | - | - | -"),
                Arguments.of("retryRemoteLocalities adds previous_priorities",
                        "retries: {attempts: 2, retryRemoteLocalities: true}",
                        DEFAULT.replace("| - | - | -", "| envoy.retry_priorities.previous_priorities/2 | - | -")),
                Arguments.of("retryRemoteLocalities false keeps retries local",
                        "retries: {attempts: 2, retryRemoteLocalities: false}", DEFAULT),
                Arguments.of("backoff sets the base interval", "retries: {attempts: 2, backoff: 100ms}",
                        DEFAULT.replace("| - | - | -", "| - | - | 100ms")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("retries")
    void retryPolicyIsPilots(String name, String fields, String expected) {
        assertThat(describe(firstRoute(vs(fields)))).isEqualTo(expected);
    }

    @Test
    void aServiceWithoutVirtualServiceGetsTheDefaultPolicyAndAHashedOneNoHostPredicate() {
        assertThat(describe(firstRoute(""))).isEqualTo(DEFAULT);
        String hashed = """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld}
                spec:
                  host: helloworld
                  trafficPolicy:
                    loadBalancer:
                      consistentHash: {httpHeaderName: x-user}
                """;
        // Consistent hashing wants the same host again: pilot's DefaultConsistentHashPolicy.
        assertThat(describe(firstRoute(hashed)))
                .isEqualTo(RetryPolicies.DEFAULT_RETRY_ON + " | [503] | 2 | []/5 | - | - | -");
        assertThat(describe(firstRoute(hashed + "---\n" + vs(""))))
                .isEqualTo(RetryPolicies.DEFAULT_RETRY_ON + " | [503] | 2 | []/5 | - | - | -");
    }

    @Test
    void corsPolicyIsAPerRouteCorsFilterConfigAsPilotEmitsIt() throws Exception {
        Route route = firstRoute(vs("""
                corsPolicy:
                  allowOrigins:
                  - exact: https://app.example
                  - prefix: https://admin.
                  - regex: "https://[a-z]+[.]dev[.]example"
                  allowMethods: [GET, POST]
                  allowHeaders: [x-user, content-type]
                  exposeHeaders: [x-served-by]
                  maxAge: 24h
                  allowCredentials: true
                  unmatchedPreflights: IGNORE
                """));
        var cors = route.getTypedPerFilterConfigOrThrow(PolicyTranslator.CORS_FILTER)
                .unpack(io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.class);
        assertThat(cors.getAllowOriginStringMatchList()).extracting(m -> m.getMatchPatternCase() + "="
                + (m.hasSafeRegex() ? m.getSafeRegex().getRegex() : m.getExact() + m.getPrefix()))
                .containsExactly("EXACT=https://app.example", "PREFIX=https://admin.",
                        "SAFE_REGEX=https://[a-z]+[.]dev[.]example");
        assertThat(cors.getAllowMethods()).isEqualTo("GET,POST");
        assertThat(cors.getAllowHeaders()).isEqualTo("x-user,content-type");
        assertThat(cors.getExposeHeaders()).isEqualTo("x-served-by");
        assertThat(cors.getMaxAge()).isEqualTo("86400");
        assertThat(cors.getAllowCredentials().getValue()).isTrue();
        assertThat(cors.getForwardNotMatchingPreflights().getValue()).isFalse();
        assertThat(cors.getFilterEnabled().getDefaultValue().getNumerator()).isEqualTo(100);

        // The deprecated allowOrigin list: exact matches; unmatched preflights forwarded by default.
        var legacy = firstRoute(vs("corsPolicy: {allowOrigin: ['https://old.example']}"))
                .getTypedPerFilterConfigOrThrow(PolicyTranslator.CORS_FILTER)
                .unpack(io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.class);
        assertThat(legacy.getAllowOriginStringMatch(0).getExact()).isEqualTo("https://old.example");
        assertThat(legacy.getForwardNotMatchingPreflights().getValue()).isTrue();
        assertThat(legacy.hasAllowCredentials()).isFalse();
        assertThat(firstRoute(vs("")).getTypedPerFilterConfigMap()).doesNotContainKey(PolicyTranslator.CORS_FILTER);
    }

    @Test
    void mirrorsAddOneMirrorPolicyEachAfterTheSingleMirror() {
        Route route = firstRoute("""
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld}
                spec:
                  hosts: [helloworld]
                  http:
                  - route:
                    - destination: {host: helloworld}
                    mirrors:
                    - destination: {host: helloworld, subset: v1}
                      percentage: {value: 25}
                    - destination: {host: helloworld, subset: v2}
                    - destination: {host: helloworld, subset: v3}
                      percentage: {value: 0}
                """);
        assertThat(route.getRoute().getRequestMirrorPoliciesList()).extracting(m -> m.getCluster() + " "
                + m.getRuntimeFraction().getDefaultValue().getNumerator() + "/"
                + m.getRuntimeFraction().getDefaultValue().getDenominator())
                .containsExactly("outbound|5000|v1|" + MeshFixture.HELLOWORLD + " 250000/MILLION",
                        "outbound|5000|v2|" + MeshFixture.HELLOWORLD + " 100/HUNDRED");
    }

    @Test
    void aGrpcStatusAbortIsTheFaultFiltersGrpcStatusAndHttp2ErrorIsDroppedAsPilotDoes() throws Exception {
        var fault = firstRoute(vs("fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}}"))
                .getTypedPerFilterConfigOrThrow(PolicyTranslator.FAULT_FILTER)
                .unpack(io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault.class);
        assertThat(fault.getAbort().getGrpcStatus()).isEqualTo(14);
        assertThat(fault.getAbort().getPercentage().getNumerator()).isEqualTo(500_000);
        assertThat(firstRoute(vs("fault: {abort: {http2Error: REFUSED_STREAM}}")).getTypedPerFilterConfigMap())
                .doesNotContainKey(PolicyTranslator.FAULT_FILTER);
    }

    @Test
    void uriRegexRewriteIsRegexRewriteAndDerivePortFromRequestPortIsTheRoutesPort() {
        var action = firstRoute(vs("rewrite: {uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\\2/instance/\\1'}}"))
                .getRoute();
        assertThat(action.getRegexRewrite().getPattern().getRegex()).isEqualTo("^/service/([^/]+)(/.*)$");
        assertThat(action.getRegexRewrite().getSubstitution()).isEqualTo("\\2/instance/\\1");
        String redirect = """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: helloworld}
                spec:
                  hosts: [helloworld]
                  http:
                  - match: [{uri: {prefix: /a}}]
                    redirect: {uri: /b, derivePort: FROM_REQUEST_PORT}
                  - redirect: {scheme: https, derivePort: FROM_PROTOCOL_DEFAULT}
                """;
        VirtualHost vh = PolicyFixture.helloworld(PolicyFixture.translate(MeshFixture.westCurlSidecar(), redirect));
        assertThat(vh.getRoutes(0).getRedirect().getPortRedirect()).isEqualTo(5000);
        assertThat(vh.getRoutes(1).getRedirect().getPortRedirect()).isZero();
        assertThat(vh.getRoutes(1).getRedirect().getSchemeRedirect()).isEqualTo("https");
    }
}
