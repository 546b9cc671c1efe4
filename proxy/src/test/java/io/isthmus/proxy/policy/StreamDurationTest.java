package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.route.v3.RouteAction;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Envoy's choice of a stream's duration limit, as a table (durations in ms; "-": unset). */
class StreamDurationTest {

  private static Optional<Duration> ms(String value) {
    return value.equals("-") ? Optional.empty() : Optional.of(Duration.ofMillis(Long.parseLong(
        value)));
  }

  @ParameterizedTest(name = "max={0} headerMax={1} offset={2} hcm={3} grpc-timeout={4} → {5}")
  @CsvSource({
      // Nothing configured: no limit.
      "-, -, -, 0, -, -",
      // The connection manager's limit when the route says nothing.
      "-, -, -, 500, -, 500",
      // The route's own limit wins; an explicit zero disables the connection manager's.
      "300, -, -, 500, -, 300",
      "0, -, -, 500, -, -",
      // Without grpc_timeout_header_max the header is not consulted.
      "300, -, -, 0, 100, 300",
      "-, -, -, 0, 100, -",
      // With it, the header is the limit, capped by it (zero: not capped).
      "-, 1000, -, 0, 200, 200",
      "-, 1000, -, 0, 5000, 1000",
      "-, 0, -, 0, 5000, 5000",
      "300, 1000, -, 500, 5000, 1000",
      // ... and without a header, the route's or connection manager's limit.
      "300, 1000, -, 500, -, 300",
      "-, 1000, -, 500, -, 500",
      // The offset comes off; used up, the stream is over at once.
      "-, 0, 50, 0, 200, 150",
      "-, 0, 300, 0, 200, 0",
      "-, 100, 30, 0, 5000, 70",
  })
  void limit(String max, String headerMax, String offset, long hcm, String grpcTimeout,
      String expected) {
    StreamDuration duration = new StreamDuration(ms(max), ms(headerMax), ms(offset),
        Duration.ofMillis(hcm));
    assertThat(duration.limit(ms(grpcTimeout))).isEqualTo(ms(expected));
  }

  @Test
  void parsedFromTheRouteAction() {
    StreamDuration parsed = StreamDuration.of(RouteAction.MaxStreamDuration.newBuilder()
        .setMaxStreamDuration(com.google.protobuf.Duration.newBuilder().setSeconds(2))
        .setGrpcTimeoutHeaderMax(com.google.protobuf.Duration.newBuilder().setNanos(500_000_000))
        .build(), "routes[0].route.max_stream_duration");
    assertThat(parsed).isEqualTo(new StreamDuration(Optional.of(Duration.ofSeconds(2)),
        Optional.of(Duration.ofMillis(500)), Optional.empty(), Duration.ZERO));
    assertThat(parsed.isSet()).isTrue();
    assertThat(StreamDuration.NONE.isSet()).isFalse();
    assertThat(StreamDuration.NONE.withConnectionMax(Duration.ofSeconds(1)).isSet()).isTrue();
  }

  @Test
  void aNegativeDurationIsRefusedWithItsPath() {
    assertThatThrownBy(() -> StreamDuration.of(RouteAction.MaxStreamDuration.newBuilder()
        .setGrpcTimeoutHeaderOffset(com.google.protobuf.Duration.newBuilder().setSeconds(-1))
        .build(), "routes[0].route.max_stream_duration"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("routes[0].route.max_stream_duration.grpc_timeout_header_offset");
  }
}
