package io.isthmus.controller.federation.bench;

import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.FederationOptions;
import io.isthmus.controller.federation.PeerTls;
import io.isthmus.controller.federation.PublishClusterState;
import io.isthmus.controller.federation.RaftTuning;
import io.isthmus.controller.federation.RegisterCluster;
import io.isthmus.controller.federation.UpdateEndpoints;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServicePort;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One federation peer of {@link CommitLatencyProbe}, driven by one-line commands, either in the
 * probe's JVM or in a process of its own ({@link #main}: commands on stdin, answers on stdout
 * after {@value #ANSWER}), so the same code measures both. The peer is set up as a controller's:
 * mutual TLS with a controller identity issued by its cluster's intermediate (written by the probe
 * as Istio {@code cacerts} files), logs on disk, fsync on, the election timeouts of the tests.
 *
 * <p>Commands: {@code leader} (true when this peer leads a group that has a leader), {@code
 * setup} (registers cluster {@code east} with one service, through this peer), {@code run N} (N
 * serial one-endpoint deltas through this peer's node, as {@code CommitBenchmark.commitOne}:
 * answers p50 p90 p99 max and the elapsed time, in nanoseconds), {@code lag N} (N more commits,
 * each followed by waiting until this peer has applied it: p50 p90 max of that wait), {@code
 * burst N W} (N commits, W in flight: a faster warm-up), {@code cpu}
 * (this process's CPU time in ns, JIT compilation ms, GC ms), {@code threads} (CPU and allocated
 * bytes of each live thread, pools summed).
 */
final class ProbePeer implements AutoCloseable {

    static final String ANSWER = "@@ ";
    static final SpiffeId CONTROLLER = SpiffeId.of("cluster.local", "istio-system", "istiod");

    static {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }

    private final FederationNode node;
    private int counter;

    private ProbePeer(FederationNode node) {
        this.node = node;
    }

    static ProbePeer start(String id, Map<String, InetSocketAddress> peers, Path dataDir, RaftTuning tuning,
            Map<String, String> cacerts) throws IOException {
        CertificateAuthority intermediate = CertificateAuthority.fromCacerts(cacerts);
        WorkloadCertificate certificate = intermediate.issue(CONTROLLER, List.of(), Duration.ofHours(12));
        TrustBundle bundle = TrustBundle.of("cluster.local", List.of(intermediate.root()));
        FederationOptions options = new FederationOptions(id, peers, dataDir, Duration.ofSeconds(1),
                Duration.ofSeconds(2), Duration.ofSeconds(30), 100_000, 4L * 1024 * 1024)
                .withTuning(tuning)
                .withTls(PeerTls.of(() -> certificate, () -> bundle, Set.of(CONTROLLER)));
        return new ProbePeer(FederationNode.start(options));
    }

    String handle(String line) throws Exception {
        String[] words = line.trim().split("\\s+");
        return switch (words[0]) {
            case "leader" -> String.valueOf(node.status().isLeader() && node.hasLeader());
            case "setup" -> setup();
            case "run" -> run(Integer.parseInt(words[1]));
            case "lag" -> lag(Integer.parseInt(words[1]));
            case "burst" -> burst(Integer.parseInt(words[1]), Integer.parseInt(words[2]));
            case "cpu" -> cpu();
            case "threads" -> threads();
            default -> throw new IllegalArgumentException("command '" + line
                    + "' (expected: leader, setup, run N, lag N, burst N W, cpu or threads)");
        };
    }

    private String setup() throws Exception {
        node.submit(new RegisterCluster(new ClusterInfo("east", "net1", CommitBenchmark.LOCALITY, "127.0.0.1:15012")))
                .get(30, TimeUnit.SECONDS);
        MeshService service = new MeshService(CommitBenchmark.SERVICE, "svc.bench.svc.cluster.local",
                List.of(new ServicePort("http", 80, 8080, "HTTP")), Map.of("app", "svc"),
                new LinkedHashSet<>(List.of("*")), false);
        node.submit(new PublishClusterState(new ClusterState("east", "net1", List.of(service), List.of(),
                List.of(new NetworkGateway("net1", "east", "127.0.0.2", 15443))))).get(30, TimeUnit.SECONDS);
        return "ok";
    }

    private long commit() throws Exception {
        int i = counter++ % 4096;
        return node.submit(new UpdateEndpoints("east", List.of(CommitBenchmark.endpoint("east", "net1", i)), List.of()))
                .get(30, TimeUnit.SECONDS);
    }

    private String run(int commits) throws Exception {
        long[] latencies = new long[commits];
        long start = System.nanoTime();
        for (int i = 0; i < commits; i++) {
            long t0 = System.nanoTime();
            commit();
            latencies[i] = System.nanoTime() - t0;
        }
        long elapsed = System.nanoTime() - start;
        Arrays.sort(latencies);
        return percentile(latencies, 50) + " " + percentile(latencies, 90) + " " + percentile(latencies, 99) + " "
                + latencies[commits - 1] + " " + elapsed;
    }

