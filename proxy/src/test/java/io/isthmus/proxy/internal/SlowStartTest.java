package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.RuntimeDouble;
import io.envoyproxy.envoy.type.v3.Percent;
import io.isthmus.proxy.policy.ClusterPolicy;
import io.isthmus.proxy.policy.SlowStart;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * Slow start (Envoy's {@code slow_start_config}, Istio's {@code warmup}) on a fake clock: the
 * weight curve, and the share of picks a host that joins gets as its window passes, for round
 * robin and least request.
 */
class SlowStartTest {

  private static final Ep A = new Ep("10.0.0.1", 80, 1, "east", false);
  private static final Ep B = new Ep("10.0.0.2", 80, 1, "east", false);
  private static final Ep C = new Ep("10.0.0.3", 80, 1, "east", false);
  private static final EndpointPicker TWO = EndpointPicker.of(MeshResources.endpoints("c", "r", A, B));
  private static final EndpointPicker THREE =
      EndpointPicker.of(MeshResources.endpoints("c", "r", A, B, C));

  private final ClusterRuntimeTest.FakeClock clock = new ClusterRuntimeTest.FakeClock();

  @ParameterizedTest(name = "after {0}s, aggression {1}, min {2}% → {3}")
  @CsvSource({
      // Linear: max(t, 1) / window, floored at the minimum.
      "0, 1.0, 10, 0.1",
      "1, 1.0, 10, 0.1",
      "30, 1.0, 10, 0.5",
      "45, 1.0, 10, 0.75",
      "60, 1.0, 10, 1.0",
      "600, 1.0, 10, 1.0",
      // Aggression bends the curve: (t / window) ^ (1 / aggression).
      "15, 2.0, 10, 0.5",
      "15, 0.5, 10, 0.1",
      "30, 0.5, 0, 0.25",
      // A higher floor holds the start up.
      "6, 1.0, 40, 0.4",
  })
  void theWeightFactorFollowsEnvoysCurve(long seconds, double aggression, double min,
      double expected) {
    SlowStart slowStart = new SlowStart(Duration.ofSeconds(60), aggression, min);
    assertThat(slowStart.factor(Duration.ofSeconds(seconds))).isCloseTo(expected, within(1e-9));
  }

  @Test
  void slowStartConfigIsParsedWithEnvoysDefaults() {
    ClusterPolicy rr = ClusterPolicy.of(Cluster.newBuilder().setName("c")
        .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
        .setRoundRobinLbConfig(Cluster.RoundRobinLbConfig.newBuilder()
            .setSlowStartConfig(window(60)))
        .build());
    assertThat(rr.slowStart()).contains(new SlowStart(Duration.ofSeconds(60), 1.0, 10));

    ClusterPolicy lr = ClusterPolicy.of(Cluster.newBuilder().setName("c")
        .setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST)
        .setLeastRequestLbConfig(Cluster.LeastRequestLbConfig.newBuilder()
            .setSlowStartConfig(window(30).toBuilder()
                .setAggression(RuntimeDouble.newBuilder().setDefaultValue(2.5).setRuntimeKey("k"))
                .setMinWeightPercent(Percent.newBuilder().setValue(25))))
        .build());
    assertThat(lr.slowStart()).contains(new SlowStart(Duration.ofSeconds(30), 2.5, 25));

    assertThatThrownBy(() -> ClusterPolicy.of(Cluster.newBuilder().setName("c")
        .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
        .setRoundRobinLbConfig(Cluster.RoundRobinLbConfig.newBuilder().setSlowStartConfig(
            window(30).toBuilder().setAggression(RuntimeDouble.newBuilder().setDefaultValue(0))))
        .build()))
        .hasMessageContaining("cluster c: round_robin_lb_config.slow_start_config.aggression"
            + ".default_value: 0.0 (expected: > 0)");
  }

  @ParameterizedTest
  @EnumSource(value = ClusterPolicy.LbPolicy.class, names = {"ROUND_ROBIN", "LEAST_REQUEST"})
  void aHostThatJoinsRampsUpOverTheWindow(ClusterPolicy.LbPolicy lb) {
    ClusterPolicy policy = new ClusterPolicy(lb, ClusterPolicy.Thresholds.DEFAULT,
        java.util.Optional.empty(), ClusterPolicy.DEFAULT_PANIC_THRESHOLD,
        java.util.Optional.of(new SlowStart(Duration.ofSeconds(60), 1.0, 10)));
    ClusterRuntime runtime = new ClusterRuntime("c", policy, clock, new SplittableRandom(7));
    runtime.update(policy, TWO.endpoints());
    // The hosts of the first assignment are not new: no ramp.
    assertThat(share(runtime, TWO, "10.0.0.1:80")).isCloseTo(0.5, within(0.03));

    runtime.update(policy, THREE.endpoints());
    // Just joined: a tenth of its weight, so 0.1 / 2.1 of the picks.
    assertThat(runtime.slowStartFactor("10.0.0.3:80")).isCloseTo(0.1, within(1e-9));
    assertThat(share(runtime, THREE, "10.0.0.3:80")).isCloseTo(0.1 / 2.1, within(0.02));
    clock.advance(Duration.ofSeconds(30));
    assertThat(share(runtime, THREE, "10.0.0.3:80")).isCloseTo(0.5 / 2.5, within(0.03));
    clock.advance(Duration.ofSeconds(30));
    assertThat(runtime.slowStartFactor("10.0.0.3:80")).isEqualTo(1.0);
    assertThat(share(runtime, THREE, "10.0.0.3:80")).isCloseTo(1 / 3.0, within(0.03));

    // A host that leaves and comes back ramps again; the others stay at full weight.
    runtime.update(policy, TWO.endpoints());
    runtime.update(policy, THREE.endpoints());
    assertThat(runtime.slowStartFactor("10.0.0.3:80")).isCloseTo(0.1, within(1e-9));
    assertThat(runtime.slowStartFactor("10.0.0.1:80")).isEqualTo(1.0);
  }

  @Test
  void withoutSlowStartAJoiningHostGetsItsFullShareAtOnce() {
    ClusterPolicy policy = ClusterPolicy.DEFAULT;
    ClusterRuntime runtime = new ClusterRuntime("c", policy, clock, new SplittableRandom(7));
    runtime.update(policy, TWO.endpoints());
    runtime.update(policy, THREE.endpoints());
    assertThat(share(runtime, THREE, "10.0.0.3:80")).isCloseTo(1 / 3.0, within(0.02));
  }

  /** The share of 6,000 picks that go to {@code address}. */
  private static double share(ClusterRuntime runtime, EndpointPicker picker, String address) {
    Map<String, Integer> counts = new HashMap<>();
    int n = 6000;
    for (int i = 0; i < n; i++) {
      UpstreamEndpoint e = runtime.pick(picker, Set.of(), OptionalLong.empty()).orElseThrow();
      counts.merge(e.address(), 1, Integer::sum);
    }
    return counts.getOrDefault(address, 0) / (double) n;
  }

  private static Cluster.SlowStartConfig window(long seconds) {
    return Cluster.SlowStartConfig.newBuilder()
        .setSlowStartWindow(com.google.protobuf.Duration.newBuilder().setSeconds(seconds)).build();
  }
}
