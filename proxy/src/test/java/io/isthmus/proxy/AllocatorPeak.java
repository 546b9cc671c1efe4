package io.isthmus.proxy;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The most memory Netty's default allocator held while a body streamed: sampled every 5 ms from
 * {@link #start} to {@link #close}. Both sidecars of a {@link TwoSidecars} mesh run in the test's
 * JVM and share that allocator, so an aggregating relay would show the whole body, twice.
 */
final class AllocatorPeak implements AutoCloseable {

  private final long before = used();
  private final AtomicLong peak = new AtomicLong(before);
  private final CountDownLatch sampling = new CountDownLatch(1);
  private final Thread sampler = new Thread(this::sample, "allocator-peak");

  private AllocatorPeak() {}

  static AllocatorPeak start() {
    AllocatorPeak peak = new AllocatorPeak();
    peak.sampler.start();
    return peak;
  }

  /** What the default allocator holds now (the heap in use where it has no metrics). */
  static long used() {
    if (ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider provider) {
      return provider.metric().usedDirectMemory() + provider.metric().usedHeapMemory();
    }
    Runtime runtime = Runtime.getRuntime();
    return runtime.totalMemory() - runtime.freeMemory();
  }

  /** The highest sample above the use at {@link #start}. */
  long growth() {
    return peak.get() - before;
  }

  private void sample() {
    while (sampling.getCount() > 0) {
      peak.accumulateAndGet(used(), Math::max);
      try {
        sampling.await(5, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** Stops sampling; {@link #growth} is final then. */
  @Override
  public void close() {
    sampling.countDown();
    try {
      sampler.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
