package io.isthmus.proxy.internal.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.internal.telemetry.IstioLabels.Reporter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Test;

class IstioMetricsTest {

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

  private static IstioLabels labels(String service, int code) {
    PeerMetadata curl = new PeerMetadata("curl-1", "sample", "west", "curl", "curl", "v1");
    PeerMetadata hello = new PeerMetadata("hw-1", "sample", "east", "hw", "hw", "v1");
    return IstioLabels.of(Reporter.DESTINATION, curl, "spiffe://x/ns/sample/sa/curl", hello,
        "spiffe://x/ns/sample/sa/hw", service, "http", code, "", "-", "mutual_tls");
  }

  @Test
  void requestsAreExposedWithIstiosNamesAndBuckets() {
    IstioMetrics metrics = new IstioMetrics(registry, 100);
    metrics.request(labels("hw.sample.svc.cluster.local", 200), 3.2, 120, 2048);
    metrics.request(labels("hw.sample.svc.cluster.local", 200), 40, 100, 10);

    String scrape = registry.scrape();
    assertThat(scrape)
        .containsPattern("istio_requests_total\\{[^}]*destination_cluster=\"east\"[^}]*"
            + "source_cluster=\"west\"[^}]*\\} 2")
        .containsPattern("istio_request_duration_milliseconds_bucket\\{[^}]*le=\"5\\.0\"[^}]*\\} 1")
        .containsPattern("istio_request_duration_milliseconds_bucket\\{[^}]*le=\"50\\.0\"[^}]*\\} 2")
        .containsPattern("istio_request_duration_milliseconds_bucket\\{[^}]*le=\"3600000\\.0\"")
        .containsPattern("istio_request_bytes_sum\\{[^}]*\\} 220")
        .containsPattern("istio_response_bytes_count\\{[^}]*\\} 2");
  }

  @Test
  void tcpMetricsCountConnectionsAndBytes() {
    IstioMetrics metrics = new IstioMetrics(registry, 100);
    IstioLabels tcp = labels("db.sample.svc.cluster.local", 0);
    metrics.tcpOpened(tcp);
    metrics.tcpBytes(tcp, 100, 30);
    metrics.tcpClosed(tcp);

    String scrape = registry.scrape();
    assertThat(scrape).containsPattern("istio_tcp_connections_opened_total\\{[^}]*\\} 1")
        .containsPattern("istio_tcp_connections_closed_total\\{[^}]*\\} 1")
        .containsPattern("istio_tcp_sent_bytes_total\\{[^}]*\\} 100")
        .containsPattern("istio_tcp_received_bytes_total\\{[^}]*\\} 30");
    assertThat(scrape).doesNotContainPattern("istio_tcp_sent_bytes_total\\{[^}]*response_code");
  }

  @Test
  void labelSetsBeyondTheLimitFoldIntoOneOverflowSeries() {
    IstioMetrics metrics = new IstioMetrics(registry, 3);
    for (int i = 0; i < 50; i++) {
      metrics.request(labels("svc" + i + ".sample.svc.cluster.local", 200), 1, 1, 1);
    }

    assertThat(metrics.requestSeries()).isLessThanOrEqualTo(4);
    String scrape = registry.scrape();
    assertThat(scrape)
        .containsPattern("istio_requests_total\\{[^}]*destination_service=\"overflow\"[^}]*\\} 47")
        .containsPattern("isthmus_telemetry_series_overflow_total\\{family=\"request\"\\} 47");
    // Nothing lost: every request is counted somewhere.
    double total = registry.find("istio_requests").counters().stream()
        .mapToDouble(c -> c.count()).sum();
    assertThat(total).isEqualTo(50);
  }
}
