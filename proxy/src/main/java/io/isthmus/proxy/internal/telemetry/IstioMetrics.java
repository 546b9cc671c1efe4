package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Istio's standard metrics on a Micrometer registry, with Istio's names, labels and
 * histogram buckets: {@code istio_requests_total}, {@code istio_request_duration_milliseconds},
 * {@code istio_request_bytes}, {@code istio_response_bytes}, and the TCP family
 * {@code istio_tcp_sent_bytes_total}, {@code istio_tcp_received_bytes_total},
 * {@code istio_tcp_connections_opened_total}, {@code istio_tcp_connections_closed_total}.
 *
 * <p>Cardinality is bounded: past {@code maxSeries} distinct label sets per family, new label
 * sets fold into one {@link IstioLabels#overflow()} series (nothing is dropped) and
 * {@code isthmus_telemetry_series_overflow_total} counts how often that happened.
 * Thread-safe; called from event loops, never blocks.
 */
public final class IstioMetrics {

  /** Envoy's (and so Istio's) default histogram buckets, for durations in ms and for sizes. */
  static final double[] BUCKETS = {0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
      10000, 30000, 60000, 300000, 600000, 1800000, 3600000};
  public static final int DEFAULT_MAX_SERIES = 10_000;

  private final MeterRegistry registry;
  private final int maxSeries;
  private final Map<IstioLabels, RequestSeries> requests = new ConcurrentHashMap<>();
  private final Map<IstioLabels, TcpSeries> tcp = new ConcurrentHashMap<>();
  private final Counter requestOverflow;
  private final Counter tcpOverflow;

  public IstioMetrics(MeterRegistry registry, int maxSeries) {
    this.registry = requireNonNull(registry, "registry");
    if (maxSeries < 1) {
      throw new IllegalArgumentException("maxSeries: " + maxSeries + " (expected: >= 1)");
    }
    this.maxSeries = maxSeries;
    this.requestOverflow = Counter.builder("isthmus_telemetry_series_overflow")
        .description("Requests or connections folded into the overflow series (label cardinality guard)")
        .tag("family", "request").register(registry);
    this.tcpOverflow = Counter.builder("isthmus_telemetry_series_overflow")
        .tag("family", "tcp").register(registry);
  }

  /** One finished request: counted, its duration in ms and its sizes in bytes observed. */
  public void request(IstioLabels labels, double durationMillis, long requestBytes,
      long responseBytes) {
    record(requestSeriesOf(labels), durationMillis, requestBytes, responseBytes);
  }

  /**
   * The meters of {@code labels}' series, for a caller to keep and {@link #record} into without
   * building labels again. An {@linkplain RequestSeries#overflow() overflow} handle must not be
   * kept: each request folded into it is counted in the overflow counter on its own.
   */
  RequestSeries requestSeriesOf(IstioLabels labels) {
    RequestSeries series = requests.get(labels);
    if (series == null) {
      series = requests.size() >= maxSeries
          ? overflow(requests, labels.overflow(), requestOverflow,
              l -> newRequestSeries(l, true))
          : requests.computeIfAbsent(labels, l -> newRequestSeries(l, false));
    }
    return series;
  }

  /** One finished request into a series from {@link #requestSeriesOf}. */
  static void record(RequestSeries series, double durationMillis, long requestBytes,
      long responseBytes) {
    series.count.increment();
    series.duration.record(Math.max(0, durationMillis));
    series.requestBytes.record(Math.max(0, requestBytes));
    series.responseBytes.record(Math.max(0, responseBytes));
  }

  public void tcpOpened(IstioLabels labels) {
    tcpSeries(labels).opened.increment();
  }

  public void tcpClosed(IstioLabels labels) {
    tcpSeries(labels).closed.increment();
  }

  /** Bytes sent to and received from the downstream peer of a TCP connection. */
  public void tcpBytes(IstioLabels labels, long sent, long received) {
    TcpSeries series = tcpSeries(labels);
    if (sent > 0) {
      series.sent.increment(sent);
    }
    if (received > 0) {
      series.received.increment(received);
    }
  }

  /**
   * The counters of one TCP connection's series, for a handler to hold for the connection's
   * life: its reads and writes then count without building labels or looking a series up.
   */
  TcpSeries tcpSeriesOf(IstioLabels labels) {
    return tcpSeries(requireNonNull(labels, "labels"));
  }

  /** Distinct request label sets held (the overflow series included). */
  int requestSeries() {
    return requests.size();
  }

  private TcpSeries tcpSeries(IstioLabels labels) {
    TcpSeries series = tcp.get(labels);
    if (series != null) {
      return series;
    }
    return tcp.size() >= maxSeries
        ? overflow(tcp, labels.overflow(), tcpOverflow, this::newTcpSeries)
        : tcp.computeIfAbsent(labels, this::newTcpSeries);
  }

  private static <S> S overflow(Map<IstioLabels, S> map, IstioLabels overflow, Counter counter,
      java.util.function.Function<IstioLabels, S> create) {
    counter.increment();
    // The overflow series itself may push the map one past the limit; it is the last one.
    return map.computeIfAbsent(overflow, create);
  }

  private RequestSeries newRequestSeries(IstioLabels labels, boolean overflow) {
    var tags = labels.requestTags();
    return new RequestSeries(overflow,
        Counter.builder("istio_requests").tags(tags).register(registry),
        histogram("istio_request_duration_milliseconds", tags),
        histogram("istio_request_bytes", tags),
        histogram("istio_response_bytes", tags));
  }

  private TcpSeries newTcpSeries(IstioLabels labels) {
    var tags = labels.tcpTags();
    return new TcpSeries(
        Counter.builder("istio_tcp_sent_bytes").tags(tags).register(registry),
        Counter.builder("istio_tcp_received_bytes").tags(tags).register(registry),
        Counter.builder("istio_tcp_connections_opened").tags(tags).register(registry),
        Counter.builder("istio_tcp_connections_closed").tags(tags).register(registry));
  }

  private DistributionSummary histogram(String name, io.micrometer.core.instrument.Tags tags) {
    return DistributionSummary.builder(name).tags(tags).serviceLevelObjectives(BUCKETS)
        .register(registry);
  }

  /** The meters of one request series; {@code overflow} when it is the folded series. */
  record RequestSeries(boolean overflow, Counter count, DistributionSummary duration,
      DistributionSummary requestBytes, DistributionSummary responseBytes) {}

  /** {@code sent}: bytes to the downstream peer; {@code received}: bytes from it. */
  record TcpSeries(Counter sent, Counter received, Counter opened, Counter closed) {}
}
