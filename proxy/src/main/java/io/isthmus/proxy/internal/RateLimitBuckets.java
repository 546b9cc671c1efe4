package io.isthmus.proxy.internal;

import io.isthmus.proxy.policy.RateLimits;
import io.isthmus.proxy.policy.TokenBucket;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The token buckets of the compiled rate limits, carried from one configuration to the next: a
 * bucket whose key (scope, filter, route, descriptor) and definition did not change keeps its
 * tokens, so a config push does not refill every bucket. Each compilation is one generation:
 * {@link #next()} hands out buckets, and the buckets the new generation did not ask for are
 * dropped. Not thread-safe: one compilation at a time (the caller serializes them).
 */
final class RateLimitBuckets {

  private final LongSupplier nanoClock;
  private Map<String, TokenBucket> current = Map.of();

  RateLimitBuckets(LongSupplier nanoClock) {
    this.nanoClock = nanoClock;
  }

  /** A generation: compile with it, then {@link Generation#commit()}. */
  Generation next() {
    return new Generation();
  }

  final class Generation implements RateLimits.Buckets {
    private final Map<String, TokenBucket> used = new HashMap<>();

    @Override
    public TokenBucket bucket(String key, long maxTokens, long tokensPerFill,
        long fillIntervalNanos) {
      TokenBucket kept = used.get(key);
      if (kept == null) {
        kept = current.get(key);
      }
      if (kept == null || !kept.sameDefinition(maxTokens, tokensPerFill, fillIntervalNanos)) {
        kept = new TokenBucket(maxTokens, tokensPerFill, fillIntervalNanos, nanoClock);
      }
      used.put(key, kept);
      return kept;
    }

    void commit() {
      current = Map.copyOf(used);
    }
  }
}
