package io.isthmus.proxy.policy;

import java.time.Duration;

final class Durations {

  private Durations() {}

  /** A protobuf duration, rejected when negative or out of range. */
  static Duration of(com.google.protobuf.Duration d, String field) {
    if (d.getSeconds() < 0 || d.getNanos() < 0 || d.getNanos() > 999_999_999
        || d.getSeconds() > 315_576_000_000L) {
      throw new IllegalArgumentException(field + ": " + d.getSeconds() + "s " + d.getNanos()
          + "ns (expected: a non-negative duration)");
    }
    return Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }
}
