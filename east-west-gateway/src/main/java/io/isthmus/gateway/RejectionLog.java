package io.isthmus.gateway;

import java.time.Clock;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Says in the gateway's log why relayed connections fail (unknown SNI cluster, no endpoints,
 * upstream connect refused, not TLS, ...), at most once per reason per interval, with how many
 * were suppressed since the last line. A client sidecar retries a failed gateway hop on another
 * endpoint, so a gateway that rejects everything is otherwise invisible: requests still succeed,
 * just never through this gateway.
 *
 * <p>Thread-safe: called from every event loop.
 */
final class RejectionLog {

  private static final Logger log = LoggerFactory.getLogger(RejectionLog.class);

  private final long intervalMillis;
  private final Clock clock;
  private final Map<String, Window> windows = new ConcurrentHashMap<>();

  private static final class Window {
    final AtomicLong nextAllowed = new AtomicLong(Long.MIN_VALUE);
    final AtomicLong suppressed = new AtomicLong();
  }

  RejectionLog(long intervalMillis, Clock clock) {
    if (intervalMillis < 0) {
      throw new IllegalArgumentException("intervalMillis: " + intervalMillis + " (expected: >= 0)");
    }
    this.intervalMillis = intervalMillis;
    this.clock = clock;
  }

  /**
   * Logs one rejection unless this reason was logged within the interval.
   *
   * @return whether a line was written
   */
  boolean rejected(String reason, String sni, Object from, String detail) {
    Window w = windows.computeIfAbsent(reason, r -> new Window());
    long now = clock.millis();
    long next = w.nextAllowed.get();
    if (now < next || !w.nextAllowed.compareAndSet(next, now + intervalMillis)) {
      w.suppressed.incrementAndGet();
      return false;
    }
    long skipped = w.suppressed.getAndSet(0);
    log.warn("rejected connection from {} for SNI {}: {}{}{}", from, sni == null ? "(none)" : sni,
        reason, detail.isEmpty() ? "" : " (" + detail + ")",
        skipped == 0 ? "" : "; " + skipped + " more rejected for " + reason + " since the last report");
    return true;
  }
}
