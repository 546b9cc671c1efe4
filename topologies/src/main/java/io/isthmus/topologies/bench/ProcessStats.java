package io.isthmus.topologies.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;

/**
 * CPU time and resident memory of processes, from Linux's {@code /proc/<pid>/stat} and
 * {@code /proc/<pid>/status}: what a proxy spends is read from outside, the same way for a JVM
 * and for HAProxy.
 */
final class ProcessStats {

  private final long ticksPerSecond;

  ProcessStats(long ticksPerSecond) {
    if (ticksPerSecond <= 0) {
      throw new IllegalArgumentException("ticksPerSecond: " + ticksPerSecond + " (expected: > 0)");
    }
    this.ticksPerSecond = ticksPerSecond;
  }

  /** The kernel's clock ticks per second ({@code getconf CLK_TCK}); 100 if it cannot be asked. */
  static ProcessStats system() {
    try {
      Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes()).trim();
      p.waitFor();
      return new ProcessStats(Long.parseLong(out));
    } catch (IOException | NumberFormatException e) {
      return new ProcessStats(100);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new ProcessStats(100);
    }
  }

  /** User + system CPU of all {@code pids} so far, in microseconds. */
  long cpuMicros(Collection<Long> pids) {
    long ticks = 0;
    for (long pid : pids) {
      ticks += cpuTicks(read(Path.of("/proc", Long.toString(pid), "stat")), pid);
    }
    return ticks * 1_000_000 / ticksPerSecond;
  }

  /** Resident memory of all {@code pids} now, in MiB. */
  double rssMiB(Collection<Long> pids) {
    long kib = 0;
    for (long pid : pids) {
      kib += rssKib(read(Path.of("/proc", Long.toString(pid), "status")), pid);
    }
    return kib / 1024.0;
  }

  /** utime + stime (fields 14 and 15) of a {@code stat} line; the name may hold spaces. */
  static long cpuTicks(String stat, long pid) {
    int close = stat.lastIndexOf(')');
    String[] fields = stat.substring(close + 2).trim().split("\\s+");
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    if (close < 0 || fields.length < 13) {
      throw new IllegalArgumentException("/proc/" + pid + "/stat: '" + stat
          + "' (expected: pid (comm) state ... utime stime ...)");
    }
    return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
  }

  static long rssKib(String status, long pid) {
    for (String line : status.split("\n")) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
      }
    }
    throw new IllegalArgumentException("/proc/" + pid + "/status has no VmRSS line");
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + file + " (the process exited?): " + e, e);
    }
  }
}
