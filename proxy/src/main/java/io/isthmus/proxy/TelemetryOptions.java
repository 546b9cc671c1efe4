package io.isthmus.proxy;

import static java.util.Objects.requireNonNull;

import java.util.Locale;

/**
 * What the sidecar reports and where (see docs/observability.md).
 *
 * @param statsPort Istio's merged-metrics port, {@code podIp:15020/stats/prometheus}; 0 picks a
 *     free port (tests), -1 serves none (Istio's metrics stay on the admin port 15000)
 * @param otlpEndpoint {@code host:port} of an OTLP/gRPC collector for spans; empty: no tracing
 * @param traceSamplingPercent percentage of new traces sampled (Istio's default 1.0); a request
 *     that arrives with a {@code traceparent} keeps its caller's decision
 * @param accessLog {@code off}, {@code -} (stdout) or a file path
 * @param accessLogFormat {@code text} (Istio's default format) or {@code json}
 * @param maxSeries the label cardinality guard: label sets per metric family before new ones
 *     fold into the {@code overflow} series
 */
public record TelemetryOptions(int statsPort, String otlpEndpoint, double traceSamplingPercent,
    String accessLog, String accessLogFormat, int maxSeries) {

  /** Istio's defaults: metrics on 15020, no tracing endpoint, 1% sampling, no access log. */
  public static final TelemetryOptions DEFAULT =
      new TelemetryOptions(15020, "", 1.0, "off", "text", 10_000);

  public TelemetryOptions {
    requireNonNull(otlpEndpoint, "otlpEndpoint");
    requireNonNull(accessLog, "accessLog");
    requireNonNull(accessLogFormat, "accessLogFormat");
    if (statsPort < -1 || statsPort > 65535) {
      throw new IllegalArgumentException("statsPort: " + statsPort
          + " (expected: 0..65535, or -1 for none)");
    }
    if (!(traceSamplingPercent >= 0 && traceSamplingPercent <= 100)) {
      throw new IllegalArgumentException("--trace-sampling: " + traceSamplingPercent
          + " (expected: a percentage from 0 to 100)");
    }
    String format = accessLogFormat.trim().toLowerCase(Locale.ROOT);
    if (!format.equals("text") && !format.equals("json")) {
      throw new IllegalArgumentException("--access-log-format: " + accessLogFormat
          + " (expected: text or json)");
    }
    accessLogFormat = format;
    if (maxSeries < 1) {
      throw new IllegalArgumentException("maxSeries: " + maxSeries + " (expected: >= 1)");
    }
  }

  public TelemetryOptions withStatsPort(int port) {
    return new TelemetryOptions(port, otlpEndpoint, traceSamplingPercent, accessLog,
        accessLogFormat, maxSeries);
  }

  public TelemetryOptions withTracing(String endpoint, double samplingPercent) {
    return new TelemetryOptions(statsPort, endpoint, samplingPercent, accessLog,
        accessLogFormat, maxSeries);
  }

  public TelemetryOptions withAccessLog(String target, String format) {
    return new TelemetryOptions(statsPort, otlpEndpoint, traceSamplingPercent, target, format,
        maxSeries);
  }
}
