package io.isthmus.topologies.bench;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads wrk's text report ({@code wrk --latency}): throughput, percentiles, errors. */
final class WrkOutput {

  private static final Pattern REQUESTS = Pattern.compile("(\\d+) requests in ([0-9.]+)(us|ms|s|m)");
  private static final Pattern RATE = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
  private static final Pattern PERCENTILE =
      Pattern.compile("^\\s*(50|90|99)(?:\\.000)?%\\s+([0-9.]+)(us|ms|s|m)\\s*$", Pattern.MULTILINE);
  private static final Pattern SOCKET_ERRORS = Pattern.compile(
      "Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)");
  private static final Pattern NON_2XX = Pattern.compile("Non-2xx or 3xx responses: (\\d+)");

  private WrkOutput() {}

  /**
   * @throws IllegalArgumentException if the report lacks the request count, the rate or a
   *     percentile (wrk failed, or ran without {@code --latency})
   */
  static LoadResult parse(String path, String report) {
    Matcher requests = REQUESTS.matcher(report);
    Matcher rate = RATE.matcher(report);
    if (!requests.find() || !rate.find()) {
      throw new IllegalArgumentException(path + ": wrk printed no request count or rate"
          + " (expected: 'N requests in Ts' and 'Requests/sec:'); its output was:\n" + report);
    }
    double p50 = Double.NaN;
    double p90 = Double.NaN;
    double p99 = Double.NaN;
    Matcher percentile = PERCENTILE.matcher(report);
    while (percentile.find()) {
      double micros = micros(percentile.group(2), percentile.group(3));
      switch (percentile.group(1)) {
        case "50" -> p50 = micros;
        case "90" -> p90 = micros;
        default -> p99 = micros;
      }
    }
    if (Double.isNaN(p50) || Double.isNaN(p90) || Double.isNaN(p99)) {
      throw new IllegalArgumentException(path + ": wrk printed no latency distribution"
          + " (expected: wrk --latency); its output was:\n" + report);
    }
    long errors = 0;
    Matcher socket = SOCKET_ERRORS.matcher(report);
    if (socket.find()) {
      for (int g = 1; g <= 4; g++) {
        errors += Long.parseLong(socket.group(g));
      }
    }
    Matcher non2xx = NON_2XX.matcher(report);
    if (non2xx.find()) {
      errors += Long.parseLong(non2xx.group(1));
    }
    return new LoadResult(path, Double.parseDouble(rate.group(1)),
        Long.parseLong(requests.group(1)), errors, p50, p90, p99, Double.NaN, Double.NaN);
  }

  static double micros(String value, String unit) {
    double v = Double.parseDouble(value);
    return switch (unit.toLowerCase(Locale.ROOT)) {
      case "us" -> v;
      case "ms" -> v * 1_000;
      case "s" -> v * 1_000_000;
      case "m" -> v * 60_000_000;
      default -> throw new IllegalArgumentException("latency unit " + unit
          + " (expected: us, ms, s or m)");
    };
  }
}
