package io.isthmus.meshctl;

import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.LocalMeshException;
import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.MeshComponent;
import io.isthmus.topologies.NetworkMode;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.TopologyException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code meshctl up <topology>}: starts a local topology in a background launcher process that
 * outlives this command, waits until it is ready, and prints how to reach it. The launcher's pid,
 * log and "how to reach it" text live in {@code .isthmus/up/<name>.*}, where {@code meshctl down}
 * finds them. The launcher is the same command with the hidden {@code --foreground} flag.
 */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Start a local topology in the background and print how to reach it.",
                "Stop it with 'meshctl down'. With --netns (or 'network: netns' in the file) each cluster runs in its",
                "own network namespace (needs root; otherwise it runs on loopback and says why)."})
final class UpCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "<topology>",
            description = "Topology file, e.g. topologies/multi-primary-multi-network.yaml.")
    Path topologyFile;

    @Option(names = "--netns", description = "Put each cluster in its own network namespace (root only).")
    boolean netns;

    @Option(names = "--run-dir", paramLabel = "<dir>",
            description = "Where kubeconfigs, tokens, data and logs go (default: .isthmus/run/<topology name>).")
    Path runDir;

    @Option(names = "--ready-timeout", paramLabel = "<seconds>", defaultValue = "180",
            description = "How long to wait for every component to be ready (default: ${DEFAULT-VALUE}).")
    int readyTimeoutSeconds;

    @Option(names = "--foreground", hidden = true,
            description = "Run the mesh in this process until it is stopped (what the background launcher runs).")
    boolean foreground;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (readyTimeoutSeconds < 1) {
            err.println("meshctl: --ready-timeout: " + readyTimeoutSeconds + " (expected: >= 1)");
            return Meshctl.USAGE;
        }
        Topology topology;
        try {
            topology = Topology.load(topologyFile);
        } catch (TopologyException e) {
            err.println("meshctl: " + e.getMessage());
            return Meshctl.USAGE;
        }
        if (netns) {
            topology = topology.withNetworkMode(NetworkMode.NETNS);
        }
        UpState state = UpState.of(topology.name());
        Path run = runDir != null ? runDir : DemoCommand.home().resolve(".isthmus").resolve("run").resolve(topology.name());
        return foreground ? runForeground(topology, run, state, out, err) : startBackground(topology, state, out, err);
    }

    private int startBackground(Topology topology, UpState state, PrintWriter out, PrintWriter err)
            throws IOException, InterruptedException {
        Optional<ProcessHandle> running = state.launcher();
        if (running.isPresent()) {
            err.println("meshctl: topology '" + topology.name() + "' is already up (launcher pid " + running.get().pid()
                    + "); stop it first with 'meshctl down " + topology.name() + "'");
            return Meshctl.FAILED;
        }
        state.clear();
        Files.createDirectories(state.dir());
        List<String> command = new ArrayList<>();
        // A new session, so a Ctrl-C in this terminal later does not reach the mesh.
        if (Files.isExecutable(Path.of("/usr/bin/setsid")) || Files.isExecutable(Path.of("/bin/setsid"))) {
            command.add("setsid");
        }
        command.add(LocalMeshOptions.defaultJava());
        command.addAll(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        String cp = LocalMeshOptions.defaultClassPath();
        command.add("-Disthmus.classpath=" + cp);
        command.add("-Disthmus.home=" + DemoCommand.home());
        command.addAll(List.of("-cp", cp, Meshctl.class.getName(), "up", "--foreground",
                "--ready-timeout", String.valueOf(readyTimeoutSeconds), topologyFile.toAbsolutePath().toString()));
        if (netns) {
            command.add("--netns");
        }
        if (runDir != null) {
            command.addAll(List.of("--run-dir", runDir.toAbsolutePath().toString()));
        }
        Process launcher = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(state.log().toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        Files.writeString(state.pidFile(), launcher.pid() + "\n");
        out.printf("Starting topology '%s' in the background (launcher pid %d, log %s)%n", topology.name(),
                launcher.pid(), state.log());
        out.flush();
        long offset = 0;
        long deadline = System.nanoTime() + Duration.ofSeconds(readyTimeoutSeconds + 60L).toNanos();
        while (true) {
            offset = copyNewLines(state.log(), offset, out);
            if (Files.exists(state.readyFile())) {
                out.println();
                out.print(Files.readString(state.readyFile()));
                out.flush();
                return Meshctl.OK;
            }
            if (!launcher.isAlive()) {
                copyNewLines(state.log(), offset, out);
                err.println("meshctl: the launcher exited with code " + launcher.exitValue()
                        + " before the mesh was ready; its log is " + state.log());
                Files.deleteIfExists(state.pidFile());
                return Meshctl.FAILED;
            }
            if (System.nanoTime() > deadline) {
                err.println("meshctl: not ready in time; stopping the launcher (log " + state.log() + ")");
                launcher.destroy();
                return Meshctl.FAILED;
            }
            Thread.sleep(300);
        }
    }

    private int runForeground(Topology topology, Path run, UpState state, PrintWriter out, PrintWriter err)
            throws IOException {
        LocalMeshOptions options = LocalMeshOptions.defaults(run)
                .withReadyTimeout(Duration.ofSeconds(readyTimeoutSeconds))
                .withProgress(line -> {
                    out.println("  " + line);
                    out.flush();
                });
        LocalMesh mesh;
        try {
            mesh = LocalMesh.start(topology, options);
        } catch (LocalMeshException e) {
            err.println("meshctl: " + e.getMessage());
            err.flush();
            return Meshctl.FAILED;
        }
        Files.writeString(state.baseFile(), mesh.topology().addressBase() + "\n");
        Files.writeString(state.readyFile(), howToReach(mesh));
        out.printf("Mesh ready in %.1f s; running until 'meshctl down %s' (SIGTERM).%n",
                mesh.timeToReady().toMillis() / 1000.0, topology.name());
        out.flush();
        // The mesh's shutdown hook stops every process and removes the namespaces on SIGTERM.
        try {
            new CountDownLatch(1).await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        mesh.close();
        return Meshctl.OK;
    }

    static String howToReach(LocalMesh mesh) {
        StringWriter text = new StringWriter();
        PrintWriter out = new PrintWriter(text);
        Topology t = mesh.topology();
        out.printf("Topology '%s' is up: %d clusters on %s, run directory %s%n", t.name(), t.clusters().size(),
                t.networkMode() == NetworkMode.NETNS ? "network namespaces (" + t.addressPrefix() + "."
                        + t.addressBase() + ".0.0/16 and up)" : "loopback (127." + t.addressBase() + ".0.0/16 and up)",
                mesh.runDirectory());
        try {
            DemoScenario scenario = DemoScenario.of(t);
            out.printf("%nSend a request as %s/%s (through its sidecar):%n  curl -H 'Host: %s' http://%s:%d/%n",
                    scenario.client().cluster(), scenario.client().name(), scenario.authority(),
                    t.podLocalhost(scenario.client()), LocalMesh.OUTBOUND_PORT);
            mesh.podNetworkNamespace(scenario.client()).ifPresent(ns -> out.printf(
                    "or from inside its pod, as an unmodified app (captured by its sidecar):%n"
                            + "  ip netns exec %s curl http://%s.%s:%d/hello%n",
                    ns, scenario.service(), scenario.namespace(), scenario.port().port()));
        } catch (TopologyException noClientOrServer) {
            // a topology without a client or a server: nothing to suggest
        }
        out.printf("%nKubernetes API of each cluster:%n");
        for (ClusterSpec c : t.clusters()) {
            out.printf("  %-8s kubectl --kubeconfig %s get pods -A%s%n", c.name(), mesh.kubeconfig(c.name()),
                    mesh.networkNamespace(c.name()).map(ns -> "   (namespace " + ns + ": ip netns exec " + ns + " ...)")
                            .orElse(""));
        }
        out.printf("%nAdmin endpoints:%n");
        for (MeshComponent c : mesh.components()) {
            c.adminUrl().ifPresent(url -> out.printf("  %-10s %-32s %s%n", c.kind().name().toLowerCase(),
                    c.displayName(), url));
        }
        out.printf("%nStop it: ./isthmus down %s%n", t.name());
        out.flush();
        return text.toString();
    }

    private static long copyNewLines(Path log, long offset, PrintWriter out) throws IOException {
        if (!Files.exists(log)) {
            return offset;
        }
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
            if (f.length() <= offset) {
                return offset;
            }
            f.seek(offset);
            byte[] bytes = new byte[(int) Math.min(f.length() - offset, 1 << 20)];
            f.readFully(bytes);
            int end = bytes.length - 1;
            while (end >= 0 && bytes[end] != '\n') {
                end--;
            }
            if (end < 0) {
                return offset;
            }
            out.print(new String(bytes, 0, end + 1, StandardCharsets.UTF_8));
            out.flush();
            return offset + end + 1;
        }
    }
}
