package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's access log: one line per request, text (Istio's default format) or JSON, to
 * stdout or a file. Event loops only enqueue (never block on I/O); one writer thread drains
 * the queue. When the queue is full the line is dropped and
 * {@code isthmus_access_log_dropped_total} counts it, so a slow disk cannot stall traffic.
 */
public final class AccessLog implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(AccessLog.class);
  private static final int QUEUE = 16_384;

  /** Where lines go; {@code off} disables the log. */
  public enum Format {
    TEXT, JSON;

    public static Format parse(String text) {
      return switch (text.trim().toLowerCase(java.util.Locale.ROOT)) {
        case "text" -> TEXT;
        case "json" -> JSON;
        default -> throw new IllegalArgumentException(
            "--access-log-format: " + text + " (expected: text or json)");
      };
    }
  }

  public static final AccessLog OFF = new AccessLog();

  private final Format format;
  private final OutputStream out;
  private final boolean ownsOut;
  private final BlockingQueue<String> queue;
  private final Thread writer;
  private final Counter written;
  private final Counter dropped;
  private volatile boolean closed;

  private AccessLog() {
    this.format = Format.TEXT;
    this.out = null;
    this.ownsOut = false;
    this.queue = null;
    this.writer = null;
    this.written = null;
    this.dropped = null;
  }

  private AccessLog(Format format, OutputStream out, boolean ownsOut, MeterRegistry registry) {
    this.format = format;
    this.out = out;
    this.ownsOut = ownsOut;
    this.queue = new ArrayBlockingQueue<>(QUEUE);
    this.written = Counter.builder("isthmus_access_log_lines")
        .description("Access log lines written").register(registry);
    this.dropped = Counter.builder("isthmus_access_log_dropped")
        .description("Access log lines dropped because the writer fell behind").register(registry);
    this.writer = new Thread(this::drain, "isthmus-access-log");
    this.writer.setDaemon(true);
    this.writer.start();
  }

  /**
   * Opens the log at {@code target}: {@code off} (or empty) for none, {@code -} or
   * {@code /dev/stdout} for standard output, anything else is a file appended to.
   */
  public static AccessLog open(String target, Format format, MeterRegistry registry) {
    requireNonNull(target, "target");
    requireNonNull(format, "format");
    requireNonNull(registry, "registry");
    String t = target.trim();
    if (t.isEmpty() || t.equalsIgnoreCase("off")) {
      return OFF;
    }
    if (t.equals("-") || t.equals("/dev/stdout")) {
      return new AccessLog(format, System.out, false, registry);
    }
    try {
      Path path = Path.of(t);
      if (path.getParent() != null) {
        Files.createDirectories(path.getParent());
      }
      return new AccessLog(format, Files.newOutputStream(path, StandardOpenOption.CREATE,
          StandardOpenOption.APPEND, StandardOpenOption.WRITE), true, registry);
    } catch (IOException e) {
      throw new UncheckedIOException("--access-log: cannot open " + t + " for appending ("
          + e.getMessage() + "); give a writable file, - for stdout, or off", e);
    }
  }

  public boolean enabled() {
    return queue != null;
  }

  /** Queues one line; never blocks. */
  public void log(AccessLogEntry entry) {
    if (queue == null || closed) {
      return;
    }
    String line = format == Format.JSON ? entry.json() : entry.text();
    if (!queue.offer(line)) {
      dropped.increment();
    }
  }

  private void drain() {
    List<String> batch = new ArrayList<>();
    PrintStream stream = out instanceof PrintStream p ? p : null;
    try {
      while (!closed || !queue.isEmpty()) {
        String first = queue.poll(200, TimeUnit.MILLISECONDS);
        if (first == null) {
          continue;
        }
        batch.add(first);
        queue.drainTo(batch);
        StringBuilder text = new StringBuilder();
        for (String line : batch) {
          text.append(line).append('\n');
        }
        byte[] bytes = text.toString().getBytes(StandardCharsets.UTF_8);
        if (stream != null) {
          stream.write(bytes, 0, bytes.length);
          stream.flush();
        } else {
          out.write(bytes);
          out.flush();
        }
        written.increment(batch.size());
        batch.clear();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (IOException e) {
      log.warn("access log stopped: {}", e.toString());
    }
  }

  /** Writes what is queued, then closes the file (not stdout). */
  @Override
  public void close() {
    if (queue == null || closed) {
      return;
    }
    closed = true;
    try {
      writer.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (ownsOut) {
      try {
        out.close();
      } catch (IOException e) {
        log.debug("closing access log: {}", e.toString());
      }
    }
  }
}
