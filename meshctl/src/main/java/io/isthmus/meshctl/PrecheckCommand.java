package io.isthmus.meshctl;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.VersionInfo;
import io.isthmus.trust.Pem;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code meshctl precheck}: can Isthmus be installed in (or join the mesh from) this cluster? */
@Command(name = "precheck", mixinStandardHelpOptions = true,
        description = {"Check a cluster before installing Isthmus or joining it to a mesh.",
                "",
                "Checks that the API server answers (and its version), that the kubeconfig's user may create what the",
                "install creates (SelfSubjectAccessReview; API servers that do not evaluate reviews, like the embedded",
                "ones of './isthmus demo', get a warning instead), that existing Istio CRDs do not conflict, with",
                "--local-address that the controller and gateway ports are free on this machine, and with --mesh that",
                "the existing mesh has a root to join and this cluster's CA (if any) chains to it.",
                "Same output and exit codes as 'meshctl analyze' (codes IST092x in docs/reference/analyze-codes.md)."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl precheck --kubeconfig ~/.kube/config --context kind-cluster2",
                "  meshctl precheck --context eu --mesh east --run-dir .isthmus/run/demo",
                "  meshctl precheck --context ap --mesh east --local-address 127.104.0.1"})
final class PrecheckCommand implements Callable<Integer> {

