package io.isthmus.gateway;

import io.isthmus.proxy.internal.ProxyMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Tags;

/**
 * Istio's TCP metrics for one relayed connection, as the destination-side reporter (the
 * gateway stands in front of the destination): {@code istio_tcp_connections_opened_total},
 * {@code _closed_total}, {@code istio_tcp_sent_bytes_total} (towards the client) and
 * {@code istio_tcp_received_bytes_total} (from the client). Resolved once per connection so
 * the relay only adds to counters it holds.
 */
record TcpMetrics(Counter opened, Counter closed, Counter sent, Counter received) {

  static TcpMetrics of(ProxyMetrics metrics, String destinationService, String destinationCluster) {
    Tags tags = Tags.of("reporter", "destination", "source_workload", "istio-eastwestgateway",
        "destination_service", destinationService, "destination_cluster", destinationCluster);
    var registry = metrics.registry();
    return new TcpMetrics(
        Counter.builder("istio_tcp_connections_opened").tags(tags).register(registry),
        Counter.builder("istio_tcp_connections_closed").tags(tags).register(registry),
        Counter.builder("istio_tcp_sent_bytes").tags(tags).register(registry),
        Counter.builder("istio_tcp_received_bytes").tags(tags).register(registry));
  }
}
