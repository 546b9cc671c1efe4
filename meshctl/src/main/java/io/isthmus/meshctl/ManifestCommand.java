package io.isthmus.meshctl;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** What {@code apply} and {@code delete} share: {@code -f <file|->}, the target cluster, the per-object loop. */
abstract class ManifestCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-f", "--filename"}, required = true, paramLabel = "<file|->",
            description = "YAML file with one or more documents; '-' reads standard input.")
    String file;

    @Mixin
    KubeTarget kube;

    @Option(names = {"-n", "--namespace"}, paramLabel = "<ns>",
            description = "Namespace for objects that name none (default: the context's, else 'default').")
    String namespace;

    /** Stdin for '-f -'; tests replace it. */
    InputStream stdin = System.in;

    @Override
    public Integer call() {
        // The cluster first: a bad --context must not wait on standard input.
        KubeTarget.Target target = kube.resolve();
        String yaml = read();
        String source = file.equals("-") ? "<stdin>" : file;
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int failures = 0;
        try (KubernetesClient client = KubeTarget.client(target.config())) {
            List<ResourceApplier.Document> docs = ResourceApplier.parse(client, source, yaml, validator());
            String ns = namespace != null ? namespace
                    : target.config().getNamespace() != null ? target.config().getNamespace() : "default";
            for (ResourceApplier.Document d : docs) {
                ResourceApplier.defaultNamespace(d, ns);
                try {
                    out.println(d.describe() + " " + act(client, d));
                } catch (KubernetesClientException e) {
                    failures++;
                    err.println("meshctl: cluster " + target.cluster() + ": " + d.describe() + ": "
                            + ResourceApplier.failure(e));
                } catch (CommandException e) {
                    failures++;
                    err.println("meshctl: cluster " + target.cluster() + ": " + d.describe() + ": " + e.getMessage());
                }
                out.flush();
                err.flush();
            }
        }
        return failures == 0 ? Meshctl.OK : Meshctl.FAILED;
    }

    /** Does this command's action on one object; returns the word kubectl would print. */
    abstract String act(KubernetesClient client, ResourceApplier.Document d);

    ResourceValidator validator() {
        return ResourceValidator.STRUCTURAL;
    }

    private String read() {
        try {
            if (file.equals("-")) {
                return new String(stdin.readAllBytes(), StandardCharsets.UTF_8);
            }
            Path p = Path.of(file);
            if (!Files.isRegularFile(p)) {
                throw CommandException.usage(file + ": no such file");
            }
            return Files.readString(p);
        } catch (IOException e) {
            throw CommandException.usage(file + ": cannot read (" + e.getMessage() + ")");
        }
    }
}
