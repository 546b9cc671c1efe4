package io.isthmus.meshctl;

import io.isthmus.trust.Pem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code meshctl manifest generate}: the Kubernetes manifests that install Isthmus on a real cluster. */
@Command(name = "manifest", mixinStandardHelpOptions = true,
        description = "Generate the Kubernetes manifests that install Isthmus on real clusters.",
        subcommands = InstallManifestCommand.Generate.class)
final class InstallManifestCommand implements Runnable {

    @Override
    public void run() {
        throw CommandException.usage("manifest: a subcommand is required (expected: generate)");
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = {"Print the manifests for one cluster, for 'kubectl apply -f -'.",
                    "",
                    "Profiles: default (a primary: Istio's networking and security CRDs, RBAC, the controller Deployment",
                    "and Service istiod on 15010 xDS, 15012 xDS+CA over TLS, 15014 admin, 15017 webhooks, 15031 Raft, the",
                    "east-west gateway Deployment and LoadBalancer Service on 15443 labelled with the network, and the",
                    "sidecar-injection and validation webhooks); minimal (default without the east-west gateway, for a",
                    "single network); remote (no controller: CRDs, the reader RBAC, the east-west gateway and webhooks",
                    "pointing at the primary's controller at --controller-address).",
                    "",
                    "Nothing is read from or sent to a cluster. The images are built with Jib (see docs/install.md).",
                    "The cluster's intermediate CA (Secret istio-system/cacerts) is not part of the output: it holds a",
                    "private key; 'meshctl cluster join' or docs/install.md create it."},
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl manifest generate --cluster east --network net1 --root-cert root-cert.pem | kubectl apply -f -",
                    "  meshctl manifest generate --profile minimal --cluster lab --network net1",
                    "  meshctl manifest generate --profile remote --cluster edge --network net2 --controller-address 10.0.0.5",
                    "  meshctl manifest generate --hub registry.example.com/isthmus --tag 0.1.0"})
    static final class Generate implements Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--profile", paramLabel = "<profile>", defaultValue = "default",
                description = "default, minimal or remote (default: ${DEFAULT-VALUE}).")
        String profile;

        @Option(names = "--cluster", paramLabel = "<name>", defaultValue = "cluster1",
                description = "The cluster's name in the mesh (default: ${DEFAULT-VALUE}).")
        String cluster;

        @Option(names = "--network", paramLabel = "<network>", defaultValue = "network1",
                description = "The cluster's network (label topology.istio.io/network; default: ${DEFAULT-VALUE}).")
        String network;

        @Option(names = "--hub", paramLabel = "<registry>", defaultValue = "isthmus",
                description = "Image registry and path (default: ${DEFAULT-VALUE}).")
        String hub;

        @Option(names = "--tag", paramLabel = "<tag>", defaultValue = "0.1.0-SNAPSHOT",
                description = "Image tag (default: ${DEFAULT-VALUE}).")
        String tag;

        @Option(names = "--controller-address", paramLabel = "<host>",
                description = "For --profile remote: the primary controller's address reachable from this cluster.")
        String controllerAddress;

        @Option(names = "--root-cert", paramLabel = "<file>",
                description = "The mesh root (PEM), published as ConfigMap istio-system/istio-ca-root-cert.")
        Path rootCert;

        @Option(names = "--trust-domain", paramLabel = "<domain>", defaultValue = "cluster.local",
                description = "The mesh's SPIFFE trust domain (controller and gateway --trust-domain; default: ${DEFAULT-VALUE}).")
        String trustDomain;

        @Option(names = "--trust-domain-aliases", paramLabel = "<domain,...>", defaultValue = "",
                description = "Other trust domains whose identities are accepted (Istio's meshConfig trustDomainAliases).")
        String trustDomainAliases;

        @Override
        public Integer call() {
            Optional<String> root = Optional.empty();
            if (rootCert != null) {
                try {
                    String pem = Files.readString(rootCert);
                    Pem.decodeCertificate(pem);
                    root = Optional.of(pem);
                } catch (IOException | RuntimeException e) {
                    throw CommandException.usage("--root-cert " + rootCert + ": not a readable PEM certificate ("
                            + MeshAnalyzer.firstLine(e.getMessage()) + ")");
                }
            }
            List<String> aliases = java.util.Arrays.stream(trustDomainAliases.split(",")).map(String::trim)
                    .filter(a -> !a.isEmpty()).toList();
            InstallManifests.Options options = new InstallManifests.Options(profile, cluster, network, hub, tag,
                    Optional.ofNullable(controllerAddress), root, trustDomain, aliases);
            spec.commandLine().getOut().print(InstallManifests.render(InstallManifests.generate(options)));
            spec.commandLine().getOut().flush();
            return Meshctl.OK;
        }
    }
}
