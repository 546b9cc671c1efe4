package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Envoy's token bucket on a fake clock: starts full, refills per interval, caps at its size. */
class TokenBucketTest {

  private static final long SECOND = 1_000_000_000L;
  private final AtomicLong clock = new AtomicLong(123_456_789L);

  private TokenBucket bucket(long max, long perFill, long interval) {
    return new TokenBucket(max, perFill, interval, clock::get);
  }

  private static int take(TokenBucket b, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
      if (b.tryAcquire()) {
        ok++;
      }
    }
    return ok;
  }

  @Test
  void startsFullThenRefusesUntilTheNextFill() {
    TokenBucket b = bucket(5, 5, SECOND);
    assertThat(take(b, 10)).isEqualTo(5);
    assertThat(b.remaining()).isZero();
    clock.addAndGet(SECOND - 1);
    assertThat(b.tryAcquire()).as("one nanosecond before the fill").isFalse();
    assertThat(b.nanosToNextFill()).isEqualTo(1);
    clock.addAndGet(1);
    assertThat(take(b, 10)).isEqualTo(5);
  }

  @Test
  void burstIsTheBucketSizeAndEachFillAddsTokensPerFill() {
    TokenBucket b = bucket(20, 5, SECOND);
    assertThat(take(b, 100)).as("the burst").isEqualTo(20);
    clock.addAndGet(SECOND);
    assertThat(take(b, 100)).as("one fill").isEqualTo(5);
    clock.addAndGet(3 * SECOND);
    assertThat(take(b, 100)).as("three fills").isEqualTo(15);
    clock.addAndGet(60 * SECOND);
    assertThat(b.remaining()).as("never above the size").isEqualTo(20);
    assertThat(take(b, 100)).isEqualTo(20);
  }

  @Test
  void aFillLandsOnIntervalBoundariesNotPerRequest() {
    TokenBucket b = bucket(1, 1, SECOND);
    assertThat(b.tryAcquire()).isTrue();
    clock.addAndGet(SECOND / 2);
    assertThat(b.tryAcquire()).isFalse();
    assertThat(b.nanosToNextFill()).isEqualTo(SECOND / 2);
    clock.addAndGet(SECOND / 2);
    assertThat(b.tryAcquire()).isTrue();
    assertThat(b.tryAcquire()).isFalse();
  }

  @Test
  void keepsCountingFillsWhenItsPeriodCounterWraps() {
    TokenBucket b = bucket(2, 1, 1);
    assertThat(take(b, 5)).isEqualTo(2);
    clock.addAndGet((1L << 32) - 1);
    assertThat(take(b, 5)).as("in the last period before the 32-bit counter wraps").isEqualTo(2);
    clock.addAndGet(1);
    assertThat(take(b, 5)).as("one fill later, across the wrap").isEqualTo(1);
  }

  @Test
  void concurrentTakersGetExactlyTheTokensThereAre() throws Exception {
    TokenBucket b = bucket(10_000, 1, SECOND);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Integer>> results = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        results.add(pool.submit(() -> {
          start.await();
          return take(b, 5_000);
        }));
      }
      start.countDown();
      int total = 0;
      for (Future<Integer> f : results) {
        total += f.get(30, TimeUnit.SECONDS);
      }
      assertThat(total).isEqualTo(10_000);
      assertThat(b.remaining()).isZero();
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void refusesDefinitionsEnvoyWouldNot() {
    assertThatThrownBy(() -> bucket(0, 1, SECOND)).hasMessageContaining("maxTokens: 0");
    assertThatThrownBy(() -> bucket(1, 0, SECOND)).hasMessageContaining("tokensPerFill: 0");
    assertThatThrownBy(() -> bucket(1, 1, 0)).hasMessageContaining("fillIntervalNanos: 0");
    assertThatThrownBy(() -> bucket(TokenBucket.MAX + 1, 1, SECOND)).hasMessageContaining("maxTokens");
  }
}
