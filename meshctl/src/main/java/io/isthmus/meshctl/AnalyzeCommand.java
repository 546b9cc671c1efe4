package io.isthmus.meshctl;

import io.isthmus.trust.Pem;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/** {@code meshctl analyze}: checks every cluster of the mesh, alone and against each other. */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        description = {"Find configuration problems across all clusters of the mesh.",
                "",
                "Reads every cluster (each context of --kubeconfig, or each cluster of the run directory) and checks:",
                "Istio resources the controllers would reject, locality failover without outlier detection, the same",
                "Service defined with different ports or protocols in two clusters, the same resource defined",
                "differently in two primaries, networks without a reachable east-west gateway, clusters whose CA does",
                "not chain to the mesh root, and remote secrets that do not parse or whose API server cannot be read.",
                "",
                "Prints one line per finding: Error|Warning|Info [IST-CODE] (Kind ns/name) message, ending with the fix.",
                "Codes: docs/reference/analyze-codes.md. Exit code 1 when there is an Error finding."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl analyze",
                "  meshctl analyze --run-dir .isthmus/run/demo --context east,eu",
                "  meshctl analyze --kubeconfig ~/.kube/config --context kind-east,kind-west --root-cert root-cert.pem",
                "  meshctl analyze -n sample -o json"})
final class AnalyzeCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    ClusterSelection clusters;

    @Option(names = "--root-cert", paramLabel = "<file>",
            description = "PEM file of the mesh root (default: the root most clusters' istio-system/cacerts hold).")
    Path rootCert;

    @Option(names = {"-n", "--namespace"}, paramLabel = "<ns>",
            description = "Only report resources of this namespace (cluster-wide findings are always reported).")
    String namespace;

    @Option(names = {"-o", "--output"}, paramLabel = "<format>", description = "Output format: text (default), json or yaml.")
    String output = "text";

    @Option(names = "--timeout", paramLabel = "<seconds>", defaultValue = "3",
            description = "Timeout for each API server, gateway and remote-secret check (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Override
    public Integer call() {
        Output.check(output, "text", "json", "yaml");
        if (timeoutSeconds < 1) {
            throw CommandException.usage("--timeout: " + timeoutSeconds + " (expected: >= 1)");
        }
        Optional<X509Certificate> root = Optional.empty();
        if (rootCert != null) {
            try {
                root = Optional.of(Pem.decodeCertificate(Files.readString(rootCert)));
            } catch (IOException | RuntimeException e) {
                throw CommandException.usage("--root-cert " + rootCert + ": not a readable PEM certificate ("
                        + MeshAnalyzer.firstLine(e.getMessage()) + ")");
            }
        }
        List<ClusterSelection.Cluster> selected = clusters.resolve();
        InventoryCollector collector = new InventoryCollector(Duration.ofSeconds(timeoutSeconds));
        List<ClusterInventory> inventories = new ArrayList<>();
        for (ClusterSelection.Cluster c : selected) {
            inventories.add(collector.collect(c.name(), c.config()));
        }
        List<Finding> findings = MeshAnalyzer.analyze(inventories, root).stream()
                .filter(f -> namespace == null || f.namespace().isEmpty() || f.namespace().get().equals(namespace))
                .toList();
        print(spec.commandLine().getOut(), findings, output,
                "analyzing clusters " + String.join(", ", selected.stream().map(ClusterSelection.Cluster::name).toList())
                        + (namespace == null ? "" : ", namespace " + namespace));
        return exitCode(findings);
    }

    static int exitCode(List<Finding> findings) {
        return findings.stream().anyMatch(f -> f.code().level() == AnalysisCode.Level.ERROR) ? Meshctl.FAILED : Meshctl.OK;
    }

    static void print(PrintWriter out, List<Finding> findings, String format, String scope) {
        if (format.equals("text")) {
            if (findings.isEmpty()) {
                out.println("No validation issues found when " + scope + ".");
            }
            findings.forEach(f -> out.println(f.render()));
            out.flush();
            return;
        }
        ArrayNode all = AdminClient.JSON.createArrayNode();
        for (Finding f : findings) {
            ObjectNode n = all.addObject();
            n.put("level", f.code().level().label());
            n.put("code", f.code().code());
            n.put("name", f.code().title());
            n.put("resource", f.resource());
            n.put("message", f.message());
        }
        Output.print(out, all, format);
    }
}
