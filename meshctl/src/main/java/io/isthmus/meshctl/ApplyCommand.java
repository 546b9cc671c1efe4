package io.isthmus.meshctl;

import io.fabric8.kubernetes.client.KubernetesClient;
import picocli.CommandLine.Command;

/** {@code meshctl apply -f}: create or replace each object, for API servers where kubectl apply fails. */
@Command(name = "apply", mixinStandardHelpOptions = true,
        description = {"Create or update the objects of a YAML file in one cluster.",
                "",
                "Works against the embedded API servers, where 'kubectl apply' of a changed object fails: each object",
                "is created, or replaced with the live resourceVersion (a concurrent change fails with a conflict",
                "instead of being overwritten). Kinds the API servers do not serve are refused before anything is sent.",
                "Prints <kind>/<name> created|configured|unchanged per object."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl apply -f vs.yaml --context west",
                "  cat dr.yaml | meshctl apply -f - --context east -n sample",
                "  meshctl apply -f vs.yaml --kubeconfig .isthmus/run/demo/west/kubeconfig"})
final class ApplyCommand extends ManifestCommand {

    @Override
    String act(KubernetesClient client, ResourceApplier.Document d) {
        return ResourceApplier.upsert(client, d.object(), !d.kind().namespaced());
    }

    @Override
    ResourceValidator validator() {
        return ResourceValidator.MESH;
    }
}
