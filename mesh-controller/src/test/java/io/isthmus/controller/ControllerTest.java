package io.isthmus.controller;

import io.isthmus.controller.xds.AdsClient;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.isthmus.discovery.Locality;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.ServiceAccountIssuer;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole controller in this JVM against a CRUD-mode mock Kubernetes API server: cacerts and the
 * issuer loaded from it, discovery → a one-peer federation → xDS over mutual TLS, and the admin
 * endpoints.
 */
class ControllerTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String TRUST_DOMAIN = "cluster.local";

    @TempDir
    Path dir;

    private KubernetesMockServer server;
    private KubernetesClient client;
    private Controller controller;
    private final HttpClient http = HttpClient.newHttpClient();
    private CertificateAuthority root;
    private CertificateAuthority intermediate;

    @BeforeEach
    void startApiServer() throws IOException {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
        root = CertificateAuthority.createRoot("Isthmus test", Duration.ofDays(10));
        intermediate = root.createIntermediate("east", Duration.ofDays(5));
    }

    @AfterEach
    void stop() {
        if (controller != null) {
            controller.close();
        }
        client.close();
        server.destroy();
    }

    @Test
    void becomesReadyAndServesXdsOverMutualTlsToTheMatchingIdentity() throws Exception {
        writeCacerts(intermediate.toCacerts());
        writeIssuer();
        writeWorkloads();

        controller = Controller.start(options(freePort()));

        String admin = "http://127.0.0.1:" + controller.adminAddress().getPort();
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(get(admin + "/ready").statusCode()).isEqualTo(200));
        HttpResponse<String> federation = get(admin + "/debug/federation");
        assertThat(federation.body()).contains("\"name\" : \"east\"", "\"endpoints\" : 1", "\"leaderId\" : \"east\"",
                "\"controllerAddress\" : \"127.0.0.1:" + controller.secureXdsAddress().getPort() + "\"");
        // Ready means the federation applied east's state; xDS translates it after the debounce.
        // A proxy connecting before that flush would get the previous state's clusters.
        long applied = jsonNumber(federation.body(), "appliedIndex");
        await().atMost(TIMEOUT).untilAsserted(() -> assertThat(jsonNumber(get(admin + "/debug/federation").body(),
                "xdsPushedIndex")).as("xDS pushed index").isGreaterThanOrEqualTo(applied));

        // The helloworld sidecar, with its own identity, gets its config over TLS.
        WorkloadCertificate helloworld = intermediate.issue(SpiffeId.of(TRUST_DOMAIN, "sample", "helloworld"),
                List.of(), Duration.ofHours(1));
        ManagedChannel channel = tlsChannel(helloworld);
        try {
            AdsClient stream = new AdsClient(channel);
            stream.subscribeClusters(node("helloworld"));
            DiscoveryResponse cds = stream.responses.poll(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            assertThat(cds).isNotNull();
            assertThat(cds.getResourcesList()).extracting(ControllerTest::clusterName)
                    .contains("outbound|5000||helloworld.sample.svc.cluster.local", "inbound|5000||");

            String proxyId = node("helloworld").getId();
            await().atMost(TIMEOUT).untilAsserted(() -> assertThat(get(admin + "/debug/syncz").body())
                    .contains(proxyId, "\"CDS\""));
            HttpResponse<String> dump = get(admin + "/debug/config_dump?proxyID="
                    + java.net.URLEncoder.encode(proxyId, StandardCharsets.UTF_8));
            assertThat(dump.statusCode()).isEqualTo(200);
            assertThat(dump.body()).contains("\"resources\"", "outbound|5000||helloworld.sample.svc.cluster.local");
            assertThat(get(admin + "/metrics").body()).contains("isthmus_xds_pushes_total");

            // Istio configuration: accepted objects reach the proxy through the federation;
            // an invalid one is rejected, counted and shown, and the rest still applies.
            createIstio("DestinationRule", "destinationrules", """
                    apiVersion: networking.istio.io/v1
                    kind: DestinationRule
                    metadata: {name: helloworld, namespace: sample}
                    spec:
                      host: helloworld
                      subsets: [{name: v1, labels: {version: v1}}]
                    """);
            createIstio("VirtualService", "virtualservices", """
                    apiVersion: networking.istio.io/v1
                    kind: VirtualService
                    metadata: {name: helloworld, namespace: sample}
                    spec:
                      hosts: [helloworld]
                      http: [{route: [{destination: {host: helloworld, subset: v1}}]}]
                    """);
            createIstio("VirtualService", "virtualservices", """
                    apiVersion: networking.istio.io/v1
                    kind: VirtualService
                    metadata: {name: broken, namespace: sample}
                    spec:
                      hosts: [other]
                      http:
                      - route:
                        - {destination: {host: other, subset: a}, weight: 60}
                        - {destination: {host: other, subset: b}, weight: 30}
                    """);
            await().atMost(TIMEOUT).untilAsserted(() -> assertThat(get(admin + "/debug/config_dump?proxyID="
                    + java.net.URLEncoder.encode(proxyId, StandardCharsets.UTF_8)).body())
                    .contains("outbound|5000|v1|helloworld.sample.svc.cluster.local"));
            String config = get(admin + "/debug/config").body();
            assertThat(config).contains("\"name\" : \"helloworld\"", "\"name\" : \"broken\"",
                    "VirtualService sample/broken: spec.http[0].route: weights sum to 90 (expected: 100");
            assertThat(get(admin + "/metrics").body())
                    .containsPattern("isthmus_config_rejected_total\\{kind=\"VirtualService\"[^}]*} 1.0");
            stream.close();
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }

        // The same certificate may not ask for another service account's config.
        ManagedChannel impostor = tlsChannel(helloworld);
        try {
            AdsClient stream = new AdsClient(impostor);
            stream.subscribeClusters(node("curl"));
            Status status = Status.fromThrowable(stream.closed.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
            assertThat(status.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
            assertThat(status.getDescription()).contains("spiffe://cluster.local/ns/sample/sa/helloworld");
        } finally {
            impostor.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }

        // Without a client certificate, ADS on the TLS port is refused.
        ManagedChannel anonymous = tlsChannel(null);
        try {
            AdsClient stream = new AdsClient(anonymous);
            stream.subscribeClusters(node("helloworld"));
            Status status = Status.fromThrowable(stream.closed.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
            assertThat(status.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        } finally {
            anonymous.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }

        assertThat(client.configMaps().inNamespace("sample").withName("istio-ca-root-cert").get().getData())
                .containsKey("root-cert.pem");
    }

    @Test
    void refusesToStartWithBadCacertsNamingTheFile() throws Exception {
        Map<String, String> cacerts = new HashMap<>(intermediate.toCacerts());
        cacerts.put("ca-key.pem", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
        writeCacerts(cacerts);
        writeIssuer();

        assertThatThrownBy(() -> controller = Controller.start(options(freePort())))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("ca-key.pem");
    }

    @Test
    void refusesToStartWhenAPortIsTakenNamingTheAddress() throws Exception {
        writeCacerts(intermediate.toCacerts());
        writeIssuer();
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            ControllerOptions base = options(freePort());
            ControllerOptions clash = new ControllerOptions(base.cluster(), base.network(), base.locality(),
                    base.kubeconfig(), base.bind(), base.xdsPort(), base.securePort(), taken.getLocalPort(),
                    base.raftId(), base.raftPort(), base.raftPeers(), base.dataDir(), base.trustDomain(),
                    base.domainSuffix(), base.debounceQuiet(), base.debounceMax());

            assertThatThrownBy(() -> controller = Controller.start(clash))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("127.0.0.1:" + taken.getLocalPort());
        }
    }

    private void createIstio(String kind, String plural, String yaml) {
        io.fabric8.kubernetes.api.model.GenericKubernetesResource object = client.getKubernetesSerialization()
                .unmarshal(yaml, io.fabric8.kubernetes.api.model.GenericKubernetesResource.class);
        client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                        .withGroup("networking.istio.io").withVersion("v1").withKind(kind).withPlural(plural)
                        .withNamespaced(true).build())
                .inNamespace("sample").resource(object).create();
    }

    private ControllerOptions options(int raftPort) throws IOException {
        Path kubeconfig = dir.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster:
                    server: %s
                contexts:
                - name: mock
                  context:
                    cluster: mock
                    user: mock
                current-context: mock
                users:
                - name: mock
                  user:
                    token: test
                """.formatted(client.getConfiguration().getMasterUrl()));
        return new ControllerOptions("east", "net1", new Locality("us-east", "us-east-1a", ""), kubeconfig,
                "127.0.0.1", 0, 0, 0, "east", raftPort,
                Map.of("east", new InetSocketAddress("127.0.0.1", raftPort)), dir.resolve("data"), TRUST_DOMAIN,
                "cluster.local", Duration.ofMillis(20), Duration.ofMillis(200));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            return socket.getLocalPort();
        }
    }

    private ManagedChannel tlsChannel(WorkloadCertificate certificate) {
        InetSocketAddress address = controller.secureXdsAddress();
        return NettyChannelBuilder.forAddress(address)
                .sslContext(MeshTls.grpcClientContext(certificate == null ? null : () -> certificate,
                        () -> TrustBundle.of(TRUST_DOMAIN, List.of(root.root()))))
                .overrideAuthority("istiod.istio-system.svc")
                .build();
    }

    private static Node node(String serviceAccount) {
        return Node.newBuilder()
                .setId("sidecar~127.101.1.1~helloworld-v1-a.sample~sample.svc.cluster.local")
                .setMetadata(Struct.newBuilder()
                        .putFields("CLUSTER_ID", Value.newBuilder().setStringValue("east").build())
                        .putFields("NETWORK", Value.newBuilder().setStringValue("net1").build())
                        .putFields("NAMESPACE", Value.newBuilder().setStringValue("sample").build())
                        .putFields("SERVICE_ACCOUNT", Value.newBuilder().setStringValue(serviceAccount).build())
                        .putFields("NAME", Value.newBuilder().setStringValue("helloworld-v1-a").build()))
                .build();
    }

    /**
     * The integer value of top-level {@code "key" : n} in a pretty-printed JSON document (nested
     * objects such as the Raft status have keys of the same name, indented further).
     */
    private static long jsonNumber(String json, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^  \"" + key + "\" : (-?\\d+)")
                .matcher(json);
        assertThat(m.find()).as("%s in %s", key, json).isTrue();
        return Long.parseLong(m.group(1));
    }

    private static String clusterName(Any any) {
        try {
            return any.unpack(Cluster.class).getName();
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    private HttpResponse<String> get(String url) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private void writeCacerts(Map<String, String> files) {
        client.resource(new NamespaceBuilder().withNewMetadata().withName("istio-system")
                .addToLabels("topology.istio.io/network", "net1").endMetadata().build()).create();
        Map<String, String> data = new HashMap<>();
        files.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        client.resource(new SecretBuilder().withNewMetadata().withNamespace("istio-system").withName("cacerts")
                .endMetadata().withData(data).build()).create();
    }

    private void writeIssuer() {
        ServiceAccountIssuer issuer = ServiceAccountIssuer.create("https://kubernetes.default.svc/east");
        client.resource(new ConfigMapBuilder().withNewMetadata().withNamespace("istio-system")
                .withName("isthmus-sa-issuer").endMetadata()
                .addToData("issuer", issuer.issuer()).addToData("jwks.json", issuer.jwksJson()).build()).create();
    }

    private void writeWorkloads() {
        client.resource(new NamespaceBuilder().withNewMetadata().withName("sample")
                .addToLabels("topology.istio.io/network", "net1").endMetadata().build()).create();
        client.resource(new NodeBuilder().withNewMetadata().withName("east-node-1")
                .addToLabels("topology.kubernetes.io/region", "us-east")
                .addToLabels("topology.kubernetes.io/zone", "us-east-1a").endMetadata().build()).create();
        client.resource(new ServiceBuilder().withNewMetadata().withNamespace("sample").withName("helloworld")
                .addToLabels("app", "helloworld").endMetadata()
                .withNewSpec().addToSelector("app", "helloworld")
                .addNewPort().withName("http").withPort(5000).withNewTargetPort(5000).endPort().endSpec().build())
                .create();
        client.resource(new PodBuilder().withNewMetadata().withNamespace("sample").withName("helloworld-v1-a")
                .addToLabels("app", "helloworld").addToLabels("version", "v1").endMetadata()
                .withNewSpec().withServiceAccountName("helloworld").withNodeName("east-node-1")
                .addNewContainer().withName("app").withImage("echo").endContainer().endSpec()
                .withNewStatus().withPodIP("127.101.1.1").withPhase("Running").endStatus().build()).create();
        client.resource(new EndpointSliceBuilder().withNewMetadata().withNamespace("sample")
                .withName("helloworld-east").addToLabels("kubernetes.io/service-name", "helloworld").endMetadata()
                .withAddressType("IPv4")
                .addNewPort().withName("http").withPort(5000).withProtocol("TCP").endPort()
                .addToEndpoints(new EndpointBuilder().withAddresses("127.101.1.1")
                        .withNewConditions().withReady(true).endConditions().withNodeName("east-node-1")
                        .withNewTargetRef().withKind("Pod").withNamespace("sample").withName("helloworld-v1-a")
                        .endTargetRef().build())
                .build()).create();
    }
}
