package io.isthmus.meshctl;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code meshctl create-remote-secret}: prints the Secret another cluster's controller needs to read
 * this cluster's API server, in Istio's format (see {@link RemoteSecret}).
 */
@Command(name = "create-remote-secret", mixinStandardHelpOptions = true,
        description = {"Print a remote secret (Istio's format) that lets other clusters' controllers read this cluster's API server.",
                "",
                "The token is read from the service account's token Secret in the cluster. With --create-service-account,",
                "the service account, a read-only ClusterRole (services, endpoints, endpointslices, pods, nodes, namespaces,",
                "Istio's networking/security/telemetry resources: get/list/watch), its binding and a token Secret are",
                "created first. An API server that does not issue tokens (like the embedded ones of './isthmus demo')",
                "leaves the token empty: then pass --token."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl create-remote-secret --name east --context east --token <jwt> \\",
                "      | kubectl --kubeconfig .isthmus/run/demo/west/kubeconfig create --validate=false -f -",
                "  meshctl create-remote-secret --name cluster2 --kubeconfig ~/.kube/config --context kind-cluster2 \\",
                "      --server https://172.18.0.3:6443 --create-service-account | kubectl apply -f -"})
final class CreateRemoteSecretCommand implements Callable<Integer> {

    static final String DEFAULT_SERVICE_ACCOUNT = "istio-reader-service-account";
    static final String TOKEN_SECRET_SUFFIX = "-istio-remote-secret-token";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--name", required = true, paramLabel = "<cluster>", description = "The cluster's name in the mesh.")
    String name;

    @Mixin
    KubeTarget kube;

    @Option(names = "--server", paramLabel = "<url>",
            description = "API server URL to put in the secret (default: the kubeconfig's). Must be reachable from the other clusters.")
    String server;

    @Option(names = "--service-account", paramLabel = "<sa>", defaultValue = DEFAULT_SERVICE_ACCOUNT,
            description = "Service account whose token goes into the secret (default: ${DEFAULT-VALUE}).")
    String serviceAccount;

    @Option(names = {"-n", "--namespace"}, paramLabel = "<ns>", defaultValue = "istio-system",
            description = "Namespace of the service account and of the secret (default: ${DEFAULT-VALUE}).")
    String namespace;

    @Option(names = "--create-service-account",
            description = "Create the service account, its read-only ClusterRole and binding, and its token Secret.")
    boolean createServiceAccount;

