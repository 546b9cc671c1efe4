package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import java.time.Duration;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * An Envoy {@code tcp_proxy} filter, compiled: where each connection goes ({@code cluster}, or one
 * of {@code weighted_clusters} picked per connection in proportion to its weight, as Envoy does)
 * and how long it may stay idle ({@code idle_timeout}: no byte either way; unset is Envoy's 1 h,
 * zero turns it off). Immutable and thread-safe.
 *
 * @param clusters    the clusters and their weights; one entry for a plain {@code cluster}
 * @param idleTimeout {@link Duration#ZERO} for none
 */
public record TcpRoute(List<ClusterWeight> clusters, Duration idleTimeout) {

  /** Envoy's {@code tcp_proxy} default idle timeout. */
  public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofHours(1);

  /** One cluster of a route and its weight (ignored when it is the only one). */
  public record ClusterWeight(String name, int weight) {
    public ClusterWeight {
      requireNonNull(name, "name");
      if (name.isEmpty()) {
        throw new IllegalArgumentException("cluster name: empty (expected: a cluster name)");
      }
      if (weight < 0) {
        throw new IllegalArgumentException("weight of " + name + ": " + weight + " (expected: >= 0)");
      }
    }
  }

  public TcpRoute {
    clusters = List.copyOf(requireNonNull(clusters, "clusters"));
    requireNonNull(idleTimeout, "idleTimeout");
    if (clusters.isEmpty()) {
      throw new IllegalArgumentException("clusters: empty (expected: at least one)");
    }
    if (clusters.size() > 1 && clusters.stream().mapToLong(ClusterWeight::weight).sum() == 0) {
      throw new IllegalArgumentException("weighted_clusters: the weights sum to 0 (expected: > 0)");
    }
    if (idleTimeout.isNegative()) {
      throw new IllegalArgumentException("idle_timeout: " + idleTimeout + " (expected: >= 0)");
    }
  }

  /** Every connection to {@code cluster}, with Envoy's default idle timeout. */
  public static TcpRoute to(String cluster) {
    return new TcpRoute(List.of(new ClusterWeight(cluster, 1)), DEFAULT_IDLE_TIMEOUT);
  }

  /**
   * Compiles {@code proxy}.
   *
   * @throws IllegalArgumentException naming the field: neither {@code cluster} nor
   *     {@code weighted_clusters}, an empty cluster name, weights that sum to 0, a negative
   *     duration
   */
  public static TcpRoute of(TcpProxy proxy) {
    requireNonNull(proxy, "proxy");
    Duration idle = proxy.hasIdleTimeout()
        ? Durations.of(proxy.getIdleTimeout(), "tcp_proxy.idle_timeout") : DEFAULT_IDLE_TIMEOUT;
    if (proxy.hasWeightedClusters()) {
      var weighted = proxy.getWeightedClusters().getClustersList();
      if (weighted.isEmpty()) {
        throw new IllegalArgumentException(
            "tcp_proxy.weighted_clusters.clusters: empty (expected: at least one cluster)");
      }
      List<ClusterWeight> clusters = new java.util.ArrayList<>();
      for (int i = 0; i < weighted.size(); i++) {
        var c = weighted.get(i);
        if (c.getName().isEmpty()) {
          throw new IllegalArgumentException("tcp_proxy.weighted_clusters.clusters[" + i
              + "].name: empty (expected: a cluster name)");
        }
        clusters.add(new ClusterWeight(c.getName(), c.getWeight()));
      }
      if (clusters.size() == 1) {
        // One cluster takes everything, whatever its weight says.
        clusters = List.of(new ClusterWeight(clusters.get(0).name(), 1));
      }
      try {
        return new TcpRoute(clusters, idle);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("tcp_proxy." + e.getMessage(), e);
      }
    }
    if (proxy.getCluster().isEmpty()) {
      throw new IllegalArgumentException(
          "tcp_proxy: neither cluster nor weighted_clusters (expected: one of them)");
    }
    return new TcpRoute(List.of(new ClusterWeight(proxy.getCluster(), 1)), idle);
  }

  /** Whether several clusters share the connections. */
  public boolean weighted() {
    return clusters.size() > 1;
  }

  /** The cluster the route names first: the only one, or the first weighted one. */
  public String firstCluster() {
    return clusters.get(0).name();
  }

  /** The cluster of one new connection: with several, each in proportion to its weight. */
  public String pick(RandomGenerator random) {
    if (clusters.size() == 1) {
      return clusters.get(0).name();
    }
    long total = 0;
    for (ClusterWeight c : clusters) {
      total += c.weight();
    }
    long point = random.nextLong(total);
    for (ClusterWeight c : clusters) {
      point -= c.weight();
      if (point < 0) {
        return c.name();
      }
    }
    return clusters.get(clusters.size() - 1).name();
  }
}
