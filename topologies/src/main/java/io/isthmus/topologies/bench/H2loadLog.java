package io.isthmus.topologies.bench;

import java.util.Arrays;

/**
 * Reads h2load's {@code --log-file}: one request per line, tab-separated start time
 * (microseconds since the epoch), HTTP status and microseconds until the response ended.
 * h2load itself prints no percentiles, so they are computed here, over every request.
 */
final class H2loadLog {

  private H2loadLog() {}

  /**
   * @param seconds how long the run lasted, for the rate
   * @throws IllegalArgumentException on a line that is not three numeric columns, or no request
   */
  static LoadResult parse(String path, String log, double seconds) {
    String[] lines = log.split("\n");
    long[] latencies = new long[lines.length];
    int n = 0;
    long errors = 0;
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].trim();
      if (line.isEmpty()) {
        continue;
      }
      String[] columns = line.split("\t");
      if (columns.length < 3) {
        throw new IllegalArgumentException(path + ": h2load log line " + (i + 1) + ": '" + line
            + "' (expected: start time, status, duration, tab-separated)");
      }
      int status;
      long micros;
      try {
        status = Integer.parseInt(columns[1].trim());
        micros = Long.parseLong(columns[2].trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(path + ": h2load log line " + (i + 1) + ": '" + line
            + "' (expected: numeric status and duration)", e);
      }
      if (status < 200 || status >= 300) {
        errors++;
      }
      latencies[n++] = micros;
    }
    if (n == 0) {
      throw new IllegalArgumentException(path + ": h2load logged no request");
    }
    long[] sorted = Arrays.copyOf(latencies, n);
    Arrays.sort(sorted);
    return new LoadResult(path, n / seconds, n, errors, percentile(sorted, 50),
        percentile(sorted, 90), percentile(sorted, 99), Double.NaN, Double.NaN);
  }

  /** Nearest-rank percentile of sorted values. */
  static double percentile(long[] sorted, double p) {
    int rank = (int) Math.ceil(p / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }
}
