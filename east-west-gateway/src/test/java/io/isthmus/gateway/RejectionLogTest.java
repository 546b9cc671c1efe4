package io.isthmus.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class RejectionLogTest {

  /** A clock the test moves by hand. */
  private static final class ManualClock extends Clock {
    long millis = 1_000_000;

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return Instant.ofEpochMilli(millis);
    }
  }

  @Test
  void logsEachReasonAtMostOncePerInterval() {
    ManualClock clock = new ManualClock();
    RejectionLog log = new RejectionLog(5_000, clock);

    assertThat(log.rejected("unknown_sni", "outbound_.5000_._.a", "/127.0.0.1:1", "")).isTrue();
    assertThat(log.rejected("unknown_sni", "outbound_.5000_._.a", "/127.0.0.1:2", "")).isFalse();
    // Another reason has its own window: one noisy failure does not hide another.
    assertThat(log.rejected("connect_failed", "outbound_.5000_._.a", "/127.0.0.1:3", "refused")).isTrue();

    clock.millis += 4_999;
    assertThat(log.rejected("unknown_sni", "outbound_.5000_._.a", "/127.0.0.1:4", "")).isFalse();
    clock.millis += 1;
    assertThat(log.rejected("unknown_sni", "outbound_.5000_._.a", "/127.0.0.1:5", "")).isTrue();
  }
}
