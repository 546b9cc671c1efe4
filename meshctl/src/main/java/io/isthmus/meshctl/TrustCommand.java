package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.NonDeletingOperation;
import io.isthmus.controller.ca.CaSource;
import io.isthmus.controller.ca.CacertsLoader;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.InvalidCacertsException;
import io.isthmus.trust.Pem;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code meshctl trust}: the mesh's roots of trust. {@code status} shows, per controller, the root
 * it signs under and the roots its bundle holds; {@code rotate-root --phase add|reissue|remove}
 * replaces the mesh root without downtime by rewriting each cluster's {@code istio-system/cacerts}
 * Secret, which every controller re-reads and publishes to the federation's replicated trust bundle.
 */
@Command(name = "trust", mixinStandardHelpOptions = true,
        description = "Inspect and rotate the mesh's roots of trust.",
        subcommands = {TrustCommand.Status.class, TrustCommand.RotateRoot.class})
final class TrustCommand implements Runnable {

    @Override
    public void run() {
        throw CommandException.usage("trust: a subcommand is required (expected: status or rotate-root)");
    }

    /** How many characters of a SHA-256 fingerprint tables show. */
    static final int SHORT = 16;

    static String shortFp(String fingerprint) {
        return fingerprint.length() > SHORT ? fingerprint.substring(0, SHORT) : fingerprint;
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"Show, per controller, the root its CA signs under, the roots of its own cacerts,",
                    "and the roots of the trust bundle it enforces (its own plus the federation's).",
                    "Roots are named by the first " + SHORT + " hex digits of their SHA-256 fingerprint."},
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl trust status", "  meshctl trust status -o json"})
    static final class Status implements Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        ControllerTargets targets;

        @Option(names = {"-o", "--output"}, paramLabel = "<format>", description = "Output format: table (default), json or yaml.")
        String output = "table";

