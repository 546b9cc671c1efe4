package io.isthmus.proxy.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * The proxy's Prometheus registry with Istio's standard metric names. Public for the
 * east-west gateway module only; not an API. Thread-safe.
 */
public final class ProxyMetrics {

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  public String scrape() {
    return registry.scrape();
  }

  /** {@code istio_requests_total}; Micrometer adds the {@code _total} suffix. */
  public void request(String reporter, String sourceWorkload, String sourceCluster,
      String destinationService, String destinationCluster, int responseCode,
      String connectionSecurityPolicy) {
    request(reporter, sourceWorkload, sourceCluster, destinationService, destinationCluster,
        responseCode, connectionSecurityPolicy, "-");
  }

  /**
   * {@code istio_requests_total} with Envoy's {@code response_flags} ({@code "-"} for none;
   * e.g. {@code UH}, {@code UF}, {@code UT}, {@code UO}, {@code NR}, {@code DI}, {@code FI},
   * {@code URX}, comma-separated when several apply).
   */
  public void request(String reporter, String sourceWorkload, String sourceCluster,
      String destinationService, String destinationCluster, int responseCode,
      String connectionSecurityPolicy, String responseFlags) {
    request(reporter, sourceWorkload, sourceCluster, destinationService, destinationCluster,
        responseCode, connectionSecurityPolicy, responseFlags, "");
  }

  /**
   * {@code istio_requests_total} with {@code grpc_response_status}: the {@code grpc-status} a
   * gRPC response ended with (from its trailers, or its headers when trailers-only), empty for
   * other requests, as Istio labels them.
   */
  public void request(String reporter, String sourceWorkload, String sourceCluster,
      String destinationService, String destinationCluster, int responseCode,
      String connectionSecurityPolicy, String responseFlags, String grpcResponseStatus) {
    Counter.builder("istio_requests")
        .tag("reporter", reporter)
        .tag("source_workload", sourceWorkload)
        .tag("source_cluster", sourceCluster)
        .tag("destination_service", destinationService)
        .tag("destination_cluster", destinationCluster)
        .tag("response_code", Integer.toString(responseCode))
        .tag("connection_security_policy", connectionSecurityPolicy)
        .tag("response_flags", responseFlags)
        .tag("grpc_response_status", grpcResponseStatus)
        .register(registry)
        .increment();
  }

  public void counter(String name, String... tags) {
    Counter.builder(name).tags(tags).register(registry).increment();
  }

  public double count(String name, String... tags) {
    Counter counter = registry.find(name).tags(tags).counter();
    return counter == null ? 0 : counter.count();
  }
}
