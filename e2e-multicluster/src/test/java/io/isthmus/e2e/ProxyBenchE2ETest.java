package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.topologies.bench.BenchOptions;
import io.isthmus.topologies.bench.BenchPath;
import io.isthmus.topologies.bench.LoadResult;
import io.isthmus.topologies.bench.ProxyBench;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code isthmus bench} in miniature: real wrk, h2load and HAProxy against real sidecar JVMs
 * started from static xDS files, two seconds per path. Proves the harness measures every path it
 * prints and leaves no process behind; the figures themselves come from the full run
 * (docs/design/proxy-performance.md).
 */
class ProxyBenchE2ETest {

  @TempDir
  Path dir;

  @Test
  void aShortBenchMeasuresEachPathAndStopsEveryProcessItStarted() throws Exception {
    BenchOptions options = new BenchOptions(
        List.of(BenchPath.DIRECT, BenchPath.ISTHMUS_PLAIN, BenchPath.HAPROXY_PLAIN),
        List.of(BenchPath.DIRECT_TLS, BenchPath.ISTHMUS_MTLS), Duration.ofSeconds(2),
        Duration.ofSeconds(1), 4, 1, 40, 2, Duration.ofSeconds(2), 182, dir,
        System.getProperty("java.class.path"),
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx128m"));
    List<String> progress = new ArrayList<>();

    ProxyBench.Report report;
    try (ProxyBench bench = new ProxyBench(options, progress::add)) {
      report = bench.run();
    }

    assertThat(report.throughput()).containsOnlyKeys(BenchPath.DIRECT, BenchPath.ISTHMUS_PLAIN,
        BenchPath.HAPROXY_PLAIN);
    for (LoadResult r : report.throughput().values()) {
      assertThat(r.requests()).as(r.path()).isPositive();
      assertThat(r.errors()).as(r.path()).isZero();
      assertThat(r.p50Micros()).as(r.path()).isPositive().isLessThanOrEqualTo(r.p99Micros());
    }
    LoadResult hop = report.throughput().get(BenchPath.ISTHMUS_PLAIN);
    assertThat(hop.cpuMicrosPerRequest()).isPositive();
    assertThat(hop.rssMiB()).isGreaterThan(20);
    assertThat(report.throughput().get(BenchPath.DIRECT).cpuMicrosPerRequest()).isNaN();
    // The fixed-rate runs: about 40 req/s for 2 s, every request answered over TLS and mTLS.
    assertThat(report.fixedRate()).containsOnlyKeys(BenchPath.DIRECT_TLS, BenchPath.ISTHMUS_MTLS);
    for (LoadResult r : report.fixedRate().values()) {
      assertThat(r.requests()).as(r.path()).isBetween(40L, 120L);
      assertThat(r.errors()).as(r.path()).isZero();
    }
    assertThat(report.table())
        .containsPattern("isthmus: one plain hop\\s+\\d+\\s+\\d+\\.\\d\\d")
        .contains("isthmus: sidecar → mTLS → sidecar adds");
    assertThat(ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).toList())
        .as("processes left by the bench").isEmpty();
  }
}
