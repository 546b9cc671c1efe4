package io.isthmus.meshctl;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code meshctl cluster join}: one command for what joining takes, each step undone if a later one fails:
 * the new cluster's intermediate CA under the mesh root (Secret istio-system/cacerts), remote secrets in
 * both directions, and for a primary the Raft membership change through the mesh controller's admin API
 * ({@code POST /federation/members}).
 */
@Command(name = "join", mixinStandardHelpOptions = true,
        description = {"Join a cluster to an existing mesh, undoing every step if one fails.",
                "",
                "1. CA: if the new cluster has no istio-system/cacerts, issues an intermediate for it under the mesh root",
                "   (needs --root-key, the root's private key, and --root-cert, default: the mesh cluster's root-cert.pem);",
                "   if it has one, it must chain to the mesh root, else nothing is changed.",
                "2. Remote secrets (Istio's format) in both directions: istio-remote-secret-<new> in the mesh cluster and",
                "   istio-remote-secret-<mesh> in the new one. The token is --new-token/--mesh-token, else the kubeconfig's.",
                "3. Unless --remote: adds the new cluster's controller to the federation's Raft group",
                "   (POST http://<mesh controller>:15014/federation/members), which returns once it has caught up.",
                "Start the new cluster's controller before the join, with --raft-join and --raft-peers listing it and",
                "every member: it waits for the istio-system/cacerts step 1 writes, then to be added in step 3."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl cluster join --context ap --mesh east --root-key root-key.pem --run-dir .isthmus/run/demo",
                "  meshctl cluster join --kubeconfig ~/.kube/config --context kind-c3 --mesh kind-c1 \\",
                "      --root-cert root-cert.pem --root-key root-key.pem --raft-address 10.0.3.5:15031 \\",
                "      --mesh-admin 10.0.1.5:15014 --new-token <reader jwt> --mesh-token <reader jwt>",
                "  meshctl cluster join --context edge --mesh east --remote"})
