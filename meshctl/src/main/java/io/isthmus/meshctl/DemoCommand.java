package io.isthmus.meshctl;

import io.isthmus.topologies.Check;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoVerifier;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.LocalMeshException;
import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.MeshComponent;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.TopologyException;
import io.isthmus.topologies.WorkloadSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code meshctl demo}: brings a local topology up as real processes, sends a burst of requests
 * as its client and prints who answered and how; with {@code --verify}, checks the cross-cluster
 * flow, tears down and exits 0 only if every check passed; without, stays up until Ctrl-C.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Bring a local multi-cluster mesh up on this machine and send traffic through it.",
                "Without --verify the mesh stays up until Ctrl-C."})
final class DemoCommand implements Callable<Integer> {

    static final String DEMO_RESOURCE = "/io/isthmus/topologies/demo.yaml";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--verify", description = "Check the cross-cluster flow, tear down, exit 0 only if all checks pass.")
    boolean verify;

    @Option(names = "--topology", paramLabel = "<file>",
            description = "Topology file (default: topologies/demo.yaml).")
    Path topologyFile;

    @Option(names = "--run-dir", paramLabel = "<dir>",
            description = "Where kubeconfigs, tokens, data and logs go (default: .isthmus/run/<topology name>).")
    Path runDir;

    @Option(names = "--requests", paramLabel = "<n>", defaultValue = "40",
            description = "Requests in the burst (default: ${DEFAULT-VALUE}).")
    int requests;

