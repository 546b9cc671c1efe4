package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.awaitility.Awaitility.await;

import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.TrustBundle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/**
 * Real sidecars on loopback without a controller: a server sidecar fed by {@link #serverAds()}
 * (cluster east) and client sidecars fed by {@link #clientAds()} (cluster west), each with a leaf
 * from its cluster's intermediate of one test PKI, talking mTLS. Both ADS servers already serve
 * the root CA secret; the test sets the other resources, starts its sidecars and closes the
 * fixture, which stops the sidecars in reverse order, then the client and server ADS, then what
 * the test handed over with {@link #own}, then releases the ports of {@link #port}.
 *
 * <p>Not thread-safe: use it from the test's lifecycle methods.
 */
final class TwoSidecars implements AutoCloseable {

  private final TestPki pki = new TestPki();
  private final MeshTrust trust =
      new MeshTrust(TrustBundle.ofPem("cluster.local", List.of(pki.rootPem())));
  private final Path root;
  private final Path token;
  private final CertificateAuthority east;
  private final CertificateAuthority west;
  private final List<Sidecar> sidecars = new ArrayList<>();
  private final Deque<AutoCloseable> owned = new ArrayDeque<>();
  private final ReservedPorts ports = new ReservedPorts();
  private FakeAdsServer serverAds;
  private FakeAdsServer clientAds;

  /** Writes the root certificate and a token file into {@code dir} and starts both ADS servers. */
  TwoSidecars(Path dir) throws Exception {
    root = Files.writeString(dir.resolve("root-cert.pem"), pki.rootPem());
    token = Files.writeString(dir.resolve("token"), "unused");
    east = pki.intermediate("east");
    west = pki.intermediate("west");
    try {
      serverAds = new FakeAdsServer().start();
      clientAds = new FakeAdsServer().start();
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
    serverAds.set(XdsResourceType.SECRET, "1", List.of(MeshResources.rootCa(pki.rootPem())));
    clientAds.set(XdsResourceType.SECRET, "1", List.of(MeshResources.rootCa(pki.rootPem())));
  }

  /**
   * A port on {@code address} for a listener the test configures (or for a dead endpoint), held
   * until the fixture closes: see {@link ReservedPorts}.
   */
  int port(String address) {
    return ports.on(address);
  }

  /**
   * As {@link #port}, for tests without a fixture: held until this JVM exits (never probed and
   * released, which raced). Prefer {@link #port} or a {@link ReservedPorts} of the test's own.
   */
  static int freePort(String address) {
    return UNTIL_EXIT.on(address);
  }

  private static final ReservedPorts UNTIL_EXIT = new ReservedPorts();

  /** Closes {@code resource} after the sidecars and ADS servers; returns it. */
  <T extends AutoCloseable> T own(T resource) {
    owned.push(resource);
    return resource;
  }

  FakeAdsServer serverAds() {
    return serverAds;
  }

  FakeAdsServer clientAds() {
    return clientAds;
  }

  CertificateAuthority east() {
    return east;
  }

  CertificateAuthority west() {
    return west;
  }

  /** The server's inbound: a listener, and one inbound cluster from {@code port} to the app. */
  void serveInbound(Listener virtualInbound, int port, int appPort) {
    serverAds.set(XdsResourceType.CLUSTER, "1",
        List.of(MeshResources.inboundCluster(port, appPort)));
    serverAds.set(XdsResourceType.LISTENER, "1", List.of(virtualInbound));
  }

  /** The client's route to one HTTP service on {@code port}, served by {@code endpoint}. */
  void routeHttp(int port, String host, Ep endpoint) {
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(MeshResources.outboundCluster(port, host)));
    clientAds.set(XdsResourceType.ENDPOINT, "1",
        List.of(MeshResources.endpoints(outboundName(port, host), "us-east", endpoint)));
    clientAds.set(XdsResourceType.LISTENER, "1", List.of(MeshResources.outboundListener(port)));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of(MeshResources.routes(port, host)));
  }

  /** Options for a pod {@code <sa>-v1-abc} of namespace sample, fed by {@code ads}. */
  ProxyOptions options(String podIp, String localhost, String sa, String cluster,
      FakeAdsServer ads) {
    return options(podIp, localhost, sa, sa + "-v1-abc", cluster, ads);
  }

  /** Options for a pod of namespace sample labelled app={@code sa}, version=v1. */
  ProxyOptions options(String podIp, String localhost, String sa, String podName, String cluster,
      FakeAdsServer ads) {
    return new ProxyOptions("sidecar", podIp, localhost, podName, "sample", sa, cluster,
        "net1", "us-east/us-east-1a/", Map.of("app", sa, "version", "v1"), ads.target(), root,
        token, Duration.ofHours(1), "cluster.local", true, 0, 0, 0);
  }

  /** The server sidecar: cluster east, fed by {@link #serverAds()}. */
  Sidecar startServer(String podIp, String localhost, String sa) throws InterruptedException {
    return start(options(podIp, localhost, sa, "east", serverAds), east);
  }

  /** A client sidecar: cluster west, fed by {@link #clientAds()}. */
  Sidecar startClient(String podIp, String localhost, String sa) throws InterruptedException {
    return start(options(podIp, localhost, sa, "west", clientAds), west);
  }

  /** A sidecar with a leaf from {@code ca} for its namespace and service account. */
  Sidecar start(ProxyOptions options, CertificateAuthority ca) throws InterruptedException {
    Sidecar sidecar = Sidecar.start(options,
        WorkloadIdentity.fixed(pki.leaf(ca, options.namespace(), options.serviceAccount())), trust);
    sidecars.add(sidecar);
    return sidecar;
  }

  /** Waits until every sidecar started here is ready. */
  void awaitReady(Duration atMost) {
    await().atMost(atMost).until(() -> sidecars.stream().allMatch(Sidecar::ready));
  }

  /**
   * Closes the sidecars all at once (each may wait seconds to flush telemetry to a collector that
   * is not there), then the ADS servers and what the test handed over with {@link #own}.
   */
  @Override
  public void close() throws Exception {
    List<Thread> closing = new ArrayList<>();
    List<Exception> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
    for (Sidecar sidecar : sidecars) {
      Thread t = new Thread(() -> {
        try {
          sidecar.close();
        } catch (RuntimeException e) {
          failures.add(e);
        }
      }, "close-sidecar-" + closing.size());
      t.start();
      closing.add(t);
    }
    for (Thread t : closing) {
      t.join();
    }
    List<AutoCloseable> order = new ArrayList<>();
    order.add(clientAds);
    order.add(serverAds);
    order.addAll(owned);
    order.add(ports);
    for (AutoCloseable c : order) {
      if (c != null) {
        c.close();
      }
    }
    if (!failures.isEmpty()) {
      Exception first = failures.get(0);
      failures.stream().skip(1).forEach(first::addSuppressed);
      throw first;
    }
  }
}
