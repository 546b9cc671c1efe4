package io.isthmus.topologies.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.vertx.Protocol;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;

/**
 * One simulated cluster's Kubernetes API: fabric8's mock server in CRUD mode over HTTPS, with
 * Istio's custom resources registered and static discovery documents so that both the fabric8
 * client (typed, generic, watches, informers) and kubectl ({@code get, create, replace
 * --validate=false, delete}) work against it.
 *
 * <p>Limits inherited from the mock: no server-side apply or strategic-merge patch, no
 * {@code notin} selectors, tokens are not checked, no clusterIP assignment. Thread-safe; close
 * it to stop the server and its Vert.x threads.
 */
public final class EmbeddedApiServer implements AutoCloseable {

    /** The token written into kubeconfigs; the mock does not check it, real clusters would. */
    public static final String TOKEN = "isthmus-local-admin";

    /** Core, discovery and Istio resource types this server stores and advertises. */
    /** The group of the Kubernetes multi-cluster services API (KEP-1645). */
    public static final String MCS_GROUP = "multicluster.x-k8s.io";
    public static final List<ApiResource> RESOURCES = resources();

    // The mock logs every request at INFO through java.util.logging; a demo would drown in it.
    // Held in a field because java.util.logging keeps loggers only weakly.
    private static final java.util.logging.Logger MOCK_LOG = quiet("io.fabric8.mockwebserver");

    private final KubernetesMockServer server;
    private final InetSocketAddress address;
    private final String clusterName;

    private EmbeddedApiServer(KubernetesMockServer server, InetSocketAddress address, String clusterName) {
        this.server = server;
        this.address = address;
        this.clusterName = clusterName;
    }

    /**
     * Starts a server on the given address (port 0 for any) and returns once it accepts
     * connections.
     *
     * @throws IllegalStateException naming the address if it cannot be bound
     */
    public static EmbeddedApiServer start(String clusterName, InetSocketAddress bind) {
        requireNonNull(clusterName, "clusterName");
        requireNonNull(bind, "bind");
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        List<CustomResourceDefinitionContext> crds = new ArrayList<>();
        for (ApiResource r : RESOURCES) {
            // Istio's kinds and the multi-cluster services API are custom resources to the mock.
            if (r.isCustom() || r.group().equals(MCS_GROUP)) {
                crds.add(new CustomResourceDefinitionContext.Builder()
                        .withGroup(r.group()).withVersion(r.version()).withKind(r.kind()).withPlural(r.plural())
                        .withScope(r.namespaced() ? "Namespaced" : "Cluster")
                        .withName(r.plural() + '.' + r.group())
                        .build());
            }
        }
        KubernetesMixedDispatcher crud = new KubernetesMixedDispatcher(expectations, crds);
        MockWebServer web = new MockWebServer();
        // HTTP/1.1 only: informers watch over WebSocket upgrades, which HTTP/2 over ALPN would prevent.
        web.setProtocols(List.of(Protocol.HTTP_1_1));
        String advertised = bind.getAddress().getHostAddress() + ':' + bind.getPort();
        DiscoveryDispatcher dispatcher = new DiscoveryDispatcher(new DiscoveryDocuments(RESOURCES, advertised), crud);
        KubernetesMockServer server = new KubernetesMockServer(
                new Context(Serialization.jsonMapper()), web, expectations, dispatcher, true);
        try {
            server.init(bind.getAddress(), bind.getPort());
        } catch (RuntimeException e) {
            try {
                server.destroy();
            } catch (RuntimeException ignored) {
                // the start failed; what matters is the cause below
            }
            throw new IllegalStateException("cluster " + clusterName + ": cannot start the API server on "
                    + bind.getAddress().getHostAddress() + ':' + bind.getPort() + ": " + e.getMessage(), e);
        }
        InetSocketAddress actual = new InetSocketAddress(bind.getAddress(), server.getPort());
        return new EmbeddedApiServer(server, actual, clusterName);
    }

    /** Starts a server on {@code host:port}. */
    public static EmbeddedApiServer start(String clusterName, String host, int port) {
        try {
            return start(clusterName, new InetSocketAddress(InetAddress.getByName(host), port));
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException("host: '" + host + "' (expected: an IP address)", e);
        }
    }

    public String clusterName() {
        return clusterName;
    }

    public InetSocketAddress address() {
        return address;
    }

    /** {@code https://<address>:<port>}. */
    public String url() {
        return "https://" + address.getAddress().getHostAddress() + ':' + address.getPort();
    }