    /**
     * N commits with up to W in flight: the same code paths as serial commits at several times
     * the rate, so the JIT reaches its steady state sooner. Answers the elapsed nanoseconds.
     */
    private String burst(int commits, int window) throws Exception {
        java.util.concurrent.Semaphore inFlight = new java.util.concurrent.Semaphore(window);
        List<java.util.concurrent.CompletableFuture<Long>> submitted = new java.util.ArrayList<>(commits);
        long start = System.nanoTime();
        for (int i = 0; i < commits; i++) {
            inFlight.acquire();
            int e = counter++ % 4096;
            java.util.concurrent.CompletableFuture<Long> future = node.submit(new UpdateEndpoints("east",
                    List.of(CommitBenchmark.endpoint("east", "net1", e)), List.of()));
            future.whenComplete((index, error) -> inFlight.release());
            submitted.add(future);
        }
        for (java.util.concurrent.CompletableFuture<Long> future : submitted) {
            future.get(60, TimeUnit.SECONDS);
        }
        return String.valueOf(System.nanoTime() - start);
    }

    /** How long after its acknowledgement a commit is applied here: what this controller's proxies wait. */
    private String lag(int commits) throws Exception {
        long[] lags = new long[commits];
        for (int i = 0; i < commits; i++) {
            long index = commit();
            long acknowledged = System.nanoTime();
            while (node.state().appliedIndex() < index) {
                LockSupport.parkNanos(20_000);
            }
            lags[i] = System.nanoTime() - acknowledged;
        }
        Arrays.sort(lags);
        return percentile(lags, 50) + " " + percentile(lags, 90) + " " + lags[commits - 1];
    }

    private static long percentile(long[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, sorted.length * p / 100)];
    }

    static String cpu() {
        long cpu = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
        long jit = ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
        long gc = 0;
        for (GarbageCollectorMXBean collector : ManagementFactory.getGarbageCollectorMXBeans()) {
            gc += Math.max(0, collector.getCollectionTime());
        }
        return cpu + " " + jit + " " + gc;
    }

    /**
     * CPU time and allocated bytes of this process's live threads, summed by thread name with its
     * numbers taken out (so a pool's threads count as one), as {@code name=cpuNanos/bytes;...}.
     * Threads that ended since the last call are missing: the caller diffs two answers over a run
     * that starts and ends no threads of its own.
     */
    static String threads() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Map<String, long[]> byName = new java.util.TreeMap<>();
        for (Thread thread : Thread.getAllStackTraces().keySet()) {
            long cpu = threads.getThreadCpuTime(thread.getId());
            long bytes = threads.getThreadAllocatedBytes(thread.getId());
            if (cpu < 0) {
                continue;
            }
            String name = thread.getName().replaceAll("[0-9a-f]{8,}", "*").replaceAll("[0-9]+", "#")
                    .replace(' ', '_').replace(';', '_').replace('=', '_');
            long[] sum = byName.computeIfAbsent(name, n -> new long[2]);
            sum[0] += cpu;
            sum[1] += Math.max(0, bytes);
        }
        StringBuilder answer = new StringBuilder();
        byName.forEach((name, sum) -> answer.append(name).append('=').append(sum[0]).append('/').append(sum[1])
                .append(';'));
        return answer.toString();
    }

    @Override
    public void close() {
        node.close();
    }

    /**
     * {@code ProbePeer <id> <id=host:port,...> <dataDir> <settings> <cacertsDir>}: runs one peer
     * until stdin ends (so it never outlives the probe).
     */
    public static void main(String[] args) throws Exception {
        Map<String, InetSocketAddress> peers = new LinkedHashMap<>();
        for (String peer : args[1].split(",")) {
            String[] idAddress = peer.split("=", 2);
            String[] hostPort = idAddress[1].split(":", 2);
            peers.put(idAddress[0], new InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1])));
        }
        Map<String, String> cacerts = new LinkedHashMap<>();
        try (var files = Files.list(Path.of(args[4]))) {
            for (Path file : files.toList()) {
                cacerts.put(file.getFileName().toString(), Files.readString(file));
            }
        }
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (ProbePeer peer = start(args[0], peers, Path.of(args[2]), CommitProbe.tuning(args[3]), cacerts);
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            out.println(ANSWER + "ready");
            for (String line = in.readLine(); line != null && !line.equals("quit"); line = in.readLine()) {
                String answer;
                try {
                    answer = peer.handle(line);
                } catch (Exception e) {
                    answer = "error " + e;
                }
                out.println(ANSWER + answer);
            }
        }
        System.exit(0);
    }
}
