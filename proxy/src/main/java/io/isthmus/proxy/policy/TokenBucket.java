package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Envoy's token bucket: starts full with {@code maxTokens}; at the end of every
 * {@code fillInterval} it gains {@code tokensPerFill}, never above {@code maxTokens}; each
 * request takes one token or is refused. Lock-free and allocation-free: the state is one
 * {@code long} (the fill period last seen, modulo 2^32, and the tokens left) changed by
 * compare-and-set, and refills are computed from the clock when a token is asked for, so no
 * timer runs. Thread-safe.
 */
public final class TokenBucket {

  /** Envoy's {@code max_tokens} and {@code tokens_per_fill} are uint32. */
  public static final long MAX = 0xffff_ffffL;
  private static final long LOW = 0xffff_ffffL;

  private final long maxTokens;
  private final long tokensPerFill;
  private final long fillIntervalNanos;
  private final LongSupplier nanoClock;
  private final long origin;
  private final AtomicLong state;

  /**
   * @param nanoClock a monotonic clock in nanoseconds ({@code System::nanoTime}; a fake in tests)
   */
  public TokenBucket(long maxTokens, long tokensPerFill, long fillIntervalNanos,
      LongSupplier nanoClock) {
    if (maxTokens < 1 || maxTokens > MAX) {
      throw new IllegalArgumentException("maxTokens: " + maxTokens + " (expected: 1.." + MAX + ")");
    }
    if (tokensPerFill < 1 || tokensPerFill > MAX) {
      throw new IllegalArgumentException(
          "tokensPerFill: " + tokensPerFill + " (expected: 1.." + MAX + ")");
    }
    if (fillIntervalNanos < 1) {
      throw new IllegalArgumentException(
          "fillIntervalNanos: " + fillIntervalNanos + " (expected: > 0)");
    }
    this.maxTokens = maxTokens;
    this.tokensPerFill = tokensPerFill;
    this.fillIntervalNanos = fillIntervalNanos;
    this.nanoClock = requireNonNull(nanoClock, "nanoClock");
    this.origin = nanoClock.getAsLong();
    this.state = new AtomicLong(maxTokens);
  }

  /** Takes a token if there is one; never waits. */
  public boolean tryAcquire() {
    long period = period(nanoClock.getAsLong());
    for (;;) {
      long s = state.get();
      long tokens = tokens(s, period);
      if (tokens == 0) {
        return false;
      }
      if (state.compareAndSet(s, ((period & LOW) << 32) | (tokens - 1))) {
        return true;
      }
    }
  }

  /** The tokens left now. */
  public long remaining() {
    return tokens(state.get(), period(nanoClock.getAsLong()));
  }

  /** Nanoseconds until the next fill. */
  public long nanosToNextFill() {
    long elapsed = nanoClock.getAsLong() - origin;
    return fillIntervalNanos - Math.floorMod(elapsed, fillIntervalNanos);
  }

  public long maxTokens() {
    return maxTokens;
  }

  public long tokensPerFill() {
    return tokensPerFill;
  }

  public long fillIntervalNanos() {
    return fillIntervalNanos;
  }

  /** A new, full bucket with this one's definition and clock. */
  public TokenBucket fresh() {
    return new TokenBucket(maxTokens, tokensPerFill, fillIntervalNanos, nanoClock);
  }

  /** Whether {@code other} counts the same way (a new config may keep this bucket's state). */
  public boolean sameDefinition(long maxTokens, long tokensPerFill, long fillIntervalNanos) {
    return this.maxTokens == maxTokens && this.tokensPerFill == tokensPerFill
        && this.fillIntervalNanos == fillIntervalNanos;
  }

  private long period(long now) {
    return Math.floorDiv(now - origin, fillIntervalNanos);
  }

  /** The tokens of state {@code s} once the fills since its period are added. */
  private long tokens(long s, long period) {
    long tokens = s & LOW;
    // Modular: the stored period is kept modulo 2^32, so a wrap is still a small difference.
    long fills = (period - (s >>> 32)) & LOW;
    if (fills == 0 || tokens >= maxTokens) {
      return tokens;
    }
    long missing = maxTokens - tokens;
    return fills >= (missing + tokensPerFill - 1) / tokensPerFill ? maxTokens
        : tokens + fills * tokensPerFill;
  }

  @Override
  public String toString() {
    return "TokenBucket[" + remaining() + "/" + maxTokens + ", +" + tokensPerFill + " every "
        + fillIntervalNanos + "ns]";
  }
}
