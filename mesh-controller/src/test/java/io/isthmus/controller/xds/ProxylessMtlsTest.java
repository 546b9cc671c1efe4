package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.xds.XdsChannelCredentials;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.Sidecar;
import io.isthmus.proxy.grpc.GrpcAgent;
import io.isthmus.proxy.grpc.GrpcAgentOptions;
import io.isthmus.proxy.grpc.GrpcBootstrap;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.IstioCertificateServiceImpl;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.Pem;
import io.isthmus.trust.ServiceAccountIssuer;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proxyless gRPC with the mesh's mTLS, end to end on loopback: the controller's real ADS server
 * and CA (CSR API on the TLS port, service-account tokens), the proxyless client's
 * {@link GrpcAgent} (certificate from that CA, files and bootstrap written), a grpc-xds client
 * built with {@code XdsChannelCredentials} over that bootstrap, and a server behind a real Isthmus
 * sidecar whose inbound is {@code STRICT} (Isthmus' default). The client dials the sidecar's pod
 * address with its own workload certificate, checks the sidecar's SPIFFE identity against the
 * one CDS names, and the app behind the sidecar reads the client's identity in
 * {@code x-forwarded-client-cert}. A certificate from another CA, a server with an unexpected
 * identity, and a plaintext client are each refused.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ProxylessMtlsTest {

    private static final String TRUST_DOMAIN = "cluster.local";
    private static final ServiceKey KEY = new ServiceKey("sample", "greeter");
    private static final String HOST = "greeter.sample.svc.cluster.local";
    /** Ports of this class only: grpc-xds keeps one xDS client per target in the JVM. */
    private static final int PORT = 50181;
    private static final int FOREIGN_CA_PORT = 50182;
    private static final String POD_IP = "127.0.83.2";
    private static final String POD_LOCALHOST = "127.0.83.3";
    private static final AtomicInteger STATE_INDEX = new AtomicInteger();

    @TempDir
    static Path dir;

    private static final Deque<AutoCloseable> closing = new ArrayDeque<>();
    private static CertificateAuthority root;
    private static CertificateAuthority east;
    private static MeshSnapshotCache cache;
    private static XdsServer xds;
    private static int targetPort;
    private static GrpcAgent agent;
    private static final Queue<String> forwardedClientCerts = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger appCalls = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        root = CertificateAuthority.createRoot("Isthmus proxyless test", Duration.ofDays(1));
        east = root.createIntermediate("east", Duration.ofDays(1));
        String rootPem = Pem.encodeCertificate(root.certificate());
        Path rootFile = Files.writeString(dir.resolve("root-cert.pem"), rootPem);

        // The controller: snapshot cache, plaintext ADS, and the CA on the TLS port, as Controller wires them.
        cache = own(new MeshSnapshotCache(new XdsOptions(TRUST_DOMAIN, TRUST_DOMAIN, Duration.ofMillis(20),
                Duration.ofMillis(200))));
        ServiceAccountIssuer issuer = ServiceAccountIssuer.create("https://kubernetes.default.svc/east");
        ServiceAccountTokenVerifier verifier = ServiceAccountTokenVerifier.fromJwks(issuer.issuer(),
                issuer.jwksJson(), Clock.systemUTC());
        IstioCertificateServiceImpl csr = new IstioCertificateServiceImpl(() -> east, verifier, TRUST_DOMAIN,
                Duration.ofHours(1), Duration.ofDays(1), new SimpleMeterRegistry());
        WorkloadCertificate serving = east.issue(SpiffeId.of(TRUST_DOMAIN, "istio-system", "istiod"),
                List.of("istiod.istio-system.svc"), Duration.ofHours(1));
        xds = own(XdsServer.start(new XdsServerOptions("127.0.0.1", 0, 0,
                MeshTls.grpcServerContext(() -> serving, () -> TrustBundle.ofPem(TRUST_DOMAIN, List.of(rootPem)), false),
                List.of(csr.serviceDefinition())), cache, new SyncTracker()));

        // The server: an app on the pod's localhost, behind a real sidecar on the pod IP.
        // The app binds an ephemeral port and keeps it; the sidecar's inbound listener takes the
        // same port on the pod IP once xDS names it, so only that address is probed.
        HealthStatusManager health = new HealthStatusManager();
        Server app = startAppOnAPortFreeOn(POD_IP, health);
        targetPort = ((InetSocketAddress) app.getListenSockets().get(0)).getPort();
        closing.push(() -> app.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        Path token = Files.writeString(dir.resolve("unused-token"), "unused");
        ProxyOptions sidecarOptions = new ProxyOptions("sidecar", POD_IP, POD_LOCALHOST, "greeter-1", "sample",
                "greeter", "east", "net1", "us-east/us-east-1a/", Map.of("app", "greeter"),
                "127.0.0.1:" + xds.plaintextAddress().getPort(), rootFile, token, Duration.ofHours(1), TRUST_DOMAIN,
                true, 0, 0, 0);
        Sidecar sidecar = own(Sidecar.start(sidecarOptions,
                WorkloadIdentity.fixed(east.issue(SpiffeId.of(TRUST_DOMAIN, "sample", "greeter"), List.of(),
                        Duration.ofHours(1))),
                new MeshTrust(TrustBundle.ofPem(TRUST_DOMAIN, List.of(rootPem)))));

        // The proxyless client's agent: a token for sample/client, the CA on the controller's TLS port.
        Path clientToken = Files.writeString(dir.resolve("client-token"), issuer.mint("sample", "client",
                "client-1", List.of(IstioCertificateServiceImpl.AUDIENCE), Duration.ofHours(1), Instant.now()));
        agent = own(GrpcAgent.start(clientOptions("client-1", "127.0.83.9", rootFile, clientToken,
                dir.resolve("client-1"))));
        agent.firstCertificate().get(30, TimeUnit.SECONDS);

        push("");
        await().atMost(Duration.ofSeconds(30)).until(sidecar::ready);
    }

    @AfterAll
    static void stop() throws Exception {
        while (!closing.isEmpty()) {
            closing.pop().close();
        }
    }

    @BeforeEach
    void strictMesh() {
        push("");
    }

    @Test
    void callsTheSidecarWithItsOwnWorkloadCertificateAndTheServerSeesItsIdentity() throws Exception {
        assertThat(Files.readString(agent.bootstrapFile())).contains("\"file_watcher\"", "\"GENERATOR\" : \"grpc\"");
        try (XdsHealthClient client = new XdsHealthClient(agent.bootstrapFile(), HOST, PORT, true)) {
            forwardedClientCerts.clear();
            assertThat(client.call().getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
            // The sidecar terminated the client's mTLS and vouches for its identity to the app.
            assertThat(forwardedClientCerts).isNotEmpty()
                    .allSatisfy(xfcc -> assertThat(xfcc).contains("URI=spiffe://cluster.local/ns/sample/sa/client"));
        }
        // A client built with insecure credentials ignores the clusters' TLS: STRICT refuses it.
        try (XdsHealthClient plaintext = new XdsHealthClient(agent.bootstrapFile(), HOST, PORT, false)) {
            // The sidecar's STRICT chain takes TLS only: it closes a connection that starts otherwise;
            // the client sees the close or, when its own bytes were still unread there, a reset.
            assertRefused(plaintext, "Network closed", "Connection reset by peer");
        }
    }

    @Test
    void aServerWithoutTheIdentityCdsNamesIsRefused() throws Exception {
        // The endpoint now claims to run as payments; the sidecar's certificate still says greeter.
        pushWithServiceAccount("payments", "");
        try (XdsHealthClient client = new XdsHealthClient(agent.bootstrapFile(), HOST, PORT, true)) {
            // grpc-xds checks the sidecar's certificate against CDS' match_subject_alt_names.
            assertRefused(client, "Peer certificate SAN check failed");
        }
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefusedByTheSidecar() throws Exception {
        // Files as the agent would write them, but the leaf comes from a CA outside the mesh.
        CertificateAuthority foreign = CertificateAuthority.createRoot("not the mesh", Duration.ofDays(1))
                .createIntermediate("east", Duration.ofDays(1));
        WorkloadCertificate leaf = foreign.issue(SpiffeId.of(TRUST_DOMAIN, "sample", "client"), List.of(),
                Duration.ofHours(1));
        Path files = Files.createDirectories(dir.resolve("foreign"));
        Files.writeString(files.resolve(GrpcBootstrap.CERT_CHAIN_FILE), leaf.chainPem());
        Files.writeString(files.resolve(GrpcBootstrap.KEY_FILE), Pem.encodePrivateKey(leaf.privateKey()));
        Files.writeString(files.resolve(GrpcBootstrap.ROOT_CERT_FILE), Pem.encodeCertificate(root.certificate()));
        Path bootstrap = Files.writeString(files.resolve(GrpcBootstrap.BOOTSTRAP_FILE), GrpcBootstrap.json(
                clientOptions("client-2", "127.0.83.10", dir.resolve("root-cert.pem"), dir.resolve("unused-token"),
                        files)));
        try (XdsHealthClient client = new XdsHealthClient(bootstrap, HOST, FOREIGN_CA_PORT, true)) {
            // The sidecar's trust manager refuses the chain (untrusted_chain) and aborts the handshake.
            assertRefused(client, "ssl exception");
        }
    }

    /** The call is refused in the connection, for one of {@code reasons}, and the app sees nothing. */
    private static void assertRefused(XdsHealthClient client, String... reasons) {
        int before = appCalls.get();
        client.assertRefusedInConnection(reasons);
        assertThat(appCalls.get()).isEqualTo(before);
    }

    private static GrpcAgentOptions clientOptions(String pod, String ip, Path rootFile, Path token, Path out) {
        return new GrpcAgentOptions(ip, pod, "sample", "client", "east", "net1", "us-east/us-east-1a",
                Map.of("app", "client"), "127.0.0.1:" + xds.plaintextAddress().getPort(),
                "127.0.0.1:" + xds.secureAddress().getPort(), rootFile, token, TRUST_DOMAIN, Duration.ofHours(1),
                out, Duration.ofSeconds(1));
    }

    private static void push(String yaml) {
        pushWithServiceAccount("greeter", yaml);
    }

    /**
     * greeter (ports {@link #PORT} and {@link #FOREIGN_CA_PORT}) served by the sidecar's pod in east,
     * returning once the cache has translated it, so the next client to connect sees it.
     */
    private static void pushWithServiceAccount(String serviceAccount, String yaml) {
        MeshService greeter = new MeshService(KEY, HOST, List.of(new ServicePort("grpc", PORT, targetPort, "GRPC"),
                new ServicePort("grpc-other", FOREIGN_CA_PORT, targetPort, "GRPC")), Map.of("app", "greeter"),
                Set.of("*"), false);
        Endpoint pod = new Endpoint(KEY, POD_IP, Map.of("grpc", targetPort, "grpc-other", targetPort), true,
                MeshFixture.EAST_LOCALITY, "east", "net1", serviceAccount, "greeter-1", Map.of("app", "greeter"));
        long index = STATE_INDEX.incrementAndGet();
        FederatedState state = new FederatedState(index,
                Map.of("east", new ClusterInfo("east", "net1", MeshFixture.EAST_LOCALITY, "127.0.0.1:15012")),
                Map.of("east", new ClusterState("east", "net1", List.of(greeter), List.of(pod),
                        List.of(new NetworkGateway("net1", "east", "127.0.83.1", 15443)))),
                List.of(Pem.encodeCertificate(root.certificate())));
        cache.onState(state, yaml.isEmpty() ? MeshConfig.EMPTY : MeshConfig.merge(
                Map.of("east", Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z")), TRUST_DOMAIN));
        // The cache debounces: a client that connects before the flush would get the previous state.
        await().atMost(Duration.ofSeconds(30)).until(() -> cache.pushedStateIndex() == index);
    }

    private static ServerInterceptor recordingCaller() {
        Metadata.Key<String> xfcc = Metadata.Key.of("x-forwarded-client-cert", Metadata.ASCII_STRING_MARSHALLER);
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                appCalls.incrementAndGet();
                String value = headers.get(xfcc);
                forwardedClientCerts.add(value == null ? "" : value);
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
                        next.startCall(call, headers)) {};
            }
        };
    }

    /** The app on {@link #POD_LOCALHOST}, on an ephemeral port that is also free on {@code podIp}. */
    private static Server startAppOnAPortFreeOn(String podIp, HealthStatusManager health) throws IOException {
        for (int attempt = 0; attempt < 20; attempt++) {
            Server app = NettyServerBuilder.forAddress(new InetSocketAddress(POD_LOCALHOST, 0))
                    .addService(ServerInterceptors.intercept(health.getHealthService(), recordingCaller()))
                    .build().start();
            int port = ((InetSocketAddress) app.getListenSockets().get(0)).getPort();
            try (ServerSocket probe = new ServerSocket(port, 1, InetAddress.getByName(podIp))) {
                return app;
            } catch (IOException taken) {
                app.shutdownNow();
            }
        }
        throw new IOException("no ephemeral port of " + POD_LOCALHOST + " is free on " + podIp);
    }

    private static <T extends AutoCloseable> T own(T resource) {
        closing.push(resource);
        return resource;
    }
}