    /** What the default profile creates: verb, API group, resource, namespace (empty: cluster scope). */
    static final List<List<String>> REQUIRED = List.of(
            List.of("create", "", "namespaces", ""),
            List.of("create", "apiextensions.k8s.io", "customresourcedefinitions", ""),
            List.of("create", "rbac.authorization.k8s.io", "clusterroles", ""),
            List.of("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""),
            List.of("create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", ""),
            List.of("create", "admissionregistration.k8s.io", "validatingwebhookconfigurations", ""),
            List.of("create", "apps", "deployments", "istio-system"),
            List.of("create", "", "services", "istio-system"),
            List.of("create", "", "secrets", "istio-system"),
            List.of("create", "", "serviceaccounts", "istio-system"));

    static final List<Integer> LOCAL_PORTS = List.of(6443, InstallManifests.XDS_PORT, InstallManifests.SECURE_PORT,
            InstallManifests.ADMIN_PORT, InstallManifests.RAFT_PORT);

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    KubeTarget kube;

    @Option(names = "--mesh", paramLabel = "<context>",
            description = "Context (or run-directory cluster) of a cluster already in the mesh: check there is a root to join.")
    String mesh;

    @Option(names = "--local-address", paramLabel = "<ip>",
            description = "Check that the local mesh's ports (API server 6443, controller 15010, 15012, 15014, 15031) "
                    + "are free on this address.")
    String localAddress;

    @Option(names = {"-o", "--output"}, paramLabel = "<format>", description = "Output format: text (default), json or yaml.")
    String output = "text";

    @Option(names = "--timeout", paramLabel = "<seconds>", defaultValue = "5",
            description = "Timeout for each API request (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Override
    public Integer call() {
        Output.check(output, "text", "json", "yaml");
        KubeTarget.Target target = kube.resolve();
        Optional<KubeTarget.Target> meshTarget = Optional.ofNullable(mesh).map(m -> kube.withContext(m).resolve());
        Duration timeout = Duration.ofSeconds(Math.max(1, timeoutSeconds));
        String cluster = target.cluster();
        List<Finding> findings = new ArrayList<>();
        Optional<List<X509Certificate>> ownRoots = Optional.empty();
        try (KubernetesClient client = InventoryCollector.client(target.config(), timeout)) {
            if (apiServer(client, cluster, findings)) {
                permissions(client, cluster, findings);
                crds(client, cluster, findings);
                Secret cacerts = client.secrets().inNamespace("istio-system").withName("cacerts").get();
                if (cacerts != null) {
                    ownRoots = roots(InventoryCollector.files(cacerts));
                    findings.add(Finding.of(AnalysisCode.PRECHECK_ALREADY_INSTALLED, "Cluster " + cluster,
                            "Secret istio-system/cacerts exists: this cluster already has a CA (a join keeps it if it "
                                    + "chains to the mesh root; delete it first to have a new intermediate issued)"));
                }
            }
        }
        if (localAddress != null) {
            ports(cluster, findings);
        }
        meshTarget.ifPresent(m -> meshRoot(m, cluster, findings, timeout));
        if (meshTarget.isPresent() && ownRoots.isPresent()) {
            checkJoinRoot(meshTarget.get(), cluster, ownRoots.get(), findings, timeout);
        }
        findings.sort(Finding.ORDER);
        AnalyzeCommand.print(spec.commandLine().getOut(), findings, output, "checking cluster " + cluster);
        return AnalyzeCommand.exitCode(findings);
    }

    private boolean apiServer(KubernetesClient client, String cluster, List<Finding> findings) {
        try {
            client.namespaces().withName("kube-system").get();
        } catch (KubernetesClientException e) {
            findings.add(Finding.of(AnalysisCode.CLUSTER_UNREACHABLE, "Cluster " + cluster, "API server not readable: "
                    + client.getConfiguration().getMasterUrl().replaceAll("/+$", "") + ": " + InventoryCollector.reason(e)
                    + " (check the kubeconfig's server address and credentials)"));
            return false;
        }
        String version;
        try {
            VersionInfo v = client.getKubernetesVersion();
            version = v == null || v.getGitVersion() == null ? "not reported" : v.getGitVersion();
        } catch (KubernetesClientException e) {
            version = "not reported (/version: " + InventoryCollector.reason(e) + ")";
        }
        findings.add(Finding.of(AnalysisCode.PRECHECK_API_SERVER, "Cluster " + cluster, "API server "
                + client.getConfiguration().getMasterUrl().replaceAll("/+$", "") + " answers; version " + version));
        return true;
    }

    private void permissions(KubernetesClient client, String cluster, List<Finding> findings) {
        List<String> denied = new ArrayList<>();
        for (List<String> p : REQUIRED) {
            SelfSubjectAccessReview review = new SelfSubjectAccessReviewBuilder().withNewSpec()
                    .withNewResourceAttributes().withVerb(p.get(0)).withGroup(p.get(1)).withResource(p.get(2))
                    .withNamespace(p.get(3).isEmpty() ? null : p.get(3)).endResourceAttributes().endSpec().build();
            SelfSubjectAccessReview answer;
            try {
                answer = client.authorization().v1().selfSubjectAccessReview().create(review);
            } catch (KubernetesClientException e) {
                // fabric8's embedded server answers 422 (it wants metadata a real API server does not need).
                String why = e.getCode() > 0 && e.getStatus() != null && e.getStatus().getMessage() != null
                        ? "HTTP " + e.getCode() + ": " + MeshAnalyzer.firstLine(e.getStatus().getMessage())
                        : InventoryCollector.reason(e);
                findings.add(Finding.of(AnalysisCode.PRECHECK_PERMISSIONS_UNCHECKED, "Cluster " + cluster,
                        "the API server does not evaluate SelfSubjectAccessReview (" + why + "): permissions were not "
                                + "checked (make sure the user may create CRDs, cluster roles, webhooks and istio-system objects)"));
                return;
            }
            if (answer == null || answer.getStatus() == null) {
                // A server that stores the review instead of evaluating it.
                findings.add(Finding.of(AnalysisCode.PRECHECK_PERMISSIONS_UNCHECKED, "Cluster " + cluster,
                        "the API server does not evaluate SelfSubjectAccessReview (no status in its answer): permissions "
                                + "were not checked (make sure the user may create CRDs, cluster roles, webhooks and "
                                + "istio-system objects)"));
                return;
            }
            if (!Boolean.TRUE.equals(answer.getStatus().getAllowed())) {
                denied.add(p.get(0) + " " + (p.get(1).isEmpty() ? "" : p.get(1) + "/") + p.get(2)
                        + (p.get(3).isEmpty() ? "" : " in " + p.get(3)));
            }
        }
        if (!denied.isEmpty()) {
            findings.add(Finding.of(AnalysisCode.PRECHECK_PERMISSION_DENIED, "Cluster " + cluster,
                    "the kubeconfig's user may not: " + String.join(", ", denied)
                            + " (use a cluster-admin context for the install)"));
        }
    }

    private void crds(KubernetesClient client, String cluster, List<Finding> findings) {
        Map<String, CustomResourceDefinition> wanted = new java.util.TreeMap<>();
        for (var o : InstallManifests.crds()) {
            wanted.put(o.getMetadata().getName(), (CustomResourceDefinition) o);
        }
        List<CustomResourceDefinition> existing;
        try {
            existing = client.apiextensions().v1().customResourceDefinitions().list().getItems();
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
                return; // no CRD API: nothing can conflict
            }
            throw new CommandException("cluster " + cluster + ": cannot list CustomResourceDefinitions: "
                    + InventoryCollector.reason(e));
        }
        for (CustomResourceDefinition crd : existing) {
            CustomResourceDefinition want = wanted.get(crd.getMetadata().getName());
            if (want == null || crd.getSpec() == null) {
                continue;
            }
            List<String> problems = new ArrayList<>();
            if (!want.getSpec().getScope().equals(crd.getSpec().getScope())) {
                problems.add("scope " + crd.getSpec().getScope() + " (expected: " + want.getSpec().getScope() + ")");
            }
            List<String> served = crd.getSpec().getVersions() == null ? List.of() : crd.getSpec().getVersions().stream()
                    .filter(v -> Boolean.TRUE.equals(v.getServed())).map(v -> v.getName()).toList();
            if (!served.contains("v1")) {
                problems.add("serves " + served + " (expected: v1 among them; the controller reads v1)");
            }
            if (!problems.isEmpty()) {
                findings.add(new Finding(AnalysisCode.PRECHECK_CRD_CONFLICT, "CustomResourceDefinition "
                        + crd.getMetadata().getName(), Optional.empty(), "exists with " + String.join(", ", problems)
                        + " (upgrade it to Istio's current CRD, or delete it if nothing uses it, then install)"));
            }
        }
    }

    private void ports(String cluster, List<Finding> findings) {
        InetAddress address;
        try {
            address = InetAddress.getByName(localAddress);
        } catch (IOException e) {
            throw CommandException.usage("--local-address: '" + localAddress + "' (expected: an IP address of this machine)");
        }
        List<String> taken = new ArrayList<>();
        for (int port : LOCAL_PORTS) {
            try (ServerSocket s = new ServerSocket()) {
                s.setReuseAddress(true);
                s.bind(new InetSocketAddress(address, port));
            } catch (IOException e) {
                taken.add(port + " (" + e.getMessage() + ")");
            }
        }
        if (!taken.isEmpty()) {
            findings.add(Finding.of(AnalysisCode.PRECHECK_PORT_IN_USE, "Cluster " + cluster, "on " + localAddress
                    + " port " + String.join(", ", taken) + " cannot be bound (stop what holds it, e.g. a running "
                    + "'./isthmus demo', or pick another address)"));
        }
    }

    private static void meshRoot(KubeTarget.Target m, String cluster, List<Finding> findings, Duration timeout) {
        Optional<String> problem = meshRootProblem(m, timeout);
        problem.ifPresent(p -> findings.add(Finding.of(AnalysisCode.PRECHECK_NO_MESH_ROOT, "Cluster " + m.cluster(),
                p + ": there is no mesh root for " + cluster + " to join (install the mesh there first, or pass "
                        + "--mesh <a cluster already in the mesh>)")));
    }

    /** Why the mesh cluster has no usable root, or empty when it has one. */
    static Optional<String> meshRootProblem(KubeTarget.Target m, Duration timeout) {
        try (KubernetesClient client = InventoryCollector.client(m.config(), timeout)) {
            Secret s = client.secrets().inNamespace("istio-system").withName("cacerts").get();
            if (s == null) {
                return Optional.of("no Secret istio-system/cacerts");
            }
            if (roots(InventoryCollector.files(s)).isEmpty()) {
                return Optional.of("Secret istio-system/cacerts has no parsable root-cert.pem");
            }
            return Optional.empty();
        } catch (KubernetesClientException e) {
            return Optional.of("API server not readable (" + InventoryCollector.reason(e) + ")");
        }
    }

    private static void checkJoinRoot(KubeTarget.Target m, String cluster, List<X509Certificate> own,
            List<Finding> findings, Duration timeout) {
        try (KubernetesClient client = InventoryCollector.client(m.config(), timeout)) {
            Secret s = client.secrets().inNamespace("istio-system").withName("cacerts").get();
            Optional<List<X509Certificate>> meshRoots = s == null ? Optional.empty() : roots(InventoryCollector.files(s));
            if (meshRoots.isPresent() && own.stream().noneMatch(meshRoots.get()::contains)) {
                findings.add(Finding.of(AnalysisCode.CA_NOT_CHAINED_TO_MESH_ROOT, "Cluster " + cluster,
                        "its istio-system/cacerts root (" + own.get(0).getSubjectX500Principal().getName() + ") is not "
                                + "the root of the mesh " + m.cluster() + " belongs to ("
                                + meshRoots.get().get(0).getSubjectX500Principal().getName() + "): joining would split "
                                + "trust (delete istio-system/cacerts in " + cluster + " so the join issues an "
                                + "intermediate under the mesh root)"));
            }
        } catch (KubernetesClientException e) {
            // Reported by meshRoot already.
        }
    }

    static Optional<List<X509Certificate>> roots(Map<String, String> files) {
        String pem = files.get("root-cert.pem");
        if (pem == null || pem.isBlank()) {
            return Optional.empty();
        }
        try {
            List<X509Certificate> roots = Pem.decodeCertificates(pem);
            return roots.isEmpty() ? Optional.empty() : Optional.of(roots);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }
}
