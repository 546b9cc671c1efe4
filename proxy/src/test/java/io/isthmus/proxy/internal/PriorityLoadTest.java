package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Envoy's priority load, against the tables of Envoy's "Priority levels" and "Panic threshold"
 * documentation (arch_overview/upstream/load_balancing). Each level has 100 hosts, so "healthy
 * percent" is a host count. Where the documentation rounds to the nearest percent, the expected
 * value is what Envoy's code computes (integer division, the remainder to the first healthy
 * level): noted per row.
 */
class PriorityLoadTest {

  private static List<PriorityLoad.Level> levels(String healthyPercents) {
    List<PriorityLoad.Level> out = new ArrayList<>();
    for (String p : healthyPercents.split("/")) {
      out.add(new PriorityLoad.Level(100, Integer.parseInt(p.strip()), 0));
    }
    return out;
  }

  private static List<Integer> ints(String slashSeparated) {
    return Arrays.stream(slashSeparated.split("/")).map(String::strip).map(Integer::valueOf)
        .toList();
  }

  private static List<Boolean> flags(String slashSeparated) {
    return Arrays.stream(slashSeparated.split("/")).map(String::strip).map(s -> s.equals("Y"))
        .toList();
  }

  @ParameterizedTest(name = "healthy {0} -> load {1}")
  @CsvSource(delimiter = '|', textBlock = """
      # two levels, P1 fully healthy (priority table 1)
      100 / 100       | 100 / 0
      72 / 100        | 100 / 0
      71 / 100        | 99 / 1
      50 / 100        | 70 / 30
      25 / 100        | 35 / 65
      0 / 100         | 0 / 100
      # two levels (priority table 2)
      72 / 72         | 100 / 0
      71 / 71         | 99 / 1
      50 / 50         | 70 / 30
      25 / 25         | 50 / 50
      # three levels (priority table 3)
      100 / 100 / 100 | 100 / 0 / 0
      72 / 72 / 100   | 100 / 0 / 0
      71 / 71 / 100   | 99 / 1 / 0
      50 / 50 / 100   | 70 / 30 / 0
      25 / 100 / 100  | 35 / 65 / 0
      25 / 25 / 100   | 35 / 35 / 30
      # the documentation rounds this one to 36/36/28; Envoy's code gives P0 the 2% remainder
      25 / 25 / 20    | 37 / 35 / 28
      """)
  void prioritiesTakeTheirHealthTimesTheOverprovisioningFactor(String healthy, String load) {
    PriorityLoad computed = PriorityLoad.of(levels(healthy), 140, 0);
    assertThat(computed.healthyLoad()).isEqualTo(ints(load));
    assertThat(computed.degradedLoad()).allMatch(l -> l == 0);
    assertThat(computed.healthyLoad().stream().mapToInt(Integer::intValue).sum()).isEqualTo(100);
  }

  @ParameterizedTest(name = "healthy {0} -> load {1}, panic {2}")
  @CsvSource(delimiter = '|', textBlock = """
      # panic table 1: P1 fully healthy, normalized total health stays 100: never panic
      50 / 100 | 70 / 30  | N / N
      25 / 100 | 35 / 65  | N / N
      0 / 100  | 0 / 100  | N / N
      # panic table 2
      72 / 72  | 100 / 0  | N / N
      71 / 71  | 99 / 1   | N / N
      50 / 60  | 70 / 30  | N / N
      # both below 50% and total health 70 < 100: total panic, load by host counts
      25 / 25  | 50 / 50  | Y / Y
      # the documentation shows 7/93; Envoy's code gives the 1% remainder to P0
      5 / 65   | 8 / 92   | Y / N
      # nothing healthy at all: total panic
      0 / 0    | 50 / 50  | Y / Y
      """)
  void panicThresholdAppliesOnlyWhenTheWholeClusterIsShort(String healthy, String load,
      String panic) {
    PriorityLoad computed = PriorityLoad.of(levels(healthy), 140, 50);
    assertThat(computed.healthyLoad()).isEqualTo(ints(load));
    assertThat(computed.panic()).isEqualTo(flags(panic));
  }

  @Test
  void totalPanicFollowsHostCountsAcrossLevels() {
    PriorityLoad computed = PriorityLoad.of(List.of(new PriorityLoad.Level(1, 0, 0),
        new PriorityLoad.Level(3, 1, 0)), 140, 50);
    assertThat(computed.panic()).containsExactly(true, true);
    assertThat(computed.healthyLoad()).containsExactly(25, 75);
  }

  @Test
  void withoutPanicAndWithoutHealthyHostsP0TakesTheLoadAndNothingPanics() {
    // Istio sets healthy_panic_threshold 0 with outlier detection: no host is better than a
    // broken one, and the picker answers "no healthy upstream".
    PriorityLoad computed = PriorityLoad.of(levels("0 / 0"), 140, 0);
    assertThat(computed.healthyLoad()).containsExactly(100, 0);
    assertThat(computed.panic()).containsExactly(false, false);
  }

  @Test
  void degradedHostsTakeWhatHealthyOnesCannot() {
    // Envoy's comment in recalculatePerPriorityState: health 10/20/10, degraded 20/10/0 →
    // healthy load 16/28/14, degraded load 28/14/0, the rounding remainder to P0.
    List<PriorityLoad.Level> levels = List.of(
        new PriorityLoad.Level(1400, 100, 200),
        new PriorityLoad.Level(1400, 200, 100),
        new PriorityLoad.Level(1400, 100, 0));
    PriorityLoad computed = PriorityLoad.of(levels, 140, 0);
    assertThat(computed.healthyLoad()).containsExactly(16, 28, 14);
    assertThat(computed.degradedLoad()).containsExactly(28, 14, 0);
  }

  @Test
  void theOverprovisioningFactorComesFromTheAssignment() {
    // Factor 100: no overprovisioning, 80% healthy keeps only 80% of the load.
    assertThat(PriorityLoad.of(levels("80 / 100"), 100, 0).healthyLoad()).containsExactly(80, 20);
    assertThat(PriorityLoad.of(levels("80 / 100"), 140, 0).healthyLoad()).containsExactly(100, 0);
  }

  @Test
  void badInputIsRefusedWithTheValueAndTheRange() {
    assertThatThrownBy(() -> PriorityLoad.of(levels("100"), 0, 50))
        .hasMessage("overprovisioningFactor: 0 (expected: > 0)");
    assertThatThrownBy(() -> PriorityLoad.of(levels("100"), 140, 101))
        .hasMessage("panicThreshold: 101.0 (expected: 0..100)");
    assertThatThrownBy(() -> new PriorityLoad.Level(2, 2, 1))
        .hasMessageContaining("expected: 0 <= healthy + degraded <= total");
  }
}
