package io.isthmus.controller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TrafficWindowTest {

    private static final Instant T0 = Instant.parse("2026-11-27T05:00:00Z");
    private static final EdgeKey WEST_TO_EU = new EdgeKey("source", "curl", "sample", "west",
            "helloworld.sample.svc.cluster.local", "eu");

    private static Sample requests(String cluster, String code, String security, double value) {
        return new Sample("istio_requests_total", Map.of("reporter", "source", "source_workload", "curl",
                "source_workload_namespace", "sample", "source_cluster", "west",
                "destination_service", "helloworld.sample.svc.cluster.local", "destination_cluster", cluster,
                "response_code", code, "connection_security_policy", security), value);
    }

    private static List<Sample> buckets(double... cumulative) {
        double[] bounds = {1, 5, 10, 25, Double.POSITIVE_INFINITY};
        List<Sample> out = new ArrayList<>();
        for (int i = 0; i < bounds.length; i++) {
            out.add(new Sample("istio_request_duration_milliseconds_bucket", Map.of("reporter", "source",
                    "source_workload", "curl", "source_workload_namespace", "sample", "source_cluster", "west",
                    "destination_service", "helloworld.sample.svc.cluster.local", "destination_cluster", "eu",
                    "le", i == bounds.length - 1 ? "+Inf" : Double.toString(bounds[i])), cumulative[i]));
        }
        return out;
    }

    @Test
    void rateErrorRateP99AndSecurityOverTheWindow() {
        TrafficWindow w = new TrafficWindow(Duration.ofSeconds(60));
        // First scrape: only the baseline (how long 1000 requests took to pile up is unknown).
        List<Sample> first = new ArrayList<>(List.of(requests("eu", "200", "mutual_tls", 1000)));
        first.addAll(buckets(0, 500, 900, 1000, 1000));
        w.observe("curl", first);
        w.endRound(T0);
        assertThat(w.stats()).isEmpty();

        List<Sample> second = new ArrayList<>(List.of(requests("eu", "200", "mutual_tls", 1090),
                requests("eu", "503", "mutual_tls", 10)));
        second.addAll(buckets(0, 500, 900, 1098, 1100));
        w.observe("curl", second);
        w.endRound(T0.plusSeconds(10));

        assertThat(w.stats()).singleElement().satisfies(s -> {
            assertThat(s.key()).isEqualTo(WEST_TO_EU);
            assertThat(s.requestsPerSecond()).isCloseTo(10.0, within(1e-9));
            assertThat(s.errorRate()).isCloseTo(0.1, within(1e-9));
            // 100 new observations: 98 in (10, 25], 2 above 25 → p99 is beyond the last finite bucket.
            assertThat(s.p99Millis()).isEqualTo(25.0);
            assertThat(s.security()).isEqualTo("mutual_tls");
        });
    }

    @Test
    void aRestartedProxyCountsFromZeroAndAVanishedProxyIsForgotten() {
        TrafficWindow w = new TrafficWindow(Duration.ofSeconds(60));
        w.observe("curl", List.of(requests("east", "200", "unknown", 500)));
        w.endRound(T0);
        w.observe("curl", List.of(requests("east", "200", "unknown", 30)));
        w.endRound(T0.plusSeconds(5));
        assertThat(w.stats()).singleElement().satisfies(s -> {
            assertThat(s.requestsPerSecond()).isCloseTo(6.0, within(1e-9));
            assertThat(s.security()).isEqualTo("unknown");
            assertThat(s.p99Millis()).isNull();
        });
        w.forget("curl");
        w.observe("curl", List.of(requests("east", "200", "unknown", 10_000)));
        w.endRound(T0.plusSeconds(10));
        assertThat(w.stats()).singleElement().satisfies(s -> assertThat(s.requests()).isEqualTo(30.0));
    }

    @Test
    void oldRoundsLeaveTheWindowSoAnIdleEdgeDropsToZeroButKeepsItsSecurity() {
        TrafficWindow w = new TrafficWindow(Duration.ofSeconds(20));
        w.observe("curl", List.of(requests("eu", "200", "none", 0)));
        w.endRound(T0);
        w.observe("curl", List.of(requests("eu", "200", "none", 100)));
        w.endRound(T0.plusSeconds(10));
        for (int i = 2; i <= 6; i++) {
            w.observe("curl", List.of(requests("eu", "200", "none", 100)));
            w.endRound(T0.plusSeconds(10L * i));
        }
        assertThat(w.stats()).singleElement().satisfies(s -> {
            assertThat(s.requestsPerSecond()).isZero();
            assertThat(s.security()).isEqualTo("none");
        });
    }

    @Test
    void samplesOfOtherMetricsAndNegativeOrNaNValuesAreIgnored() {
        TrafficWindow w = new TrafficWindow(Duration.ofSeconds(60));
        w.observe("p", List.of(new Sample("process_cpu_seconds_total", Map.of(), 5)));
        w.endRound(T0);
        w.observe("p", List.of(new Sample("process_cpu_seconds_total", Map.of(), 9),
                requests("eu", "200", "none", Double.NaN), requests("east", "200", "none", -4)));
        w.endRound(T0.plusSeconds(5));
        assertThat(w.stats()).isEmpty();
    }

    @Test
    void missingLabelsBecomeUnknownInsteadOfFailing() {
        TrafficWindow w = new TrafficWindow(Duration.ofSeconds(60));
        w.observe("old-proxy", List.of(new Sample("istio_requests_total", Map.of("response_code", "200"), 1)));
        w.endRound(T0);
        w.observe("old-proxy", List.of(new Sample("istio_requests_total", Map.of("response_code", "200"), 6)));
        w.endRound(T0.plusSeconds(5));
        assertThat(w.stats()).singleElement().satisfies(s -> {
            assertThat(s.key()).isEqualTo(new EdgeKey(null, "", null, null, null, null));
            assertThat(s.key().sourceCluster()).isEqualTo("unknown");
            assertThat(s.requestsPerSecond()).isEqualTo(1.0);
        });
    }

    @ParameterizedTest(name = "q={1} of {0} → {2}")
    @CsvSource(delimiter = '|', value = {
            "1:0,5:50,10:100,Inf:100   | 0.5  | 5.0",
            "1:0,5:50,10:100,Inf:100   | 0.99 | 9.9",
            "1:10,5:10,10:10,Inf:10    | 0.99 | 0.99",
            "1:0,Inf:10                | 0.99 | 1.0",
            "Inf:10                    | 0.99 | ",
            "1:0,Inf:0                 | 0.99 | ",
    })
    void quantilesInterpolateLikeHistogramQuantile(String buckets, double q, Double expected) {
        Map<Double, Double> b = new java.util.TreeMap<>();
        for (String pair : buckets.split(",")) {
            String[] kv = pair.split(":");
            b.put(kv[0].equals("Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(kv[0]), Double.parseDouble(kv[1]));
        }
        OptionalDouble p = Quantiles.of(b, q);
        if (expected == null) {
            assertThat(p).isEmpty();
        } else {
            assertThat(p.getAsDouble()).isCloseTo(expected, within(1e-9));
        }
    }
}
