package io.isthmus.proxy.capture;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Network namespaces for one test JVM, named so that two checkouts running the netns tests at
 * once (a CI clone and a worktree) never share one: {@code icap-<pid in base 36>-<n><role>}, at
 * most 15 characters (the limit of a Linux interface name, so the same name could serve a veth).
 * The pid says whose a namespace is: before this JVM creates its first one, namespaces with this prefix whose
 * JVM is gone (or whose pid now belongs to a process younger than the namespace) are swept with
 * their processes and {@code /etc/netns} directories; a live run's are left alone. After each
 * test every namespace it created is removed, the test failed or not, and so is everything inside
 * (processes killed first; veth pairs, addresses, routes and iptables rules live in the namespace
 * and go with it). A JVM killed outright leaves its namespaces to the next run's sweep.
 */
final class TestNamespaces implements AfterEachCallback {

  static final String PREFIX = "icap-";
  private static final Path RUN_NETNS = Path.of("/run/netns");
  private static final Path ETC_NETNS = Path.of("/etc/netns");
  private static final AtomicInteger SEQUENCE = new AtomicInteger();
  private static final AtomicBoolean SWEPT = new AtomicBoolean();
  private static final String OWNER = Long.toString(ProcessHandle.current().pid(), 36);

  private final List<String> created = new ArrayList<>();

  /**
   * Creates a namespace for {@code role} (one letter or two, e.g. {@code p} for a pod) and
   * records it for removal before it exists, so a failure half-way still cleans it up.
   */
  synchronized String create(String role) {
    requireNonNull(role, "role");
    if (SWEPT.compareAndSet(false, true)) {
      sweepStale();
    }
    String name = PREFIX + OWNER + "-" + SEQUENCE.incrementAndGet() + role;
    if (name.length() > 15) {
      throw new IllegalArgumentException("role: '" + role + "' makes namespace name " + name
          + " longer than 15 characters (expected: a role of one or two letters)");
    }
    created.add(name);
    run("ip", "netns", "add", name);
    return name;
  }

  @Override
  public void afterEach(ExtensionContext context) {
    List<String> names;
    synchronized (this) {
      names = List.copyOf(created);
      created.clear();
    }
    names.forEach(TestNamespaces::remove);
  }

  /** The namespaces of runs that are over, removed with whatever is left inside. */
  static List<String> sweepStale() {
    List<String> removed = new ArrayList<>();
    for (String name : list()) {
      if (stale(name)) {
        remove(name);
        removed.add(name);
      }
    }
    // A resolv.conf directory whose namespace is already gone.
    if (Files.isDirectory(ETC_NETNS)) {
      try (var dirs = Files.list(ETC_NETNS)) {
        for (Path dir : dirs.filter(d -> d.getFileName().toString().startsWith(PREFIX)).toList()) {
          if (!Files.exists(RUN_NETNS.resolve(dir.getFileName())) && stale(dir.getFileName().toString())) {
            quietly("rm", "-rf", dir.toString());
          }
        }
      } catch (IOException e) {
        // Nothing to sweep there.
      }
    }
    return removed;
  }

  /**
   * Whether {@code name}'s run is over: its owner pid is not alive, or that pid is now a process
   * started after the namespace was created (a reused pid).
   */
  static boolean stale(String name) {
    Optional<Long> owner = owner(name);
    if (owner.isEmpty()) {
      return false;
    }
    if (owner.get() == ProcessHandle.current().pid()) {
      return false;
    }
    Optional<ProcessHandle> process = ProcessHandle.of(owner.get());
    if (process.isEmpty() || !process.get().isAlive()) {
      return true;
    }
    Optional<Instant> started = process.get().info().startInstant();
    try {
      Instant createdAt = Files.getLastModifiedTime(RUN_NETNS.resolve(name)).toInstant();
      // Start times are rounded to clock ticks: a second of slack.
      return started.isPresent() && started.get().isAfter(createdAt.plusSeconds(1));
    } catch (IOException e) {
      return false;
    }
  }

  /** The pid in {@code icap-<pid36>-...}, empty for a name of another shape. */
  static Optional<Long> owner(String name) {
    if (!name.startsWith(PREFIX)) {
      return Optional.empty();
    }
    int dash = name.indexOf('-', PREFIX.length());
    if (dash < 0) {
      return Optional.empty();
    }
    try {
      return Optional.of(Long.parseLong(name.substring(PREFIX.length(), dash), 36));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  static List<String> list() {
    String out = quietly("ip", "netns", "list");
    if (out == null) {
      return List.of();
    }
    // "name (id: 3)" or "name".
    return out.lines().map(l -> l.split("\\s+")[0]).filter(n -> n.startsWith(PREFIX)).toList();
  }

  /** Kills the processes inside {@code name}, deletes it and its {@code /etc/netns} directory. */
  static void remove(String name) {
    String pids = quietly("ip", "netns", "pids", name);
    if (pids != null) {
      pids.lines().map(String::strip).filter(l -> l.matches("[0-9]+"))
          .forEach(pid -> ProcessHandle.of(Long.parseLong(pid)).ifPresent(p -> {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
          }));
    }
    quietly("ip", "netns", "del", name);
    quietly("rm", "-rf", ETC_NETNS.resolve(name).toString());
  }

  static String run(String... command) {
    String out = quietly(command);
    if (out == null) {
      throw new IllegalStateException("'" + String.join(" ", command) + "' failed");
    }
    return out;
  }

  /** The command's output, or null if it failed. */
  static String quietly(String... command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return p.waitFor(15, TimeUnit.SECONDS) && p.exitValue() == 0 ? out : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }
}
