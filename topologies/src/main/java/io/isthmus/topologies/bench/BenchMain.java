package io.isthmus.topologies.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code isthmus bench proxy|gateway [flags]}: see {@link #USAGE}. Exit codes: 0 measured,
 * 1 a process or load generator failed, 2 bad usage.
 */
public final class BenchMain {

  static final String USAGE = """
      usage: isthmus bench proxy|gateway [flags]
        proxy    every path: direct, one plain hop (Isthmus, HAProxy), two TLS hops (Isthmus
                 sidecar → sidecar mTLS, HAProxy → HAProxy with client certificates), the
                 east-west gateway hop, and the fixed-rate latency runs
        gateway  direct, sidecar → sidecar and sidecar → gateway → sidecar only
      flags:
        --duration <s>         each measured wrk run (default 10)
        --warmup <s>           a wrk run of every path before any is measured (default 5)
        --connections <n>      wrk -c (default 32)
        --threads <n>          wrk -t (default 1)
        --rate <n>             fixed-rate runs: requests per second in all (default 1000; 0: none)
        --rate-connections <n> fixed-rate runs: h2load -c (default 4)
        --rate-duration <s>    fixed-rate runs: seconds (default 10)
        --paths <a,b>          throughput paths instead of the command's: direct, isthmus-plain,
                               haproxy-plain, isthmus-mtls, isthmus-mtls-h2 (HTTP/2
                               between the sidecars), haproxy-tls, isthmus-gateway
        --rate-paths <a,b>     fixed-rate paths (default: direct-tls, isthmus-mtls, haproxy-tls)
        --address-base <n>     listen on 127.<n>.0.0/16 (default 181)
        --work-dir <dir>       certificates, configurations, logs, raw outputs
                               (default .isthmus/bench)
        --jvm-option <flag>    a JVM flag of the proxy processes (repeatable; replaces the
                               production data plane's -XX:+UseSerialGC ... -Xmx256m)
        --concurrency <n>      the proxies' event loops (their --concurrency; default: theirs,
                               2 for a sidecar, one per core for the gateway)
        --transport <t>        the proxies' Netty transport: epoll (their default), io_uring
                               or nio (adds -Disthmus.transport=<t> to their JVM flags)
      needs wrk, h2load (nghttp2-client) and haproxy on the PATH.
      """;

  private BenchMain() {}

  public static void main(String[] args) {
    BenchOptions options;
    try {
      options = parse(args, System.getProperty("isthmus.classpath",
          System.getProperty("java.class.path")),
          Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          Path.of(System.getProperty("isthmus.home", ".")));
    } catch (IllegalArgumentException e) {
      System.err.println("isthmus bench: " + e.getMessage());
      System.err.print(USAGE);
      System.exit(2);
      return;
    }
    if (options == null) {
      System.out.print(USAGE);
      System.exit(0);
      return;
    }
    try (ProxyBench bench = new ProxyBench(options, line -> System.err.println("bench: " + line))) {
      ProxyBench.Report report = bench.run();
      String table = report.table();
      Files.writeString(options.workDir().resolve("table.txt"), table);
      System.out.print(table);
      System.exit(0);
    } catch (Exception e) {
      System.err.println("isthmus bench: " + e.getMessage());
      System.exit(1);
    }
  }

  /** The options {@code args} ask for, or null for {@code --help}. */
  static BenchOptions parse(String[] args, String classPath, String javaCommand, Path home) {
    if (args.length == 0) {
      throw new IllegalArgumentException("no command (expected: proxy or gateway)");
    }
    if (args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
      return null;
    }
    List<BenchPath> paths;
    List<BenchPath> ratePaths;
    switch (args[0]) {
      case "proxy" -> {
        paths = BenchOptions.ALL;
        ratePaths = BenchOptions.ALL_RATE;
      }
      case "gateway" -> {
        paths = BenchOptions.GATEWAY;
        ratePaths = List.of();
      }
      default -> throw new IllegalArgumentException("command: " + args[0]
          + " (expected: proxy or gateway)");
    }
    long duration = 10;
    long warmup = 5;
    int connections = 32;
    int threads = 1;
    int rate = 1000;
    int rateConnections = 4;
    long rateDuration = 10;
    int base = 181;
    Path workDir = home.resolve(".isthmus").resolve("bench");
    List<String> jvm = new ArrayList<>();
    List<String> proxyArgs = new ArrayList<>();
    List<String> transport = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      String flag = args[i];
      if (flag.equals("--help") || flag.equals("-h")) {
        return null;
      }
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException(flag + ": no value (expected: " + flag + " <value>)");
      }
      String value = args[++i];
      switch (flag) {
        case "--duration" -> duration = positive(flag, value);
        case "--warmup" -> warmup = number(flag, value);
        case "--connections" -> connections = (int) positive(flag, value);
        case "--threads" -> threads = (int) positive(flag, value);
        case "--rate" -> rate = (int) number(flag, value);
        case "--rate-connections" -> rateConnections = (int) positive(flag, value);
        case "--rate-duration" -> rateDuration = positive(flag, value);
        case "--paths" -> paths = pathList(value);
        case "--rate-paths" -> ratePaths = pathList(value);
        case "--address-base" -> base = (int) positive(flag, value);
        case "--work-dir" -> workDir = Path.of(value);
        case "--jvm-option" -> jvm.add(value);
        case "--concurrency" -> proxyArgs.addAll(List.of(flag, Long.toString(number(flag, value))));
        case "--transport" -> transport = List.of("-Disthmus.transport=" + transport(value));
        default -> throw new IllegalArgumentException("unknown flag " + flag);
      }
    }
    if (rate == 0) {
      ratePaths = List.of();
      rate = rateConnections;
    }
    return new BenchOptions(paths, ratePaths, Duration.ofSeconds(duration),
        Duration.ofSeconds(warmup), connections, threads, rate, rateConnections,
        Duration.ofSeconds(rateDuration), base, workDir.toAbsolutePath(), classPath, javaCommand,
        concat(jvm.isEmpty() ? BenchOptions.PROXY_JVM : jvm, transport), proxyArgs);
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  private static String transport(String value) {
    return switch (value) {
      case "epoll", "io_uring", "nio" -> value;
      default -> throw new IllegalArgumentException("--transport: " + value
          + " (expected: epoll, io_uring or nio)");
    };
  }

  private static List<BenchPath> pathList(String value) {
    if (value.isBlank()) {
      return List.of();
    }
    return Arrays.stream(value.split(",")).map(BenchPath::ofFlag).distinct().toList();
  }

  private static long number(String flag, String value) {
    try {
      long n = Long.parseLong(value.trim());
      if (n < 0) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + ": " + value + " (expected: a whole number >= 0)");
    }
  }

  private static long positive(String flag, String value) {
    long n = number(flag, value);
    if (n == 0) {
      throw new IllegalArgumentException(flag + ": 0 (expected: > 0)");
    }
    return n;
  }
}
