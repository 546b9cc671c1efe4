package io.isthmus.trust;

import static io.isthmus.trust.TestCerts.dns;
import static io.isthmus.trust.TestCerts.uri;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import io.grpc.ManagedChannel;
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
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * Adversarial CSR and token table against the CSR service of cluster "east" over real gRPC and
 * TLS on 127.0.0.1: each bad request gets a precise status and message, is counted under its own
 * reason, and never yields a certificate.
 */
class CsrServiceBadInputTest {

    private static final String EAST_ISS = "https://kubernetes.default.svc/east";
    private static final String WEST_ISS = "https://kubernetes.default.svc/west";
    private static final CertificateAuthority ROOT = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(30));
    private static final CertificateAuthority EAST = ROOT.createIntermediate("east", Duration.ofDays(10));
    private static final ServiceAccountIssuer EAST_ISSUER = ServiceAccountIssuer.create(EAST_ISS);
    private static final ServiceAccountIssuer WEST_ISSUER = ServiceAccountIssuer.create(WEST_ISS);
    private static final SpiffeId CURL = SpiffeId.of("cluster.local", "sample", "curl");
    private static final KeyPair KEYS = WorkloadKeys.newKeyPair();

    private static final SimpleMeterRegistry METRICS = new SimpleMeterRegistry();
    private static Server server;
    private static ManagedChannel channel;

    @BeforeAll
    static void startCa() throws Exception {
        WorkloadCertificate serving = EAST.issue(SpiffeId.of("cluster.local", "istio-system", "istiod"),
                List.of("istiod.istio-system.svc"), Duration.ofHours(1));
        TrustBundle bundle = TrustBundle.of("cluster.local", List.of(ROOT.certificate()));
        ServiceAccountTokenVerifier west = ServiceAccountTokenVerifier.fromJwks(WEST_ISS, WEST_ISSUER.jwksJson(), Clock.systemUTC());
        IstioCertificateServiceImpl service = new IstioCertificateServiceImpl(() -> EAST,
                ServiceAccountTokenVerifier.fromJwks(EAST_ISS, EAST_ISSUER.jwksJson(), Clock.systemUTC()),
                "cluster.local", Duration.ofHours(24), Duration.ofDays(7), METRICS)
                .withCallerClusters("east", Map.of("west", west)::get);
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(MeshTls.grpcServerContext(() -> serving, () -> bundle, false))
                .addService(service.serviceDefinition())
                .build().start();
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", server.getPort()))
                .overrideAuthority("istiod.istio-system.svc")
                .sslContext(GrpcSslContexts.forClient().trustManager(ROOT.certificate()).build())
                .build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    /** One request: headers (null = absent) and CSR. */
    record Call(String authorization, String clusterId, String csr) {
        @Override
        public String toString() {
            return "Call[cluster=" + clusterId + "]";
        }
    }

    private static String token(ServiceAccountIssuer issuer, List<String> audiences, Instant issuedAt) {
        return "Bearer " + issuer.mint("sample", "curl", "curl-pod", audiences, Duration.ofHours(1), issuedAt);
    }

    private static String good() {
        return token(EAST_ISSUER, List.of("istio-ca"), Instant.now());
    }

    private static String csr(List<org.bouncycastle.asn1.x509.GeneralName> sans) {
        try {
            return TestCerts.csrWithSans(KEYS, KEYS, sans);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static Stream<Arguments> badRequests() throws Exception {
        String goodCsr = csr(List.of(uri(CURL.uri())));
        KeyPair rsa1024 = rsa(1024);
        return Stream.of(
                Arguments.of("no token", new Call(null, null, goodCsr), Status.Code.UNAUTHENTICATED, "no_token",
                        "missing \"authorization: Bearer"),
                Arguments.of("token is not a JWT", new Call("Bearer not.a.jwt", null, goodCsr), Status.Code.UNAUTHENTICATED,
                        "token_malformed", "token rejected"),
                Arguments.of("expired token", new Call(token(EAST_ISSUER, List.of("istio-ca"), Instant.now().minus(Duration.ofHours(3))),
                        null, goodCsr), Status.Code.UNAUTHENTICATED, "token_expired", "token expired at"),
                Arguments.of("token for another audience", new Call(token(EAST_ISSUER, List.of("kubernetes.default.svc"), Instant.now()),
                        null, goodCsr), Status.Code.UNAUTHENTICATED, "token_wrong_audience", "expected: to contain istio-ca"),
                Arguments.of("token signed by an unknown key of the right issuer",
                        new Call(token(ServiceAccountIssuer.create(EAST_ISS), List.of("istio-ca"), Instant.now()), null, goodCsr),
                        Status.Code.UNAUTHENTICATED, "token_unknown_key", "kid"),
                Arguments.of("remote cluster's token without ClusterID", new Call(token(WEST_ISSUER, List.of("istio-ca"), Instant.now()),
                        null, goodCsr), Status.Code.UNAUTHENTICATED, "token_wrong_issuer", "must send the ClusterID header"),
                Arguments.of("ClusterID of an unknown cluster", new Call(good(), "mars", goodCsr), Status.Code.UNAUTHENTICATED,
                        "unknown_cluster", "ClusterID: mars is not a cluster this CA knows"),
                Arguments.of("ClusterID of west with east's token", new Call(good(), "west", goodCsr), Status.Code.UNAUTHENTICATED,
                        "token_wrong_issuer", "(ClusterID west)"),
                Arguments.of("malformed CSR", new Call(good(), null, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
                        Status.Code.INVALID_ARGUMENT, "malformed", "CSR"),
                Arguments.of("not PEM", new Call(good(), null, "garbage"), Status.Code.INVALID_ARGUMENT, "malformed",
                        "CSR is not a PEM CERTIFICATE REQUEST"),
                Arguments.of("oversized CSR", new Call(good(), null, "x".repeat(CertificateAuthority.MAX_CSR_BYTES + 1)),
                        Status.Code.INVALID_ARGUMENT, "oversized", "CSR size: 65537 bytes (expected: <= 65536)"),
                Arguments.of("CSR for another identity", new Call(good(), null,
                        csr(List.of(uri("spiffe://cluster.local/ns/istio-system/sa/istiod")))),
                        Status.Code.PERMISSION_DENIED, "identity_mismatch",
                        "CSR asks for spiffe://cluster.local/ns/istio-system/sa/istiod but the caller's token proves "
                                + CURL.uri()),
                Arguments.of("two URI SANs", new Call(good(), null,
                        csr(List.of(uri(CURL.uri()), uri("spiffe://cluster.local/ns/sample/sa/other")))),
                        Status.Code.INVALID_ARGUMENT, "multiple_uri_sans", "CSR asks for 2 URI SANs"),
                Arguments.of("NUL byte in the URI SAN", new Call(good(), null,
                        csr(List.of(uri("spiffe://cluster.local/ns/sample/sa/curl\u0000.evil")))),
                        Status.Code.INVALID_ARGUMENT, "invalid_san", "control character 0x0 at index 40"),
                Arguments.of("NUL byte in a DNS SAN", new Call(good(), null, csr(List.of(dns("curl.sample.svc\u0000evil.com")))),
                        Status.Code.INVALID_ARGUMENT, "invalid_san", "CSR DNS SAN"),
                Arguments.of("CSR signed by another key", new Call(good(), null,
                        TestCerts.csrWithSans(KEYS, WorkloadKeys.newKeyPair(), List.of(uri(CURL.uri())))),
                        Status.Code.INVALID_ARGUMENT, "bad_signature", "CSR signature"),
                Arguments.of("weak RSA key", new Call(good(), null, TestCerts.csrWithSans(rsa1024, rsa1024, List.of())),
                        Status.Code.INVALID_ARGUMENT, "unsupported_key", "1024 bits (expected: 2048 to 8192)"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badRequests")
    void badRequestIsRefusedPreciselyCountedAndGetsNoCertificate(String name, Call call, Status.Code code, String reason,
            String message) {
        double before = rejected(reason);
        double issuedBefore = issued();

        assertThatThrownBy(() -> send(call))
                .isInstanceOf(StatusRuntimeException.class)
                .satisfies(e -> {
                    Status status = ((StatusRuntimeException) e).getStatus();
                    assertThat(status.getCode()).as(name).isEqualTo(code);
                    assertThat(status.getDescription()).as(name).contains(message);
                });
        assertThat(rejected(reason)).as("rejections counted under reason " + reason).isEqualTo(before + 1);
        assertThat(issued()).isEqualTo(issuedBefore);
    }

    @Test
    void goodRequestsFromLocalAndRegisteredRemoteClusterAreIssuedTheTokensIdentity() {
        // No SAN at all: the identity comes from the token.
        List<X509Certificate> local = chain(send(new Call(good(), null, csr(List.of()))));
        List<X509Certificate> localNamed = chain(send(new Call(good(), "east", csr(List.of(uri(CURL.uri()))))));
        List<X509Certificate> remote = chain(send(new Call(token(WEST_ISSUER, List.of("istio-ca"), Instant.now()), "west",
                csr(List.of(uri(CURL.uri()))))));
        for (List<X509Certificate> chain : List.of(local, localNamed, remote)) {
            assertThat(Certificates.uriSans(chain.get(0))).containsExactly(CURL.uri());
            assertThat(chain.get(chain.size() - 1)).isEqualTo(ROOT.certificate());
        }
    }

    private static List<X509Certificate> chain(IstioCertificateResponse response) {
        return response.getCertChainList().stream().map(Pem::decodeCertificate).toList();
    }

    private static IstioCertificateResponse send(Call call) {
        Metadata headers = new Metadata();
        if (call.authorization() != null) {
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), call.authorization());
        }
        if (call.clusterId() != null) {
            headers.put(Metadata.Key.of("ClusterID", Metadata.ASCII_STRING_MARSHALLER), call.clusterId());
        }
        return IstioCertificateServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .createCertificate(IstioCertificateRequest.newBuilder().setCsr(call.csr()).setValidityDuration(3600).build());
    }

    private static double rejected(String reason) {
        Counter counter = METRICS.find(IstioCertificateServiceImpl.REJECTED_METRIC).tag("reason", reason).counter();
        return counter == null ? 0 : counter.count();
    }

    private static double issued() {
        return METRICS.get(IstioCertificateServiceImpl.ISSUED_METRIC).counter().count();
    }

    private static KeyPair rsa(int bits) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(bits);
        return generator.generateKeyPair();
    }
}
