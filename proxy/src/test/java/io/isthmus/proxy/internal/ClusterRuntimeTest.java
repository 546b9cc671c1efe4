package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.isthmus.proxy.policy.ClusterPolicy;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Outlier ejection on a fake clock, circuit-breaker slots, and the lb policies. */
class ClusterRuntimeTest {

  /** A clock tests move by hand. */
  static final class FakeClock extends Clock {
    private Instant now = Instant.parse("2026-11-27T00:00:00Z");

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  private static final EndpointPicker THREE = EndpointPicker.of(MeshResources.endpoints("c", "r",
      new Ep("10.0.0.1", 80, 1, "east", false), new Ep("10.0.0.2", 80, 1, "east", false),
      new Ep("10.0.0.3", 80, 1, "east", false)));

  private static ClusterPolicy policy(Cluster.Builder cluster) {
    return ClusterPolicy.of(cluster.setName("c").build());
  }

  private final FakeClock clock = new FakeClock();

  private ClusterRuntime runtime(ClusterPolicy policy) {
    ClusterRuntime runtime = new ClusterRuntime("c", policy, clock, new SplittableRandom(3));
    runtime.update(policy, THREE.endpoints());
    return runtime;
  }

  private static Cluster.Builder outlier(int consecutive5xx, int maxPercent) {
    return Cluster.newBuilder().setOutlierDetection(OutlierDetection.newBuilder()
        .setConsecutive5Xx(UInt32Value.of(consecutive5xx))
        .setBaseEjectionTime(com.google.protobuf.Duration.newBuilder().setSeconds(30))
        .setMaxEjectionPercent(UInt32Value.of(maxPercent)));
  }

  @Test
  void consecutive5xxEjectsAHostForBaseEjectionTimeThenItReturns() {
    ClusterRuntime runtime = runtime(policy(outlier(3, 100)));
    UpstreamEndpoint bad = THREE.endpoints().get(0);

    runtime.record(bad, 503);
    runtime.record(bad, 500);
    runtime.record(bad, 200);
    runtime.record(bad, 502);
    runtime.record(bad, 503);
    assertThat(runtime.ejected()).as("a success resets the count").isEmpty();
    runtime.record(bad, RelayHooks.CONNECT_FAILURE);
    assertThat(runtime.ejected()).containsExactly("10.0.0.1:80");
    for (int i = 0; i < 30; i++) {
      assertThat(runtime.pick(THREE, Set.of(), OptionalLong.empty())).get().isNotEqualTo(bad);
    }
    assertThat(runtime.ejections()).singleElement().satisfies(e -> {
      assertThat(e.until()).isEqualTo(clock.instant().plusSeconds(30));
      assertThat(e.ejections()).isEqualTo(1);
    });

    clock.advance(Duration.ofSeconds(30));
    assertThat(runtime.ejected()).isEmpty();

    // A second ejection lasts twice as long.
    for (int i = 0; i < 3; i++) {
      runtime.record(bad, 500);
    }
    clock.advance(Duration.ofSeconds(59));
    assertThat(runtime.ejected()).containsExactly("10.0.0.1:80");
    clock.advance(Duration.ofSeconds(1));
    assertThat(runtime.ejected()).isEmpty();
  }

  @Test
  void maxEjectionPercentAllowsOneAndNeverTheLastHost() {
    ClusterRuntime tenPercent = runtime(policy(outlier(1, 10)));
    tenPercent.record(THREE.endpoints().get(0), 500);
    tenPercent.record(THREE.endpoints().get(1), 500);
    assertThat(tenPercent.ejected()).as("at least one is ejected, then the limit holds")
        .containsExactly("10.0.0.1:80");

    // Panic mode off, as Istio configures it with outlier detection.
    ClusterRuntime all = runtime(policy(outlier(1, 100).setCommonLbConfig(noPanic())));
    for (UpstreamEndpoint e : THREE.endpoints()) {
      all.record(e, 500);
    }
    assertThat(all.ejected()).hasSize(2);
    for (int i = 0; i < 10; i++) {
      assertThat(all.pick(THREE, Set.of(), OptionalLong.empty())).get()
          .isEqualTo(THREE.endpoints().get(2));
    }
  }

