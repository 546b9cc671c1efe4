package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.isthmus.proxy.internal.Transports.Kind;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoRegistration;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The event loop's poll-before-sleep ({@code -Disthmus.eventLoop.spinMicros}): the decision as a
 * table over a fake clock, then each transport's real loop serving loopback round trips without
 * sleeping between them while it spins, sleeping between them when it does not, and burning no
 * CPU once idle.
 */
class SpinningIoHandlerTest {

  /** Records whether each run was allowed to block, and answers with scripted counts. */
  private static final class Recording implements IoHandler {
    final List<Boolean> canBlock = new ArrayList<>();
    final Deque<Integer> handled = new ArrayDeque<>();

    @Override
    public int run(IoHandlerContext context) {
      canBlock.add(context.canBlock());
      assertThat(context.delayNanos(0)).isEqualTo(77);
      assertThat(context.deadlineNanos()).isEqualTo(99);
      return handled.isEmpty() ? 0 : handled.poll();
    }

    @Override
    public IoRegistration register(IoHandle handle) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void wakeup() {}

    @Override
    public boolean isCompatible(Class<? extends IoHandle> handleType) {
      return false;
    }
  }

  private static IoHandlerContext context(boolean canBlock) {
    return new IoHandlerContext() {
      @Override
      public boolean canBlock() {
        return canBlock;
      }

      @Override
      public long delayNanos(long currentTimeNanos) {
        return 77;
      }

      @Override
      public long deadlineNanos() {
        return 99;
      }
    };
  }

  @Test
  void pollsWithinTheWindowAfterIoAndSleepsOtherwise() {
    Recording delegate = new Recording();
    AtomicLong now = new AtomicLong(1_000_000);
    SpinningIoHandler handler = new SpinningIoHandler(delegate, 50_000, now::get);

    handler.run(context(true)); // nothing handled yet: an idle loop sleeps
    delegate.handled.add(1);
    handler.run(context(true)); // woken by I/O at t = 0
    now.addAndGet(10_000);
    handler.run(context(true)); // 10 µs later: polls
    now.addAndGet(30_000);
    delegate.handled.add(2);
    handler.run(context(true)); // 40 µs: polls, finds I/O, the window starts again
    now.addAndGet(45_000);
    handler.run(context(true)); // 45 µs after that: still polls
    now.addAndGet(10_000);
    handler.run(context(true)); // 55 µs after it: sleeps
    handler.run(context(false)); // tasks pending: the loop asks for a non-blocking run anyway
    handler.run(context(true)); // no I/O since the window closed: sleeps

    assertThat(delegate.canBlock)
        .containsExactly(true, true, false, false, false, true, false, true);
  }

  @Test
  void aWindowOfZeroOrLessIsRefused() {
    assertThatThrownBy(() -> new SpinningIoHandler(new Recording(), 0, System::nanoTime))
        .hasMessage("spinNanos: 0 (expected: > 0)");
  }

  @Test
  void theWindowIsReadAsMicrosecondsAndABadValueIsNamed() {
    // Off unless asked for: it did not move the p90 beyond a window's noise.
    assertThat(Transports.spinNanos("")).isZero();
    assertThat(Transports.DEFAULT_SPIN_MICROS).isZero();
    assertThat(Transports.spinNanos("0")).isZero();
    assertThat(Transports.spinNanos(" 50 ")).isEqualTo(50_000);
    assertThatThrownBy(() -> Transports.spinNanos("50us"))
        .hasMessage("-Disthmus.eventLoop.spinMicros=50us (expected: microseconds in 0..10000,"
            + " 0 for no polling before an event loop sleeps)");
    assertThatThrownBy(() -> Transports.spinNanos("10001"))
        .hasMessageContaining("expected: microseconds in 0..10000");
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void aSpinningLoopAnswersRoundTripsWithoutSleepingAndIdlesWithoutCpu(Kind kind)
      throws Exception {
    assumeThat(Transports.available(kind)).as(kind + " loads here").isTrue();
    assumeThat(Path.of("/proc/thread-self")).exists();
    // Twelve round trips 5 ms apart: a loop that sleeps at once is woken for each (a voluntary
    // context switch each); one that polls 500 ms after its last I/O never sleeps between them
    // (the window is wide so that a test thread stalled on a loaded machine does not end it).
    long sleeping = voluntarySwitchesOverRoundTrips(kind, 0, 12);
    long spinning = voluntarySwitchesOverRoundTrips(kind, 500_000_000L, 12);
    // A loop preempted between its echo and its next wait finds the next byte already there and
    // misses that sleep (a loaded machine does that now and then): most round trips, not all.
    assertThat(sleeping).as("voluntary switches of a loop that sleeps at once")
        .isGreaterThanOrEqualTo(8);
    // A few from safepoints and the JVM are allowed; a sleep per round trip is not.
    assertThat(spinning).as("voluntary switches of a loop that polls").isLessThan(6);
  }

  /**
   * Runs {@code count} echo round trips against a one-loop group of {@code kind}, returns the
   * loop thread's voluntary context switches over them, and checks the loop goes back to sleep
   * (no CPU) once its window has passed.
   */
  private static long voluntarySwitchesOverRoundTrips(Kind kind, long spinNanos, int count)
      throws Exception {
    EventLoopGroup group = Transports.newGroup(kind, 1, "spin-test-" + kind.flag(), spinNanos);
    try {
      assertThat(Transports.kindOf(group)).isEqualTo(kind);
      Channel listener = new ServerBootstrap().group(group)
          .channel(Transports.serverChannel(kind))
          .childHandler(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
              ctx.writeAndFlush(msg);
            }
          })
          .bind("127.0.0.1", 0).sync().channel();
      String task = group.next().submit(SpinningIoHandlerTest::threadSelf).get(30, TimeUnit.SECONDS);
      try (Socket socket = new Socket()) {
        socket.setTcpNoDelay(true);
        socket.connect((InetSocketAddress) listener.localAddress(), 10_000);
        socket.setSoTimeout(30_000);
        OutputStream out = socket.getOutputStream();
        InputStream in = socket.getInputStream();
        roundTrip(out, in); // accepted and registered before counting
        Thread.sleep(5);
        long before = voluntarySwitches(task);
        for (int i = 0; i < count; i++) {
          roundTrip(out, in);
          Thread.sleep(5);
        }
        long switches = voluntarySwitches(task) - before;
        // Idle: past the window the loop sleeps, so its CPU time stops growing.
        Thread.sleep(spinNanos / 1_000_000 + 100);
        long cpuBefore = cpuNanos(task);
        Thread.sleep(200);
        assertThat(cpuNanos(task) - cpuBefore).as("CPU of an idle loop over 200 ms, ns")
            .isLessThan(20_000_000L);
        listener.close().sync();
        return switches;
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private static void roundTrip(OutputStream out, InputStream in) throws Exception {
    out.write('x');
    out.flush();
    assertThat(in.read()).isEqualTo('x');
  }

  /** This thread's /proc directory, e.g. {@code /proc/123/task/456}. */
  private static String threadSelf() throws Exception {
    return "/proc/" + Files.readSymbolicLink(Path.of("/proc/thread-self"));
  }

  private static long voluntarySwitches(String task) throws Exception {
    for (String line : Files.readAllLines(Path.of(task, "status"))) {
      if (line.startsWith("voluntary_ctxt_switches:")) {
        return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
      }
    }
    throw new IllegalStateException(task + "/status: no voluntary_ctxt_switches");
  }

  private static long cpuNanos(String task) throws Exception {
    return Long.parseLong(Files.readString(Path.of(task, "schedstat")).trim().split("\\s+")[0]);
  }
}
