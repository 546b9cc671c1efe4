package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import java.time.Duration;
import java.util.Optional;

/**
 * Envoy's slow start ({@code slow_start_config}, Istio's {@code loadBalancer.warmup}): an endpoint
 * that joins a cluster gets, for {@code window} after it joined, its weight times
 * {@code max(minWeightPercent / 100, timeFactor ^ (1 / aggression))}, where
 * {@code timeFactor = max(seconds since it joined, 1) / window in seconds}; afterwards its full
 * weight. Immutable; the caller supplies the time, so the curve is a pure function.
 *
 * @param window           the ramp's length; positive
 * @param aggression       how the ramp bends: 1 is linear, more sends traffic sooner; positive
 * @param minWeightPercent the floor of the factor, in percent of the weight (Envoy's default 10)
 */
public record SlowStart(Duration window, double aggression, double minWeightPercent) {

  /** Envoy's default {@code min_weight_percent}. */
  public static final double DEFAULT_MIN_WEIGHT_PERCENT = 10;

  public SlowStart {
    requireNonNull(window, "window");
    if (window.isNegative() || window.isZero()) {
      throw new IllegalArgumentException("window: " + window + " (expected: > 0)");
    }
    if (!(aggression > 0) || Double.isInfinite(aggression)) {
      throw new IllegalArgumentException("aggression: " + aggression + " (expected: > 0)");
    }
    if (!(minWeightPercent >= 0 && minWeightPercent <= 100)) {
      throw new IllegalArgumentException("minWeightPercent: " + minWeightPercent
          + " (expected: 0..100)");
    }
  }

  /**
   * The factor an endpoint's weight is multiplied by, {@code sinceJoined} after it joined the
   * cluster: 1 once the window is over.
   */
  public double factor(Duration sinceJoined) {
    if (sinceJoined.compareTo(window) >= 0) {
      return 1.0;
    }
    double seconds = Math.max(sinceJoined.toNanos() / 1e9, 1.0);
    double timeFactor = Math.min(seconds / (window.toNanos() / 1e9), 1.0);
    double ramp = aggression == 1.0 ? timeFactor : Math.pow(timeFactor, 1.0 / aggression);
    return Math.max(minWeightPercent / 100, ramp);
  }

  /**
   * Parses a {@code slow_start_config}; empty when its window is unset or zero (Envoy then does
   * not ramp). Throws naming the bad field.
   */
  static Optional<SlowStart> of(Cluster.SlowStartConfig config, String where) {
    if (!config.hasSlowStartWindow()) {
      return Optional.empty();
    }
    Duration window = Durations.of(config.getSlowStartWindow(), where + ".slow_start_window");
    if (window.isZero()) {
      return Optional.empty();
    }
    double aggression = config.hasAggression() ? config.getAggression().getDefaultValue() : 1.0;
    if (!(aggression > 0)) {
      throw new IllegalArgumentException(where + ".aggression.default_value: " + aggression
          + " (expected: > 0)");
    }
    double min = config.hasMinWeightPercent() ? config.getMinWeightPercent().getValue()
        : DEFAULT_MIN_WEIGHT_PERCENT;
    if (!(min >= 0 && min <= 100)) {
      throw new IllegalArgumentException(where + ".min_weight_percent: " + min
          + " (expected: 0..100)");
    }
    return Optional.of(new SlowStart(window, aggression, min));
  }
}