  @Test
  void ejectedHostsBelowThePanicThresholdAreUsedAgain() {
    // Envoy's default panic threshold (50%): one host of three left is too few; all get traffic.
    ClusterRuntime runtime = runtime(policy(outlier(1, 100)));
    for (UpstreamEndpoint e : THREE.endpoints()) {
      runtime.record(e, 500);
    }
    assertThat(runtime.ejected()).hasSize(2);
    assertThat(runtime.priorityLoad(THREE).panic()).containsExactly(true);
    Map<UpstreamEndpoint, Integer> counts = new HashMap<>();
    for (int i = 0; i < 30; i++) {
      counts.merge(runtime.pick(THREE, Set.of(), OptionalLong.empty()).orElseThrow(), 1,
          Integer::sum);
    }
    assertThat(counts).hasSize(3);
  }

  private static io.envoyproxy.envoy.config.cluster.v3.Cluster.CommonLbConfig noPanic() {
    return io.envoyproxy.envoy.config.cluster.v3.Cluster.CommonLbConfig.newBuilder()
        .setHealthyPanicThreshold(io.envoyproxy.envoy.type.v3.Percent.newBuilder().setValue(0))
        .build();
  }

  /** Two hosts in the proxy's zone at P0, one in the next locality at P1, one further at P2. */
  private static final EndpointPicker TIERED = EndpointPicker.of(EndpointPickerTest.assignment(
      EndpointPickerTest.locality(0, "near", 1, 2, 0),
      EndpointPickerTest.locality(1, "next", 1, 1, 0),
      EndpointPickerTest.locality(2, "far", 1, 1, 0)));

  private Map<String, Integer> perLocality(ClusterRuntime runtime, int n) {
    Map<String, Integer> counts = new java.util.TreeMap<>();
    for (int i = 0; i < n; i++) {
      counts.merge(runtime.pick(TIERED, Set.of(), OptionalLong.empty()).orElseThrow().cluster(),
          1, Integer::sum);
    }
    return counts;
  }

  @Test
  void ejectingTheNearestLocalityMovesItsLoadToTheNextPriorityAndBackAfterTheEjection() {
    Cluster.Builder cluster = Cluster.newBuilder().setCommonLbConfig(noPanic())
        .setOutlierDetection(OutlierDetection.newBuilder()
            .setConsecutive5Xx(UInt32Value.of(1))
            .setInterval(com.google.protobuf.Duration.newBuilder().setSeconds(1))
            .setBaseEjectionTime(com.google.protobuf.Duration.newBuilder().setSeconds(2))
            .setMaxEjectionPercent(UInt32Value.of(100)));
    ClusterPolicy policy = policy(cluster);
    ClusterRuntime runtime = new ClusterRuntime("c", policy, clock, new SplittableRandom(3));
    runtime.update(policy, TIERED.endpoints());
    UpstreamEndpoint near1 = TIERED.endpoints().get(0);
    UpstreamEndpoint near2 = TIERED.endpoints().get(1);
    assertThat(perLocality(runtime, 100)).isEqualTo(Map.of("near", 100));

    runtime.record(near1, RelayHooks.CONNECT_FAILURE);
    assertThat(runtime.priorityLoad(TIERED).healthyLoad()).containsExactly(70, 30, 0);
    assertThat(perLocality(runtime, 100)).isEqualTo(Map.of("near", 70, "next", 30));

    clock.advance(Duration.ofMillis(500));
    runtime.record(near2, RelayHooks.CONNECT_FAILURE);
    assertThat(runtime.priorityLoad(TIERED).healthyLoad()).containsExactly(0, 100, 0);
    assertThat(perLocality(runtime, 100)).isEqualTo(Map.of("next", 100));

    // The first returns after its 2 s, the second half a second later.
    clock.advance(Duration.ofMillis(1500));
    assertThat(perLocality(runtime, 100)).isEqualTo(Map.of("near", 70, "next", 30));
    clock.advance(Duration.ofMillis(500));
    assertThat(perLocality(runtime, 100)).isEqualTo(Map.of("near", 100));
  }

