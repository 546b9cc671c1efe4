package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.TelemetryOptions;
import io.isthmus.proxy.internal.telemetry.AccessLog;
import io.isthmus.proxy.internal.telemetry.IstioMetrics;
import io.isthmus.proxy.internal.telemetry.PeerMetadata;
import io.isthmus.proxy.internal.telemetry.Telemetry;
import io.isthmus.proxy.internal.telemetry.Tracing;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;

/**
 * Who the sidecar's workload is in telemetry (Istio's peer metadata) and what it reports where.
 */
public record TelemetrySettings(PeerMetadata self, TelemetryOptions options) {

  public TelemetrySettings {
    requireNonNull(self, "self");
    requireNonNull(options, "options");
  }

  /** The telemetry these settings describe; the caller owns it (close it). */
  Telemetry create(String podIp, TlsContexts tls, MeterRegistry registry) {
    TelemetryOptions o = options;
    AccessLog accessLog = AccessLog.open(o.accessLog(), AccessLog.Format.parse(o.accessLogFormat()),
        registry);
    Tracing tracing = o.otlpEndpoint().isBlank() ? Tracing.DISABLED
        : Tracing.otlp(o.otlpEndpoint(), o.traceSamplingPercent(), Map.of(
            "service.name", self.app() + "." + self.namespace(),
            "service.namespace", self.namespace(),
            "k8s.pod.name", self.pod(),
            "k8s.namespace.name", self.namespace(),
            "istio.cluster_id", self.cluster(),
            "host.ip", podIp));
    return new Telemetry(registry, new IstioMetrics(registry, o.maxSeries()), accessLog, tracing,
        self, podIp, tls.ownIdentity(), tls.peerIdentity());
  }

  /** Metrics only (no 15020 port, no tracing, no access log), for a workload known by name. */
  static TelemetrySettings metricsOnly(WorkloadInfo workload) {
    return new TelemetrySettings(new PeerMetadata(workload.workload(), workload.namespace(),
        workload.cluster(), workload.workload(), workload.workload(), null),
        TelemetryOptions.DEFAULT.withStatsPort(-1));
  }
}
