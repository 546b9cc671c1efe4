package io.isthmus.proxy.internal.dns;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The DNS proxy's metrics: istio-agent's names where it has them ({@code dns_requests_total},
 * {@code dns_upstream_requests_total}, {@code dns_upstream_failures_total},
 * {@code dns_upstream_request_duration_seconds}), ours under {@code isthmus_dns_*}.
 */
final class DnsMetrics {

  final Counter requests;
  final Counter tableAnswers;
  final Counter upstreamRequests;
  final Counter upstreamFailures;
  final Counter upstreamRejected;
  final DistributionSummary upstreamDuration;
  private final MeterRegistry registry;

  DnsMetrics(MeterRegistry registry) {
    this.registry = registry;
    requests = Counter.builder("dns_requests")
        .description("Total number of DNS requests.").register(registry);
    tableAnswers = Counter.builder("isthmus_dns_table_answers")
        .description("DNS requests answered from the mesh name table.").register(registry);
    upstreamRequests = Counter.builder("dns_upstream_requests")
        .description("Total number of DNS requests forwarded to upstream.").register(registry);
    upstreamFailures = Counter.builder("dns_upstream_failures")
        .description("Total number of DNS failures (timeouts, errors) of upstream resolvers.")
        .register(registry);
    upstreamRejected = Counter.builder("isthmus_dns_upstream_rejected")
        .description("DNS requests answered SERVFAIL without forwarding: too many pending, or no"
            + " upstream resolver.")
        .register(registry);
    upstreamDuration = DistributionSummary.builder("dns_upstream_request_duration_seconds")
        .description("Total time in seconds it takes to get DNS responses from upstream.")
        .serviceLevelObjectives(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5)
        .register(registry);
  }

  /** A message that is not a DNS query, dropped; {@code protocol} is {@code udp} or {@code tcp}. */
  void malformed(String protocol) {
    Counter.builder("isthmus_dns_malformed_queries")
        .description("Messages on the DNS port that are not DNS queries, dropped.")
        .tag("protocol", protocol).register(registry).increment();
  }
}