    /**
     * The kubeconfig for this server: one cluster, user and context named after the cluster,
     * TLS verification skipped (the mock's certificate is self-signed for localhost), a token.
     */
    public String kubeconfig() {
        String n = clusterName;
        return """
                apiVersion: v1
                kind: Config
                clusters:
                - name: %1$s
                  cluster:
                    server: %2$s
                    insecure-skip-tls-verify: true
                users:
                - name: %1$s-admin
                  user:
                    token: %3$s
                contexts:
                - name: %1$s
                  context:
                    cluster: %1$s
                    user: %1$s-admin
                    namespace: default
                current-context: %1$s
                """.formatted(n, url(), TOKEN);
    }

    /** Writes {@link #kubeconfig()} to the file (creating its directory) and returns the file. */
    public Path writeKubeconfig(Path file) {
        try {
            if (file.getParent() != null) {
                Files.createDirectories(file.getParent());
            }
            Files.writeString(file, kubeconfig());
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write kubeconfig " + file, e);
        }
    }

    /** A new fabric8 client configured exactly as a process reading {@link #kubeconfig()} would be. The caller closes it. */
    public KubernetesClient newClient() {
        Config config = Config.fromKubeconfig(kubeconfig());
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    @Override
    public void close() {
        server.destroy();
    }

    private static java.util.logging.Logger quiet(String name) {
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger(name);
        logger.setLevel(java.util.logging.Level.WARNING);
        return logger;
    }

    private static List<ApiResource> resources() {
        List<ApiResource> r = new ArrayList<>();
        r.add(new ApiResource("", "v1", "Namespace", "namespaces", false, List.of("ns")));
        r.add(new ApiResource("", "v1", "Node", "nodes", false, List.of("no")));
        r.add(new ApiResource("", "v1", "Pod", "pods", true, List.of("po")));
        r.add(new ApiResource("", "v1", "Service", "services", true, List.of("svc")));
        r.add(new ApiResource("", "v1", "ServiceAccount", "serviceaccounts", true, List.of("sa")));
        r.add(new ApiResource("", "v1", "Secret", "secrets", true, List.of()));
        r.add(new ApiResource("", "v1", "ConfigMap", "configmaps", true, List.of("cm")));
        r.add(new ApiResource("", "v1", "Endpoints", "endpoints", true, List.of("ep")));
        r.add(new ApiResource("", "v1", "Event", "events", true, List.of("ev")));
        r.add(new ApiResource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, List.of()));
        for (String v : List.of("v1", "v1beta1", "v1alpha3")) {
            String g = "networking.istio.io";
            r.add(new ApiResource(g, v, "VirtualService", "virtualservices", true, List.of("vs")));
            r.add(new ApiResource(g, v, "DestinationRule", "destinationrules", true, List.of("dr")));
            r.add(new ApiResource(g, v, "Gateway", "gateways", true, List.of("gw")));
            r.add(new ApiResource(g, v, "ServiceEntry", "serviceentries", true, List.of("se")));
            r.add(new ApiResource(g, v, "WorkloadEntry", "workloadentries", true, List.of("we")));
            r.add(new ApiResource(g, v, "WorkloadGroup", "workloadgroups", true, List.of("wg")));
            r.add(new ApiResource(g, v, "Sidecar", "sidecars", true, List.of()));
        }
        // The Kubernetes multi-cluster services API (KEP-1645), so `meshctl apply` can export a Service.
        // (Not in meshctl's install manifests: on a real cluster the MCS implementation installs these CRDs.)
        r.add(new ApiResource(MCS_GROUP, "v1alpha1", "ServiceExport", "serviceexports", true, List.of("svcex")));
        r.add(new ApiResource(MCS_GROUP, "v1alpha1", "ServiceImport", "serviceimports", true, List.of("svcim")));
        for (String v : List.of("v1", "v1beta1")) {
            String g = "security.istio.io";
            r.add(new ApiResource(g, v, "PeerAuthentication", "peerauthentications", true, List.of("pa")));
            r.add(new ApiResource(g, v, "AuthorizationPolicy", "authorizationpolicies", true, List.of("ap")));
            r.add(new ApiResource(g, v, "RequestAuthentication", "requestauthentications", true, List.of("ra")));
        }
        // Isthmus' own kind (docs/reference/ratelimit.md).
        r.add(new ApiResource("policy.isthmus.io", "v1alpha1", "RateLimitPolicy", "ratelimitpolicies", true,
                List.of("rlp")));
        return List.copyOf(r);
    }
}
