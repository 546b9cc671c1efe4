package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.proxy.CaptureOptions;
import io.isthmus.proxy.TelemetryOptions;
import io.isthmus.proxy.internal.telemetry.PeerMetadata;
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
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
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
 * DestinationRule {@code tls} as the controller sends it (an EDS cluster's transport socket),
 * honoured by a real sidecar on loopback toward real servers whose certificates the test makes:
 * {@code SIMPLE} verifies the chain against the cluster's CA file and the SANs and sends the
 * SNI; a server outside that CA, or without the SAN, is refused with a 503 {@code UF} that names
 * the cause, counted by reason and written to the access log; {@code insecureSkipVerify} accepts
 * it; {@code MUTUAL} presents the client certificate a server requires; no transport socket
 * ({@code DISABLE}) dials plaintext, and TLS toward a plaintext server fails clearly.
 */
class UpstreamTlsLoopbackTest {

  private static final String POD = "127.203.1.1";
  private static final String LOCALHOST = "127.203.2.1";
  private static final String SERVER_IP = "127.203.3.1";
  private static final String HOST = "hello.example.test";
  private static final String CLUSTER = "outbound|80||" + HOST;
  private static final String SERVER_URI = "spiffe://external.test/ns/api/sa/hello";
  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

  @TempDir
  Path dir;
  private SidecarServer sidecar;
  private Path accessLog;
  private final List<AutoCloseable> servers = new ArrayList<>();
  private final List<String> applied = new ArrayList<>();

  /** The external server's CA: the one the cluster trusts. */
  private KeyPair caKey;
  private X509Certificate ca;
  private Path caFile;

  @BeforeEach
  void start() throws Exception {
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "curl");
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, new SimpleMeterRegistry());
    accessLog = dir.resolve("access.log");
    sidecar = SidecarServer.start(new SidecarSettings(POD, LOCALHOST, 0, 0, 0,
            new WorkloadInfo("curl", "sample", "east"), CaptureOptions.NONE, List.of()),
        tls, () -> true, () -> ConfigDump.mapper().createObjectNode(),
        new TelemetrySettings(new PeerMetadata("curl-1", "sample", "east", "curl", "curl", "v1"),
            new TelemetryOptions(-1, "", 0, accessLog.toString(), "json", 1_000)));
    caKey = keyPair();
    ca = certificate("CN=external CA", caKey, "CN=external CA", caKey, null, true);
    caFile = write("ca.pem", pem(ca));
  }

  @AfterEach
  void stop() throws Exception {
    if (sidecar != null) {
      sidecar.close();
    }
    for (AutoCloseable server : servers) {
      server.close();
    }
  }

  @Test
  void simpleVerifiesTheServerAgainstItsCaAndSansAndSendsTheSni() throws Exception {
    int port = httpsServer(HOST, caKey, ca, false);
    apply(port, simple(HOST, caFile, HOST));
    assertThat(get()).isEqualTo("200 tls sni=" + HOST + " client=none");

    // Another SNI, as the rule's tls.sni says: sent as it is.
    apply(port, simple("edge.example.test", caFile, HOST));
    assertThat(get()).isEqualTo("200 tls sni=edge.example.test client=none");

    // A URI SAN (a SPIFFE ID among subjectAltNames) matches the certificate's URI.
    UpstreamTlsContext byUri = simple(HOST, caFile, HOST);
    apply(port, byUri.toBuilder().setCommonTlsContext(byUri.getCommonTlsContext().toBuilder().setValidationContext(
        byUri.getCommonTlsContext().getValidationContext().toBuilder().clearMatchTypedSubjectAltNames()
            .addMatchTypedSubjectAltNames(SubjectAltNameMatcher.newBuilder()
                .setSanType(SubjectAltNameMatcher.SanType.URI)
                .setMatcher(StringMatcher.newBuilder().setExact(SERVER_URI))))).build());
    assertThat(get()).isEqualTo("200 tls sni=" + HOST + " client=none");
  }

  @Test
  void aServerWithoutTheSanOrOutsideTheCaIsRefusedWithA503NamingTheCause() throws Exception {
    int port = httpsServer(HOST, caKey, ca, false);
    apply(port, simple(HOST, caFile, "other.example.test"));
    RawHttp.Response sanMismatch = RawHttp.get(sidecar.outboundAddress(), HOST + ":80", "/");
    assertThat(sanMismatch.status()).isEqualTo(503);
    assertThat(sanMismatch.body()).startsWith("upstream connect error or disconnect/reset before headers."
        + " reset reason: connection failure, transport failure reason: TLS_error: CERTIFICATE_VERIFY_FAILED:"
        + " verify SAN list:").contains("other.example.test");
    assertThat(failures("fail_verify_san")).isPositive();

    // A server whose certificate another CA signed, with the right name.
    KeyPair rogueKey = keyPair();
    X509Certificate rogueCa = certificate("CN=rogue CA", rogueKey, "CN=rogue CA", rogueKey, null, true);
    int roguePort = httpsServer(HOST, rogueKey, rogueCa, false);
    apply(roguePort, simple(HOST, caFile, HOST));
    RawHttp.Response untrusted = RawHttp.get(sidecar.outboundAddress(), HOST + ":80", "/");
    assertThat(untrusted.status()).isEqualTo(503);
    assertThat(untrusted.body()).contains("transport failure reason: TLS_error: CERTIFICATE_VERIFY_FAILED:")
        .doesNotContain("verify SAN list");
    assertThat(failures("fail_verify_error")).isPositive();

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(Files.readAllLines(accessLog))
        .anySatisfy(line -> assertThat(line).contains("\"response_code\":503")
            .containsPattern("\"response_flags\":\"(UF|URX)\"")
            .contains("\"upstream_cluster\":\"" + CLUSTER + "\"")
            .contains("\"upstream_transport_failure_reason\":\"TLS_error: CERTIFICATE_VERIFY_FAILED: verify SAN list:")
            .contains("\"response_code_details\":\"upstream_reset_before_response_started{connection_failure,TLS_error:")));

    // insecureSkipVerify: the same server is accepted.
    apply(roguePort, UpstreamTlsContext.newBuilder().setSni(HOST)
        .setCommonTlsContext(CommonTlsContext.newBuilder().setValidationContext(
            CertificateValidationContext.newBuilder().setTrustChainVerification(
                CertificateValidationContext.TrustChainVerification.ACCEPT_UNTRUSTED)))
        .build());
    assertThat(get()).isEqualTo("200 tls sni=" + HOST + " client=none");
  }

  @Test
  void mutualPresentsTheClientCertificateTheServerRequires() throws Exception {
    KeyPair clientKey = keyPair();
    X509Certificate client = certificate("CN=curl client", clientKey, "CN=external CA", caKey, null, false);
    Path chain = write("client.pem", pem(client));
    Path key = write("client-key.pem", "-----BEGIN PRIVATE KEY-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
            .encodeToString(clientKey.getPrivate().getEncoded())
        + "\n-----END PRIVATE KEY-----\n");
    int port = httpsServer(HOST, caKey, ca, true);

    UpstreamTlsContext simple = simple(HOST, caFile, HOST);
    apply(port, simple.toBuilder().setCommonTlsContext(simple.getCommonTlsContext().toBuilder()
        .addTlsCertificates(TlsCertificate.newBuilder()
            .setCertificateChain(DataSource.newBuilder().setFilename(chain.toString()))
            .setPrivateKey(DataSource.newBuilder().setFilename(key.toString()))))
        .build());
    assertThat(get()).isEqualTo("200 tls sni=" + HOST + " client=CN=curl client");

    // Without the certificate the server refuses the connection: a 503, never a hang.
    apply(port, simple);
    assertThat(get()).startsWith("503 upstream connect error or disconnect/reset before headers.");
  }

  @Test
  void withoutATransportSocketTheSidecarDialsPlaintext() throws Exception {
    HttpServer http = HttpServer.create(new InetSocketAddress(SERVER_IP, 0), 16);
    http.createContext("/", exchange -> reply(exchange, "plain"));
    http.start();
    servers.add(() -> http.stop(0));
    apply(http.getAddress().getPort(), null);
    assertThat(get()).isEqualTo("200 plain");

    // TLS toward a plaintext server that answers the ClientHello with an HTTP 400, as nginx does:
    // no handshake, a 503 naming it, counted as a connection error.
    java.net.ServerSocket plain = new java.net.ServerSocket(0, 16, java.net.InetAddress.getByName(SERVER_IP));
    servers.add(plain);
    Thread answering = new Thread(() -> {
      while (!plain.isClosed()) {
        try (java.net.Socket s = plain.accept()) {
          s.getInputStream().read(new byte[512]);
          s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
              .getBytes(StandardCharsets.US_ASCII));
        } catch (IOException closed) {
          // the test is over, or the sidecar went away first
        }
      }
    }, "dr-tls-plain-400");
    answering.setDaemon(true);
    answering.start();
    apply(plain.getLocalPort(), simple(HOST, caFile, HOST));
    assertThat(get()).startsWith("503 upstream connect error or disconnect/reset before headers. reset reason:"
        + " connection failure, transport failure reason: TLS_error: ");
    assertThat(failures("connection_error")).isPositive();
  }

  private double failures(String reason) {
    return sidecar.metrics().count("isthmus_upstream_tls_handshake_failures", "cluster", CLUSTER,
        "reason", reason);
  }

  private String get() throws IOException {
    RawHttp.Response response = RawHttp.get(sidecar.outboundAddress(), HOST + ":80", "/");
    return response.status() + " " + response.body();
  }


  /** The cluster as the controller sends it for a service at {@code port}, with {@code tls} or none. */
  private void apply(int port, UpstreamTlsContext tls) {
    Cluster.Builder cluster = MeshResources.outboundCluster(80, HOST).toBuilder().clearTransportSocket();
    if (tls != null) {
      cluster.setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
          .setTypedConfig(Any.pack(tls)));
    }
    String version = Integer.toString(applied.size() + 1);
    applied.add(version);
    sidecar.apply(new XdsSnapshot(Map.of(CLUSTER, cluster.build()),
        Map.of(CLUSTER, MeshResources.endpoints(CLUSTER, "us-east",
            new MeshResources.Ep(SERVER_IP, port, 1, "external", false))),
        Map.of("0.0.0.0_80", MeshResources.outboundListener(80)),
        Map.of("80", MeshResources.routes(80, HOST)), Map.of(),
        Map.of(XdsResourceType.CLUSTER, version, XdsResourceType.LISTENER, version)));
  }

  private static UpstreamTlsContext simple(String sni, Path caPem, String san) {
    return UpstreamTlsContext.newBuilder().setSni(sni)
        .setCommonTlsContext(CommonTlsContext.newBuilder().setValidationContext(
            CertificateValidationContext.newBuilder()
                .setTrustedCa(DataSource.newBuilder().setFilename(caPem.toString()))
                .addMatchTypedSubjectAltNames(SubjectAltNameMatcher.newBuilder()
                    .setSanType(SubjectAltNameMatcher.SanType.DNS)
                    .setMatcher(StringMatcher.newBuilder().setExact(san)))))
        .build();
  }

  /**
   * An HTTPS server on {@link #SERVER_IP} with a certificate for {@code name} signed by
   * {@code issuer}, answering with the SNI it got and the client certificate's subject; with
   * {@code requireClient}, it demands a client certificate signed by the external CA.
   */
  private int httpsServer(String name, KeyPair issuerKey, X509Certificate issuer, boolean requireClient)
      throws Exception {
    KeyPair serverKey = keyPair();
    X509Certificate server = certificate("CN=" + name, serverKey, issuer.getSubjectX500Principal().getName(),
        issuerKey, name, false);
    KeyStore keys = KeyStore.getInstance("PKCS12");
    keys.load(null, null);
    keys.setKeyEntry("server", serverKey.getPrivate(), new char[0], new X509Certificate[] {server, issuer});
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, new char[0]);
    KeyStore trusted = KeyStore.getInstance("PKCS12");
    trusted.load(null, null);
    trusted.setCertificateEntry("ca", ca);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trusted);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    HttpsServer https = HttpsServer.create(new InetSocketAddress(SERVER_IP, 0), 16);
    https.setHttpsConfigurator(new HttpsConfigurator(context) {
      @Override
      public void configure(HttpsParameters params) {
        SSLParameters p = context.getDefaultSSLParameters();
        p.setNeedClientAuth(requireClient);
        params.setSSLParameters(p);
      }
    });
    https.createContext("/", exchange -> {
      var session = (ExtendedSSLSession) ((HttpsExchange) exchange).getSSLSession();
      String sni = session.getRequestedServerNames().stream()
          .map(n -> ((SNIHostName) n).getAsciiName()).findFirst().orElse("none");
      String client;
      try {
        client = ((X509Certificate) session.getPeerCertificates()[0]).getSubjectX500Principal().getName();
      } catch (javax.net.ssl.SSLPeerUnverifiedException none) {
        client = "none";
      }
      reply(exchange, "tls sni=" + sni + " client=" + client);
    });
    https.start();
    servers.add(() -> https.stop(0));
    return https.getAddress().getPort();
  }

  private static void reply(HttpExchange exchange, String body) throws IOException {
    exchange.getRequestBody().readAllBytes();
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.sendResponseHeaders(200, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  private Path write(String name, String content) throws IOException {
    Path file = dir.resolve(name);
    Files.writeString(file, content, StandardCharsets.US_ASCII);
    return file;
  }

  private static KeyPair keyPair() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"));
    return generator.generateKeyPair();
  }

  private static X509Certificate certificate(String subject, KeyPair subjectKey, String issuer, KeyPair issuerKey,
      String dnsName, boolean isCa) throws Exception {
    Instant now = Instant.now();
    var builder = new JcaX509v3CertificateBuilder(new X500Name(issuer), BigInteger.valueOf(SERIAL.incrementAndGet()),
        Date.from(now.minusSeconds(300)), Date.from(now.plusSeconds(3600)), new X500Name(subject),
        subjectKey.getPublic());
    builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
    if (dnsName != null) {
      builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
          new GeneralName(GeneralName.dNSName, dnsName),
          new GeneralName(GeneralName.uniformResourceIdentifier, SERVER_URI)}));
    }
    return new JcaX509CertificateConverter().getCertificate(
        builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey.getPrivate())));
  }

  private static String pem(X509Certificate cert) throws Exception {
    return "-----BEGIN CERTIFICATE-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(cert.getEncoded())
        + "\n-----END CERTIFICATE-----\n";
  }
}