  @Test
  void aNewAssignmentIsBalancedWithTheEjectionsAlreadyMade() {
    ClusterPolicy policy = policy(outlier(1, 100).setCommonLbConfig(noPanic()));
    ClusterRuntime runtime = new ClusterRuntime("c", policy, clock, new SplittableRandom(3));
    runtime.update(policy, TIERED.endpoints());
    runtime.record(TIERED.endpoints().get(0), 503);
    runtime.record(TIERED.endpoints().get(1), 503);
    // EDS pushes the same endpoints again (a new picker): the ejections still hold.
    EndpointPicker pushed = EndpointPicker.of(EndpointPickerTest.assignment(
        EndpointPickerTest.locality(0, "near", 1, 2, 0),
        EndpointPickerTest.locality(1, "next", 1, 1, 0),
        EndpointPickerTest.locality(2, "far", 1, 1, 0)));
    runtime.update(policy, pushed.endpoints());
    assertThat(runtime.priorityLoad(pushed).healthyLoad()).containsExactly(0, 100, 0);
    // A push that drops the "next" locality sends the load one priority further.
    EndpointPicker shrunk = EndpointPicker.of(EndpointPickerTest.assignment(
        EndpointPickerTest.locality(0, "near", 1, 2, 0),
        EndpointPickerTest.locality(2, "far", 1, 1, 0)));
    runtime.update(policy, shrunk.endpoints());
    assertThat(runtime.pick(shrunk, Set.of(), OptionalLong.empty())).get()
        .extracting(UpstreamEndpoint::cluster).isEqualTo("far");
  }

  @Test
  void thePanicThresholdComesFromCommonLbConfig() {
    assertThat(ClusterPolicy.of(Cluster.newBuilder().setName("c").build()).panicThreshold())
        .isEqualTo(50.0);
    assertThat(policy(Cluster.newBuilder().setCommonLbConfig(noPanic())).panicThreshold())
        .isZero();
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> policy(Cluster.newBuilder()
            .setCommonLbConfig(Cluster.CommonLbConfig.newBuilder().setHealthyPanicThreshold(
                io.envoyproxy.envoy.type.v3.Percent.newBuilder().setValue(120)))))
        .hasMessage("cluster c: common_lb_config.healthy_panic_threshold: 120.0"
            + " (expected: 0..100)");
  }

  @Test
  void gatewayFailuresEjectOnlyWhenEnforced() {
    Cluster.Builder gateway = Cluster.newBuilder().setOutlierDetection(OutlierDetection.newBuilder()
        .setConsecutive5Xx(UInt32Value.of(100))
        .setConsecutiveGatewayFailure(UInt32Value.of(2)));
    ClusterRuntime notEnforced = runtime(policy(gateway));
    notEnforced.record(THREE.endpoints().get(0), 503);
    notEnforced.record(THREE.endpoints().get(0), RelayHooks.TIMEOUT);
    assertThat(notEnforced.ejected()).as("Envoy's enforcing default is 0").isEmpty();

    gateway.getOutlierDetectionBuilder()
        .setEnforcingConsecutiveGatewayFailure(UInt32Value.of(100));
    ClusterRuntime enforced = runtime(policy(gateway));
    enforced.record(THREE.endpoints().get(0), 503);
    enforced.record(THREE.endpoints().get(0), RelayHooks.TIMEOUT);
    assertThat(enforced.ejected()).containsExactly("10.0.0.1:80");
  }

  @Test
  void circuitBreakerSlotsFollowTheThresholds() {
    ClusterRuntime defaults = runtime(ClusterPolicy.DEFAULT);
    assertThat(defaults.thresholds()).isEqualTo(new ClusterPolicy.Thresholds(1024, 1024, 1024, 3));
    for (int i = 0; i < 3; i++) {
      assertThat(defaults.tryAcquireRetry()).isTrue();
    }
    assertThat(defaults.tryAcquireRetry()).isFalse();
    defaults.retryDone();
    assertThat(defaults.tryAcquireRetry()).isTrue();

    ClusterRuntime tight = runtime(policy(Cluster.newBuilder().setCircuitBreakers(
        CircuitBreakers.newBuilder().addThresholds(CircuitBreakers.Thresholds.newBuilder()
            .setMaxRequests(UInt32Value.of(2)).setMaxConnections(UInt32Value.of(1))
            .setMaxPendingRequests(UInt32Value.of(1))))));
    assertThat(tight.tryAcquireRequest()).isTrue();
    assertThat(tight.tryAcquireRequest()).isTrue();
    assertThat(tight.tryAcquireRequest()).isFalse();
    tight.requestDone();
    assertThat(tight.tryAcquireRequest()).isTrue();
    assertThat(tight.tryAcquireConnection()).isTrue();
    assertThat(tight.tryAcquireConnection()).isFalse();
    tight.connectionClosed();
    assertThat(tight.tryAcquireConnection()).isTrue();
    assertThat(tight.tryAcquirePending()).isTrue();
    assertThat(tight.tryAcquirePending()).isFalse();
  }

