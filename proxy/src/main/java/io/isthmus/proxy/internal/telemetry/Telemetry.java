package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Optional;
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
  }

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

  String podIp() {
    return podIp;
  }

  String ownPrincipal() {
    return ownPrincipal.get().orElse("unknown");
  }

  Optional<String> peerPrincipal(SSLSession session) {
    return peerPrincipal.apply(session);
  }

  void peerMetadataRejected() {
    badPeerMetadata.increment();
  }

  @Override
  public void close() {
    accessLog.close();
    tracing.close();
  }
}
