package io.isthmus.topologies.bench;

import static java.util.Objects.requireNonNull;

import io.isthmus.topologies.internal.ChildProcess;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Runs a proxy benchmark on this machine: starts the backend (HAProxy answering 100 bytes), the
 * Isthmus client and server sidecars and east-west gateway (real processes, static xDS from
 * files, mesh certificates) and the HAProxy peers, drives each path with wrk (throughput) and
 * h2load (fixed rate), reads each path's proxy processes' CPU and memory from {@code /proc},
 * and stops every process it started, whatever happens ({@link #close}, also from a shutdown
 * hook).
 *
 * <p>Not thread-safe: one run at a time.
 */
public final class ProxyBench implements AutoCloseable {

  private final BenchOptions options;
  private final BenchLayout layout;
  private final BenchConfigs configs;
  private final Consumer<String> progress;
  private final ProcessStats stats = ProcessStats.system();
  private final Map<String, ChildProcess> processes = new LinkedHashMap<>();
  private final Thread shutdownHook = new Thread(this::stopAll, "isthmus-bench-shutdown");

  public ProxyBench(BenchOptions options, Consumer<String> progress) {
    this.options = requireNonNull(options, "options");
    this.progress = requireNonNull(progress, "progress");
    this.layout = new BenchLayout(options.addressBase());
    this.configs = new BenchConfigs(layout, options.workDir());
  }

  /** Results of one run: throughput rows and fixed-rate rows, each in the options' order. */
  public record Report(BenchOptions options, Map<BenchPath, LoadResult> throughput,
      Map<BenchPath, LoadResult> fixedRate) {
    public Report {
      requireNonNull(options, "options");
      throughput = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(throughput));
      fixedRate = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(fixedRate));
    }

    public String table() {
      return BenchTable.render(this);
    }
  }

  /**
   * Starts what the paths need, measures them, and stops everything.
   *
   * @throws IllegalStateException naming the process that did not start, with its log's tail
   */
  public Report run() throws IOException, InterruptedException {
    Runtime.getRuntime().addShutdownHook(shutdownHook);
    try {
      configs.write();
      startProcesses();
      // Every path is warmed before any is measured: the sidecar JVMs serve several paths, and
      // a path measured later would otherwise have had more JIT time behind it than an earlier one.
      if (!options.warmup().isZero()) {
        for (BenchPath path : options.paths()) {
          progress.accept("warming up " + path.flag() + " for " + options.warmup().toSeconds()
              + " s");
          wrk(path, options.warmup(), "warmup");
        }
      }
      Map<BenchPath, LoadResult> throughput = new LinkedHashMap<>();
      for (BenchPath path : options.paths()) {
        throughput.put(path, measureThroughput(path));
      }
      Map<BenchPath, LoadResult> fixedRate = new LinkedHashMap<>();
      for (BenchPath path : options.ratePaths()) {
        fixedRate.put(path, measureFixedRate(path));
      }
      return new Report(options, throughput, fixedRate);
    } finally {
      close();
    }
  }

  private void startProcesses() throws IOException, InterruptedException {
    var all = options.allPaths();
    boolean isthmus = all.contains(BenchPath.ISTHMUS_PLAIN) || all.contains(BenchPath.ISTHMUS_MTLS)
        || all.contains(BenchPath.ISTHMUS_MTLS_H2) || all.contains(BenchPath.ISTHMUS_GATEWAY);
    boolean serverSidecar = all.contains(BenchPath.ISTHMUS_MTLS)
        || all.contains(BenchPath.ISTHMUS_MTLS_H2) || all.contains(BenchPath.ISTHMUS_GATEWAY);
    boolean haproxy = all.contains(BenchPath.HAPROXY_PLAIN) || all.contains(BenchPath.HAPROXY_TLS);
    start("backend", List.of("haproxy", "-db", "-f", configs.file("backend.cfg").toString()));
    if (haproxy) {
      start("haproxy-client", List.of("haproxy", "-db", "-f",
          configs.file("haproxy-client.cfg").toString()));
      if (all.contains(BenchPath.HAPROXY_TLS)) {
        start("haproxy-server", List.of("haproxy", "-db", "-f",
            configs.file("haproxy-server.cfg").toString()));
      }
    }
    if (isthmus) {
      start("client-sidecar", proxyCommand("io.isthmus.proxy.ProxyMain", layout.clientPod(),
          layout.clientLocal(), "client", "bench", "client"));
    }
    if (serverSidecar) {
      start("server-sidecar", proxyCommand("io.isthmus.proxy.ProxyMain", layout.serverPod(),
          layout.app(), "server", "bench", "server"));
    }
    if (all.contains(BenchPath.ISTHMUS_GATEWAY)) {
      List<String> command = proxyCommand("io.isthmus.gateway.GatewayMain", layout.gateway(),
          layout.gateway(), "gateway", "istio-system", "istio-eastwestgateway");
      start("gateway", command);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    awaitPort("backend", layout.app(), BenchLayout.APP_PORT, deadline);
    if (haproxy) {
      awaitPort("haproxy-client", layout.haproxyClient(), BenchLayout.HAPROXY_PLAIN_PORT, deadline);
    }
    if (all.contains(BenchPath.HAPROXY_TLS)) {
      awaitPort("haproxy-server", layout.haproxyServer(), BenchLayout.HAPROXY_SERVER_PORT, deadline);
    }
    if (isthmus) {
      awaitReady("client-sidecar", layout.clientLocal(), deadline);
    }
    if (serverSidecar) {
      awaitReady("server-sidecar", layout.app(), deadline);
    }
    if (all.contains(BenchPath.ISTHMUS_GATEWAY)) {
      awaitReady("gateway", layout.gateway(), deadline);
    }
    progress.accept("every process is up: " + processes.keySet());
  }

  private List<String> proxyCommand(String main, String podIp, String localhost, String name,
      String namespace, String serviceAccount) {
    List<String> command = new ArrayList<>();
    command.add(options.javaCommand());
    command.addAll(options.jvmOptions());
    command.addAll(List.of("-cp", options.classPath(), main,
        "--pod-ip", podIp, "--localhost", localhost, "--pod-name", name + "-bench",
        "--namespace", namespace, "--service-account", serviceAccount, "--cluster", "bench",
        "--network", "net1", "--labels", "app=" + name + ",version=v1",
        "--root-cert", configs.file("root-cert.pem").toString(),
        "--static-config", configs.file(name + "-xds.json").toString(),
        "--cert-chain", configs.file(name + "-chain.pem")
            .toString(),
        "--key", configs.file(name + "-key.pem").toString()));
    command.addAll(options.proxyArgs());
    return command;
  }

  private void start(String name, List<String> command) throws IOException {
    Path log = configs.file(name + ".log");
    Files.writeString(log, String.join(" ", command) + "\n");
    processes.put(name, ChildProcess.start(name, command, log, configs.dir()));
  }

  private void awaitPort(String name, String host, int port, long deadline)
      throws InterruptedException {
    while (true) {
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(host, port), 500);
        return;
      } catch (IOException e) {
        checkAlive(name, deadline, host + ":" + port + " accepting");
        Thread.sleep(100);
      }
    }
  }

  private void awaitReady(String name, String host, long deadline) throws InterruptedException {
    while (true) {
      try {
        HttpURLConnection http = (HttpURLConnection) URI.create("http://" + host + ":15000/ready")
            .toURL().openConnection();
        http.setConnectTimeout(500);
        http.setReadTimeout(2000);
        int code = http.getResponseCode();
        http.disconnect();
        if (code == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      }
      checkAlive(name, deadline, "http://" + host + ":15000/ready answering 200");
      Thread.sleep(200);
    }
  }

  private void checkAlive(String name, long deadline, String waitingFor) {
    ChildProcess process = processes.get(name);
    if (!process.isAlive() || System.nanoTime() > deadline) {
      throw new IllegalStateException(name + " did not start (waited for " + waitingFor + ")"
          + (process.isAlive() ? "" : "; it exited with " + process.process().exitValue())
          + "; its log " + process.log() + " ends with:\n" + process.logTail(20));
    }
  }

  /** The processes a path's requests pass through, whose CPU and memory the row reports. */
  private List<Long> proxyPids(BenchPath path) {
    List<String> names = switch (path) {
      case DIRECT, DIRECT_TLS -> List.of();
      case ISTHMUS_PLAIN -> List.of("client-sidecar");
      case HAPROXY_PLAIN -> List.of("haproxy-client");
      case ISTHMUS_MTLS, ISTHMUS_MTLS_H2 -> List.of("client-sidecar", "server-sidecar");
      case HAPROXY_TLS -> List.of("haproxy-client", "haproxy-server");
      case ISTHMUS_GATEWAY -> List.of("client-sidecar", "gateway", "server-sidecar");
    };
    return names.stream().map(n -> processes.get(n).pid()).toList();
  }

  /** The URL and Host header that send a request along {@code path}. */
  private String[] target(BenchPath path) {
    String outbound = "http://" + layout.clientLocal() + ":" + BenchLayout.OUTBOUND_PORT + "/";
    String port = ":" + BenchLayout.APP_PORT;
    return switch (path) {
      case DIRECT -> new String[] {"http://" + layout.app() + port + "/", null};
      case DIRECT_TLS -> new String[] {"https://" + layout.app() + ":" + BenchLayout.APP_TLS_PORT
          + "/", null};
      case ISTHMUS_PLAIN -> new String[] {outbound, BenchLayout.PLAIN_HOST + port};
      case ISTHMUS_MTLS -> new String[] {outbound, BenchLayout.MTLS_HOST + port};
      case ISTHMUS_MTLS_H2 -> new String[] {outbound, BenchLayout.MTLS_H2_HOST + port};
      case ISTHMUS_GATEWAY -> new String[] {outbound, BenchLayout.GATEWAY_HOST + port};
      case HAPROXY_PLAIN -> new String[] {"http://" + layout.haproxyClient() + ":"
          + BenchLayout.HAPROXY_PLAIN_PORT + "/", null};
      case HAPROXY_TLS -> new String[] {"http://" + layout.haproxyClient() + ":"
          + BenchLayout.HAPROXY_TLS_PORT + "/", null};
    };
  }

  private LoadResult measureThroughput(BenchPath path) throws IOException, InterruptedException {
    progress.accept("measuring " + path.flag() + " for " + options.duration().toSeconds() + " s");
    List<Long> pids = proxyPids(path);
    long cpuBefore = stats.cpuMicros(pids);
    LoadResult result = WrkOutput.parse(path.flag(), wrk(path, options.duration(), "run"));
    long cpu = stats.cpuMicros(pids) - cpuBefore;
    return pids.isEmpty() ? result
        : result.withProcesses(result.requests() == 0 ? Double.NaN
            : (double) cpu / result.requests(), stats.rssMiB(pids));
  }

  private String wrk(BenchPath path, Duration duration, String tag)
      throws IOException, InterruptedException {
    String[] target = target(path);
    List<String> command = new ArrayList<>(List.of("wrk", "-t" + options.threads(),
        "-c" + options.connections(), "-d" + duration.toSeconds() + "s", "--latency"));
    if (target[1] != null) {
      command.addAll(List.of("-H", "Host: " + target[1]));
    }
    command.add(target[0]);
    return runTool(command, configs.file("wrk-" + path.flag() + "-" + tag + ".txt"),
        duration.plusSeconds(30));
  }

  private LoadResult measureFixedRate(BenchPath path) throws IOException, InterruptedException {
    String[] target = target(path);
    int perConnection = options.rate() / options.rateConnections();
    Path log = configs.file("h2load-" + path.flag() + ".log");
    Files.deleteIfExists(log);
    List<String> command = new ArrayList<>(List.of("h2load", "--h1",
        "-c" + options.rateConnections(), "--rps=" + perConnection,
        "-D", Long.toString(options.rateDuration().toSeconds()), "--log-file=" + log));
    if (target[1] != null) {
      command.addAll(List.of("-H", ":authority: " + target[1]));
    }
    command.add(target[0]);
    progress.accept("measuring " + path.flag() + " at " + options.rate() + " req/s for "
        + options.rateDuration().toSeconds() + " s");
    List<Long> pids = proxyPids(path);
    long cpuBefore = stats.cpuMicros(pids);
    runTool(command, configs.file("h2load-" + path.flag() + ".txt"),
        options.rateDuration().plusSeconds(30));
    long cpu = stats.cpuMicros(pids) - cpuBefore;
    LoadResult result = H2loadLog.parse(path.flag(), Files.readString(log),
        options.rateDuration().toSeconds());
    return pids.isEmpty() ? result : result.withProcesses(
        (double) cpu / Math.max(1, result.requests()), stats.rssMiB(pids));
  }

  /** Runs a load generator, saves its output, and fails with it when it fails. */
  private String runTool(List<String> command, Path output, Duration timeout)
      throws IOException, InterruptedException {
    Process process;
    try {
      process = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(output.toFile()).start();
    } catch (IOException e) {
      throw new IOException(command.get(0) + " cannot be started (" + e.getMessage()
          + "); install it: apt-get install -y wrk nghttp2-client haproxy", e);
    }
    try {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException(String.join(" ", command) + " still running after "
            + timeout.toSeconds() + " s");
      }
    } finally {
      process.destroyForcibly();
    }
    String text = Files.readString(output, StandardCharsets.UTF_8);
    if (process.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " exited with "
          + process.exitValue() + ":\n" + text);
    }
    return text;
  }

  private void stopAll() {
    List<ChildProcess> running = new ArrayList<>(processes.values());
    running.forEach(ChildProcess::terminate);
    running.forEach(p -> p.awaitOrKill(Duration.ofSeconds(5)));
  }

  /** Stops every process this bench started; idempotent. */
  @Override
  public void close() {
    stopAll();
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException | IllegalArgumentException e) {
      // shutting down already, or the hook was never added: it runs or ran stopAll
    }
  }
}
