package io.isthmus.controller.federation.bench;

import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.PublishClusterState;
import io.isthmus.controller.federation.RaftTuning;
import io.isthmus.controller.federation.RegisterCluster;
import io.isthmus.controller.federation.UpdateEndpoints;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServicePort;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Where a single commit's CPU goes, by thread, independent of how loaded the host is: three peers
 * as in {@link CommitBenchmark} (mutual TLS, fsync on), serial one-delta commits through a
 * follower, and the CPU time of every thread (grouped by name, numbers stripped) divided by the
 * commits, next to the same threads' CPU over an idle period of the same length. The latency
 * percentiles it prints mean something only on a quiet host; the CPU split means something on any.
 *
 * <p>{@code java -cp "$CP" io.isthmus.controller.federation.bench.CommitProbe [settings] [warmup] [commits]}
 * with {@code settings} as in the benchmarks' {@code settings} parameter, or {@code tuned:key=value,...}
 * for {@code RaftTuning.DEFAULT} with overrides.
 */
public final class CommitProbe {

    private CommitProbe() {
    }

    public static void main(String[] args) throws Exception {
        String settings = args.length > 0 ? args[0] : "tuned";
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
        int commits = args.length > 2 ? Integer.parseInt(args[2]) : 1000;
        RaftTuning tuning = tuning(settings);
        System.out.println("settings " + settings + ": " + tuning);
        try (FederationPeers peers = new FederationPeers(100_000, "east", "west", "eu").tuning(tuning)) {
            peers.start("east", "west", "eu");
            FederationNode leader = peers.leader();
            FederationNode follower = peers.nodes.values().stream().filter(n -> n != leader).findFirst().orElseThrow();
            follower.submit(new RegisterCluster(new ClusterInfo("east", "net1", CommitBenchmark.LOCALITY,
                    "127.0.0.1:15012"))).get(30, TimeUnit.SECONDS);
            MeshService service = new MeshService(CommitBenchmark.SERVICE, "svc.bench.svc.cluster.local",
                    List.of(new ServicePort("http", 80, 8080, "HTTP")), Map.of("app", "svc"),
                    new LinkedHashSet<>(List.of("*")), false);
            follower.submit(new PublishClusterState(new ClusterState("east", "net1", List.of(service), List.of(),
                    List.of(new NetworkGateway("net1", "east", "127.0.0.2", 15443))))).get(30, TimeUnit.SECONDS);
            run(follower, warmup, null);
            long[] latencies = new long[commits];
            Map<String, Long> before = threadCpu();
            long cpuBefore = processCpu();
            long start = System.nanoTime();
            run(follower, commits, latencies);
            long elapsed = System.nanoTime() - start;
            Map<String, Long> busy = delta(before, threadCpu());
            long busyProcess = processCpu() - cpuBefore;
            before = threadCpu();
            long idleBefore = processCpu();
            TimeUnit.NANOSECONDS.sleep(elapsed);
            Map<String, Long> idle = delta(before, threadCpu());
            long idleProcess = processCpu() - idleBefore;
            Arrays.sort(latencies);
            System.out.printf("leader %s, submitted through %s; %d commits in %.1f ms%n", leader.peerId(),
                    follower.peerId(), commits, elapsed / 1e6);
            System.out.printf("latency p50 %.3f ms, p90 %.3f, p99 %.3f, max %.3f%n", latencies[commits / 2] / 1e6,
                    latencies[commits * 9 / 10] / 1e6, latencies[commits * 99 / 100] / 1e6,
                    latencies[commits - 1] / 1e6);
            System.out.printf("process CPU per commit %.1f us; over an idle period as long: %.1f us per commit-time%n",
                    busyProcess / 1e3 / commits, idleProcess / 1e3 / commits);
            System.out.printf("%-70s %12s %12s%n", "thread (group)", "us/commit", "idle us/c");
            long javaThreads = 0;
            for (Map.Entry<String, Long> e : sortedByValue(busy)) {
                javaThreads += e.getValue();
                if (e.getValue() / commits >= 5_000 / 100) {
                    System.out.printf("%-70s %12.1f %12.1f%n", e.getKey(), e.getValue() / 1e3 / commits,
                            idle.getOrDefault(e.getKey(), 0L) / 1e3 / commits);
                }
            }
            System.out.printf("%-70s %12.1f%n", "(not in Java threads: GC, JIT, VM)",
                    (busyProcess - javaThreads) / 1e3 / commits);
            printRatisTimers();
            printVisibility(peers, follower, Math.min(commits, 200));
        }
    }

    static RaftTuning tuning(String settings) {
        if (!settings.startsWith("tuned:")) {
            return FederationPeers.settings(settings);
        }
        Map<String, String> overrides = new HashMap<>();
        for (String pair : settings.substring("tuned:".length()).split(",")) {
            String[] kv = pair.split("=", 2);
            overrides.put(kv[0], kv[1]);
        }
        return RaftTuning.DEFAULT.withOverrides(overrides);
    }

