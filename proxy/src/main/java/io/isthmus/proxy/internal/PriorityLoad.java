package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;

/**
 * Envoy's priority load: how much of a cluster's traffic each priority level receives, given how
 * many of its hosts are healthy, degraded or neither, the overprovisioning factor and the panic
 * threshold (Envoy's {@code LoadBalancerBase::recalculatePerPriorityState}, {@code
 * recalculatePerPriorityPanic} and {@code recalculateLoadInTotalPanic}, integer arithmetic and
 * rounding included, so the splits match Envoy's to the percent).
 *
 * <ul>
 *   <li>{@code health(P) = min(100, factor × healthy / total)} with the factor in percent (140);
 *       the same for degraded hosts.
 *   <li>{@code normalized = min(100, Σ health + Σ degraded)}; each level takes {@code
 *       health × 100 / normalized} of what is left, healthy hosts first, then degraded ones; a
 *       rounding remainder goes to the first level with healthy hosts.
 *   <li>Panic: only when {@code normalized < 100}, a level whose healthy + degraded share is below
 *       the threshold sends its load to all of its hosts; when every level is in panic, the load
 *       follows the host counts. With a threshold of 0 and no available host, P0 gets 100% of
 *       the load and there is no panic: the picker finds no host (503).
 * </ul>
 *
 * @param healthyLoad per level, percent of the traffic for its healthy hosts
 * @param degradedLoad per level, percent of the traffic for its degraded hosts
 * @param panic per level, whether its load goes to every host of the level, whatever its health
 */
record PriorityLoad(List<Integer> healthyLoad, List<Integer> degradedLoad, List<Boolean> panic) {

  /** Envoy's default overprovisioning factor, in percent. */
  static final int DEFAULT_OVERPROVISIONING_FACTOR = 140;

  /** Envoy's default {@code healthy_panic_threshold}, in percent. */
  static final double DEFAULT_PANIC_THRESHOLD = 50.0;

  PriorityLoad {
    healthyLoad = List.copyOf(requireNonNull(healthyLoad, "healthyLoad"));
    degradedLoad = List.copyOf(requireNonNull(degradedLoad, "degradedLoad"));
    panic = List.copyOf(requireNonNull(panic, "panic"));
    if (healthyLoad.size() != degradedLoad.size() || healthyLoad.size() != panic.size()) {
      throw new IllegalArgumentException("levels: healthy " + healthyLoad.size() + ", degraded "
          + degradedLoad.size() + ", panic " + panic.size() + " (expected: the same count)");
    }
  }

  /** The host counts of one priority level. */
  record Level(int total, int healthy, int degraded) {
    Level {
      if (total < 0 || healthy < 0 || degraded < 0 || healthy + degraded > total) {
        throw new IllegalArgumentException("level: total " + total + ", healthy " + healthy
            + ", degraded " + degraded + " (expected: 0 <= healthy + degraded <= total)");
      }
    }
  }

  /**
   * @param overprovisioningFactor in percent (EDS {@code policy.overprovisioning_factor}), > 0
   * @param panicThreshold in percent ({@code common_lb_config.healthy_panic_threshold}), 0..100;
   *     0 disables panic mode
   */
  static PriorityLoad of(List<Level> levels, int overprovisioningFactor, double panicThreshold) {
    requireNonNull(levels, "levels");
    if (overprovisioningFactor <= 0) {
      throw new IllegalArgumentException("overprovisioningFactor: " + overprovisioningFactor
          + " (expected: > 0)");
    }
    if (!(panicThreshold >= 0 && panicThreshold <= 100)) {
      throw new IllegalArgumentException("panicThreshold: " + panicThreshold
          + " (expected: 0..100)");
    }
    int n = levels.size();
    int[] health = new int[n];
    int[] degraded = new int[n];
    for (int i = 0; i < n; i++) {
      Level level = levels.get(i);
      if (level.total() > 0) {
        health[i] = (int) Math.min(100, (long) overprovisioningFactor * level.healthy()
            / level.total());
        degraded[i] = (int) Math.min(100, (long) overprovisioningFactor * level.degraded()
            / level.total());
      }
    }
    int normalized = 0;
    for (int i = 0; i < n; i++) {
      normalized = Math.min(100, normalized + health[i] + degraded[i]);
    }
    int[] healthyLoad = new int[n];
    int[] degradedLoad = new int[n];
    boolean[] panic = new boolean[n];
    if (n == 0) {
      return new PriorityLoad(List.of(), List.of(), List.of());
    }
    if (normalized > 0) {
      int remaining = distribute(healthyLoad, health, 100, normalized);
      remaining = distribute(degradedLoad, degraded, remaining, normalized);
      if (remaining > 0) {
        int firstHealthy = firstPositive(health);
        if (firstHealthy >= 0) {
          healthyLoad[firstHealthy] += remaining;
        } else {
          degradedLoad[firstPositive(degraded)] += remaining;
        }
      }
    }
    if (panicThreshold == 0 && normalized == 0) {
      healthyLoad[0] = 100;
      return result(healthyLoad, degradedLoad, panic);
    }
    boolean totalPanic = true;
    for (int i = 0; i < n; i++) {
      Level level = levels.get(i);
      double available = level.total() == 0 ? 0
          : 100.0 * (level.healthy() + level.degraded()) / level.total();
      panic[i] = normalized != 100 && available < panicThreshold;
      totalPanic &= panic[i];
    }
    if (totalPanic) {
      long hosts = levels.stream().mapToLong(Level::total).sum();
      java.util.Arrays.fill(healthyLoad, 0);
      java.util.Arrays.fill(degradedLoad, 0);
      if (hosts == 0) {
        healthyLoad[0] = 100;
      } else {
        int left = 100;
        int firstNonEmpty = -1;
        for (int i = 0; i < n; i++) {
          if (firstNonEmpty < 0 && levels.get(i).total() > 0) {
            firstNonEmpty = i;
          }
          healthyLoad[i] = (int) (100L * levels.get(i).total() / hosts);
          left -= healthyLoad[i];
        }
        healthyLoad[firstNonEmpty] += left;
      }
    }
    return result(healthyLoad, degradedLoad, panic);
  }

  /** Gives each level its share of {@code total} in order, until none is left. */
  private static int distribute(int[] load, int[] availability, int total, int normalized) {
    for (int i = 0; i < load.length; i++) {
      load[i] = Math.min(total, availability[i] * 100 / normalized);
      total -= load[i];
    }
    return total;
  }

  private static int firstPositive(int[] values) {
    for (int i = 0; i < values.length; i++) {
      if (values[i] > 0) {
        return i;
      }
    }
    return -1;
  }

  private static PriorityLoad result(int[] healthy, int[] degraded, boolean[] panic) {
    List<Integer> h = new ArrayList<>(healthy.length);
    List<Integer> d = new ArrayList<>(degraded.length);
    List<Boolean> p = new ArrayList<>(panic.length);
    for (int i = 0; i < healthy.length; i++) {
      h.add(healthy[i]);
      d.add(degraded[i]);
      p.add(panic[i]);
    }
    return new PriorityLoad(h, d, p);
  }
}
