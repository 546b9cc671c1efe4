package io.isthmus.topologies.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code isthmus bench} arguments, and the table it prints from results. */
class BenchMainTest {

  private static final Path HOME = Path.of("/repo");

  private static BenchOptions parse(String... args) {
    return BenchMain.parse(args, "cp", "java", HOME);
  }

  @Test
  void proxyMeasuresEveryPathAndTheFixedRateRunsWithDefaults() {
    BenchOptions o = parse("proxy");

    assertThat(o.paths()).containsExactlyElementsOf(BenchOptions.ALL);
    assertThat(o.ratePaths()).containsExactly(BenchPath.DIRECT_TLS, BenchPath.ISTHMUS_MTLS,
        BenchPath.HAPROXY_TLS);
    assertThat(o.duration()).isEqualTo(Duration.ofSeconds(10));
    assertThat(o.rate()).isEqualTo(1000);
    assertThat(o.workDir()).isEqualTo(Path.of("/repo/.isthmus/bench"));
    assertThat(o.jvmOptions()).isEqualTo(BenchOptions.PROXY_JVM);
  }

  @Test
  void flagsChooseThePathsAndTheLoad() {
    BenchOptions o = parse("gateway", "--duration", "3", "--warmup", "0", "--connections", "8",
        "--paths", "direct,isthmus-plain", "--rate", "0", "--address-base", "190",
        "--jvm-option", "-Xmx64m");

    assertThat(o.paths()).containsExactly(BenchPath.DIRECT, BenchPath.ISTHMUS_PLAIN);
    assertThat(o.ratePaths()).isEmpty();
    assertThat(o.warmup()).isZero();
    assertThat(o.connections()).isEqualTo(8);
    assertThat(o.addressBase()).isEqualTo(190);
    assertThat(o.jvmOptions()).containsExactly("-Xmx64m");
  }

  @Test
  void transportAddsItsPropertyToTheProxiesJvmFlags() {
    assertThat(parse("proxy", "--transport", "io_uring").jvmOptions())
        .containsExactlyElementsOf(concat(BenchOptions.PROXY_JVM, "-Disthmus.transport=io_uring"));
    assertThat(parse("proxy", "--jvm-option", "-Xmx64m", "--transport", "epoll").jvmOptions())
        .containsExactly("-Xmx64m", "-Disthmus.transport=epoll");
    assertThatThrownBy(() -> parse("proxy", "--transport", "kqueue"))
        .hasMessageContaining("--transport: kqueue (expected: epoll, io_uring or nio)");
  }

  private static List<String> concat(List<String> a, String b) {
    List<String> all = new java.util.ArrayList<>(a);
    all.add(b);
    return all;
  }

  @Test
  void badArgumentsSayWhatWasExpected() {
    assertThatThrownBy(() -> parse()).hasMessageContaining("expected: proxy or gateway");
    assertThatThrownBy(() -> parse("envoy")).hasMessageContaining("command: envoy");
    assertThatThrownBy(() -> parse("proxy", "--paths", "istio"))
        .hasMessageContaining("--paths: istio (expected: some of [direct, isthmus-plain");
    assertThatThrownBy(() -> parse("proxy", "--duration", "0"))
        .hasMessageContaining("--duration: 0 (expected: > 0)");
    assertThatThrownBy(() -> parse("proxy", "--duration"))
        .hasMessageContaining("--duration: no value");
    assertThatThrownBy(() -> parse("proxy", "--rate", "999"))
        .hasMessageContaining("divisible by the connections");
    assertThatThrownBy(() -> parse("proxy", "--paths", "direct-tls"))
        .hasMessageContaining("only in --rate-paths");
    assertThatThrownBy(() -> parse("proxy", "--address-base", "300"))
        .hasMessageContaining("address base: 300");
    assertThatThrownBy(() -> parse("proxy", "--frobnicate", "1"))
        .hasMessageContaining("unknown flag --frobnicate");
    assertThat(parse("--help")).isNull();
    assertThat(parse("proxy", "-h")).isNull();
  }

  @Test
  void tableShowsRatiosToDirectAndToHaproxyAndTheAddedLatencies() {
    Map<BenchPath, LoadResult> rows = new LinkedHashMap<>();
    rows.put(BenchPath.DIRECT, new LoadResult("direct", 40_000, 400_000, 0, 500, 900, 2000,
        Double.NaN, Double.NaN));
    rows.put(BenchPath.ISTHMUS_PLAIN, new LoadResult("isthmus-plain", 20_000, 200_000, 0, 1000,
        1500, 4000, 50, 120));
    rows.put(BenchPath.HAPROXY_PLAIN, new LoadResult("haproxy-plain", 16_000, 160_000, 0, 1200,
        2000, 5000, 25, 16));
    rows.put(BenchPath.ISTHMUS_MTLS, new LoadResult("isthmus-mtls", 10_000, 100_000, 0, 2000,
        3000, 6000, 100, 240));
    rows.put(BenchPath.ISTHMUS_GATEWAY, new LoadResult("isthmus-gateway", 8_000, 80_000, 1,
        2500, 3600, 7000, 130, 360));
    Map<BenchPath, LoadResult> rate = new LinkedHashMap<>();
    rate.put(BenchPath.DIRECT_TLS, new LoadResult("direct-tls", 1000, 10_000, 0, 300, 400, 900,
        Double.NaN, Double.NaN));
    rate.put(BenchPath.ISTHMUS_MTLS, new LoadResult("isthmus-mtls", 1000, 10_000, 0, 700, 950,
        2000, 80, 240));
    BenchOptions options = BenchMain.parse(new String[] {"proxy"}, "cp", "java", HOME);

    String table = new ProxyBench.Report(options, rows, rate).table();

    assertThat(table).containsPattern(
        "isthmus: one plain hop\\s+20000\\s+1\\.00\\s+1\\.50\\s+4\\.00\\s+50\\.0\\s+120\\s+0\\.50×"
            + "\\s+1\\.25×\\s+0");
    assertThat(table).containsPattern("haproxy: one plain hop\\s+16000 .*0\\.40×\\s+-\\s+0");
    assertThat(table).contains("throughput 0.80×, added latency p50 +0.50 ms, p90 +0.60 ms,"
        + " p99 +1.00 ms, CPU +30.0 µs/req");
    assertThat(table).contains("isthmus: sidecar → mTLS → sidecar adds +0.55 ms at p90 over"
        + " direct TLS (goal: ≤ +0.60 ms)");
    assertThat(List.of(table.split("\n"))).anyMatch(l -> l.startsWith("direct (load generator"));
  }
}
