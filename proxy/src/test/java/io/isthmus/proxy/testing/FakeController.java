package io.isthmus.proxy.testing;

import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.IstioCertificateServiceImpl;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.ServiceAccountIssuer;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The controller's port 15012 as a proxy sees it, for tests: the real CSR service of the
 * trust module and a {@link FakeAdsServer}'s ADS, on one gRPC server with TLS whose
 * certificate carries {@code istiod.istio-system.svc}; client certificates are verified when sent
 * (the first CSR has none).
 */
public final class FakeController implements AutoCloseable {

  public static final String ISSUER = "https://kubernetes.default.svc/test";

  private final ServiceAccountIssuer issuer = ServiceAccountIssuer.create(ISSUER);
  private final FakeAdsServer ads = new FakeAdsServer();
  private final Server server;

  public FakeController(CertificateAuthority intermediate, TrustBundle bundle) throws IOException {
    WorkloadCertificate serving = intermediate.issue(
        SpiffeId.of("cluster.local", "istio-system", "istiod"),
        List.of("istiod.istio-system.svc"), Duration.ofHours(1));
    IstioCertificateServiceImpl ca = new IstioCertificateServiceImpl(() -> intermediate,
        ServiceAccountTokenVerifier.fromJwks(ISSUER, issuer.jwksJson(), Clock.systemUTC()),
        "cluster.local", Duration.ofHours(1), Duration.ofDays(1), new SimpleMeterRegistry());
    server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .sslContext(MeshTls.grpcServerContext(() -> serving, () -> bundle, false))
        .addService(ca.serviceDefinition())
        .addService(ads.service())
        .build()
        .start();
  }

  public FakeAdsServer ads() {
    return ads;
  }

  public String address() {
    return "127.0.0.1:" + server.getPort();
  }

  /** A service-account token the CA accepts for {@code ns/sa}. */
  public String token(String namespace, String serviceAccount, String pod) {
    return issuer.mint(namespace, serviceAccount, pod, List.of("istio-ca"), Duration.ofHours(1),
        Instant.now());
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(5, TimeUnit.SECONDS);
  }
}
