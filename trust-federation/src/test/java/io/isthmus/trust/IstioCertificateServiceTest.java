package io.isthmus.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import javax.net.ssl.SSLSession;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.isthmus.trust.grpc.IstioCertificateRequest;
import io.isthmus.trust.grpc.IstioCertificateResponse;
import io.isthmus.trust.grpc.IstioCertificateServiceGrpc;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/** The CSR API over real TLS on 127.0.0.1, and the rotator against it. */
class IstioCertificateServiceTest {

    private static final String ISS = "https://kubernetes.default.svc/east";
    private static final CertificateAuthority ROOT = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(30));
    private static final CertificateAuthority EAST = ROOT.createIntermediate("east", Duration.ofDays(10));
    private static final ServiceAccountIssuer ISSUER = ServiceAccountIssuer.create(ISS);
    private static final SpiffeId ISTIOD = SpiffeId.of("cluster.local", "istio-system", "istiod");
    private static final SpiffeId CURL = SpiffeId.of("cluster.local", "sample", "curl");

    private final SimpleMeterRegistry metrics = new SimpleMeterRegistry();
    private final AtomicBoolean caUp = new AtomicBoolean(true);
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final AtomicReference<SocketAddress> lastPeer = new AtomicReference<>();
    private final AtomicReference<Optional<SpiffeId>> lastPeerIdentity = new AtomicReference<>();
    private TrustBundle bundle;
    private Server server;
    private ManagedChannel channel;

    @TempDir
    Path dir;

    @BeforeEach
    void startCa() throws Exception {
        WorkloadCertificate serving = EAST.issue(ISTIOD, List.of("istiod.istio-system.svc"), Duration.ofHours(1));
        bundle = TrustBundle.of("cluster.local", List.of(ROOT.certificate()));
        IstioCertificateServiceImpl service = new IstioCertificateServiceImpl(() -> caUp.get() ? EAST : null,
                ServiceAccountTokenVerifier.fromJwks(ISS, ISSUER.jwksJson(), Clock.systemUTC()),
                "cluster.local", Duration.ofHours(24), Duration.ofDays(7), metrics);
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(MeshTls.grpcServerContext(() -> serving, () -> bundle, false))
                .addService(ServerInterceptors.intercept(service.serviceDefinition(), new ServerInterceptor() {
                    @Override
                    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                            ServerCallHandler<Q, R> next) {
                        lastPeer.set(call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
                        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
                        lastPeerIdentity.set(session == null ? Optional.empty() : MeshTls.peerIdentity(session));
                        return next.startCall(call, headers);
                    }
                }))
                .build().start();
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", server.getPort()))
                .overrideAuthority("istiod.istio-system.svc")
                .sslContext(GrpcSslContexts.forClient().trustManager(ROOT.certificate()).build())
                .build();
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private String token(String ns, String sa, List<String> audiences) {
        return ISSUER.mint(ns, sa, sa + "-pod", audiences, Duration.ofHours(1), Instant.now());
    }

    private IstioCertificateResponse call(String authorization, String csr, long seconds) {
        var stub = IstioCertificateServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        if (authorization != null) {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        return stub.createCertificate(IstioCertificateRequest.newBuilder().setCsr(csr).setValidityDuration(seconds).build());
    }

    @Test
    void issuesTheTokensIdentityToACsrWithoutSans() throws Exception {
        KeyPair keys = WorkloadKeys.newKeyPair();
        String csrWithoutSans = TestCerts.csrWithSans(keys, keys, List.of());

        IstioCertificateResponse response = call("Bearer " + token("sample", "curl", List.of("istio-ca")), csrWithoutSans, 3600);

        List<X509Certificate> chain = response.getCertChainList().stream().map(Pem::decodeCertificate).toList();
        assertThat(chain).hasSize(3);
        assertThat(chain.get(0).getSubjectAlternativeNames()).containsExactly(List.of(6, CURL.uri()));
        assertThat(chain.get(0).getPublicKey()).isEqualTo(keys.getPublic());
        assertThat(chain.get(2)).isEqualTo(ROOT.certificate());
        Certificates.verifyChain(chain, List.of(ROOT.certificate()), Instant.now());
        assertThat(chain.get(0).getNotAfter().toInstant()).isBefore(Instant.now().plusSeconds(3700));
        assertThat(metrics.get(IstioCertificateServiceImpl.ISSUED_METRIC).counter().count()).isEqualTo(1.0);
    }

    @Test
    void rejectsUnauthenticatedAndInvalidRequestsWithPreciseStatus() {
        String csr = WorkloadKeys.csrPem(WorkloadKeys.newKeyPair(), CURL);
        String good = "Bearer " + token("sample", "curl", List.of("istio-ca"));

        expect(() -> call(null, csr, 0), Status.Code.UNAUTHENTICATED, "missing");
        expect(() -> call("Basic abc", csr, 0), Status.Code.UNAUTHENTICATED, "missing");
        expect(() -> call("Bearer not.a.jwt", csr, 0), Status.Code.UNAUTHENTICATED, "token rejected");
        expect(() -> call("Bearer " + token("sample", "curl", List.of("kubernetes")), csr, 0), Status.Code.UNAUTHENTICATED, "aud");
        expect(() -> call("Bearer " + ServiceAccountIssuer.create(ISS).mint("sample", "curl", "", List.of("istio-ca"),
                Duration.ofHours(1), Instant.now()), csr, 0), Status.Code.UNAUTHENTICATED, "kid");
        expect(() -> call(good, "garbage", 0), Status.Code.INVALID_ARGUMENT, "CSR");
        expect(() -> call(good, "x".repeat(70_000), 0), Status.Code.INVALID_ARGUMENT, "CSR size");
        expect(() -> call(good, csr, -5), Status.Code.INVALID_ARGUMENT, "validity_duration");
        expect(() -> call(good, csr, Duration.ofDays(8).toSeconds()), Status.Code.INVALID_ARGUMENT, "validity_duration");
        caUp.set(false);
        expect(() -> call(good, csr, 0), Status.Code.UNAVAILABLE, "CA");

        assertThat(metrics.get(IstioCertificateServiceImpl.REJECTED_METRIC).tag("reason", "no_token").counter().count()).isEqualTo(2.0);
        assertThat(metrics.get(IstioCertificateServiceImpl.REJECTED_METRIC).tag("reason", "token_wrong_audience").counter().count())
                .isEqualTo(1.0);
        assertThat(metrics.get(IstioCertificateServiceImpl.REJECTED_METRIC).tag("reason", "oversized").counter().count()).isEqualTo(1.0);
        assertThat(metrics.find(IstioCertificateServiceImpl.ISSUED_METRIC).counter().count()).isZero();
    }

    @Test
    void rotatorRenewsShortLivedCertificatesAndKeepsTheLastGoodOneWhileTheCaIsDown() throws Exception {
        Path tokenFile = dir.resolve("token");
        Files.writeString(tokenFile, token("sample", "curl", List.of("istio-ca")));
        CertificateRotator rotator = CertificateRotator.start(CertificateRotatorOptions.of("127.0.0.1:" + server.getPort(),
                List.of(ROOT.certificate()), CertificateRotatorOptions.DEFAULT_CA_AUTHORITY, tokenFile, CURL, Duration.ofSeconds(3))
                .withBackoff(Duration.ofMillis(50), Duration.ofMillis(400)));
        closeables.add(rotator);
        List<WorkloadCertificate> seen = new CopyOnWriteArrayList<>();
        rotator.addListener(seen::add);

        WorkloadCertificate first = rotator.firstCertificate().get(10, TimeUnit.SECONDS);
        assertThat(first.identity()).isEqualTo(CURL);
        assertThat(Certificates.keysMatch(first.privateKey(), first.leaf().getPublicKey())).isTrue();
        await().atMost(Duration.ofSeconds(30)).until(() -> seen.stream().map(c -> c.leaf().getSerialNumber()).distinct().count() >= 3);
        assertThat(rotator.current().notAfter()).isAfter(first.notAfter());
        assertThat(rotator.consecutiveFailures()).isZero();

        caUp.set(false);
        // The last good certificate is the one held once an attempt has failed: a renewal already
        // in flight when the CA went down may still have succeeded. Attempts run one at a time.
        await().atMost(Duration.ofSeconds(30)).until(() -> rotator.consecutiveFailures() >= 1);
        WorkloadCertificate last = seen.get(seen.size() - 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> rotator.consecutiveFailures() >= 2);
        if (Instant.now().isBefore(last.notAfter())) {
            assertThat(rotator.current().leaf()).isEqualTo(last.leaf());
        }
        // Once the last certificate expires it is no longer handed out.
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThatThrownBy(rotator::current)
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("expired"));

        caUp.set(true);
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions()
                .untilAsserted(() -> assertThat(rotator.current().notAfter()).isAfter(Instant.now()));
        assertThat(rotator.consecutiveFailures()).isZero();
    }

    @Test
    void rotatorReReadsTheTokenAndRefusesACertificateForAnotherIdentity() throws Exception {
        Path tokenFile = dir.resolve("token");
        Files.writeString(tokenFile, token("sample", "curl", List.of("istio-ca")));
        CertificateRotator rotator = CertificateRotator.start(CertificateRotatorOptions.of("127.0.0.1:" + server.getPort(),
                List.of(ROOT.certificate()), CertificateRotatorOptions.DEFAULT_CA_AUTHORITY, tokenFile, CURL, Duration.ofSeconds(2))
                .withBackoff(Duration.ofMillis(50), Duration.ofMillis(200)));
        closeables.add(rotator);
        WorkloadCertificate first = rotator.firstCertificate().get(10, TimeUnit.SECONDS);

        Files.writeString(tokenFile, token("sample", "intruder", List.of("istio-ca")));
        await().atMost(Duration.ofSeconds(30)).until(() -> rotator.consecutiveFailures() >= 1);
        assertThat(rotator.current().identity()).isEqualTo(CURL);
        assertThat(first.identity()).isEqualTo(CURL);
    }

    @Test
    void rotatorOfARemoteClustersProxySendsItsClusterIdSoThePrimaryChecksTheRemotesIssuer() throws Exception {
        ServiceAccountIssuer euIssuer = ServiceAccountIssuer.create("https://kubernetes.default.svc/eu");
        ServiceAccountTokenVerifier euVerifier =
                ServiceAccountTokenVerifier.fromJwks(euIssuer.issuer(), euIssuer.jwksJson(), Clock.systemUTC());
        WorkloadCertificate serving = EAST.issue(ISTIOD, List.of("istiod.istio-system.svc"), Duration.ofHours(1));
        IstioCertificateServiceImpl primary = new IstioCertificateServiceImpl(() -> EAST,
                ServiceAccountTokenVerifier.fromJwks(ISS, ISSUER.jwksJson(), Clock.systemUTC()),
                "cluster.local", Duration.ofHours(24), Duration.ofDays(7), new SimpleMeterRegistry())
                .withCallerClusters("east", cluster -> cluster.equals("eu") ? euVerifier : null);
        Server eastCa = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(MeshTls.grpcServerContext(() -> serving, () -> bundle, false))
                .addService(primary.serviceDefinition()).build().start();
        closeables.add(() -> eastCa.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        Path tokenFile = dir.resolve("eu-token");
        Files.writeString(tokenFile, euIssuer.mint("sample", "curl", "curl-pod", List.of("istio-ca"), Duration.ofHours(1),
                Instant.now()));
        CertificateRotatorOptions options = CertificateRotatorOptions.of("127.0.0.1:" + eastCa.getPort(),
                List.of(ROOT.certificate()), CertificateRotatorOptions.DEFAULT_CA_AUTHORITY, tokenFile, CURL, Duration.ofHours(1))
                .withBackoff(Duration.ofMillis(50), Duration.ofMillis(200));

        // Without ClusterID the primary checks the token with its own issuer, which did not sign it.
        CertificateRotator anonymous = CertificateRotator.start(options);
        closeables.add(anonymous);
        await().atMost(Duration.ofSeconds(30)).until(() -> anonymous.consecutiveFailures() >= 1);
        assertThat(anonymous.firstCertificate()).isNotDone();

        CertificateRotator remote = CertificateRotator.start(options.withClusterId("eu").withBackoff(
                Duration.ofMillis(50), Duration.ofMillis(200)));
        closeables.add(remote);
        assertThat(remote.firstCertificate().get(10, TimeUnit.SECONDS).identity()).isEqualTo(CURL);
        assertThat(options.withClusterId("eu").clusterId()).isEqualTo("eu");
    }

    @Test
    void rotatorWithUnreachableCaHasNoCertificateAndRetries() throws Exception {
        Path tokenFile = dir.resolve("token");
        Files.writeString(tokenFile, token("sample", "curl", List.of("istio-ca")));
        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            closedPort = s.getLocalPort();
        }
        CertificateRotator rotator = CertificateRotator.start(CertificateRotatorOptions.of("127.0.0.1:" + closedPort,
                List.of(ROOT.certificate()), CertificateRotatorOptions.DEFAULT_CA_AUTHORITY, tokenFile, CURL, Duration.ofHours(1))
                .withBackoff(Duration.ofMillis(20), Duration.ofMillis(100)));
        closeables.add(rotator);
        await().atMost(Duration.ofSeconds(30)).until(() -> rotator.consecutiveFailures() >= 3);
        assertThat(rotator.firstCertificate()).isNotDone();
        assertThatThrownBy(rotator::current).isInstanceOf(IllegalStateException.class).hasMessageContaining("no workload certificate");
        rotator.close();
        assertThat(rotator.firstCertificate()).isCompletedExceptionally();
    }

    @Test
    void meshGrpcContextsGiveMutualSpiffeVerificationWithoutHostNames() throws Exception {
        WorkloadCertificate proxyCert = EAST.issue(CURL, List.of(), Duration.ofHours(1));
        // No authority override: the server is verified by its SPIFFE ID, not by the address.
        ManagedChannel mtls = NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", server.getPort()))
                .sslContext(MeshTls.grpcClientContext(() -> proxyCert, () -> bundle))
                .build();
        try {
            IstioCertificateResponse response = IstioCertificateServiceGrpc.newBlockingStub(mtls)
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(bearer(token("sample", "curl", List.of("istio-ca")))))
                    .createCertificate(IstioCertificateRequest.newBuilder()
                            .setCsr(WorkloadKeys.csrPem(WorkloadKeys.newKeyPair(), CURL)).build());
            assertThat(response.getCertChainCount()).isEqualTo(3);
            assertThat(lastPeerIdentity.get()).contains(CURL);
        } finally {
            mtls.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        // A server whose certificate comes from another root is refused by the same client context.
        TrustBundle foreign = TrustBundle.of("cluster.local",
                List.of(CertificateAuthority.createRoot("Other", Duration.ofDays(1)).certificate()));
        ManagedChannel refused = NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", server.getPort()))
                .sslContext(MeshTls.grpcClientContext(null, () -> foreign))
                .build();
        try {
            assertThatThrownBy(() -> IstioCertificateServiceGrpc.newBlockingStub(refused).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .createCertificate(IstioCertificateRequest.getDefaultInstance()))
                    .isInstanceOf(StatusRuntimeException.class)
                    .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        } finally {
            refused.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void rotatorBindsOutgoingConnectionsToTheWorkloadAddress() throws Exception {
        Path tokenFile = dir.resolve("token");
        Files.writeString(tokenFile, token("sample", "curl", List.of("istio-ca")));
        InetAddress podIp = InetAddress.getByName("127.0.0.77");
        CertificateRotator rotator = CertificateRotator.start(CertificateRotatorOptions.of("127.0.0.1:" + server.getPort(),
                List.of(ROOT.certificate()), CertificateRotatorOptions.DEFAULT_CA_AUTHORITY, tokenFile, CURL, Duration.ofHours(1))
                .withLocalAddress(podIp));
        closeables.add(rotator);
        rotator.firstCertificate().get(10, TimeUnit.SECONDS);
        assertThat(((InetSocketAddress) lastPeer.get()).getAddress()).isEqualTo(podIp);
        assertThat(lastPeerIdentity.get()).isEmpty();
    }

    private static Metadata bearer(String token) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        return headers;
    }

    private static void expect(Runnable call, Status.Code code, String messagePart) {
        assertThatThrownBy(call::run)
                .isInstanceOf(StatusRuntimeException.class)
                .satisfies(e -> {
                    Status status = ((StatusRuntimeException) e).getStatus();
                    assertThat(status.getCode()).isEqualTo(code);
                    assertThat(status.getDescription()).contains(messagePart);
                });
    }
}
