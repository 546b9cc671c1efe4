package io.isthmus.topologies.bench;

import static java.util.Objects.requireNonNull;

/**
 * What one load run measured on one path, plus what its proxy processes spent.
 *
 * @param requestsPerSecond completed requests per second, as the load generator counts them
 * @param p50Micros latency percentiles in microseconds, as the load generator measured them
 * @param errors connect/read/write errors, timeouts and non-2xx answers
 * @param cpuMicrosPerRequest user + system CPU of the path's proxy processes over the run,
 *     divided by the requests; NaN when the path has no proxy
 * @param rssMiB resident memory of the path's proxy processes after the run; NaN without a proxy
 */
public record LoadResult(String path, double requestsPerSecond, long requests, long errors,
    double p50Micros, double p90Micros, double p99Micros, double cpuMicrosPerRequest,
    double rssMiB) {

  public LoadResult {
    requireNonNull(path, "path");
    if (requests < 0 || errors < 0) {
      throw new IllegalArgumentException(path + ": requests " + requests + ", errors " + errors
          + " (expected: >= 0)");
    }
  }

  /** The same result with the proxies' CPU and memory filled in. */
  public LoadResult withProcesses(double cpuMicrosPerRequest, double rssMiB) {
    return new LoadResult(path, requestsPerSecond, requests, errors, p50Micros, p90Micros,
        p99Micros, cpuMicrosPerRequest, rssMiB);
  }
}