    private static void run(FederationNode node, int count, long[] latencies) throws Exception {
        for (int i = 0; i < count; i++) {
            long t0 = System.nanoTime();
            node.submit(new UpdateEndpoints("east", List.of(CommitBenchmark.endpoint("east", "net1", i % 4096)),
                    List.of())).get(30, TimeUnit.SECONDS);
            if (latencies != null) {
                latencies[i] = System.nanoTime() - t0;
            }
        }
    }

    /**
     * How long after its acknowledgement a commit is applied on the peer that submitted it (a
     * follower: what its controller serves) and on every peer: a follower learns the new commit
     * index from the next AppendEntries or heartbeat.
     */
    private static void printVisibility(FederationPeers peers, FederationNode submitter, int commits)
            throws Exception {
        long[] here = new long[commits];
        long[] everywhere = new long[commits];
        for (int i = 0; i < commits; i++) {
            long index = submitter.submit(new UpdateEndpoints("east", List.of(CommitBenchmark.endpoint("east", "net1",
                    i % 4096)), List.of())).get(30, TimeUnit.SECONDS);
            long acknowledged = System.nanoTime();
            while (submitter.state().appliedIndex() < index) {
                java.util.concurrent.locks.LockSupport.parkNanos(20_000);
            }
            here[i] = System.nanoTime() - acknowledged;
            for (FederationNode node : peers.nodes.values()) {
                while (node.state().appliedIndex() < index) {
                    java.util.concurrent.locks.LockSupport.parkNanos(20_000);
                }
            }
            everywhere[i] = System.nanoTime() - acknowledged;
        }
        Arrays.sort(here);
        Arrays.sort(everywhere);
        System.out.printf("applied after the acknowledgement, on the submitting follower: p50 %.3f ms, p90 %.3f, max %.3f;"
                + " on every peer: p50 %.3f ms, p90 %.3f, max %.3f (%d commits)%n", here[commits / 2] / 1e6,
                here[commits * 9 / 10] / 1e6, here[commits - 1] / 1e6, everywhere[commits / 2] / 1e6,
                everywhere[commits * 9 / 10] / 1e6, everywhere[commits - 1] / 1e6, commits);
    }

    /**
     * Ratis' own stage timers (log queue, write, fsync, AppendEntries round trip per follower,
     * client write on the leader), p50 and p99 of their decaying reservoirs (mostly the last
     * commits), so the stages of one commit can be read next to its end-to-end latency.
     */
    private static void printRatisTimers() {
        System.out.printf("%-90s %8s %10s %10s%n", "Ratis timer", "count", "p50 us", "p99 us");
        for (org.apache.ratis.metrics.RatisMetricRegistry registry
                : org.apache.ratis.metrics.MetricRegistries.global().getMetricRegistries()) {
            if (!(registry instanceof org.apache.ratis.metrics.impl.RatisMetricRegistryImpl impl)) {
                continue;
            }
            String prefix = registry.getMetricRegistryInfo().getMetricsComponentName() + "."
                    + registry.getMetricRegistryInfo().getPrefix();
            impl.getDropWizardMetricRegistry().getTimers().forEach((name, timer) -> {
                if (timer.getCount() > 0) {
                    org.apache.ratis.thirdparty.com.codahale.metrics.Snapshot snapshot = timer.getSnapshot();
                    System.out.printf("%-90s %8d %10.1f %10.1f%n", prefix + "." + name, timer.getCount(),
                            snapshot.getMedian() / 1e3, snapshot.get99thPercentile() / 1e3);
                }
            });
        }
    }

    private static List<Map.Entry<String, Long>> sortedByValue(Map<String, Long> map) {
        return map.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).toList();
    }

    private static Map<String, Long> delta(Map<String, Long> before, Map<String, Long> after) {
        Map<String, Long> delta = new TreeMap<>();
        after.forEach((k, v) -> delta.put(k, v - before.getOrDefault(k, 0L)));
        return delta;
    }

    /** CPU per thread group, keyed by name with digits folded (threads that came and went are lost). */
    private static Map<String, Long> threadCpu() {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        Map<String, Long> cpu = new HashMap<>();
        for (long id : threads.getAllThreadIds()) {
            ThreadInfo info = threads.getThreadInfo(id);
            long time = threads.getThreadCpuTime(id);
            if (info != null && time >= 0) {
                cpu.merge(info.getThreadName().replaceAll("[0-9A-F]{12}", "G").replaceAll("\\d+", "N"), time,
                        Long::sum);
            }
        }
        return cpu;
    }

    private static long processCpu() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }
}
