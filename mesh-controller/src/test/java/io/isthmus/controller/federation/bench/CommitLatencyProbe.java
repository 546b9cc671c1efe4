package io.isthmus.controller.federation.bench;

import io.isthmus.trust.CertificateAuthority;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Single durable commit latency on three peers as a running controller sees it: each peer in a
 * process of its own (its own JIT, GC and threads, as deployed), or all three in this JVM (as
 * {@link CommitBenchmark} runs them) for comparison. Serial one-endpoint deltas are submitted
 * through a follower (the client runs in the follower's process, as a controller's publisher
 * does), warm-up first submits pipelined bursts for a while (64 in flight: the same code paths
 * at several times the rate, so the JIT gets there sooner), then serial rounds until the CPU per
 * commit stops falling (a running controller is long past its JIT), then one measured round gives p50/p90/p99 and the CPU per commit of each
 * process, and a last run how long after its acknowledgement the submitting follower applied each
 * commit (what that controller's own proxies wait).
 *
 * <p>{@code java -cp "$CP" io.isthmus.controller.federation.bench.CommitLatencyProbe <jvms: 3|1>
 * [settings] [burst warm-up s] [min serial warm-up s] [max serial warm-up s] [measured commits]};
 * settings as {@link CommitProbe}'s ({@code tuned}, {@code tuned:log-metadata=true}, ...).
 * Defaults: {@code 3 tuned 30 20 60 3000}.
 * Timings mean something only on a quiet host. The measured round also prints, per process, the
 * CPU and allocation per commit of its busiest threads (pools summed). {@code -Dprobe.jfr=DIR}
 * records each peer's JVM with JFR ({@code profile} settings) from its start into
 * {@code DIR/<peer>.jfr}, {@code -Dprobe.peerJvmArgs="..."} adds JVM options to the peers, and
 * {@code isthmus.*} system properties are passed on to them.
 */
public final class CommitLatencyProbe {

    private static final int ROUND = 1000;
    private static final int BURST = 2000;
    private static final String[] IDS = {"east", "west", "eu"};

    private CommitLatencyProbe() {
    }

    /** One peer: in a process of its own, or a {@link ProbePeer} in this JVM. */
    private interface Peer extends AutoCloseable {
        String ask(String command) throws Exception;

        @Override
        void close();
    }

    public static void main(String[] args) throws Exception {
        int jvms = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        String settings = args.length > 1 ? args[1] : "tuned";
        Duration burstWarmup = Duration.ofSeconds(args.length > 2 ? Long.parseLong(args[2]) : 30);
        Duration minWarmup = Duration.ofSeconds(args.length > 3 ? Long.parseLong(args[3]) : 20);
        Duration maxWarmup = Duration.ofSeconds(args.length > 4 ? Long.parseLong(args[4]) : 60);
        int measured = args.length > 5 ? Integer.parseInt(args[5]) : 3000;
        if (jvms != 1 && jvms != 3) {
            throw new IllegalArgumentException("jvms: " + jvms + " (expected: 3, one process per peer, or 1)");
        }
        System.out.printf("%s, settings %s: %s%n", jvms == 3 ? "three peers in three JVMs" : "three peers in one JVM",
                settings, CommitProbe.tuning(settings));
        Path dir = Files.createTempDirectory("fed-latency-probe");
        Map<String, Peer> peers = new LinkedHashMap<>();
        try {
            start(jvms, settings, dir, peers);
            String leader = awaitLeader(peers);
            String submitter = peers.keySet().stream().filter(id -> !id.equals(leader)).findFirst().orElseThrow();
            System.out.printf("leader %s, submitting through follower %s%n", leader, submitter);
            peers.get(submitter).ask("setup");
            List<String> order = new ArrayList<>(List.of(leader, submitter));
            peers.keySet().stream().filter(id -> !order.contains(id)).forEach(order::add);
            List<String> measuredIds = jvms == 3 ? order : List.of(submitter);

            long burstStart = System.nanoTime();
            int bursts = 0;
            while (System.nanoTime() - burstStart < burstWarmup.toNanos()) {
                long[][] before = cpu(peers, measuredIds);
                long elapsed = Long.parseLong(peers.get(submitter).ask("burst " + BURST + " 64"));
                long[][] after = cpu(peers, measuredIds);
                long cpu = 0;
                long jit = 0;
                for (int i = 0; i < before.length; i++) {
                    cpu += after[i][0] - before[i][0];
                    jit += after[i][1] - before[i][1];
                }
                System.out.printf("burst %d (%.0f s): %d commits, 64 in flight, %.0f commits/s, CPU per commit %.0f us,"
                        + " JIT %d ms%n", ++bursts, (System.nanoTime() - burstStart) / 1e9, BURST,
                        BURST / (elapsed / 1e9), cpu / 1e3 / BURST, jit);
            }
            long warmupStart = System.nanoTime();
            double previous = Double.MAX_VALUE;
            for (int round = 1; ; round++) {
                Round r = round(peers, submitter, measuredIds, ROUND);
                long warm = System.nanoTime() - warmupStart;
                System.out.printf("warm-up round %d (%.0f s): %s%n", round, warm / 1e9, r);
                boolean settled = r.cpuPerCommit() > 0.97 * previous;
                previous = Math.min(previous, r.cpuPerCommit());
                if (warm >= maxWarmup.toNanos() || (warm >= minWarmup.toNanos() && settled)) {
                    break;
                }
            }
            List<String> threadsBefore = new ArrayList<>();
            for (String id : measuredIds) {
                threadsBefore.add(peers.get(id).ask("threads"));
            }
            Round r = round(peers, submitter, measuredIds, measured);
            List<String> threadsAfter = new ArrayList<>();
            for (String id : measuredIds) {
                threadsAfter.add(peers.get(id).ask("threads"));
            }
            System.out.printf("MEASURED %d commits: %s%n", measured, r);
            for (int i = 0; i < measuredIds.size(); i++) {
                String role = jvms == 1 ? "the one JVM (all peers and the client)" : i == 0 ? "leader"
                        : i == 1 ? "submitting follower (and client)" : "other follower";
                System.out.printf("  CPU per commit, %s %s: %.0f us (JIT %d ms, GC %d ms in the round)%n",
                        measuredIds.get(i), role, r.cpu[i] / 1e3 / measured, r.jitMillis[i], r.gcMillis[i]);
            }
            for (int i = 0; i < measuredIds.size(); i++) {
                printThreads(measuredIds.get(i), threadsBefore.get(i), threadsAfter.get(i), measured);
            }
            String[] lag = peers.get(submitter).ask("lag 200").split(" ");
            System.out.printf("applied on the submitting follower after the acknowledgement: p50 %.3f ms, p90 %.3f,"
                    + " max %.3f (200 commits)%n", ms(lag[0]), ms(lag[1]), ms(lag[2]));
        } finally {
            peers.values().forEach(Peer::close);
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** The busiest threads of one process over the measured round: CPU and allocation per commit. */
    private static void printThreads(String id, String before, String after, int commits) {
        Map<String, long[]> start = parseThreads(before);
        Map<String, long[]> end = parseThreads(after);
        long cpu = 0;
        long bytes = 0;
        List<Map.Entry<String, long[]>> rows = new ArrayList<>();
        for (Map.Entry<String, long[]> e : end.entrySet()) {
            long[] s = start.getOrDefault(e.getKey(), new long[2]);
            long[] d = {e.getValue()[0] - s[0], e.getValue()[1] - s[1]};
            cpu += d[0];
            bytes += d[1];
            rows.add(Map.entry(e.getKey(), d));
        }
        rows.sort((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]));
        System.out.printf("  threads of %s per commit: %.0f us CPU in Java threads, %.1f KB allocated%n", id,
                cpu / 1e3 / commits, bytes / 1024.0 / commits);
        for (Map.Entry<String, long[]> row : rows.subList(0, Math.min(14, rows.size()))) {
            if (row.getValue()[0] * 100 < cpu) {
                break;
            }
            System.out.printf("    %-60s %6.0f us %7.2f KB%n", row.getKey(), row.getValue()[0] / 1e3 / commits,
                    row.getValue()[1] / 1024.0 / commits);
        }
    }

    private static Map<String, long[]> parseThreads(String answer) {
        Map<String, long[]> threads = new LinkedHashMap<>();
        for (String entry : answer.split(";")) {
            if (entry.isEmpty()) {
                continue;
            }
            int eq = entry.lastIndexOf('=');
            String[] values = entry.substring(eq + 1).split("/");
            threads.put(entry.substring(0, eq), new long[] {Long.parseLong(values[0]), Long.parseLong(values[1])});
        }
        return threads;
    }

    private record Round(int commits, long p50, long p90, long p99, long max, long elapsed, long[] cpu,
            long[] jitMillis, long[] gcMillis) {

        double cpuPerCommit() {
            long total = 0;
            for (long c : cpu) {
                total += c;
            }
            return total / 1e3 / commits;
        }

        @Override
        public String toString() {
            return String.format("p50 %.3f ms, p90 %.3f, p99 %.3f, max %.3f; %.0f commits/s; CPU per commit %.0f us"
                    + " (all processes), JIT %d ms", ms(p50), ms(p90), ms(p99), ms(max), commits / (elapsed / 1e9),
                    cpuPerCommit(), java.util.Arrays.stream(jitMillis).sum());
        }
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    private static double ms(String nanos) {
        return ms(Long.parseLong(nanos));
    }

    private static Round round(Map<String, Peer> peers, String submitter, List<String> measuredIds, int commits)
            throws Exception {
        long[][] before = cpu(peers, measuredIds);
        String[] run = peers.get(submitter).ask("run " + commits).split(" ");
        long[][] after = cpu(peers, measuredIds);
        long[] cpu = new long[measuredIds.size()];
        long[] jit = new long[cpu.length];
        long[] gc = new long[cpu.length];
        for (int i = 0; i < cpu.length; i++) {
            cpu[i] = after[i][0] - before[i][0];
            jit[i] = after[i][1] - before[i][1];
            gc[i] = after[i][2] - before[i][2];
        }
        return new Round(commits, Long.parseLong(run[0]), Long.parseLong(run[1]), Long.parseLong(run[2]),
                Long.parseLong(run[3]), Long.parseLong(run[4]), cpu, jit, gc);
    }

    private static long[][] cpu(Map<String, Peer> peers, List<String> ids) throws Exception {
        long[][] cpu = new long[ids.size()][];
        for (int i = 0; i < cpu.length; i++) {
            cpu[i] = java.util.Arrays.stream(peers.get(ids.get(i)).ask("cpu").split(" "))
                    .mapToLong(Long::parseLong).toArray();
        }
        return cpu;
    }

    private static String awaitLeader(Map<String, Peer> peers) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            for (Map.Entry<String, Peer> peer : peers.entrySet()) {
                if (Boolean.parseBoolean(peer.getValue().ask("leader"))) {
                    return peer.getKey();
                }
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("no leader within 60 s");
    }

    private static void start(int jvms, String settings, Path dir, Map<String, Peer> peers) throws Exception {
        Map<String, InetSocketAddress> addresses = new LinkedHashMap<>();
        for (String id : IDS) {
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                addresses.put(id, new InetSocketAddress("127.0.0.1", socket.getLocalPort()));
            }
        }
        CertificateAuthority root = CertificateAuthority.createRoot("federation-bench", Duration.ofDays(2));
        for (String id : IDS) {
            Map<String, String> cacerts = root.createIntermediate(id, Duration.ofDays(1)).toCacerts();
            if (jvms == 1) {
                ProbePeer peer = ProbePeer.start(id, addresses, dir.resolve(id), CommitProbe.tuning(settings), cacerts);
                peers.put(id, new Peer() {
                    @Override
                    public String ask(String command) throws Exception {
                        return peer.handle(command);
                    }

                    @Override
                    public void close() {
                        peer.close();
                    }
                });
                continue;
            }
            Path cacertsDir = Files.createDirectories(dir.resolve(id + "-cacerts"));
            for (Map.Entry<String, String> file : cacerts.entrySet()) {
                Files.writeString(cacertsDir.resolve(file.getKey()), file.getValue());
            }
            String spec = addresses.entrySet().stream()
                    .map(e -> e.getKey() + "=127.0.0.1:" + e.getValue().getPort()).collect(Collectors.joining(","));
            String java = ProcessHandle.current().info().command().orElse("java");
            List<String> command = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path")));
            // The peers get the probe's isthmus.* properties (switches under test) and any JVM
            // options given in probe.peerJvmArgs, so a before/after can run in one window.
            System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("isthmus.")).sorted()
                    .forEach(k -> command.add("-D" + k + "=" + System.getProperty(k)));
            // A recording started in a warm JVM makes it recompile much of its code (tens of seconds
            // of JIT in the round that follows), so each peer records from its start instead; the
            // file is written when the peer exits.
            String jfrDir = System.getProperty("probe.jfr");
            if (jfrDir != null) {
                command.add("-XX:StartFlightRecording=settings=profile,dumponexit=true,filename="
                        + Path.of(jfrDir, id + ".jfr").toAbsolutePath());
            }
            for (String option : System.getProperty("probe.peerJvmArgs", "").trim().split("\\s+")) {
                if (!option.isEmpty()) {
                    command.add(option);
                }
            }
            command.addAll(List.of(ProbePeer.class.getName(), id, spec, dir.resolve(id).toString(), settings,
                    cacertsDir.toString()));
            Process process = new ProcessBuilder(command)
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            peers.put(id, new ProcessPeer(id, process));
        }
        for (Peer peer : peers.values()) {
            if (peer instanceof ProcessPeer p) {
                p.awaitReady();
            }
        }
    }

    /** A peer in a child process: one command line out, one answer line back. */
    private static final class ProcessPeer implements Peer {
        private final String id;
        private final Process process;
        private final PrintStream in;
        private final BufferedReader out;

        ProcessPeer(String id, Process process) {
            this.id = id;
            this.process = process;
            this.in = new PrintStream(process.getOutputStream(), true, StandardCharsets.UTF_8);
            this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        }

        void awaitReady() throws IOException {
            String answer = answer();
            if (!answer.equals("ready")) {
                throw new IllegalStateException("peer " + id + " answered '" + answer + "' (expected: ready)");
            }
        }

        @Override
        public String ask(String command) throws IOException {
            in.println(command);
            String answer = answer();
            if (answer.startsWith("error ")) {
                throw new IllegalStateException("peer " + id + " failed '" + command + "': " + answer);
            }
            return answer;
        }

        private String answer() throws IOException {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                if (line.startsWith(ProbePeer.ANSWER)) {
                    return line.substring(ProbePeer.ANSWER.length());
                }
                System.err.println("[" + id + "] " + line);
            }
            throw new IOException("peer " + id + " exited (" + process.onExit().join().exitValue() + ")");
        }

        @Override
        public void close() {
            in.println("quit");
            in.close();
            try {
                if (!process.waitFor(20, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