final class ClusterJoinCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    KubeTarget kube;

    @Option(names = "--mesh", required = true, paramLabel = "<context>",
            description = "Context (or run-directory cluster) of a primary already in the mesh.")
    String mesh;

    @Option(names = "--root-cert", paramLabel = "<file>",
            description = "The mesh root certificate (default: the mesh cluster's istio-system/cacerts root-cert.pem).")
    Path rootCert;

    @Option(names = "--root-key", paramLabel = "<file>",
            description = "The mesh root's private key (PKCS#8 PEM), to issue the new cluster's intermediate.")
    Path rootKey;

    @Option(names = "--remote", description = "The new cluster is a remote (no controller of its own): no Raft change.")
    boolean remote;

    @Option(names = "--raft-address", paramLabel = "<host:port>",
            description = "The new controller's Raft address (default: the new API server's host, port 15031).")
    String raftAddress;

    @Option(names = "--mesh-admin", paramLabel = "<host:port>",
            description = "The mesh controller's admin address (default: from the run directory, else the mesh API "
                    + "server's host, port 15014).")
    String meshAdmin;

    @Option(names = "--new-token", paramLabel = "<token>", description = "Bearer token for the new cluster's remote secret.")
    String newToken;

    @Option(names = "--mesh-token", paramLabel = "<token>", description = "Bearer token for the mesh cluster's remote secret.")
    String meshToken;

    @Option(names = "--timeout", paramLabel = "<seconds>", defaultValue = "30",
            description = "Timeout for each API request and for the Raft membership change (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    /** One undoable change, in the order made. */
    private record Change(String description, Runnable undo) {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (kube.context == null) {
            throw CommandException.usage("--context: missing (expected: the cluster to join)");
        }
        KubeTarget.Target joining = kube.resolve();
        KubeTarget.Target existing = kube.withContext(mesh).resolve();
        String newName = joining.cluster();
        String meshName = existing.cluster();
        if (newName.equals(meshName)) {
            throw CommandException.usage("--context and --mesh name the same cluster '" + newName + "'");
        }
        Duration timeout = Duration.ofSeconds(Math.max(1, timeoutSeconds));
        String admin = remote ? null : adminAddress(existing);
        String raft = remote ? null : raftAddress != null ? raftAddress : host(joining.config()) + ":" + InstallManifests.RAFT_PORT;
        Optional<String> rootKeyPem = Optional.empty();
        if (rootKey != null) {
            rootKeyPem = Optional.of(readFile(rootKey, "--root-key"));
        }
        Deque<Change> done = new ArrayDeque<>();
        String where = "cluster join " + newName + " (mesh " + meshName + ")";
        try (KubernetesClient newClient = InventoryCollector.client(joining.config(), timeout);
                KubernetesClient meshClient = InventoryCollector.client(existing.config(), timeout)) {
            // Everything is read and checked before the first change.
            Secret meshCacerts = get(meshClient, meshName, "istio-system", "cacerts");
            if (meshCacerts == null) {
                throw new CommandException(where + ": " + meshName + " has no Secret istio-system/cacerts: there is no mesh "
                        + "root to join (is --mesh a primary of the mesh?)");
            }
            List<X509Certificate> meshRoots = PrecheckCommand.roots(InventoryCollector.files(meshCacerts))
                    .orElseThrow(() -> new CommandException(where + ": " + meshName
                            + "'s istio-system/cacerts has no parsable root-cert.pem"));
            X509Certificate root = rootCert != null ? parseCert(readFile(rootCert, "--root-cert"), "--root-cert")
                    : meshRoots.get(0);
            if (!meshRoots.contains(root)) {
                throw CommandException.usage("--root-cert " + rootCert + ": " + root.getSubjectX500Principal().getName()
                        + " is not a root of the mesh " + meshName + " belongs to");
            }
            Secret newCacerts = get(newClient, newName, "istio-system", "cacerts");
            CertificateAuthority intermediate = null;
            if (newCacerts != null) {
                Map<String, String> files = InventoryCollector.files(newCacerts);
                List<X509Certificate> own = PrecheckCommand.roots(files).orElse(List.of());
                boolean chains = own.contains(root) && files.get("ca-cert.pem") != null
                        && MeshAnalyzer.signedBy(parseCert(files.get("ca-cert.pem"), newName + " ca-cert.pem"), root);
                if (!chains) {
                    throw new CommandException(where + ": " + newName + " already has istio-system/cacerts under another "
                            + "root (" + (own.isEmpty() ? "unparsable" : own.get(0).getSubjectX500Principal().getName())
                            + "; the mesh root is " + root.getSubjectX500Principal().getName() + "): delete it so the "
                            + "join issues an intermediate under the mesh root; nothing was changed");
                }
            } else {
                if (rootKeyPem.isEmpty()) {
                    throw CommandException.usage("--root-key: missing: " + newName + " has no istio-system/cacerts, and "
                            + "issuing its intermediate needs the mesh root's private key (nothing was changed)");
                }
                String rootPem = Pem.encodeCertificate(root);
                try {
                    CertificateAuthority rootCa = CertificateAuthority.fromCacerts(Map.of(
                            CertificateAuthority.CA_CERT, rootPem, CertificateAuthority.CA_KEY, rootKeyPem.get(),
                            CertificateAuthority.ROOT_CERT, rootPem, CertificateAuthority.CERT_CHAIN, rootPem));
                    intermediate = rootCa.createIntermediate(newName, Duration.ofDays(365));
                } catch (RuntimeException e) {
                    throw CommandException.usage("--root-key " + rootKey + ": cannot sign with it ("
                            + MeshAnalyzer.firstLine(e.getMessage()) + "; expected: the private key of "
                            + root.getSubjectX500Principal().getName() + "); nothing was changed");
                }
            }
            RemoteSecret newSecret = secretFor(joining, newName, newToken, "--new-token", err);
            RemoteSecret meshSecret = secretFor(existing, meshName, meshToken, "--mesh-token", err);

            try {
                if (intermediate != null) {
                    ensureNamespace(newClient, done);
                    Map<String, String> files = new LinkedHashMap<>(intermediate.toCacerts());
                    create(newClient, new SecretBuilder().withNewMetadata().withName("cacerts")
                            .withNamespace("istio-system").endMetadata().withType("Opaque").withStringData(files).build(),
                            newName, done);
                    out.println("cluster " + newName + ": intermediate CA issued under "
                            + root.getSubjectX500Principal().getName() + " (Secret istio-system/cacerts)");
                } else {
                    out.println("cluster " + newName + ": keeps its intermediate CA (chains to the mesh root)");
                }
                put(meshClient, meshName, newSecret, done);
                out.println("cluster " + meshName + ": remote secret istio-system/" + newSecret.secretName() + " applied");
                ensureNamespace(newClient, done);
                put(newClient, newName, meshSecret, done);
                out.println("cluster " + newName + ": remote secret istio-system/" + meshSecret.secretName() + " applied");
                if (!remote) {
                    awaitListening(newName, raft, timeout);
                    addMember(admin, newName, raft, timeout, AdminCredentials.resolve(null,
                            kube.runDir != null ? kube.runDir : RunDir.defaultPath()), done);
                    out.println("federation: " + newName + " (" + raft + ") added through " + admin);
                }
                out.flush();
            } catch (RuntimeException e) {
                String reason = e instanceof KubernetesClientException k ? InventoryCollector.reason(k)
                        : MeshAnalyzer.firstLine(e.getMessage());
                List<String> undone = rollback(done, err);
                throw new CommandException(where + ": " + reason + "; rolled back: "
                        + (undone.isEmpty() ? "nothing had changed" : String.join(", ", undone)));
            }
        }
        out.println("joined " + newName + " to the mesh of " + meshName + (remote ? " as a remote" : "")
                + (remote ? "" : "; its controller is a member of the federation's Raft group"));
        out.flush();
        return Meshctl.OK;
    }

    private static List<String> rollback(Deque<Change> done, PrintWriter err) {
        List<String> undone = new ArrayList<>();
        while (!done.isEmpty()) {
            Change c = done.pop();
            try {
                c.undo().run();
                undone.add(c.description());
            } catch (RuntimeException e) {
                err.println("meshctl: warning: could not undo " + c.description() + ": "
                        + MeshAnalyzer.firstLine(e.getMessage()) + " (undo it by hand)");
            }
        }
        err.flush();
        return undone;
    }

    private void ensureNamespace(KubernetesClient client, Deque<Change> done) {
        if (client.namespaces().withName("istio-system").get() == null) {
            client.resource(new NamespaceBuilder().withNewMetadata().withName("istio-system").endMetadata().build()).create();
            done.push(new Change("namespace istio-system created",
                    () -> client.namespaces().withName("istio-system").delete()));
        }
    }

    private static void create(KubernetesClient client, Secret secret, String cluster, Deque<Change> done) {
        client.resource(secret).create();
        done.push(new Change("Secret istio-system/" + secret.getMetadata().getName() + " in " + cluster + " created",
                () -> client.secrets().inNamespace("istio-system").withName(secret.getMetadata().getName()).delete()));
    }

    /** Creates the remote secret, or replaces an existing one (restored on rollback). */
    private static void put(KubernetesClient client, String cluster, RemoteSecret remote, Deque<Change> done) {
        List<HasMetadata> parsed = client.load(new ByteArrayInputStream(remote.render().getBytes(StandardCharsets.UTF_8)))
                .items();
        Secret secret = (Secret) parsed.get(0);
        Secret previous = client.secrets().inNamespace(remote.namespace()).withName(remote.secretName()).get();
        if (previous == null) {
            create(client, secret, cluster, done);
            return;
        }
        secret.getMetadata().setResourceVersion(previous.getMetadata().getResourceVersion());
        client.resource(secret).update();
        done.push(new Change("Secret istio-system/" + remote.secretName() + " in " + cluster + " restored", () -> {
            Secret now = client.secrets().inNamespace(remote.namespace()).withName(remote.secretName()).get();
            previous.getMetadata().setResourceVersion(now == null ? null : now.getMetadata().getResourceVersion());
            client.resource(previous).update();
        }));
    }

    /** @param credential for an admin port bound beyond loopback (see {@link AdminCredentials}) */
    private static void addMember(String admin, String id, String address, Duration timeout,
            Optional<String> credential, Deque<Change> done) {
        HttpClient http = HttpClient.newBuilder().connectTimeout(timeout).build();
        String authorization = credential.map(t -> "Bearer " + t).orElse(null);
        Map<String, String> member = new LinkedHashMap<>();
        member.put("id", id);
        member.put("address", address);
        String body = AdminClient.JSON.writeValueAsString(member);
        HttpRequest.Builder post = HttpRequest.newBuilder(URI.create("http://" + admin + "/federation/members"))
                .timeout(timeout).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (authorization != null) {
            post.header("Authorization", authorization);
        }
        // 503 is "not committed yet" (the new peer still catching up, a leader change): the change is
        // idempotent, so it is asked again until the timeout.
        long deadline = System.nanoTime() + timeout.toNanos();
        HttpResponse<String> response = send(http, post.build(), admin);
        while (response.statusCode() == 503 && System.nanoTime() < deadline) {
            pause(Duration.ofMillis(500));
            response = send(http, post.build(), admin);
        }
        if (response.statusCode() != 200) {
            throw new CommandException("controller " + admin + " refused the Raft membership change: HTTP "
                    + response.statusCode() + " " + errorOf(response.body()));
        }
        done.push(new Change("Raft member " + id + " removed", () -> {
            HttpRequest.Builder delete = HttpRequest.newBuilder(URI.create("http://" + admin + "/federation/members/"
                    + id)).timeout(timeout).DELETE();
            if (authorization != null) {
                delete.header("Authorization", authorization);
            }
            HttpResponse<String> r = send(http, delete.build(), admin);
            if (r.statusCode() != 200) {
                throw new CommandException("HTTP " + r.statusCode() + " " + errorOf(r.body()));
            }
        }));
    }

    /**
     * The new controller opens its Raft port once it has loaded the cacerts this join wrote; until
     * then the group could not reach it, and the membership change would fail.
     */
    private static void awaitListening(String cluster, String raft, Duration timeout) {
        URI address = URI.create("tcp://" + raft);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try (java.net.Socket socket = new java.net.Socket()) {
                socket.connect(new java.net.InetSocketAddress(address.getHost(), address.getPort()), 1000);
                return;
            } catch (IOException e) {
                if (System.nanoTime() >= deadline) {
                    throw new CommandException("the controller of " + cluster + " does not listen on its Raft address "
                            + raft + " after " + timeout.toSeconds() + " s (" + e.getMessage() + "): start it before the"
                            + " join with --raft-join, or pass --raft-address");
                }
                pause(Duration.ofMillis(200));
            }
        }
    }

    private static void pause(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommandException("interrupted");
        }
    }

    private static HttpResponse<String> send(HttpClient http, HttpRequest request, String admin) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new CommandException("controller admin " + admin + " unreachable (" + e.getMessage() + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommandException("interrupted");
        }
    }

    private static String errorOf(String body) {
        try {
            return AdminClient.JSON.readTree(body).path("error").asString(body.strip());
        } catch (RuntimeException e) {
            return MeshAnalyzer.firstLine(body.strip());
        }
    }

    private RemoteSecret secretFor(KubeTarget.Target target, String name, String token, String flag, PrintWriter err) {
        Config c = target.config();
        String bearer = token;
        if (bearer == null) {
            bearer = c.getOauthToken() != null && !c.getOauthToken().isBlank() ? c.getOauthToken() : c.getAutoOAuthToken();
            if (bearer == null || bearer.isBlank()) {
                throw CommandException.usage(flag + ": missing: the kubeconfig of " + name + " holds no token to put in "
                        + "its remote secret (pass a reader service-account token)");
            }
            err.println("meshctl: warning: the remote secret of " + name + " carries the kubeconfig's own token; pass "
                    + flag + " with a read-only service-account token for least privilege");
        }
        String server = c.getMasterUrl().replaceAll("/+$", "");
        Optional<String> ca = CreateRemoteSecretCommand.caData(c, target.source());
        return new RemoteSecret(name, "istio-system", server, ca, ca.isEmpty() && c.isTrustCerts(), bearer.strip());
    }

    private String adminAddress(KubeTarget.Target existing) {
        if (meshAdmin != null) {
            return meshAdmin;
        }
        if (kube.kubeconfig == null) {
            Path dir = kube.runDir != null ? kube.runDir : RunDir.defaultPath();
            if (java.nio.file.Files.isDirectory(dir)) {
                Optional<String> fromRun = RunDir.open(dir).cluster(mesh).flatMap(RunDir.ClusterRef::controllerAdmin);
                if (fromRun.isPresent()) {
                    return fromRun.get();
                }
            }
        }
        return host(existing.config()) + ":" + InstallManifests.ADMIN_PORT;
    }

    private static String host(Config config) {
        return URI.create(config.getMasterUrl()).getHost();
    }

    private static Secret get(KubernetesClient client, String cluster, String namespace, String name) {
        try {
            return client.secrets().inNamespace(namespace).withName(name).get();
        } catch (KubernetesClientException e) {
            throw new CommandException("cluster " + cluster + ": " + InventoryCollector.reason(e) + "; nothing was changed");
        }
    }

    private static String readFile(Path file, String flag) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw CommandException.usage(flag + " " + file + ": cannot read (" + e.getMessage() + ")");
        }
    }

    private static X509Certificate parseCert(String pem, String what) {
        try {
            return Pem.decodeCertificates(pem).get(0);
        } catch (RuntimeException e) {
            throw CommandException.usage(what + ": not a PEM certificate (" + MeshAnalyzer.firstLine(e.getMessage()) + ")");
        }
    }
}
