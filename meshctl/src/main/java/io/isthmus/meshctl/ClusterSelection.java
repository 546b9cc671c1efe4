package io.isthmus.meshctl;

import io.fabric8.kubernetes.api.model.NamedContext;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.internal.KubeConfigUtils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The clusters a mesh-wide command reads: every context of {@code --kubeconfig} (or the ones named with
 * {@code --context}), else every cluster of the local run directory (or the ones named).
 */
final class ClusterSelection {

    @Option(names = "--kubeconfig", paramLabel = "<file>",
            description = "Kubeconfig whose contexts are the mesh's clusters (default: the run directory's kubeconfigs).")
    Path kubeconfig;

    @Option(names = "--context", paramLabel = "<context>", split = ",",
            description = "Only these contexts (or run-directory clusters); repeatable or comma-separated (default: all).")
    List<String> contexts = new ArrayList<>();

    @Option(names = "--run-dir", paramLabel = "<dir>",
            description = "Run directory of a local mesh (default: .isthmus/run/demo).")
    Path runDir;

    /** A cluster to read: its name in messages and its client configuration. */
    record Cluster(String name, Config config) {
    }

    List<Cluster> resolve() {
        List<Cluster> out = new ArrayList<>();
        if (kubeconfig != null) {
            if (!Files.isRegularFile(kubeconfig)) {
                throw CommandException.usage(kubeconfig + ": no such kubeconfig file");
            }
            List<String> names = contexts;
            if (names.isEmpty()) {
                try {
                    names = KubeConfigUtils.parseConfig(kubeconfig.toFile()).getContexts().stream()
                            .map(NamedContext::getName).toList();
                } catch (RuntimeException e) {
                    throw CommandException.usage(kubeconfig + ": not a usable kubeconfig (" + e.getMessage() + ")");
                }
                if (names.isEmpty()) {
                    throw CommandException.usage(kubeconfig + ": no contexts (expected: one per cluster of the mesh)");
                }
            }
            for (String context : names) {
                out.add(new Cluster(context, KubeTarget.load(kubeconfig, context)));
            }
            return out;
        }
        Path dir = runDir != null ? runDir : RunDir.defaultPath();
        RunDir run;
        try {
            run = RunDir.open(dir);
        } catch (CommandException e) {
            throw CommandException.usage(e.getMessage() + " (or pass --kubeconfig <file>)");
        }
        for (RunDir.ClusterRef c : run.clusters()) {
            if (contexts.isEmpty() || contexts.contains(c.name())) {
                out.add(new Cluster(c.name(), KubeTarget.load(c.kubeconfig(), null)));
            }
        }
        for (String context : contexts) {
            if (run.cluster(context).isEmpty()) {
                throw CommandException.usage("--context " + context + ": no cluster '" + context + "' in run directory "
                        + dir + " (expected one of " + run.clusters().stream().map(RunDir.ClusterRef::name).toList() + ")");
            }
        }
        return out;
    }
}
