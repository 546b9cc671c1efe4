package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class EndpointPickerTest {

  private static Map<String, Integer> picks(EndpointPicker picker, int n) {
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i < n; i++) {
      counts.merge(picker.pick().orElseThrow().address(), 1, Integer::sum);
    }
    return counts;
  }

  @Test
  void roundRobinHonoursEndpointWeights() {
    EndpointPicker picker = EndpointPicker.of(MeshResources.endpoints("c", "us-east",
        new Ep("10.0.0.1", 80, 1, "east", false), new Ep("10.0.0.2", 80, 3, "east", false)));
    assertThat(picks(picker, 8)).containsEntry("10.0.0.1:80", 2).containsEntry("10.0.0.2:80", 6);
  }

  @Test
  void localityWeightsSplitTrafficAcrossLocalities() {
    ClusterLoadAssignment east = MeshResources.endpoints("c", "us-east",
        new Ep("10.0.0.1", 80, 1, "east", false));
    ClusterLoadAssignment eu = MeshResources.endpoints("c", "eu-west",
        new Ep("127.103.0.2", 15443, 3, "eu", true));
    ClusterLoadAssignment both = east.toBuilder()
        .addEndpoints(eu.getEndpoints(0).toBuilder().setLoadBalancingWeight(UInt32Value.of(3)))
        .build();
    assertThat(picks(EndpointPicker.of(both), 8))
        .containsEntry("10.0.0.1:80", 2).containsEntry("127.103.0.2:15443", 6);
  }

  /** A locality of {@code hosts} endpoints 10.p.l.i:80 at a priority, the first {@code down} UNHEALTHY. */
  static LocalityLbEndpoints locality(int priority, String zone, int weight, int hosts, int down) {
    LocalityLbEndpoints.Builder b = LocalityLbEndpoints.newBuilder()
        .setLocality(io.envoyproxy.envoy.config.core.v3.Locality.newBuilder()
            .setRegion("r" + priority).setZone(zone))
        .setPriority(priority)
        .setLoadBalancingWeight(UInt32Value.of(weight));
    for (int i = 0; i < hosts; i++) {
      LbEndpoint lb = MeshResources.endpoints("c", "x",
          new Ep("10." + priority + "." + zone.hashCode() % 200 + "." + i, 80, 1, zone, false))
          .getEndpoints(0).getLbEndpoints(0);
      b.addLbEndpoints(i < down ? lb.toBuilder().setHealthStatus(HealthStatus.UNHEALTHY).build() : lb);
    }
    return b.build();
  }

  static ClusterLoadAssignment assignment(LocalityLbEndpoints... localities) {
    return ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addAllEndpoints(List.of(localities)).build();
  }

  /** Picks per priority, by round robin with EDS health only. */
  private static Map<Integer, Integer> perPriority(EndpointPicker picker, int n) {
    Map<Integer, Integer> counts = new TreeMap<>();
    for (int i = 0; i < n; i++) {
      counts.merge(picker.pick().orElseThrow().priority(), 1, Integer::sum);
    }
    return counts;
  }

  @ParameterizedTest(name = "P0 {0} of 10 healthy, P1 {1} of 10 -> {2}% / {3}%")
  @CsvSource({
      "10, 10, 100, 0",
      "8, 10, 100, 0",
      "7, 10, 98, 2",
      "5, 10, 70, 30",
      "3, 10, 42, 58",
      "1, 10, 14, 86",
      "0, 10, 0, 100",
      "5, 5, 70, 30",
  })
  void loadSpillsToTheNextPriorityInProportionToTheUnhealthyShare(int p0, int p1, int toP0,
      int toP1) {
    EndpointPicker picker = EndpointPicker.of(assignment(
        locality(0, "a", 1, 10, 10 - p0), locality(1, "b", 1, 10, 10 - p1)));
    // Round robin over the priority load: 100 picks follow it to the percent.
    Map<Integer, Integer> expected = new TreeMap<>();
    if (toP0 > 0) {
      expected.put(0, toP0);
    }
    if (toP1 > 0) {
      expected.put(1, toP1);
    }
    assertThat(perPriority(picker, 100)).isEqualTo(expected);
  }

  @Test
  void unhealthyEndpointsAreNeverPickedOutsidePanic() {
    EndpointPicker picker = EndpointPicker.of(assignment(locality(0, "a", 1, 4, 1),
        locality(1, "b", 1, 2, 0)));
    Map<String, Integer> counts = picks(picker, 400);
    assertThat(counts).doesNotContainKey(picker.endpoints().get(0).address());
    assertThat(picker.endpoints()).hasSize(6);
  }

  @Test
  void belowThePanicThresholdEveryHostOfThePriorityGetsTraffic() {
    // 1 of 3 healthy, one priority: total health 46 < 100 and 33% < 50%: panic, all three.
    EndpointPicker picker = EndpointPicker.of(assignment(locality(0, "a", 1, 3, 2)));
    assertThat(picks(picker, 300)).hasSize(3).allSatisfy((a, n) -> assertThat(n).isEqualTo(100));

    // Panic off (Istio's default with outlier detection): only the healthy one.
    EndpointPicker.Candidates c = picker.candidates(Set.of(), Set.of(), 0, OptionalLong.empty());
    assertThat(c.size()).isEqualTo(1);
    assertThat(picker.endpoints().get(c.indexes()[0]).address())
        .isEqualTo(picker.endpoints().get(2).address());
  }

  @Test
  void unavailableHostsCountAsUnhealthy() {
    EndpointPicker picker = EndpointPicker.of(assignment(locality(0, "a", 1, 2, 0),
        locality(1, "b", 1, 2, 0)));
    String first = picker.endpoints().get(0).address();
    String second = picker.endpoints().get(1).address();
    assertThat(picker.priorityLoad(Set.of(), 0).healthyLoad()).containsExactly(100, 0);
    assertThat(picker.priorityLoad(Set.of(first), 0).healthyLoad()).containsExactly(70, 30);
    assertThat(picker.priorityLoad(Set.of(first, second), 0).healthyLoad())
        .containsExactly(0, 100);
  }

  @ParameterizedTest(name = "X {0}% healthy -> X {1}%")
  @CsvSource({"100, 33", "70, 33", "50, 26", "25, 15", "0, 0"})
  void localityWeightsShrinkWithTheLocalitysHealth(int healthyPercent, int toX) {
    // Envoy's locality-weighted table: X weight 1, Y weight 2, Y fully healthy.
    EndpointPicker picker = EndpointPicker.of(assignment(
        locality(0, "x", 1, 20, 20 - healthyPercent / 5), locality(0, "y", 2, 20, 0)));
    int n = 10_000;
    long x = 0;
    for (int i = 0; i < n; i++) {
      x += picker.pick().orElseThrow().cluster().equals("x") ? 1 : 0;
    }
    assertThat(100.0 * x / n).isCloseTo(toX, org.assertj.core.data.Offset.offset(0.6));
  }

  @Test
  void aRetryThatExcludedAWholePriorityGoesToTheNext() {
    EndpointPicker picker = EndpointPicker.of(assignment(locality(0, "a", 1, 2, 0),
        locality(1, "b", 1, 1, 0)));
    Set<UpstreamEndpoint> tried = Set.of(picker.endpoints().get(0), picker.endpoints().get(1));
    assertThat(picker.pick(tried)).contains(picker.endpoints().get(2));
    assertThat(picker.pick(Set.copyOf(picker.endpoints()))).isEmpty();
  }

  @Test
  void theOverprovisioningFactorOfTheAssignmentApplies() {
    ClusterLoadAssignment noHeadroom = assignment(locality(0, "a", 1, 10, 2),
        locality(1, "b", 1, 10, 0)).toBuilder()
        .setPolicy(ClusterLoadAssignment.Policy.newBuilder()
            .setOverprovisioningFactor(UInt32Value.of(100)))
        .build();
    assertThat(perPriority(EndpointPicker.of(noHeadroom), 100)).containsEntry(0, 80)
        .containsEntry(1, 20);
  }

  @Test
  void excludedEndpointsAreNotPickedAndNoneLeftIsEmpty() {
    EndpointPicker picker = EndpointPicker.of(MeshResources.endpoints("c", "us-east",
        new Ep("10.0.0.1", 80, 1, "east", false)));
    UpstreamEndpoint only = picker.pick().orElseThrow();
    assertThat(only.cluster()).isEqualTo("east");
    assertThat(picker.pick(Set.of(only))).isEmpty();
    assertThat(EndpointPicker.EMPTY.pick()).isEmpty();
  }
}
