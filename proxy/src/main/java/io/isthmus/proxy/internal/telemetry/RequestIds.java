package io.isthmus.proxy.internal.telemetry;

import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@code x-request-id} values: random (version 4) UUIDs, as Envoy makes them. They name a
 * request in logs and traces, they guard nothing, so they come from the thread's fast generator
 * rather than {@code UUID.randomUUID()}'s {@code SecureRandom}, which is slow and synchronized.
 */
public final class RequestIds {

  private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

  private RequestIds() {}

  /** A new id: 36 characters, {@code xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx}. */
  public static String next() {
    return nextValue().toString();
  }

  /**
   * {@link #next()} as a header value: its bytes are written as they are when the request is
   * encoded, with no {@code String} made on the way (one per request otherwise).
   */
  public static AsciiString nextValue() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    long high = (random.nextLong() & ~0xF000L) | 0x4000L;
    long low = (random.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
    byte[] out = new byte[36];
    hex(out, 0, high >>> 32, 8);
    out[8] = '-';
    hex(out, 9, high >>> 16, 4);
    out[13] = '-';
    hex(out, 14, high, 4);
    out[18] = '-';
    hex(out, 19, low >>> 48, 4);
    out[23] = '-';
    hex(out, 24, low, 12);
    return new AsciiString(out, false);
  }

  private static void hex(byte[] out, int at, long value, int digits) {
    for (int i = digits - 1; i >= 0; i--) {
      out[at + i] = HEX[(int) (value & 0xF)];
      value >>>= 4;
    }
  }
}
