package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.Yaml;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A DestinationRule's {@code loadBalancer.warmupDurationSecs} and {@code warmup} as the
 * {@code slow_start_config} of helloworld's cluster, as pilot's {@code setSlowStartConfig}: in
 * the ROUND_ROBIN or LEAST_REQUEST config, none for other policies; and their validation.
 */
class WarmupTranslationTest {

    private static final String CLUSTER = "outbound|5000||" + MeshFixture.HELLOWORLD;

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            // loadBalancer # policy # window s # min % (-1: unset) # aggression (-1: unset)
            "{warmupDurationSecs: 30s} # ROUND_ROBIN # 30 # -1 # -1",
            "{simple: ROUND_ROBIN, warmupDurationSecs: 45s} # ROUND_ROBIN # 45 # -1 # -1",
            "{simple: LEAST_REQUEST, warmupDurationSecs: 20s} # LEAST_REQUEST # 20 # -1 # -1",
            "{simple: LEAST_CONN, warmup: {duration: 60s}} # LEAST_REQUEST # 60 # -1 # -1",
            "{simple: ROUND_ROBIN, warmup: {duration: 90s, minimumPercent: 25, aggression: 2.5}}"
                    + " # ROUND_ROBIN # 90 # 25 # 2.5",
            "{simple: RANDOM, warmupDurationSecs: 30s} # RANDOM # 0 # -1 # -1",
    })
    void warmupBecomesSlowStart(String loadBalancer, String policy, long window, double min, double aggression) {
        Cluster c = cluster(loadBalancer);
        assertThat(c.getLbPolicy()).isEqualTo(Cluster.LbPolicy.valueOf(policy));
        Cluster.SlowStartConfig slowStart = switch (c.getLbPolicy()) {
            case ROUND_ROBIN -> c.getRoundRobinLbConfig().getSlowStartConfig();
            case LEAST_REQUEST -> c.getLeastRequestLbConfig().getSlowStartConfig();
            default -> {
                assertThat(c.hasRoundRobinLbConfig() || c.hasLeastRequestLbConfig()).isFalse();
                yield Cluster.SlowStartConfig.getDefaultInstance();
            }
        };
        assertThat(slowStart.getSlowStartWindow().getSeconds()).isEqualTo(window);
        assertThat(slowStart.hasMinWeightPercent()).isEqualTo(min >= 0);
        assertThat(slowStart.getMinWeightPercent().getValue()).isEqualTo(Math.max(min, 0));
        assertThat(slowStart.hasAggression()).isEqualTo(aggression >= 0);
        assertThat(slowStart.getAggression().getDefaultValue()).isEqualTo(Math.max(aggression, 0));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "{warmupDurationSecs: 10s, warmup: {duration: 10s}} # spec.trafficPolicy.loadBalancer: sets both"
                    + " warmupDurationSecs and warmup",
            "{warmup: {minimumPercent: 5}} # spec.trafficPolicy.loadBalancer.warmup.duration: missing",
            "{warmup: {duration: 10s, minimumPercent: 150}} # spec.trafficPolicy.loadBalancer.warmup.minimumPercent:"
                    + " 150.0 (expected: 0-100)",
            "{warmup: {duration: 10s, aggression: 0}} # spec.trafficPolicy.loadBalancer.warmup.aggression: 0.0"
                    + " (expected: > 0",
            "{warmupDurationSecs: 10ms} # spec.trafficPolicy.loadBalancer.warmupDurationSecs: 10ms (expected: at least",
            "{warmup: {duration: 60s, speed: 2}} # unknown field 'speed'",
    })
    void badWarmupsAreRejected(String loadBalancer, String message) {
        assertThatThrownBy(() -> ConfigParser.parse(Yaml.resources(rule(loadBalancer), "sample",
                PolicyFixture.CREATED).get(0)))
                .isInstanceOf(ConfigException.class).hasMessageContaining(message.trim());
    }

    private static Cluster cluster(String loadBalancer) {
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), rule(loadBalancer)).clusters().stream()
                .filter(c -> c.getName().equals(CLUSTER)).findFirst().orElseThrow();
    }

    private static String rule(String loadBalancer) {
        return """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld, namespace: sample}
                spec:
                  host: helloworld
                  trafficPolicy:
                    loadBalancer: %s
                """.formatted(loadBalancer);
    }
}
