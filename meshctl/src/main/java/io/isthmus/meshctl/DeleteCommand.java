package io.isthmus.meshctl;

import io.fabric8.kubernetes.client.KubernetesClient;
import picocli.CommandLine.Command;

/** {@code meshctl delete -f}: delete each object of a file. */
@Command(name = "delete", mixinStandardHelpOptions = true,
        description = {"Delete the objects of a YAML file from one cluster.",
                "Prints <kind>/<name> deleted per object; one that is not there is an error (exit 1), the rest are still deleted."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl delete -f vs.yaml --context west", "  cat vs.yaml | meshctl delete -f - --context west"})
final class DeleteCommand extends ManifestCommand {

    @Override
    String act(KubernetesClient client, ResourceApplier.Document d) {
        if (!ResourceApplier.delete(client, d.object())) {
            throw new CommandException("not found");
        }
        return "deleted";
    }
}
