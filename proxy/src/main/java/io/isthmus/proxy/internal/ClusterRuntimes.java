package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.policy.ClusterPolicy;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.random.RandomGenerator;

/**
 * Every upstream cluster's {@link ClusterRuntime}, kept across config pushes so counters and
 * ejections survive a new snapshot. Thread-safe; {@link #update} runs on the xDS thread.
 */
final class ClusterRuntimes {

  private final Map<String, ClusterRuntime> runtimes = new ConcurrentHashMap<>();
  private final Clock clock;
  private final RandomGenerator random;
  private final ClusterRuntime.OverflowListener overflow;

  ClusterRuntimes(Clock clock, RandomGenerator random) {
    this(clock, random, ClusterRuntime.OverflowListener.NONE);
  }

  /** {@code overflow} is told of every slot a circuit breaker refuses, in any cluster. */
  ClusterRuntimes(Clock clock, RandomGenerator random, ClusterRuntime.OverflowListener overflow) {
    this.clock = requireNonNull(clock, "clock");
    this.random = requireNonNull(random, "random");
    this.overflow = requireNonNull(overflow, "overflow");
  }

  /** Brings the runtimes in line with a new config: new policies, gone clusters dropped. */
  void update(DataPlaneConfig config) {
    runtimes.keySet().retainAll(config.clusters().keySet());
    for (DataPlaneConfig.UpstreamCluster cluster : config.clusters().values()) {
      runtimes.computeIfAbsent(cluster.name(),
              n -> new ClusterRuntime(n, cluster.policy(), clock, random, overflow))
          .update(cluster.policy(), cluster.picker().endpoints());
    }
  }

  /** The runtime of a cluster; created on demand so a request racing a push still has one. */
  ClusterRuntime get(DataPlaneConfig.UpstreamCluster cluster) {
    return runtimes.computeIfAbsent(cluster.name(), n -> {
      ClusterRuntime runtime = new ClusterRuntime(n, cluster.policy(), clock, random, overflow);
      runtime.update(cluster.policy(), cluster.picker().endpoints());
      return runtime;
    });
  }

  List<ClusterRuntime.Ejection> ejections() {
    List<ClusterRuntime.Ejection> out = new ArrayList<>();
    runtimes.values().forEach(r -> out.addAll(r.ejections()));
    return out;
  }

  RandomGenerator random() {
    return random;
  }
}