    @Option(names = "--ready-timeout", paramLabel = "<seconds>", defaultValue = "120",
            description = "How long to wait for every component to be ready (default: ${DEFAULT-VALUE}).")
    int readyTimeoutSeconds;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (requests < 1) {
            err.println("meshctl: --requests: " + requests + " (expected: >= 1)");
            return Meshctl.USAGE;
        }
        if (readyTimeoutSeconds < 1) {
            err.println("meshctl: --ready-timeout: " + readyTimeoutSeconds + " (expected: >= 1)");
            return Meshctl.USAGE;
        }
        Topology topology;
        DemoScenario scenario;
        try {
            topology = loadTopology();
            scenario = DemoScenario.of(topology);
        } catch (TopologyException e) {
            err.println("meshctl: " + e.getMessage());
            return Meshctl.USAGE;
        }
        Path run = runDir != null ? runDir : home().resolve(".isthmus").resolve("run").resolve(topology.name());
        out.printf("Starting topology '%s': %d clusters, %d workloads, addresses 127.%d.0.0/16 and up%n",
                topology.name(), topology.clusters().size(), topology.workloads().size(), topology.addressBase());
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
            return Meshctl.FAILED;
        }
        boolean keepRunning = !verify;
        try {
            out.printf("Mesh ready in %.1f s (%d processes).%n", mesh.timeToReady().toMillis() / 1000.0,
                    mesh.components().size());
            out.flush();
            long warmUpStart = System.nanoTime();
            Set<String> seen = DemoTraffic.warmUp(mesh, scenario, Duration.ofSeconds(120));
            out.printf("First answers from %s after %.1f s more (cross-cluster endpoints travel through the federation)%n",
                    seen, (System.nanoTime() - warmUpStart) / 1e9);
            Map<String, Double> before = new LinkedHashMap<>();
            for (ClusterSpec c : topology.clusters()) {
                before.put(c.name(), DemoVerifier.gatewayConnections(mesh, c.name()));
            }
            out.printf("%nSending %d requests as %s/%s to %s through its sidecar (%s:%d):%n", requests,
                    scenario.client().cluster(), scenario.client().name(), scenario.authority(),
                    topology.podLocalhost(scenario.client()), LocalMesh.OUTBOUND_PORT);
            DemoTraffic.Burst burst = DemoTraffic.send(mesh, scenario, requests);
            out.println(burst.table());
            out.flush();
            if (verify) {
                List<Check> checks = DemoVerifier.verify(mesh, scenario, burst, before);
                checks.forEach(c -> out.println(c.line()));
                long failed = checks.stream().filter(c -> !c.passed()).count();
                out.printf("%n%s: %d of %d checks passed. Logs are in %s%n", failed == 0 ? "VERIFIED" : "FAILED",
                        checks.size() - failed, checks.size(), mesh.runDirectory());
                out.flush();
                return failed == 0 ? Meshctl.OK : Meshctl.FAILED;
            }
            printHowToUse(out, mesh, scenario);
            out.flush();
        } finally {
            if (!keepRunning) {
                mesh.close();
            }
        }
        // Stay up; the mesh's shutdown hook stops every process on Ctrl-C.
        try {
            new CountDownLatch(1).await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        mesh.close();
        return Meshctl.OK;
    }

    private Topology loadTopology() {
        if (topologyFile != null) {
            return Topology.load(topologyFile);
        }
        Path file = home().resolve("topologies").resolve("demo.yaml");
        if (Files.isRegularFile(file)) {
            return Topology.load(file);
        }
        try (InputStream in = DemoCommand.class.getResourceAsStream(DEMO_RESOURCE)) {
            if (in == null) {
                throw new TopologyException("no topology given and topologies/demo.yaml not found under " + home()
                        + " (pass --topology <file>)");
            }
            return Topology.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new TopologyException("cannot read the built-in demo topology: " + e.getMessage(), e);
        }
    }

    static Path home() {
        String home = System.getProperty("isthmus.home");
        return Path.of(home != null && !home.isBlank() ? home : System.getProperty("user.dir")).toAbsolutePath();
    }

    private static void printHowToUse(PrintWriter out, LocalMesh mesh, DemoScenario scenario) {
        Topology t = mesh.topology();
        WorkloadSpec client = scenario.client();
        String clientCluster = client.cluster();
        out.println("The mesh is up. Press Ctrl-C to stop every process.");
        out.println();
        out.println("Send a request as " + clientCluster + "/" + client.name() + " (through its sidecar):");
        out.printf("  curl -H 'Host: %s' http://%s:%d/%n", scenario.authority(), t.podLocalhost(client),
                LocalMesh.OUTBOUND_PORT);
        out.println();
        out.println("Kubernetes API of each cluster (embedded; kubectl get/create/replace/delete work, apply does not):");
        for (ClusterSpec c : t.clusters()) {
            out.printf("  %-8s kubectl --kubeconfig %s get pods -A%n", c.name(), mesh.kubeconfig(c.name()));
        }
        out.println();
        out.println("Apply Istio config, e.g. send all of " + scenario.host() + " to v1:");
        out.printf("  cat > /tmp/vs.yaml <<'YAML'%n"
                + "  apiVersion: networking.istio.io/v1%n  kind: VirtualService%n"
                + "  metadata: {name: %s, namespace: %s}%n"
                + "  spec:%n    hosts: [%s]%n    http:%n    - route:%n      - destination: {host: %s, subset: v1}%n"
                + "  YAML%n", scenario.service(), scenario.namespace(), scenario.host(), scenario.host());
        String runDirFlag = mesh.runDirectory().toAbsolutePath().normalize()
                .equals(RunDir.defaultPath().toAbsolutePath().normalize()) ? "" : " --run-dir " + mesh.runDirectory();
        out.printf("  ./isthmus apply -f /tmp/vs.yaml --context %s%s%n", clientCluster, runDirFlag);
        out.println("  (subsets need a DestinationRule too; apply again after a change, 'delete -f' to remove)");
        out.println();
        out.println("Inspect the mesh:");
        out.printf("  ./isthmus proxy-status%s%n", runDirFlag);
        out.printf("  ./isthmus proxy-config endpoint %s%s%n", t.podName(client), runDirFlag);
        out.printf("  ./isthmus federation status%s%n", runDirFlag);
        out.println();
        out.println("Admin and debug endpoints:");
        for (MeshComponent c : mesh.components()) {
            c.adminUrl().ifPresent(url -> {
                String page = switch (c.kind()) {
                    case CONTROLLER -> "/";
                    case SIDECAR, GATEWAY -> "/config_dump  (also /stats/prometheus, /certs, /ready)";
                    case APP -> "";
                };
                out.printf("  %-10s %-32s %s%s%n", c.kind().name().toLowerCase(), c.displayName(), url, page);
            });
        }
        out.println();
        out.println("Logs: " + mesh.runDirectory() + "/<cluster>/*.log");
    }
}
