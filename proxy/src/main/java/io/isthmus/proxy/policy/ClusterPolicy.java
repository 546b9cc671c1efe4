package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.core.v3.RoutingPriority;
import java.time.Duration;
import java.util.Optional;

/**
 * The resilience settings of one CDS cluster that a DestinationRule's {@code trafficPolicy}
 * becomes: load-balancing policy, circuit-breaker thresholds, outlier detection, the panic
 * threshold ({@code common_lb_config.healthy_panic_threshold}, percent; Envoy's default 50, 0
 * turns panic mode off) and slow start (ROUND_ROBIN and LEAST_REQUEST only). Immutable.
 */
public record ClusterPolicy(LbPolicy lbPolicy, Thresholds thresholds,
    Optional<Outlier> outlier, double panicThreshold, Optional<SlowStart> slowStart) {

  /** Envoy's default {@code healthy_panic_threshold}, in percent. */
  public static final double DEFAULT_PANIC_THRESHOLD = 50.0;

  public static final ClusterPolicy DEFAULT = new ClusterPolicy(LbPolicy.ROUND_ROBIN,
      Thresholds.DEFAULT, Optional.empty(), DEFAULT_PANIC_THRESHOLD, Optional.empty());

  public enum LbPolicy { ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV }

  public ClusterPolicy {
    requireNonNull(lbPolicy, "lbPolicy");
    requireNonNull(thresholds, "thresholds");
    requireNonNull(outlier, "outlier");
    requireNonNull(slowStart, "slowStart");
    if (!(panicThreshold >= 0 && panicThreshold <= 100)) {
      throw new IllegalArgumentException("panicThreshold: " + panicThreshold
          + " (expected: 0..100)");
    }
    if (slowStart.isPresent() && lbPolicy != LbPolicy.ROUND_ROBIN
        && lbPolicy != LbPolicy.LEAST_REQUEST) {
      throw new IllegalArgumentException("slowStart with lbPolicy " + lbPolicy
          + " (expected: ROUND_ROBIN or LEAST_REQUEST, the policies Envoy ramps)");
    }
  }

  public ClusterPolicy(LbPolicy lbPolicy, Thresholds thresholds, Optional<Outlier> outlier,
      double panicThreshold) {
    this(lbPolicy, thresholds, outlier, panicThreshold, Optional.empty());
  }

  public ClusterPolicy(LbPolicy lbPolicy, Thresholds thresholds, Optional<Outlier> outlier) {
    this(lbPolicy, thresholds, outlier, DEFAULT_PANIC_THRESHOLD);
  }

  /** Circuit-breaker limits for the default priority (Envoy's defaults 1024/1024/1024/3). */
  public record Thresholds(int maxConnections, int maxPendingRequests, int maxRequests,
      int maxRetries) {
    public static final Thresholds DEFAULT = new Thresholds(1024, 1024, 1024, 3);

    public Thresholds {
      if (maxConnections < 0 || maxPendingRequests < 0 || maxRequests < 0 || maxRetries < 0) {
        throw new IllegalArgumentException("thresholds must not be negative");
      }
    }
  }

  /**
   * Outlier detection: eject a host after {@code consecutive5xx} 5xx answers (or
   * {@code consecutiveGatewayFailure} 502/503/504 or connect failures), for
   * {@code baseEjectionTime} × times ejected (at most {@code maxEjectionTime}), never more
   * than {@code maxEjectionPercent} of the hosts. An enforcing percentage of 0 disables a
   * rule.
   */
  public record Outlier(int consecutive5xx, int enforcing5xx, int consecutiveGatewayFailure,
      int enforcingGatewayFailure, Duration interval, Duration baseEjectionTime,
      Duration maxEjectionTime, int maxEjectionPercent) {
    public Outlier {
      requireNonNull(interval, "interval");
      requireNonNull(baseEjectionTime, "baseEjectionTime");
      requireNonNull(maxEjectionTime, "maxEjectionTime");
    }
  }

  /** Parses a cluster's policy, or throws naming the first bad field. */
  public static ClusterPolicy of(Cluster cluster) {
    requireNonNull(cluster, "cluster");
    String where = "cluster " + cluster.getName();
    LbPolicy lb = switch (cluster.getLbPolicy()) {
      case ROUND_ROBIN -> LbPolicy.ROUND_ROBIN;
      case LEAST_REQUEST -> LbPolicy.LEAST_REQUEST;
      case RANDOM -> LbPolicy.RANDOM;
      case RING_HASH -> LbPolicy.RING_HASH;
      case MAGLEV -> LbPolicy.MAGLEV;
      default -> throw new IllegalArgumentException(where + ": lb_policy "
          + cluster.getLbPolicy() + " (expected: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH"
          + " or MAGLEV)");
    };
    Thresholds thresholds = Thresholds.DEFAULT;
    if (cluster.hasCircuitBreakers()) {
      for (CircuitBreakers.Thresholds t : cluster.getCircuitBreakers().getThresholdsList()) {
        if (t.getPriority() == RoutingPriority.DEFAULT) {
          thresholds = new Thresholds(
              limit(t.hasMaxConnections(), t.getMaxConnections().getValue(), 1024,
                  where + ": circuit_breakers.thresholds.max_connections"),
              limit(t.hasMaxPendingRequests(), t.getMaxPendingRequests().getValue(), 1024,
                  where + ": circuit_breakers.thresholds.max_pending_requests"),
              limit(t.hasMaxRequests(), t.getMaxRequests().getValue(), 1024,
                  where + ": circuit_breakers.thresholds.max_requests"),
              limit(t.hasMaxRetries(), t.getMaxRetries().getValue(), 3,
                  where + ": circuit_breakers.thresholds.max_retries"));
        }
      }
    }
    Optional<Outlier> outlier = Optional.empty();
    if (cluster.hasOutlierDetection()) {
      outlier = Optional.of(outlier(cluster.getOutlierDetection(),
          where + ": outlier_detection"));
    }
    double panic = DEFAULT_PANIC_THRESHOLD;
    if (cluster.hasCommonLbConfig() && cluster.getCommonLbConfig().hasHealthyPanicThreshold()) {
      panic = cluster.getCommonLbConfig().getHealthyPanicThreshold().getValue();
      if (!(panic >= 0 && panic <= 100)) {
        throw new IllegalArgumentException(where + ": common_lb_config.healthy_panic_threshold: "
            + panic + " (expected: 0..100)");
      }
    }
    Optional<SlowStart> slowStart = switch (lb) {
      case ROUND_ROBIN -> cluster.getRoundRobinLbConfig().hasSlowStartConfig()
          ? SlowStart.of(cluster.getRoundRobinLbConfig().getSlowStartConfig(),
              where + ": round_robin_lb_config.slow_start_config")
          : Optional.empty();
      case LEAST_REQUEST -> cluster.getLeastRequestLbConfig().hasSlowStartConfig()
          ? SlowStart.of(cluster.getLeastRequestLbConfig().getSlowStartConfig(),
              where + ": least_request_lb_config.slow_start_config")
          : Optional.empty();
      default -> Optional.empty();
    };
    return new ClusterPolicy(lb, thresholds, outlier, panic, slowStart);
  }

  private static int limit(boolean set, int value, int fallback, String field) {
    if (!set) {
      return fallback;
    }
    // UInt32 above Integer.MAX_VALUE arrives negative: treat as unlimited.
    return value < 0 ? Integer.MAX_VALUE : value;
  }

  private static Outlier outlier(OutlierDetection o, String where) {
    int maxPercent = o.hasMaxEjectionPercent() ? o.getMaxEjectionPercent().getValue() : 10;
    if (maxPercent < 0 || maxPercent > 100) {
      throw new IllegalArgumentException(where + ".max_ejection_percent: " + maxPercent
          + " (expected: 0..100)");
    }
    Duration interval = o.hasInterval()
        ? Durations.of(o.getInterval(), where + ".interval") : Duration.ofSeconds(10);
    if (interval.isZero()) {
      throw new IllegalArgumentException(where + ".interval: 0 (expected: > 0)");
    }
    Duration base = o.hasBaseEjectionTime()
        ? Durations.of(o.getBaseEjectionTime(), where + ".base_ejection_time")
        : Duration.ofSeconds(30);
    if (base.isZero()) {
      throw new IllegalArgumentException(where + ".base_ejection_time: 0 (expected: > 0)");
    }
    Duration max = o.hasMaxEjectionTime()
        ? Durations.of(o.getMaxEjectionTime(), where + ".max_ejection_time")
        : Duration.ofSeconds(300);
    if (max.compareTo(base) < 0) {
      max = base;
    }
    return new Outlier(
        count(o.hasConsecutive5Xx(), o.getConsecutive5Xx().getValue(), 5,
            where + ".consecutive_5xx"),
        percent(o.hasEnforcingConsecutive5Xx(), o.getEnforcingConsecutive5Xx().getValue(), 100,
            where + ".enforcing_consecutive_5xx"),
        count(o.hasConsecutiveGatewayFailure(), o.getConsecutiveGatewayFailure().getValue(), 5,
            where + ".consecutive_gateway_failure"),
        percent(o.hasEnforcingConsecutiveGatewayFailure(),
            o.getEnforcingConsecutiveGatewayFailure().getValue(), 0,
            where + ".enforcing_consecutive_gateway_failure"),
        interval, base, max, maxPercent);
  }

  private static int count(boolean set, int value, int fallback, String field) {
    if (!set) {
      return fallback;
    }
    if (value <= 0) {
      throw new IllegalArgumentException(field + ": " + value + " (expected: > 0)");
    }
    return value;
  }

  private static int percent(boolean set, int value, int fallback, String field) {
    if (!set) {
      return fallback;
    }
    if (value < 0 || value > 100) {
      throw new IllegalArgumentException(field + ": " + value + " (expected: 0..100)");
    }
    return value;
  }
}
