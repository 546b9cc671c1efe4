package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
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
        RouteConfiguration rc = PolicyTranslatorGoldenTest.translate(MeshFixture.westCurlSidecar(), yaml).routes()
                .stream().filter(c -> c.getName().equals("5000")).findFirst().orElseThrow();
        VirtualHost vh = rc.getVirtualHostsList().stream()
                .filter(v -> v.getDomainsList().contains("helloworld:5000")).findFirst().orElseThrow();
        return vh.getRoutes(0);
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
}
