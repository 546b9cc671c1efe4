package io.isthmus.topologies.bench;

import java.util.Locale;
import java.util.Map;

/** Renders a {@link ProxyBench.Report} as the text table {@code isthmus bench} prints. */
final class BenchTable {

  private BenchTable() {}

  static String render(ProxyBench.Report report) {
    BenchOptions o = report.options();
    StringBuilder out = new StringBuilder();
    Map<BenchPath, LoadResult> rows = report.throughput();
    if (!rows.isEmpty()) {
      out.append(String.format(Locale.ROOT, "Throughput: wrk -t%d -c%d -d%ds --latency (after a"
          + " %d s warm-up of every path), HTTP/1.1 keep-alive, 100-byte responses, loopback, %d CPUs%n",
          o.threads(), o.connections(), o.duration().toSeconds(), o.warmup().toSeconds(),
          Runtime.getRuntime().availableProcessors()));
      out.append(String.format(Locale.ROOT, "%-40s %10s %8s %8s %8s %11s %8s %8s %9s %7s%n",
          "path", "req/s", "p50 ms", "p90 ms", "p99 ms", "CPU µs/req", "RSS MiB", "×direct",
          "×HAProxy", "errors"));
      LoadResult direct = rows.get(BenchPath.DIRECT);
      for (Map.Entry<BenchPath, LoadResult> row : rows.entrySet()) {
        LoadResult r = row.getValue();
        BenchPath peer = row.getKey().peer();
        LoadResult peerResult = peer == null ? null : rows.get(peer);
        out.append(String.format(Locale.ROOT, "%-40s %10.0f %8s %8s %8s %11s %8s %8s %9s %7d%n",
            row.getKey().label(), r.requestsPerSecond(), ms(r.p50Micros()), ms(r.p90Micros()),
            ms(r.p99Micros()), number(r.cpuMicrosPerRequest(), 1), number(r.rssMiB(), 0),
            direct == null || row.getKey() == BenchPath.DIRECT ? "-"
                : ratio(r.requestsPerSecond(), direct.requestsPerSecond()),
            peerResult == null ? "-" : ratio(r.requestsPerSecond(), peerResult.requestsPerSecond()),
            r.errors()));
      }
      out.append("×direct, ×HAProxy: req/s over the direct path's and over HAProxy doing the same"
          + " hops (goal: ≥ 1.00×).\nCPU µs/req and RSS: the path's proxy processes together"
          + " (user + system time from /proc over the measured run ÷ requests).\n");
      LoadResult sidecars = rows.get(BenchPath.ISTHMUS_MTLS);
      LoadResult gateway = rows.get(BenchPath.ISTHMUS_GATEWAY);
      if (sidecars != null && gateway != null) {
        out.append(String.format(Locale.ROOT, "%nGateway hop (sidecar → gateway → sidecar vs"
            + " sidecar → sidecar, same run): throughput %s, added latency p50 %s ms, p90 %s ms,"
            + " p99 %s ms, CPU %s µs/req%n",
            ratio(gateway.requestsPerSecond(), sidecars.requestsPerSecond()),
            signedMs(gateway.p50Micros() - sidecars.p50Micros()),
            signedMs(gateway.p90Micros() - sidecars.p90Micros()),
            signedMs(gateway.p99Micros() - sidecars.p99Micros()),
            signed(gateway.cpuMicrosPerRequest() - sidecars.cpuMicrosPerRequest())));
      }
    }
    Map<BenchPath, LoadResult> rate = report.fixedRate();
    if (!rate.isEmpty()) {
      if (!rows.isEmpty()) {
        out.append('\n');
      }
      out.append(String.format(Locale.ROOT, "Fixed rate: h2load --h1 -c%d --rps=%d -D %d"
          + " (%d req/s in all), latency over every request%n", o.rateConnections(),
          o.rate() / o.rateConnections(), o.rateDuration().toSeconds(), o.rate()));
      out.append(String.format(Locale.ROOT, "%-40s %10s %8s %8s %8s %11s %7s%n", "path",
          "req/s", "p50 ms", "p90 ms", "p99 ms", "CPU µs/req", "errors"));
      for (Map.Entry<BenchPath, LoadResult> row : rate.entrySet()) {
        LoadResult r = row.getValue();
        out.append(String.format(Locale.ROOT, "%-40s %10.0f %8s %8s %8s %11s %7d%n",
            row.getKey().label(), r.requestsPerSecond(), ms(r.p50Micros()), ms(r.p90Micros()),
            ms(r.p99Micros()), number(r.cpuMicrosPerRequest(), 1), r.errors()));
      }
      LoadResult directTls = rate.get(BenchPath.DIRECT_TLS);
      if (directTls != null) {
        for (BenchPath path : new BenchPath[] {BenchPath.ISTHMUS_MTLS, BenchPath.ISTHMUS_MTLS_H2,
            BenchPath.HAPROXY_TLS}) {
          LoadResult r = rate.get(path);
          if (r != null) {
            out.append(String.format(Locale.ROOT, "%s adds %s ms at p90 over direct TLS%s%n",
                path.label(), signedMs(r.p90Micros() - directTls.p90Micros()),
                path.peer() != null ? " (goal: ≤ +0.60 ms)" : ""));
          }
        }
      }
    }
    return out.toString();
  }

  static String ms(double micros) {
    return Double.isNaN(micros) ? "-" : String.format(Locale.ROOT, "%.2f", micros / 1000);
  }

  static String signedMs(double micros) {
    return Double.isNaN(micros) ? "-" : String.format(Locale.ROOT, "%+.2f", micros / 1000);
  }

  static String signed(double value) {
    return Double.isNaN(value) ? "-" : String.format(Locale.ROOT, "%+.1f", value);
  }

  static String number(double value, int decimals) {
    return Double.isNaN(value) ? "-" : String.format(Locale.ROOT, "%." + decimals + "f", value);
  }

  static String ratio(double value, double base) {
    return base > 0 ? String.format(Locale.ROOT, "%.2f×", value / base) : "-";
  }
}
