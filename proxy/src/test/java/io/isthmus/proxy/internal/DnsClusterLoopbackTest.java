package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.proxy.testing.FakeDnsServer;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * STRICT_DNS clusters and TLS origination through a real sidecar on loopback: upstream HTTP(S)
 * servers reached by host name, resolved by a real DNS server ({@link FakeDnsServer}) the test
 * changes; the sidecar follows a changed address after its refresh, keeps serving from the last
 * good address while lookups fail, and originates {@code SIMPLE} TLS to a server with its own CA.
 */
class DnsClusterLoopbackTest {

  private static final String POD = "127.217.1.1";
  private static final String LOCALHOST = "127.217.2.1";
  private static final String HOST = "api.example.test";

  private FakeDnsServer dns;
  private SidecarServer sidecar;
  private final List<AutoCloseable> upstreams = new java.util.ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    dns = new FakeDnsServer();
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "curl");
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, new SimpleMeterRegistry());
    sidecar = SidecarServer.start(new SidecarSettings(POD, LOCALHOST, 0, 0, 0,
            new WorkloadInfo("curl", "sample", "east"), io.isthmus.proxy.CaptureOptions.NONE,
            List.of(dns.address())),
        tls, () -> true, () -> ConfigDump.mapper().createObjectNode());
  }

  @AfterEach
  void stop() throws Exception {
    if (sidecar != null) {
      sidecar.close();
    }
    for (AutoCloseable upstream : upstreams) {
      upstream.close();
    }
    dns.close();
  }

  /** An HTTP server on {@code ip:port} that answers with {@code name}. */
  private void http(String ip, int port, String name) throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress(ip, port), 16);
    server.createContext("/", exchange -> reply(exchange, name));
    server.start();
    upstreams.add(() -> server.stop(0));
  }

  private static void reply(HttpExchange exchange, String body) throws IOException {
    exchange.getRequestBody().readAllBytes();
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.sendResponseHeaders(200, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  /** Two HTTP servers on one port of two addresses: the DNS answer decides which is reached. */
  private int twoUpstreams(String ipA, String ipB) throws IOException {
    for (int attempt = 0; ; attempt++) {
      HttpServer a = HttpServer.create(new InetSocketAddress(ipA, 0), 16);
      int port = a.getAddress().getPort();
      a.createContext("/", exchange -> reply(exchange, "A"));
      try {
        http(ipB, port, "B");
      } catch (IOException taken) {
        a.stop(0);
        if (attempt > 10) {
          throw taken;
        }
        continue;
      }
      a.start();
      upstreams.add(() -> a.stop(0));
      return port;
    }
  }

  private static Cluster dnsCluster(String name, Cluster.DiscoveryType type, String host, int port,
      UpstreamTlsContext tls) {
    Cluster.Builder cluster = Cluster.newBuilder().setName(name).setType(type)
        .setDnsRefreshRate(com.google.protobuf.Duration.newBuilder().setNanos(200_000_000))
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName(name)
            .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                    .setSocketAddress(SocketAddress.newBuilder().setAddress(host).setPortValue(port)))))));
    if (tls != null) {
      cluster.setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
          .setTypedConfig(Any.pack(tls)));
    }
    return cluster.build();
  }

  private void apply(String host, Cluster cluster) {
    sidecar.apply(new XdsSnapshot(Map.of(cluster.getName(), cluster), Map.of(),
        Map.of("0.0.0.0_80", MeshResources.outboundListener(80)),
        Map.of("80", MeshResources.routes(80, host)), Map.of(),
        Map.of(XdsResourceType.CLUSTER, "1", XdsResourceType.LISTENER, "1")));
  }

  private String get(String host) throws IOException {
    RawHttp.Response response = RawHttp.get(sidecar.outboundAddress(), host + ":80", "/");
    return response.status() + " " + response.body();
  }

  @Test
  void aHostNameClusterFollowsDnsAndKeepsItsLastGoodAddressWhileLookupsFail() throws Exception {
    int port = twoUpstreams("127.217.3.1", "127.217.3.2");
    dns.set(HOST, "127.217.3.1");
    apply(HOST, dnsCluster("outbound|80||" + HOST, Cluster.DiscoveryType.STRICT_DNS, HOST, port, null));
    await().atMost(Duration.ofSeconds(30)).until(() -> get(HOST).equals("200 A"));

    dns.set(HOST, "127.217.3.2");
    await().atMost(Duration.ofSeconds(30)).until(() -> get(HOST).equals("200 B"));
    assertThat(sidecar.configDump().path("dns_endpoints").toString())
        .isEqualTo("[{\"cluster\":\"outbound|80||" + HOST + "\",\"addresses\":[\"127.217.3.2:" + port + "\"]}]");

    dns.failing(true);
    await().atMost(Duration.ofSeconds(30)).until(() -> sidecar.metrics()
        .count("isthmus_dns_resolution_failures", "cluster", "outbound|80||" + HOST) >= 2);
    for (int i = 0; i < 5; i++) {
      assertThat(get(HOST)).isEqualTo("200 B");
    }
  }

  @Test
  void withRespectDnsTtlTheRecordsTtlNotTheRefreshRateDrivesTheNextLookup() throws Exception {
    int port = twoUpstreams("127.217.3.1", "127.217.3.2");
    dns.ttlSeconds(1);
    dns.set(HOST, "127.217.3.1");
    // As the controller sends it: a 60 s refresh rate, TTL respected.
    Cluster cluster = dnsCluster("outbound|80||" + HOST, Cluster.DiscoveryType.STRICT_DNS, HOST, port, null)
        .toBuilder().setDnsRefreshRate(com.google.protobuf.Duration.newBuilder().setSeconds(60))
        .setRespectDnsTtl(true).build();
    apply(HOST, cluster);
    await().atMost(Duration.ofSeconds(30)).until(() -> get(HOST).equals("200 A"));
    dns.set(HOST, "127.217.3.2");
    await().atMost(Duration.ofSeconds(30)).until(() -> get(HOST).equals("200 B"));
  }

  @Test
  void strictDnsUsesEveryAddressAndLogicalDnsTheFirst() throws Exception {
    int port = twoUpstreams("127.217.3.1", "127.217.3.2");
    dns.set(HOST, "127.217.3.1", "127.217.3.2");
    apply(HOST, dnsCluster("outbound|80||" + HOST, Cluster.DiscoveryType.STRICT_DNS, HOST, port, null));
    java.util.Set<String> seen = new java.util.HashSet<>();
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      seen.add(get(HOST));
      // Before the first answer the cluster has no endpoint (503): only both answers count.
      return seen.containsAll(java.util.Set.of("200 A", "200 B"));
    });

    apply(HOST, dnsCluster("outbound|80||" + HOST, Cluster.DiscoveryType.LOGICAL_DNS, HOST, port, null));
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      for (int i = 0; i < 4; i++) {
        if (!get(HOST).equals("200 A")) {
          return false;
        }
      }
      return true;
    });
  }

  @Test
  void simpleTlsOriginationVerifiesTheServerWithItsOwnCaAndSendsTheSni(@TempDir Path dir) throws Exception {
    String host = "tls.example.test";
    KeyPair caKey = keyPair();
    X509Certificate ca = certificate("CN=external test CA", caKey, "CN=external test CA", caKey, null, true);
    KeyPair serverKey = keyPair();
    X509Certificate server = certificate("CN=" + host, serverKey, "CN=external test CA", caKey, host, false);
    Path caFile = dir.resolve("ca.pem");
    Files.writeString(caFile, pem(ca));
    HttpsServer https = HttpsServer.create(new InetSocketAddress("127.217.3.3", 0), 16);
    https.setHttpsConfigurator(new HttpsConfigurator(serverContext(serverKey, server, ca)));
    https.createContext("/", exchange -> {
      var session = (ExtendedSSLSession) ((HttpsExchange) exchange).getSSLSession();
      String sni = session.getRequestedServerNames().stream()
          .map(n -> ((SNIHostName) n).getAsciiName()).findFirst().orElse("none");
      reply(exchange, "tls sni=" + sni);
    });
    https.start();
    upstreams.add(() -> https.stop(0));
    dns.set(host, "127.217.3.3");
    String cluster = "outbound|80||" + host;

    apply(host, dnsCluster(cluster, Cluster.DiscoveryType.STRICT_DNS, host, https.getAddress().getPort(),
        simpleTls(host, caFile, host)));
    await().atMost(Duration.ofSeconds(30)).until(() -> get(host).equals("200 tls sni=" + host));

    // A subject alt name the server's certificate does not carry: the handshake is refused.
    apply(host, dnsCluster(cluster, Cluster.DiscoveryType.STRICT_DNS, host, https.getAddress().getPort(),
        simpleTls(host, caFile, "other.example.test")));
    await().atMost(Duration.ofSeconds(30)).until(() -> get(host).startsWith("503 "));
  }

  private static UpstreamTlsContext simpleTls(String sni, Path ca, String san) {
    return UpstreamTlsContext.newBuilder().setSni(sni)
        .setCommonTlsContext(CommonTlsContext.newBuilder().setValidationContext(
            CertificateValidationContext.newBuilder()
                .setTrustedCa(DataSource.newBuilder().setFilename(ca.toString()))
                .addMatchTypedSubjectAltNames(SubjectAltNameMatcher.newBuilder()
                    .setSanType(SubjectAltNameMatcher.SanType.DNS)
                    .setMatcher(StringMatcher.newBuilder().setExact(san)))))
        .build();
  }

  private static KeyPair keyPair() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"));
    return generator.generateKeyPair();
  }

  private static X509Certificate certificate(String subject, KeyPair subjectKey, String issuer, KeyPair issuerKey,
      String dnsName, boolean ca) throws Exception {
    Instant now = Instant.now();
    var builder = new JcaX509v3CertificateBuilder(new X500Name(issuer), BigInteger.valueOf(now.toEpochMilli()),
        Date.from(now.minusSeconds(300)), Date.from(now.plusSeconds(3600)), new X500Name(subject),
        subjectKey.getPublic());
    builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
    if (dnsName != null) {
      builder.addExtension(Extension.subjectAlternativeName, false,
          new GeneralNames(new GeneralName(GeneralName.dNSName, dnsName)));
    }
    return new JcaX509CertificateConverter().getCertificate(
        builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey.getPrivate())));
  }

  private static String pem(X509Certificate cert) throws Exception {
    return "-----BEGIN CERTIFICATE-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(cert.getEncoded())
        + "\n-----END CERTIFICATE-----\n";
  }

  private static SSLContext serverContext(KeyPair key, X509Certificate cert, X509Certificate ca) throws Exception {
    KeyStore store = KeyStore.getInstance("PKCS12");
    store.load(null, null);
    store.setKeyEntry("server", key.getPrivate(), new char[0], new X509Certificate[] {cert, ca});
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(store, new char[0]);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), null, null);
    return context;
  }
}
