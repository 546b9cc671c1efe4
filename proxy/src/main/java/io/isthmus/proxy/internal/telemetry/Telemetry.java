package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.util.AsciiString;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLSession;

/**
 * A sidecar's telemetry: Istio's metrics, the access log and the tracer, and who this
 * workload is. Hands out one {@link HttpTelemetryHandler} per downstream connection.
 * Thread-safe; owns the access log and the tracer (closed with it).
 */
public final class Telemetry implements AutoCloseable {

  private final IstioMetrics metrics;
  private final AccessLog accessLog;
  private final Tracing tracing;
  private final PeerMetadata self;
  private final String podIp;
  private final Supplier<Optional<String>> ownPrincipal;
  private final Function<SSLSession, Optional<String>> peerPrincipal;
  private final Counter badPeerMetadata;
  // Encoded once: the local workload's metadata is the same on every request it sends.
  private final String selfHeader;
  private final String selfId;
  // The same as header values: their bytes are copied as they are when a request is encoded.
  private final AsciiString selfHeaderValue;
  private final AsciiString selfIdValue;
  // Istio exchanges metadata per connection; we get it per request, so decode each distinct
  // value once. Bounded: past the limit a value is decoded per request (still correct).
  private final Map<String, PeerMetadata> decodedPeers = new ConcurrentHashMap<>();
  // Request label inputs → their meters, so a request neither builds labels nor hashes all
  // twenty-one of them. Bounded like the decoded peers.
  private final Map<Object, IstioMetrics.RequestSeries> resolvedSeries =
      new ConcurrentHashMap<>();

  public Telemetry(MeterRegistry registry, IstioMetrics metrics, AccessLog accessLog,
      Tracing tracing, PeerMetadata self, String podIp, Supplier<Optional<String>> ownPrincipal,
      Function<SSLSession, Optional<String>> peerPrincipal) {
    this.metrics = requireNonNull(metrics, "metrics");
    this.accessLog = requireNonNull(accessLog, "accessLog");
    this.tracing = requireNonNull(tracing, "tracing");
    this.self = requireNonNull(self, "self");
    this.podIp = requireNonNull(podIp, "podIp");
    this.ownPrincipal = requireNonNull(ownPrincipal, "ownPrincipal");
    this.peerPrincipal = requireNonNull(peerPrincipal, "peerPrincipal");
    this.badPeerMetadata = Counter.builder("isthmus_peer_metadata_rejected")
        .description("x-envoy-peer-metadata headers that were not base64 of a Struct (ignored)")
        .register(requireNonNull(registry, "registry"));
    this.selfHeader = self.encode();
    this.selfId = self.id(podIp);
    this.selfHeaderValue = new AsciiString(selfHeader);
    this.selfIdValue = new AsciiString(selfId);
  }

  static final int MAX_CACHED = 4096;

  /** For the outbound entry: reporter {@code source}, a client span per request. */
  public HttpTelemetryHandler outboundHandler() {
    return new HttpTelemetryHandler(this, IstioLabels.Reporter.SOURCE, null);
  }

  /** For an inbound listener: reporter {@code destination}, a server span per request. */
  public HttpTelemetryHandler inboundHandler(int port) {
    return new HttpTelemetryHandler(this, IstioLabels.Reporter.DESTINATION,
        "inbound|" + port + "||");
  }

  public IstioMetrics metrics() {
    return metrics;
  }

  AccessLog accessLog() {
    return accessLog;
  }

  Tracing tracing() {
    return tracing;
  }

  PeerMetadata self() {
    return self;
  }

  /** {@link PeerMetadata#HEADER}'s value for this workload. */
  String selfHeader() {
    return selfHeader;
  }

  /** {@link PeerMetadata#ID_HEADER}'s value for this workload. */
  String selfId() {
    return selfId;
  }

  /** {@link #selfHeader()} as a header value. */
  AsciiString selfHeaderValue() {
    return selfHeaderValue;
  }

  /** {@link #selfId()} as a header value. */
  AsciiString selfIdValue() {
    return selfIdValue;
  }

  /**
   * A peer's {@link PeerMetadata#HEADER} value decoded, the same instance for the same value;
   * null (and counted) when it is not base64 of a Struct.
   */
  PeerMetadata peerMetadata(String header) {
    if (header == null) {
      return null;
    }
    PeerMetadata known = decodedPeers.get(header);
    if (known != null) {
      return known;
    }
    Optional<PeerMetadata> decoded = PeerMetadata.decode(header);
    if (decoded.isEmpty()) {
      badPeerMetadata.increment();
      return null;
    }
    if (decodedPeers.size() < MAX_CACHED) {
      decodedPeers.putIfAbsent(header, decoded.get());
    }
    return decoded.get();
  }

  /**
   * The request series of {@code key} (what a request's labels are made of), built with
   * {@code labels} the first time. The overflow series is never cached, so each request folded
   * into it is counted as such.
   */
  IstioMetrics.RequestSeries requestSeries(Object key, Supplier<IstioLabels> labels) {
    IstioMetrics.RequestSeries series = resolvedSeries.get(key);
    if (series != null) {
      return series;
    }
    series = metrics.requestSeriesOf(labels.get());
    if (!series.overflow() && resolvedSeries.size() < MAX_CACHED) {
      resolvedSeries.putIfAbsent(key, series);
    }
    return series;
  }

  String podIp() {
    return podIp;
  }

  String ownPrincipal() {
    return ownPrincipal.get().orElse("unknown");
  }

  Optional<String> peerPrincipal(SSLSession session) {
    return peerPrincipal.apply(session);
  }

  @Override
  public void close() {
    accessLog.close();
    tracing.close();
  }
}