        @Override
        public Integer call() {
            Output.check(output, "table", "json", "yaml");
            PrintWriter out = spec.commandLine().getOut();
            ControllerTargets.Views fetched = targets.fetchAll("/debug/federation");
            if (!output.equals("table")) {
                ObjectNode all = AdminClient.JSON.createObjectNode();
                fetched.byController().forEach((c, v) -> all.set(c, v.path("trust")));
                Output.print(out, all, output);
            } else if (!fetched.byController().isEmpty()) {
                Table table = new Table("CONTROLLER", "SIGNING CA", "SIGNS UNDER", "OWN ROOTS", "BUNDLE ROOTS", "FEDERATED ROOTS");
                fetched.byController().forEach((controller, v) -> {
                    JsonNode t = v.path("trust");
                    table.row(controller, t.path("caSubject").asString("?"), shortFp(t.path("signingRoot").asString("?")),
                            join(t.path("ownRoots")), join(t.path("bundleRoots")), join(t.path("federatedRoots")));
                });
                table.print(out);
                out.flush();
            }
            return fetched.report(spec.commandLine().getErr());
        }
    }

    static String join(JsonNode array) {
        List<String> parts = new ArrayList<>();
        array.forEach(n -> parts.add(shortFp(n.asString(""))));
        return String.join(",", parts);
    }

    @Command(name = "rotate-root", mixinStandardHelpOptions = true,
            description = {"Replace the mesh root in three phases, each safe under traffic:",
                    "  add      create the new root (once, in --dir; its key never enters a cluster) and add it",
                    "           to every cluster's cacerts root-cert.pem: every controller and proxy trusts both",
                    "  reissue  give every cluster a new intermediate under the new root: new leaves chain to it,",
                    "           and proxies renew theirs at half their lifetime",
                    "  remove   once every proxy holds a leaf under the new root, drop the old root: a leaf",
                    "           chained only to the old root is refused from then on",
                    "Each phase writes Secret istio-system/cacerts in every cluster of the run directory, then",
                    "waits (--wait) until every controller (and, for remove, every proxy) shows the new state."},
            footerHeading = "%nExamples:%n",
            footer = {"  meshctl trust rotate-root --phase add",
                    "  meshctl trust rotate-root --phase reissue",
                    "  meshctl trust rotate-root --phase remove --dir .isthmus/run/demo/trust"})
    static final class RotateRoot implements Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--phase", required = true, paramLabel = "<phase>", description = "add, reissue or remove.")
        String phase;

        @Option(names = "--run-dir", paramLabel = "<dir>", description = "Run directory of a local mesh (default: .isthmus/run/demo).")
        Path runDir;

        @Option(names = "--dir", paramLabel = "<dir>",
                description = "Where the new root and its key are kept (default: <run-dir>/trust).")
        Path dir;

        @Option(names = "--wait", paramLabel = "<seconds>", defaultValue = "120",
                description = "How long to wait for the mesh to reach the phase; 0 to not wait (default: ${DEFAULT-VALUE}).")
        int waitSeconds;

        @Option(names = "--intermediate-days", paramLabel = "<days>", defaultValue = "365",
                description = "Validity of the new intermediates (default: ${DEFAULT-VALUE}).")
        int intermediateDays;

        @Override
        public Integer call() throws Exception {
            if (!List.of("add", "reissue", "remove").contains(phase)) {
                throw CommandException.usage("--phase: '" + phase + "' (expected: add, reissue or remove)");
            }
            if (waitSeconds < 0 || intermediateDays < 1) {
                throw CommandException.usage("--wait must be >= 0 and --intermediate-days >= 1");
            }
            PrintWriter out = spec.commandLine().getOut();
            RunDir run = RunDir.open(runDir != null ? runDir : RunDir.defaultPath());
            Path trustDir = dir != null ? dir : run.path().resolve("trust");
            CertificateAuthority newRoot = phase.equals("add") ? NewRoot.createOrLoad(trustDir) : NewRoot.load(trustDir);
            String newFp = CaSource.fingerprint(newRoot.certificate());
            out.printf("new root %s (%s), kept in %s%n", shortFp(newFp), newRoot.certificate().getSubjectX500Principal(), trustDir);

            for (RunDir.ClusterRef cluster : run.clusters()) {
                try (KubernetesClient client = KubeTarget.client(KubeTarget.load(cluster.kubeconfig(), null))) {
                    Map<String, String> files = readCacerts(client, cluster.name());
                    Map<String, String> next = switch (phase) {
                        case "add" -> RootRotation.add(files, newRoot.certificate());
                        case "reissue" -> RootRotation.reissue(files, newRoot, cluster.name(), Duration.ofDays(intermediateDays));
                        default -> RootRotation.remove(files, newRoot.certificate(), cluster.name());
                    };
                    writeCacerts(client, next);
                    out.printf("%s: cacerts written (%s)%n", cluster.name(), RootRotation.describe(next));
                }
            }
            out.flush();
            if (waitSeconds == 0) {
                return Meshctl.OK;
            }
            return waitForMesh(run, newFp, out);
        }

        private int waitForMesh(RunDir run, String newFp, PrintWriter out) throws InterruptedException {
            AdminClient admin = new AdminClient(Duration.ofSeconds(5), AdminCredentials.resolve(null, run.path()));
            Instant deadline = Instant.now().plusSeconds(waitSeconds);
            String waitingFor = "";
            while (Instant.now().isBefore(deadline)) {
                waitingFor = notYet(run, admin, newFp);
                if (waitingFor.isEmpty()) {
                    out.printf("phase %s reached by every controller and proxy%n", phase);
                    out.flush();
                    return Meshctl.OK;
                }
                Thread.sleep(500);
            }
            spec.commandLine().getErr().printf("meshctl: phase %s not reached after %d s: %s%n", phase, waitSeconds, waitingFor);
            spec.commandLine().getErr().flush();
            return Meshctl.FAILED;
        }

        /** What still lags behind the phase, or empty once everything reached it. */
        private String notYet(RunDir run, AdminClient admin, String newFp) {
            List<String> lagging = new ArrayList<>();
            for (RunDir.ClusterRef c : run.clusters()) {
                if (c.controllerAdmin().isEmpty()) {
                    continue;
                }
                JsonNode trust;
                try {
                    trust = admin.get(c.controllerAdmin().get(), "/debug/federation").path("trust");
                } catch (CommandException e) {
                    lagging.add(e.getMessage());
                    continue;
                }
                List<String> bundle = strings(trust.path("bundleRoots"));
                List<String> federated = strings(trust.path("federatedRoots"));
                boolean ok = switch (phase) {
                    case "add" -> bundle.contains(newFp) && federated.contains(newFp);
                    case "reissue" -> newFp.equals(trust.path("signingRoot").asString(""));
                    default -> bundle.equals(List.of(newFp)) && federated.equals(List.of(newFp));
                };
                if (!ok) {
                    lagging.add("controller of " + c.name() + " (signs under " + shortFp(trust.path("signingRoot").asString("?"))
                            + ", bundle " + join(trust.path("bundleRoots")) + ")");
                }
            }
            if (!lagging.isEmpty()) {
                return String.join("; ", lagging);
            }
            for (RunDir.ProxyRef p : run.proxies()) {
                List<String> trusted = proxyTrustedRoots(admin, p.admin());
                boolean trusts = phase.equals("remove") ? trusted.equals(List.of(newFp)) : trusted.contains(newFp);
                if (!trusts) {
                    lagging.add(p.cluster() + "/" + p.pod() + " (trusts " + String.join(",",
                            trusted.stream().map(TrustCommand::shortFp).toList()) + ")");
                } else if (!phase.equals("add")) {
                    // Leaves are renewed at half their lifetime: each proxy must hold one under the new root.
                    String root = proxyRoot(admin, p.admin());
                    if (!newFp.equals(root)) {
                        lagging.add(p.cluster() + "/" + p.pod() + " (leaf under " + shortFp(root) + ")");
                    }
                }
            }
            return String.join("; ", lagging);
        }

        private static String proxyRoot(AdminClient admin, String hostPort) {
            try {
                JsonNode certs = admin.get(hostPort, "/certs");
                List<X509Certificate> chain = Pem.decodeCertificates(certs.path("chainPem").asString(""));
                return CaSource.fingerprint(chain.get(chain.size() - 1));
            } catch (CommandException | IllegalArgumentException e) {
                return "unknown";
            }
        }

        /** The roots of the SDS ROOTCA secret a proxy holds (its trust bundle), by fingerprint. */
        private static List<String> proxyTrustedRoots(AdminClient admin, String hostPort) {
            try {
                for (JsonNode secret : admin.get(hostPort, "/config_dump").path("secrets")) {
                    if (!"ROOTCA".equals(secret.path("name").asString(""))) {
                        continue;
                    }
                    JsonNode ca = secret.path("validationContext").path("trustedCa");
                    String pem = ca.has("inlineString") ? ca.path("inlineString").asString("")
                            : new String(Base64.getDecoder().decode(ca.path("inlineBytes").asString("")), StandardCharsets.UTF_8);
                    return CaSource.fingerprints(Pem.decodeCertificates(pem));
                }
                return List.of();
            } catch (CommandException | IllegalArgumentException e) {
                return List.of("unknown");
            }
        }

        private static List<String> strings(JsonNode array) {
            List<String> values = new ArrayList<>();
            array.forEach(n -> values.add(n.asString("")));
            return values;
        }
    }

    static Map<String, String> readCacerts(KubernetesClient client, String cluster) {
        Secret secret = client.secrets().inNamespace(CacertsLoader.NAMESPACE).withName(CacertsLoader.CACERTS_SECRET).get();
        if (secret == null) {
            throw new CommandException(cluster + ": Secret " + CacertsLoader.NAMESPACE + "/" + CacertsLoader.CACERTS_SECRET
                    + " not found (expected: the cluster's plugged-in CA)");
        }
        return CacertsLoader.secretFiles(secret);
    }

    static void writeCacerts(KubernetesClient client, Map<String, String> files) {
        Map<String, String> data = new LinkedHashMap<>();
        files.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        Secret secret = new SecretBuilder().withNewMetadata().withNamespace(CacertsLoader.NAMESPACE)
                .withName(CacertsLoader.CACERTS_SECRET).endMetadata().withData(data).build();
        client.secrets().inNamespace(CacertsLoader.NAMESPACE).resource(secret).createOr(NonDeletingOperation::update);
    }

    /** The new root, kept on the operator's machine: {@code root-cert.pem} and {@code root-key.pem}. */
    static final class NewRoot {

        private NewRoot() {}

        static CertificateAuthority createOrLoad(Path dir) throws IOException {
            if (Files.isRegularFile(dir.resolve("root-key.pem"))) {
                return load(dir);
            }
            CertificateAuthority root = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(3650));
            Files.createDirectories(dir);
            Map<String, String> files = root.toCacerts();
            Files.writeString(dir.resolve("root-cert.pem"), files.get(CertificateAuthority.ROOT_CERT));
            Path key = dir.resolve("root-key.pem");
            Files.writeString(key, files.get(CertificateAuthority.CA_KEY));
            try {
                Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // Not a POSIX file system: nothing more to do.
            }
            return root;
        }

        static CertificateAuthority load(Path dir) throws IOException {
            Path cert = dir.resolve("root-cert.pem");
            Path key = dir.resolve("root-key.pem");
            if (!Files.isRegularFile(cert) || !Files.isRegularFile(key)) {
                throw new CommandException(dir + ": no new root (expected: root-cert.pem and root-key.pem; "
                        + "run 'meshctl trust rotate-root --phase add' first)");
            }
            String certPem = Files.readString(cert);
            try {
                return CertificateAuthority.fromCacerts(Map.of(CertificateAuthority.CA_CERT, certPem,
                        CertificateAuthority.CA_KEY, Files.readString(key), CertificateAuthority.ROOT_CERT, certPem));
            } catch (InvalidCacertsException e) {
                throw new CommandException(dir + ": the new root does not load: " + e.getMessage());
            }
        }
    }

    /** The three phases as pure functions over a cluster's {@code cacerts} files; each result is checked to load. */
    static final class RootRotation {

        private RootRotation() {}

        static Map<String, String> add(Map<String, String> files, X509Certificate newRoot) {
            requireNonNull(newRoot, "newRoot");
            CertificateAuthority current = load(files, "current");
            List<X509Certificate> roots = new ArrayList<>(current.trustedRoots());
            if (!roots.contains(newRoot)) {
                roots.add(newRoot);
            }
            return checked(with(files, CertificateAuthority.ROOT_CERT, Pem.encodeCertificates(roots)));
        }

        static Map<String, String> reissue(Map<String, String> files, CertificateAuthority newRoot, String cluster,
                Duration validity) {
            CertificateAuthority current = load(files, "current");
            if (!current.trustedRoots().contains(newRoot.certificate())) {
                throw new CommandException(cluster + ": root-cert.pem does not hold the new root yet "
                        + "(expected: run --phase add first)");
            }
            Map<String, String> next = new LinkedHashMap<>(newRoot.createIntermediate(cluster, validity).toCacerts());
            next.put(CertificateAuthority.ROOT_CERT, Pem.encodeCertificates(current.trustedRoots()));
            return checked(next);
        }

        static Map<String, String> remove(Map<String, String> files, X509Certificate newRoot, String cluster) {
            CertificateAuthority current = load(files, "current");
            if (!current.root().equals(newRoot)) {
                throw new CommandException(cluster + ": its CA " + current.certificate().getSubjectX500Principal()
                        + " still chains to the old root (expected: run --phase reissue first)");
            }
            Map<String, String> next = with(files, CertificateAuthority.ROOT_CERT, Pem.encodeCertificate(newRoot));
            // cert-chain.pem ends at the signing root, which stays.
            return checked(next);
        }

        static String describe(Map<String, String> files) {
            CertificateAuthority ca = CertificateAuthority.fromCacerts(files);
            return "signs as " + ca.certificate().getSubjectX500Principal().getName() + " under "
                    + shortFp(CaSource.fingerprint(ca.root())) + ", trusts "
                    + String.join(",", CaSource.fingerprints(ca.trustedRoots()).stream().map(TrustCommand::shortFp).toList());
        }

        private static CertificateAuthority load(Map<String, String> files, String which) {
            try {
                return CertificateAuthority.fromCacerts(files);
            } catch (InvalidCacertsException e) {
                throw new CommandException("the " + which + " cacerts Secret does not load: " + e.getMessage());
            }
        }

        private static Map<String, String> checked(Map<String, String> files) {
            load(files, "new");
            return files;
        }

        private static Map<String, String> with(Map<String, String> files, String key, String value) {
            Map<String, String> copy = new LinkedHashMap<>(files);
            copy.put(key, value);
            return copy;
        }
    }
}
