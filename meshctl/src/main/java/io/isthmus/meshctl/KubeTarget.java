package io.isthmus.meshctl;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Option;

/**
 * Which Kubernetes API server a command talks to. {@code --kubeconfig} (with an optional
 * {@code --context}) as kubectl reads them; without {@code --kubeconfig}, {@code --context <cluster>}
 * names a cluster of the local run directory and uses its kubeconfig.
 */
final class KubeTarget {

    @Option(names = "--kubeconfig", paramLabel = "<file>", description = "Kubeconfig file (default: the run directory's, or ~/.kube/config).")
    Path kubeconfig;

    @Option(names = "--context", paramLabel = "<context>",
            description = "Kubeconfig context; without --kubeconfig, a cluster name of the local run directory (e.g. east).")
    String context;

    @Option(names = "--run-dir", paramLabel = "<dir>",
            description = "Run directory of a local mesh, for --context <cluster> (default: .isthmus/run/demo).")
    Path runDir;

    /** The client configuration, and a name for the cluster in messages. */
    record Target(Config config, String cluster, Path source) {
    }

    Target resolve() {
        if (kubeconfig != null) {
            if (!Files.isRegularFile(kubeconfig)) {
                throw CommandException.usage(kubeconfig + ": no such kubeconfig file");
            }
            Config config = load(kubeconfig, context);
            return new Target(config, context != null ? context : Optional.ofNullable(config.getCurrentContext())
                    .map(c -> c.getName()).orElse(kubeconfig.toString()), kubeconfig);
        }
        if (context != null) {
            Path dir = runDir != null ? runDir : RunDir.defaultPath();
            Path file = dir.resolve(context).resolve("kubeconfig");
            if (Files.isRegularFile(file)) {
                return new Target(load(file, null), context, file);
            }
            if (runDir != null) {
                throw CommandException.usage("--context " + context + ": no cluster '" + context + "' in run directory "
                        + dir + " (expected: " + dir + "/" + context + "/kubeconfig)");
            }
        }
        Path home = Path.of(System.getProperty("user.home"), ".kube", "config");
        if (!Files.isRegularFile(home)) {
            throw CommandException.usage("no cluster given (pass --context <cluster> for a local mesh started with "
                    + "'./isthmus demo', or --kubeconfig <file>)");
        }
        return new Target(load(home, context), context != null ? context : "current context", home);
    }

    /** The same kubeconfig or run directory, another context (e.g. the mesh cluster of a join). */
    KubeTarget withContext(String otherContext) {
        KubeTarget t = new KubeTarget();
        t.kubeconfig = kubeconfig;
        t.runDir = runDir;
        t.context = java.util.Objects.requireNonNull(otherContext, "otherContext");
        return t;
    }

    static Config load(Path file, String context) {
        try {
            Config config = Config.fromKubeconfig(context, new File(file.toString()));
            if (context != null && (config.getCurrentContext() == null
                    || !context.equals(config.getCurrentContext().getName()))) {
                throw CommandException.usage(file + ": no context '" + context + "'");
            }
            return config;
        } catch (CommandException e) {
            throw e;
        } catch (RuntimeException e) {
            throw CommandException.usage(file + ": not a usable kubeconfig" + (context != null ? " for context '" + context + "'" : "")
                    + " (" + e.getMessage() + ")");
        }
    }

    static KubernetesClient client(Config config) {
        return new KubernetesClientBuilder().withConfig(config).build();
    }
}