  @Test
  void hashKeysComeFromTheRoutesHashPolicies() {
    var header = new io.isthmus.proxy.policy.RouteTarget.HashRule(
        io.isthmus.proxy.policy.RouteTarget.HashRule.Kind.HEADER, "x-user", false);
    var cookie = new io.isthmus.proxy.policy.RouteTarget.HashRule(
        io.isthmus.proxy.policy.RouteTarget.HashRule.Kind.COOKIE, "session", false);
    var headers = new io.netty.handler.codec.http.DefaultHttpHeaders()
        .set("x-user", "jason").set("cookie", "a=1; session=abc");
    var view = new io.isthmus.proxy.policy.RequestView("GET", "svc", "/", Map.of(), headers,
        "10.0.0.9");
    var other = new io.isthmus.proxy.policy.RequestView("GET", "svc", "/", Map.of(),
        new io.netty.handler.codec.http.DefaultHttpHeaders().set("x-user", "mary"), "10.0.0.9");

    assertThat(OutboundHandler.hashKey(java.util.List.of(header), view))
        .isEqualTo(OutboundHandler.hashKey(java.util.List.of(header), view));
    assertThat(OutboundHandler.hashKey(java.util.List.of(header), view))
        .isNotEqualTo(OutboundHandler.hashKey(java.util.List.of(header), other));
    assertThat(OutboundHandler.hashKey(java.util.List.of(cookie), other)).isEmpty();
    assertThat(OutboundHandler.hashKey(java.util.List.of(cookie), view)).isPresent();
  }

  @Test
  void randomAndLeastRequestAndRingHashPick() {
    ClusterRuntime random = runtime(policy(Cluster.newBuilder()
        .setLbPolicy(Cluster.LbPolicy.RANDOM)));
    Map<UpstreamEndpoint, Integer> counts = new HashMap<>();
    for (int i = 0; i < 3000; i++) {
      counts.merge(random.pick(THREE, Set.of(), OptionalLong.empty()).orElseThrow(), 1,
          Integer::sum);
    }
    assertThat(counts.values()).allSatisfy(c -> assertThat(c).isBetween(850, 1150));

    ClusterRuntime least = runtime(policy(Cluster.newBuilder()
        .setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST)));
    UpstreamEndpoint busy = THREE.endpoints().get(0);
    for (int i = 0; i < 50; i++) {
      least.attemptStarted(busy);
    }
    int busyPicks = 0;
    for (int i = 0; i < 300; i++) {
      busyPicks += least.pick(THREE, Set.of(), OptionalLong.empty()).orElseThrow().equals(busy)
          ? 1 : 0;
    }
    // Power of two choices: the busy host wins only when drawn twice (about 1/9).
    assertThat(busyPicks).isLessThan(60);

    ClusterRuntime ring = runtime(policy(Cluster.newBuilder()
        .setLbPolicy(Cluster.LbPolicy.RING_HASH)));
    UpstreamEndpoint first = ring.pick(THREE, Set.of(), OptionalLong.of(12345)).orElseThrow();
    for (int i = 0; i < 20; i++) {
      assertThat(ring.pick(THREE, Set.of(), OptionalLong.of(12345))).contains(first);
    }
    UpstreamEndpoint moved = ring.pick(THREE, Set.of(first), OptionalLong.of(12345))
        .orElseThrow();
    assertThat(moved).isNotEqualTo(first);
  }
}