    @Option(names = "--token", paramLabel = "<token>",
            description = "Use this bearer token instead of reading the service account's token Secret.")
    String token;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        KubeTarget.Target target = kube.resolve();
        Config config = target.config();
        String url = server != null ? server : stripSlash(config.getMasterUrl());
        URI uri;
        try {
            uri = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw CommandException.usage("--server: '" + url + "' (expected: a URL, e.g. https://10.0.0.1:6443)");
        }
        if (uri.getScheme() == null || uri.getHost() == null) {
            throw CommandException.usage("--server: '" + url + "' (expected: a URL, e.g. https://10.0.0.1:6443)");
        }
        Optional<String> ca = caData(config, target.source());
        String bearer = token;
        if (createServiceAccount || bearer == null) {
            try (KubernetesClient client = KubeTarget.client(config)) {
                if (createServiceAccount) {
                    createReader(client);
                }
                if (bearer == null) {
                    bearer = readToken(client);
                }
            } catch (KubernetesClientException e) {
                throw new CommandException("cluster " + name + " (" + target.source() + "): " + firstLine(e.getMessage()));
            }
        }
        if (isLoopback(uri.getHost())) {
            err.println("meshctl: warning: the server address " + url + " is a loopback address: only controllers on "
                    + "this machine can reach it (pass --server <url> with an address the other clusters can reach)");
            err.flush();
        }
        RemoteSecret secret = new RemoteSecret(name, namespace, url, ca, ca.isEmpty() && config.isTrustCerts(),
                bearer.strip());
        out.print(secret.render());
        out.flush();
        return Meshctl.OK;
    }

    private String readToken(KubernetesClient client) {
        String where = "cluster " + name + ": ";
        ServiceAccount sa = client.serviceAccounts().inNamespace(namespace).withName(serviceAccount).get();
        if (sa == null) {
            throw new CommandException(where + "service account " + namespace + "/" + serviceAccount + " not found "
                    + "(pass --create-service-account to create it, or --service-account <sa>)");
        }
        List<String> candidates = new ArrayList<>();
        candidates.add(serviceAccount + TOKEN_SECRET_SUFFIX);
        if (sa.getSecrets() != null) {
            sa.getSecrets().forEach(ref -> candidates.add(ref.getName()));
        }
        for (String secretName : candidates) {
            Secret s = client.secrets().inNamespace(namespace).withName(secretName).get();
            if (s == null || !"kubernetes.io/service-account-token".equals(s.getType())) {
                continue;
            }
            String encoded = s.getData() == null ? null : s.getData().get("token");
            String value = encoded == null ? "" : new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
            if (value.isBlank() && s.getStringData() != null) {
                value = s.getStringData().getOrDefault("token", "");
            }
            if (value.isBlank()) {
                throw new CommandException(where + "the token Secret " + namespace + "/" + secretName + " has no token: "
                        + "this API server did not fill it in (the embedded ones never do); pass --token <value>");
            }
            return value;
        }
        throw new CommandException(where + "no token Secret for service account " + namespace + "/" + serviceAccount
                + " (looked for " + candidates + "; pass --create-service-account, or --token <value>)");
    }

    private void createReader(KubernetesClient client) {
        String role = "istio-reader-clusterrole-" + namespace;
        ResourceApplier.upsert(client, new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build(),
                true);
        ResourceApplier.upsert(client, new ServiceAccountBuilder().withNewMetadata().withName(serviceAccount)
                .withNamespace(namespace).endMetadata().build(), false);
        ResourceApplier.upsert(client, new ClusterRoleBuilder().withNewMetadata().withName(role)
                .withLabels(Map.of("app", "istio-reader")).endMetadata().withRules(readerRules()).build(), false);
        ResourceApplier.upsert(client, new ClusterRoleBindingBuilder().withNewMetadata().withName(role)
                .withLabels(Map.of("app", "istio-reader")).endMetadata()
                .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole").withName(role).endRoleRef()
                .addNewSubject().withKind("ServiceAccount").withName(serviceAccount).withNamespace(namespace).endSubject()
                .build(), false);
        String secretName = serviceAccount + TOKEN_SECRET_SUFFIX;
        if (client.secrets().inNamespace(namespace).withName(secretName).get() == null) {
            HasMetadata tokenSecret = new SecretBuilder().withNewMetadata().withName(secretName).withNamespace(namespace)
                    .withAnnotations(Map.of("kubernetes.io/service-account.name", serviceAccount)).endMetadata()
                    .withType("kubernetes.io/service-account-token").build();
            client.resource(tokenSecret).create();
        }
    }

    /** Read-only access to what discovery and config ingestion watch. */
    static List<PolicyRule> readerRules() {
        List<String> read = List.of("get", "list", "watch");
        return List.of(
                new PolicyRuleBuilder().withApiGroups("").withResources("services", "endpoints", "pods", "nodes",
                        "namespaces", "secrets", "configmaps", "serviceaccounts").withVerbs(read).build(),
                new PolicyRuleBuilder().withApiGroups("discovery.k8s.io").withResources("endpointslices").withVerbs(read).build(),
                new PolicyRuleBuilder().withApiGroups("networking.istio.io", "security.istio.io", "telemetry.istio.io",
                                "policy.isthmus.io")
                        .withResources("*").withVerbs(read).build());
    }

    static Optional<String> caData(Config config, Path source) {
        if (config.getCaCertData() != null && !config.getCaCertData().isBlank()) {
            return Optional.of(config.getCaCertData().strip());
        }
        if (config.getCaCertFile() != null && !config.getCaCertFile().isBlank()) {
            Path file = Path.of(config.getCaCertFile());
            try {
                return Optional.of(Base64.getEncoder().encodeToString(Files.readAllBytes(file)));
            } catch (IOException e) {
                throw new CommandException(source + ": certificate-authority " + file + ": cannot read (" + e.getMessage() + ")");
            }
        }
        return Optional.empty();
    }

    static boolean isLoopback(String host) {
        String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        return h.equals("localhost") || h.startsWith("127.") || h.equals("::1");
    }

    private static String stripSlash(String url) {
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "request failed";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
