package io.isthmus.proxy.internal.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.internal.telemetry.IstioLabels.Reporter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** What the per-request path caches, and that caching changes no reported value. */
class TelemetryCacheTest {

  private static final PeerMetadata SELF =
      new PeerMetadata("curl-1", "sample", "west", "curl", "curl", "v1");
  private static final PeerMetadata HELLO =
      new PeerMetadata("hw-1", "sample", "east", "hw", "hw", "v1");

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

  private Telemetry telemetry(int maxSeries) {
    return new Telemetry(registry, new IstioMetrics(registry, maxSeries), AccessLog.OFF,
        Tracing.DISABLED, SELF, "10.0.0.1", () -> Optional.of("spiffe://x/ns/sample/sa/curl"),
        session -> Optional.empty());
  }

  @Test
  void ownMetadataIsEncodedOnceAndDecodesToItself() {
    Telemetry telemetry = telemetry(100);
    assertThat(telemetry.selfHeader()).isSameAs(telemetry.selfHeader());
    assertThat(PeerMetadata.decode(telemetry.selfHeader())).contains(SELF);
    assertThat(telemetry.selfId()).isEqualTo(SELF.id("10.0.0.1"));
  }

  @Test
  void aPeerHeaderIsDecodedOnceAndABadOneIsCountedEachTime() {
    Telemetry telemetry = telemetry(100);
    String header = HELLO.encode();
    PeerMetadata first = telemetry.peerMetadata(header);
    // A new String with the same value, as each request's header is.
    PeerMetadata second = telemetry.peerMetadata(new String(header.toCharArray()));
    assertThat(first).isEqualTo(HELLO).isSameAs(second);

    assertThat(telemetry.peerMetadata("not base64!")).isNull();
    assertThat(telemetry.peerMetadata("not base64!")).isNull();
    assertThat(telemetry.peerMetadata(null)).isNull();
    assertThat(registry.get("isthmus_peer_metadata_rejected").counter().count()).isEqualTo(2);
  }

  @Test
  void aSeriesIsResolvedOncePerKeyButOverflowIsCountedPerRequest() {
    Telemetry telemetry = telemetry(1);
    AtomicInteger built = new AtomicInteger();
    for (int i = 0; i < 3; i++) {
      IstioMetrics.RequestSeries series = telemetry.requestSeries("key-a", () -> {
        built.incrementAndGet();
        return labels("a.sample.svc.cluster.local");
      });
      IstioMetrics.record(series, 1, 1, 1);
    }
    assertThat(built).hasValue(1);

    for (int i = 0; i < 3; i++) {
      IstioMetrics.RequestSeries series = telemetry.requestSeries("key-b", () -> {
        built.incrementAndGet();
        return labels("b.sample.svc.cluster.local");
      });
      assertThat(series.overflow()).isTrue();
      IstioMetrics.record(series, 1, 1, 1);
    }
    // Past the limit: labels are built per request, and each is counted as folded.
    assertThat(built).hasValue(4);
    assertThat(registry.get("isthmus_telemetry_series_overflow").tag("family", "request")
        .counter().count()).isEqualTo(3);
    assertThat(registry.scrape())
        .containsPattern("istio_requests_total\\{[^}]*destination_service=\"a\\.sample[^}]*\\} 3")
        .containsPattern("istio_requests_total\\{[^}]*destination_service=\"overflow\"[^}]*\\} 3");
  }

  @Test
  void requestIdsAreDistinctVersion4Uuids() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 10_000; i++) {
      String id = RequestIds.next();
      UUID uuid = UUID.fromString(id);
      assertThat(uuid.version()).isEqualTo(4);
      assertThat(uuid.variant()).isEqualTo(2);
      assertThat(uuid.toString()).isEqualTo(id);
      seen.add(id);
    }
    assertThat(seen).hasSize(10_000);
  }

  private static IstioLabels labels(String service) {
    return IstioLabels.of(Reporter.SOURCE, SELF, "spiffe://x/ns/sample/sa/curl", HELLO,
        "unknown", service, "http", 200, "", "-", "unknown");
  }
}
