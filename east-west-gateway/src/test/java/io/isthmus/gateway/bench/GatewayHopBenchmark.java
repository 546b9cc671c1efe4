package io.isthmus.gateway.bench;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static io.isthmus.proxy.testing.MeshResources.sni;

import io.isthmus.gateway.Gateway;
import io.isthmus.gateway.GatewayLimits;
import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.Sidecar;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.TrustBundle;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * The cost of the east-west gateway hop, measured in one run: one HTTP request from a client
 * sidecar to a server sidecar (mTLS) and its app, either directly ({@code direct*}) or through
 * the gateway's SNI passthrough ({@code viaGateway*}), on loopback with real sockets. The two
 * client sidecars differ only in the endpoint their EDS names (the server's pod or the gateway),
 * so {@code viaGateway / direct} is the gateway's added latency (AverageTime, one thread) and its
 * throughput cost (Throughput, four threads). Report the ratios, not the absolute figures, which
 * depend on the machine's load.
 */
@State(Scope.Benchmark)
public class GatewayHopBenchmark {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SNI = sni(5000, HOST);

  private final TestPki pki = new TestPki();
  private final FakeAdsServer serverAds = new FakeAdsServer();
  private final FakeAdsServer gatewayAds = new FakeAdsServer();
  private final FakeAdsServer directAds = new FakeAdsServer();
  private final FakeAdsServer hopAds = new FakeAdsServer();
  private Path dir;
  private HeaderEchoApp app;
  private Sidecar server;
  private Gateway gateway;
  private Sidecar directClient;
  private Sidecar hopClient;

  @Setup(Level.Trial)
  public void start() throws Exception {
    dir = Files.createTempDirectory("gateway-bench");
    Path root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    Path token = Files.writeString(dir.resolve("token"), "unused");
    CertificateAuthority eu = pki.intermediate("eu");
    CertificateAuthority west = pki.intermediate("west");
    app = new HeaderEchoApp("127.225.2.1");
    int inbound = freePort("127.225.1.1");
    serverAds.start();
    serverAds.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.inboundCluster(inbound, app.port())));
    serverAds.set(XdsResourceType.LISTENER, "1", List.of(MeshResources.virtualInbound(inbound)));
    server = Sidecar.start(options("sidecar", "127.225.1.1", "127.225.2.1", "helloworld", "eu",
        serverAds.target(), root, token), WorkloadIdentity.fixed(pki.leaf(eu, "sample", "helloworld")), trust());

    gatewayAds.start();
    gatewayAds.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.gatewayCluster(SNI)));
    gatewayAds.set(XdsResourceType.ENDPOINT, "1", List.of(MeshResources.endpoints(SNI, "eu-west",
        new Ep("127.225.1.1", inbound, 1, "eu", false))));
    gateway = Gateway.start(options("router", "127.225.0.2", "127.225.0.2", "istio-eastwestgateway", "eu",
            gatewayAds.target(), root, token), 0,
        WorkloadIdentity.fixed(pki.leaf(eu, "istio-system", "istio-eastwestgateway")), trust(),
        GatewayLimits.DEFAULTS);

    directClient = client(directAds, "127.226.1.1", "127.226.2.1", root, token,
        new Ep("127.225.1.1", inbound, 1, "eu", false), west);
    hopClient = client(hopAds, "127.227.1.1", "127.227.2.1", root, token,
        new Ep("127.225.0.2", gateway.address().getPort(), 1, "eu", true), west);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!(server.ready() && gateway.ready() && directClient.ready() && hopClient.ready())) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("not ready in 30 s");
      }
      Thread.sleep(50);
    }
    // Both paths must really work, and really differ, before anything is measured.
    require(request(directClient).body().contains("x-forwarded-for: 127.226.1.1"), "direct path");
    require(request(hopClient).body().contains("x-forwarded-for: 127.225.0.2"), "gateway path");
  }

  @TearDown(Level.Trial)
  public void stop() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {hopClient, directClient, gateway, server, hopAds, directAds,
        gatewayAds, serverAds, app}) {
      if (c != null) {
        c.close();
      }
    }
  }

  @Benchmark
  @BenchmarkMode(Mode.AverageTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public int directLatency() throws IOException {
    return request(directClient).status();
  }

  @Benchmark
  @BenchmarkMode(Mode.AverageTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public int viaGatewayLatency() throws IOException {
    return request(hopClient).status();
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @Threads(4)
  public int directThroughput() throws IOException {
    return request(directClient).status();
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @Threads(4)
  public int viaGatewayThroughput() throws IOException {
    return request(hopClient).status();
  }

  private static RawHttp.Response request(Sidecar client) throws IOException {
    RawHttp.Response r = RawHttp.get(client.outboundAddress(), HOST + ":5000", "/bench");
    if (r.status() != 200) {
      throw new IOException("HTTP " + r.status() + ": " + r.body());
    }
    return r;
  }

  private Sidecar client(FakeAdsServer ads, String podIp, String localhost, Path root, Path token, Ep endpoint,
      CertificateAuthority ca) throws Exception {
    ads.start();
    ads.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.outboundCluster(5000, HOST)));
    ads.set(XdsResourceType.ENDPOINT, "1", List.of(MeshResources.endpoints(outboundName(5000, HOST), "eu-west",
        endpoint)));
    ads.set(XdsResourceType.LISTENER, "1", List.of(MeshResources.outboundListener(5000)));
    ads.set(XdsResourceType.ROUTE, "1", List.of(MeshResources.routes(5000, HOST)));
    return Sidecar.start(options("sidecar", podIp, localhost, "curl", "west", ads.target(), root, token),
        WorkloadIdentity.fixed(pki.leaf(ca, "sample", "curl")), trust());
  }

  private MeshTrust trust() {
    return new MeshTrust(TrustBundle.ofPem("cluster.local", List.of(pki.rootPem())));
  }

  private static ProxyOptions options(String type, String podIp, String localhost, String sa, String cluster,
      String controller, Path root, Path token) {
    return new ProxyOptions(type, podIp, localhost, sa + "-abc", type.equals("router") ? "istio-system" : "sample",
        sa, cluster, "net1", "eu-west/eu-west-1a/", Map.of("app", sa), controller, root, token, Duration.ofHours(1),
        "cluster.local", true, 0, 0, 0);
  }

  private static int freePort(String address) throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(address))) {
      return socket.getLocalPort();
    }
  }

  private static void require(boolean condition, String what) {
    if (!condition) {
      throw new IllegalStateException(what + " does not work; the benchmark would measure nothing");
    }
  }
}
