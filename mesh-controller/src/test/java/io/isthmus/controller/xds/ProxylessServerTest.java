package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.internal.JsonParser;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.xds.XdsChannelCredentials;
import io.grpc.xds.XdsServerBuilder;
import io.grpc.xds.XdsServerCredentials;
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
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proxyless gRPC on both ends, on loopback: the controller's real ADS server and CA, a greeter
 * workload that is a real {@code XdsServerBuilder} server with {@code XdsServerCredentials} over
 * its {@link GrpcAgent}'s bootstrap (no sidecar), and grpc-xds clients over their own agents'
 * bootstraps. The greeter serves three ports, one per PeerAuthentication mode (a workload policy
 * with {@code portLevelMtls}), each set before its server starts so no test depends on when a
 * running server applies a change:
 * <ul>
 *   <li>STRICT: a client with {@code XdsChannelCredentials} gets in, and the server reads its SPIFFE
 *       identity from the TLS session; a plaintext client is refused;
 *   <li>PERMISSIVE: the same (grpc-xds cannot take both on one port; mesh callers dial mTLS);
 *   <li>DISABLE: plaintext, which the mTLS client also speaks, as its cluster then has no TLS.
 * </ul>
 * A client behind a real Isthmus sidecar reaches the STRICT port with its identity too.
 * An AuthorizationPolicy allows {@code sample/client} only: another mesh identity gets
 * {@code PERMISSION_DENIED} from grpc-xds' RBAC filter before the service sees the call.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ProxylessServerTest {

    private static final String TRUST_DOMAIN = "cluster.local";
    private static final ServiceKey KEY = new ServiceKey("sample", "greeter");
    private static final String HOST = "greeter.sample.svc.cluster.local";
    /** Service ports of this class only: grpc-xds keeps one xDS client per target in the JVM. */
    private static final int STRICT = 50191;
    private static final int PERMISSIVE = 50192;
    private static final int DISABLE = 50193;
    private static final String POD_IP = "127.0.84.2";
    private static final String CLIENT = "spiffe://cluster.local/ns/sample/sa/client";

    @TempDir
    static Path dir;

    private static final Deque<AutoCloseable> closing = new ArrayDeque<>();
    private static XdsServer xds;
    private static GrpcAgent client;
    private static GrpcAgent intruder;
    /** A client with a sidecar (an in-process Isthmus sidecar) instead of grpc-xds. */
    private static Sidecar clientSidecar;
    /** Target port (the server's) by service port. */
    private static final Map<Integer, Integer> targetPorts = new java.util.TreeMap<>();
    /** The peer identity each call the service answered saw, or "plaintext". */
    private static final Queue<String> callers = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger served = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        CertificateAuthority root = CertificateAuthority.createRoot("Isthmus proxyless server test", Duration.ofDays(1));
        CertificateAuthority east = root.createIntermediate("east", Duration.ofDays(1));
        String rootPem = Pem.encodeCertificate(root.certificate());
        Path rootFile = Files.writeString(dir.resolve("root-cert.pem"), rootPem);

        MeshSnapshotCache cache = own(new MeshSnapshotCache(new XdsOptions(TRUST_DOMAIN, TRUST_DOMAIN,
                Duration.ofMillis(20), Duration.ofMillis(200))));
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

        for (int servicePort : List.of(STRICT, PERMISSIVE, DISABLE)) {
            targetPorts.put(servicePort, freePort(POD_IP));
        }
        // One push, before any server asks: the ports' modes and the authorization policy.
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: greeter}
                spec:
                  selector: {matchLabels: {app: greeter}}
                  mtls: {mode: STRICT}
                  portLevelMtls:
                    %d: {mode: PERMISSIVE}
                    %d: {mode: DISABLE}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: greeter}
                spec:
                  selector: {matchLabels: {app: greeter}}
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/sample/sa/client"]}}]
                  - to: [{operation: {ports: ["%d"]}}]
                """.formatted(targetPorts.get(PERMISSIVE), targetPorts.get(DISABLE), targetPorts.get(DISABLE));
        FederatedState state = state(root);
        cache.onState(state, MeshConfig.merge(Map.of("east", Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z")),
                TRUST_DOMAIN));
        // The cache debounces: a server or client that connects before the flush would see nothing.
        await().atMost(Duration.ofSeconds(30)).until(() -> cache.pushedStateIndex() == state.appliedIndex());

        GrpcAgent server = agent(issuer, rootFile, "greeter-1", POD_IP, "greeter", Map.of("app", "greeter"));
        client = agent(issuer, rootFile, "client-1", "127.0.84.9", "client", Map.of("app", "client"));
        intruder = agent(issuer, rootFile, "intruder-1", "127.0.84.10", "intruder", Map.of("app", "intruder"));

        Path unusedToken = Files.writeString(dir.resolve("unused-token"), "unused");
        clientSidecar = own(Sidecar.start(new ProxyOptions("sidecar", "127.0.84.20", "127.0.84.21", "sidecar-client-1",
                        "sample", "client", "east", "net1", "us-east/us-east-1a/", Map.of("app", "sidecar-client"),
                        "127.0.0.1:" + xds.plaintextAddress().getPort(), rootFile, unusedToken, Duration.ofHours(1),
                        TRUST_DOMAIN, true, 0, 0, 0),
                WorkloadIdentity.fixed(east.issue(SpiffeId.of(TRUST_DOMAIN, "sample", "client"), List.of(),
                        Duration.ofHours(1))),
                new MeshTrust(TrustBundle.ofPem(TRUST_DOMAIN, List.of(rootPem)))));
        await().atMost(Duration.ofSeconds(30)).until(clientSidecar::ready);

        @SuppressWarnings("unchecked")
        Map<String, ?> bootstrap = (Map<String, ?>) JsonParser.parse(Files.readString(server.bootstrapFile()));
        for (int targetPort : targetPorts.values()) {
            AtomicBoolean servingNow = new AtomicBoolean();
            HealthStatusManager health = new HealthStatusManager();
            Server greeter = XdsServerBuilder.forAddress(new InetSocketAddress(POD_IP, targetPort),
                            XdsServerCredentials.create(InsecureServerCredentials.create()))
                    .overrideBootstrapForTest(bootstrap)
                    .xdsServingStatusListener(new XdsServerBuilder.XdsServingStatusListener() {
                        @Override
                        public void onServing() {
                            servingNow.set(true);
                        }

                        @Override
                        public void onNotServing(Throwable throwable) {
                            servingNow.set(false);
                        }
                    })
                    .addService(ServerInterceptors.intercept(health.getHealthService(), recordingCaller()))
                    .build();
            closing.push(() -> greeter.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
            // Returns once the first LDS answer came; serving only when it named this listener.
            greeter.start();
            await().atMost(Duration.ofSeconds(30)).untilTrue(servingNow);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        while (!closing.isEmpty()) {
            closing.pop().close();
        }
    }

    @Test
    void strictTakesTheMeshsMtlsAndTheServerSeesTheCallersIdentity() throws Exception {
        assertThat(callWithIdentity(STRICT)).isEqualTo(CLIENT);
        assertRefused(STRICT);
    }

    @Test
    void permissiveServesTheMtlsMeshCallersDial() throws Exception {
        assertThat(callWithIdentity(PERMISSIVE)).isEqualTo(CLIENT);
        assertRefused(PERMISSIVE);
    }

    @Test
    void disableServesPlaintextToBothKindsOfClient() throws Exception {
        try (XdsHealthClient plaintext = new XdsHealthClient(client.bootstrapFile(), HOST, DISABLE, false);
                XdsHealthClient xdsCredentials = new XdsHealthClient(client.bootstrapFile(), HOST, DISABLE, true)) {
            for (XdsHealthClient c : List.of(plaintext, xdsCredentials)) {
                callers.clear();
                assertThat(c.call().getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
                assertThat(callers).containsOnly("plaintext");
            }
        }
    }

    @Test
    void anotherMeshIdentityIsDeniedByTheServersAuthorizationPolicy() throws Exception {
        try (XdsHealthClient other = new XdsHealthClient(intruder.bootstrapFile(), HOST, STRICT, true)) {
            int before = served.get();
            assertThatThrownBy(other::call).isInstanceOfSatisfying(StatusRuntimeException.class,
                    e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
            assertThat(served.get()).as("the service never saw the denied call").isEqualTo(before);
        }
        // The same identity on the port every caller may use gets in.
        try (XdsHealthClient other = new XdsHealthClient(intruder.bootstrapFile(), HOST, DISABLE, true)) {
            assertThat(other.call().getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        }
    }

    @Test
    void aSidecarsMtlsReachesTheProxylessServerWithTheClientsIdentity() throws Exception {
        // The app speaks plaintext gRPC to its sidecar, which dials the server with the mesh's
        // mTLS (ALPN h2) and checks its SPIFFE ID, as for any gRPC service.
        ManagedChannel channel = NettyChannelBuilder.forAddress(clientSidecar.outboundAddress())
                .overrideAuthority(HOST + ":" + STRICT).usePlaintext().build();
        try {
            callers.clear();
            assertThat(HealthGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus())
                    .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
            assertThat(callers).containsExactly(CLIENT);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static String callWithIdentity(int port) throws Exception {
        try (XdsHealthClient c = new XdsHealthClient(client.bootstrapFile(), HOST, port, true)) {
            callers.clear();
            assertThat(c.call().getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
            assertThat(callers).hasSize(1);
            return callers.peek();
        }
    }

    /** A plaintext client reaches the server (so xDS gave it the endpoint) but its TLS chain closes the connection. */
    private static void assertRefused(int port) throws Exception {
        try (XdsHealthClient plaintext = new XdsHealthClient(client.bootstrapFile(), HOST, port, false)) {
            int before = served.get();
            // Closed, or reset when its bytes were still unread.
            plaintext.assertRefusedInConnection("Network closed", "Connection reset by peer");
            assertThat(served.get()).isEqualTo(before);
        }
    }

    private static GrpcAgent agent(ServiceAccountIssuer issuer, Path rootFile, String pod, String ip,
            String serviceAccount, Map<String, String> labels) throws Exception {
        Path token = Files.writeString(dir.resolve(pod + "-token"), issuer.mint("sample", serviceAccount, pod,
                List.of(IstioCertificateServiceImpl.AUDIENCE), Duration.ofHours(1), Instant.now()));
        GrpcAgent agent = own(GrpcAgent.start(new GrpcAgentOptions(ip, pod, "sample", serviceAccount, "east", "net1",
                "us-east/us-east-1a", labels, "127.0.0.1:" + xds.plaintextAddress().getPort(),
                "127.0.0.1:" + xds.secureAddress().getPort(), rootFile, token, TRUST_DOMAIN, Duration.ofHours(1),
                dir.resolve(pod), Duration.ofSeconds(1))));
        agent.firstCertificate().get(30, TimeUnit.SECONDS);
        return agent;
    }

    /** greeter (three service ports, one per mode) served by the pod greeter-1 in east. */
    private static FederatedState state(CertificateAuthority root) {
        List<ServicePort> ports = new ArrayList<>();
        Map<String, Integer> named = new java.util.HashMap<>();
        targetPorts.forEach((service, target) -> {
            ports.add(new ServicePort("grpc-" + service, service, target, "GRPC"));
            named.put("grpc-" + service, target);
        });
        MeshService greeter = new MeshService(KEY, HOST, ports, Map.of("app", "greeter"), Set.of("*"), false);
        Endpoint pod = new Endpoint(KEY, POD_IP, named, true, MeshFixture.EAST_LOCALITY, "east", "net1", "greeter",
                "greeter-1", Map.of("app", "greeter"));
        return new FederatedState(1,
                Map.of("east", new ClusterInfo("east", "net1", MeshFixture.EAST_LOCALITY, "127.0.0.1:15012")),
                Map.of("east", new ClusterState("east", "net1", List.of(greeter), List.of(pod),
                        List.of(new NetworkGateway("net1", "east", "127.0.84.1", 15443)))),
                List.of(Pem.encodeCertificate(root.certificate())));
    }

    /** Records who called (the TLS peer's URI SAN, or "plaintext") for each call the service answers. */
    private static ServerInterceptor recordingCaller() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                served.incrementAndGet();
                callers.add(peer(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION)));
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
                        next.startCall(call, headers)) {};
            }
        };
    }

    private static String peer(SSLSession session) {
        if (session == null) {
            return "plaintext";
        }
        try {
            X509Certificate leaf = (X509Certificate) session.getPeerCertificates()[0];
            for (List<?> san : leaf.getSubjectAlternativeNames()) {
                if (Integer.valueOf(6).equals(san.get(0))) {
                    return (String) san.get(1);
                }
            }
            return "no URI SAN";
        } catch (SSLPeerUnverifiedException | java.security.cert.CertificateParsingException e) {
            return "unverified: " + e.getMessage();
        }
    }

    private static int freePort(String address) throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(address))) {
            return socket.getLocalPort();
        }
    }

    private static <T extends AutoCloseable> T own(T resource) {
        closing.push(resource);
        return resource;
    }
}
