package io.isthmus.topologies.bench;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * One bench run: which paths, how long and how hard.
 *
 * @param paths the throughput runs (wrk), in this order
 * @param ratePaths the fixed-rate runs (h2load {@code --rps}), in this order; empty for none
 * @param duration each measured wrk run; each is preceded by a {@code warmup} run of the same path
 * @param connections wrk's {@code -c}; {@code threads} its {@code -t}
 * @param rate total requests per second of the fixed-rate runs, over {@code rateConnections}
 * @param workDir certificates, configurations, logs and raw outputs land here
 * @param classPath the class path of the proxy and gateway JVMs
 * @param jvmOptions their JVM flags
 * @param proxyArgs extra flags of the proxy and gateway processes (e.g. {@code --concurrency 1});
 *     empty to run them with their defaults, as the launcher does
 */
public record BenchOptions(
    List<BenchPath> paths,
    List<BenchPath> ratePaths,
    Duration duration,
    Duration warmup,
    int connections,
    int threads,
    int rate,
    int rateConnections,
    Duration rateDuration,
    int addressBase,
    Path workDir,
    String classPath,
    String javaCommand,
    List<String> jvmOptions,
    List<String> proxyArgs) {

  /** A run whose proxies use their default flags. */
  public BenchOptions(List<BenchPath> paths, List<BenchPath> ratePaths, Duration duration,
      Duration warmup, int connections, int threads, int rate, int rateConnections,
      Duration rateDuration, int addressBase, Path workDir, String classPath,
      String javaCommand, List<String> jvmOptions) {
    this(paths, ratePaths, duration, warmup, connections, threads, rate, rateConnections,
        rateDuration, addressBase, workDir, classPath, javaCommand, jvmOptions, List.of());
  }

  /** What a sidecar runs with in production, outside a container: {@code DataPlaneJvm.local()}. */
  public static final List<String> PROXY_JVM = io.isthmus.proxy.DataPlaneJvm.local();

  public BenchOptions {
    paths = List.copyOf(requireNonNull(paths, "paths"));
    ratePaths = List.copyOf(requireNonNull(ratePaths, "ratePaths"));
    requireNonNull(duration, "duration");
    requireNonNull(warmup, "warmup");
    requireNonNull(rateDuration, "rateDuration");
    requireNonNull(workDir, "workDir");
    requireNonNull(classPath, "classPath");
    requireNonNull(javaCommand, "javaCommand");
    jvmOptions = List.copyOf(requireNonNull(jvmOptions, "jvmOptions"));
    proxyArgs = List.copyOf(requireNonNull(proxyArgs, "proxyArgs"));
    if (paths.isEmpty() && ratePaths.isEmpty()) {
      throw new IllegalArgumentException("paths: none (expected: at least one path to measure)");
    }
    if (paths.contains(BenchPath.DIRECT_TLS)) {
      throw new IllegalArgumentException("--paths: direct-tls (expected: only in --rate-paths;"
          + " wrk speaks no TLS client certificates, and direct TLS is the fixed-rate baseline)");
    }
    if (duration.toSeconds() < 1 || rateDuration.toSeconds() < 1 || warmup.isNegative()) {
      throw new IllegalArgumentException("duration " + duration + ", rate duration " + rateDuration
          + ", warm-up " + warmup + " (expected: runs of at least 1 s, a warm-up >= 0)");
    }
    if (connections < 1 || threads < 1 || threads > connections) {
      throw new IllegalArgumentException("connections " + connections + ", threads " + threads
          + " (expected: 1 <= threads <= connections)");
    }
    if (rate < 1 || rateConnections < 1 || rate % rateConnections != 0) {
      throw new IllegalArgumentException("rate " + rate + " over " + rateConnections
          + " connections (expected: a positive rate divisible by the connections, since each"
          + " connection sends rate/connections requests per second)");
    }
    new BenchLayout(addressBase);
  }

  /** Every path: what {@code isthmus bench proxy} measures. */
  public static final List<BenchPath> ALL = List.of(BenchPath.DIRECT, BenchPath.ISTHMUS_PLAIN,
      BenchPath.HAPROXY_PLAIN, BenchPath.ISTHMUS_MTLS, BenchPath.HAPROXY_TLS,
      BenchPath.ISTHMUS_GATEWAY);
  public static final List<BenchPath> ALL_RATE = List.of(BenchPath.DIRECT_TLS,
      BenchPath.ISTHMUS_MTLS, BenchPath.HAPROXY_TLS);
  /** What {@code isthmus bench gateway} measures: the gateway hop against the direct mTLS hop. */
  public static final List<BenchPath> GATEWAY = List.of(BenchPath.DIRECT, BenchPath.ISTHMUS_MTLS,
      BenchPath.ISTHMUS_GATEWAY);

  Set<BenchPath> allPaths() {
    var all = new java.util.LinkedHashSet<BenchPath>(paths);
    all.addAll(ratePaths);
    return all;
  }
}
