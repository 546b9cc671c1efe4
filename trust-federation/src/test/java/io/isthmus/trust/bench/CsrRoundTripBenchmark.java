package io.isthmus.trust.bench;

import java.net.InetSocketAddress;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.IstioCertificateServiceImpl;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.Pem;
import io.isthmus.trust.ServiceAccountIssuer;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.isthmus.trust.WorkloadKeys;
import io.isthmus.trust.grpc.IstioCertificateRequest;
import io.isthmus.trust.grpc.IstioCertificateServiceGrpc;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * The whole CSR round trip a sidecar makes, on 127.0.0.1 over one established gRPC channel with
 * TLS (the CA's port 15012 setup: server-authenticated, token in metadata): generate a P-256
 * key, build and sign the CSR, call CreateCertificate (token verification, signing), decode the
 * returned chain. Client and server share the machine, so one thread measures the latency-bound
 * rate of one sidecar; {@code @Threads(2)} variants are not given because the box has 2 cores.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1)
public class CsrRoundTripBenchmark {

    private static final SpiffeId IDENTITY = SpiffeId.of("cluster.local", "sample", "curl");
    private static final String ISSUER = "https://kubernetes.default.svc/east";

    private Server server;
    private ManagedChannel channel;
    private IstioCertificateServiceGrpc.IstioCertificateServiceBlockingStub stub;

    @Setup
    public void setUp() throws Exception {
        CertificateAuthority root = CertificateAuthority.createRoot("Isthmus bench", Duration.ofDays(30));
        CertificateAuthority east = root.createIntermediate("east", Duration.ofDays(10));
        ServiceAccountIssuer issuer = ServiceAccountIssuer.create(ISSUER);
        WorkloadCertificate serving = east.issue(SpiffeId.of("cluster.local", "istio-system", "istiod"),
                List.of("istiod.istio-system.svc"), Duration.ofDays(1));
        TrustBundle bundle = TrustBundle.of("cluster.local", List.of(root.certificate()));
        IstioCertificateServiceImpl service = new IstioCertificateServiceImpl(() -> east,
                ServiceAccountTokenVerifier.fromJwks(ISSUER, issuer.jwksJson(), Clock.systemUTC()),
                "cluster.local", Duration.ofHours(24), Duration.ofDays(7), new SimpleMeterRegistry());
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(MeshTls.grpcServerContext(() -> serving, () -> bundle, false))
                .addService(service.serviceDefinition())
                .build().start();
        // As the sidecar's rotator does: verify the CA by SPIFFE ID against the bundle, no client cert.
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", server.getPort()))
                .sslContext(MeshTls.grpcClientContext(null, () -> bundle))
                .build();
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
                "Bearer " + issuer.mint("sample", "curl", "curl-pod", List.of("istio-ca"), Duration.ofHours(2), Instant.now()));
        stub = IstioCertificateServiceGrpc.newBlockingStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    @TearDown
    public void tearDown() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Benchmark
    public X509Certificate keygenCsrAndSignOverGrpcTls() {
        KeyPair keys = WorkloadKeys.newKeyPair();
        var response = stub.withDeadlineAfter(10, TimeUnit.SECONDS).createCertificate(IstioCertificateRequest.newBuilder()
                .setCsr(WorkloadKeys.csrPem(keys, IDENTITY)).setValidityDuration(86_400).build());
        return Pem.decodeCertificate(response.getCertChain(0));
    }
}
