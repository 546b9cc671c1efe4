package io.isthmus.proxy.capture;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.trust.WorkloadCertificate;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * A child process for TransparentCaptureNetnsTest: header-echo apps on each {@code address:port}
 * argument, until killed; {@code tls:address:port} is an HTTPS server (a throwaway certificate)
 * that answers {@code server: <port>} and presents a certificate of its own
 * ({@code spiffe://.../ns/ext/sa/server-<port>}), so a test sees which one a TLS connection reached. Prints
 * READY once all listen.
 */
public final class CaptureTestApps {

  private CaptureTestApps() {}

  public static void main(String[] args) throws Exception {
    List<AutoCloseable> apps = new ArrayList<>();
    for (String arg : args) {
      boolean tls = arg.startsWith("tls:");
      String address = tls ? arg.substring(4) : arg;
      int colon = address.lastIndexOf(':');
      String host = address.substring(0, colon);
      int port = Integer.parseInt(address.substring(colon + 1));
      if (tls) {
        HttpsServer https = https(host, port);
        apps.add(() -> https.stop(0));
      } else {
        apps.add(new HeaderEchoApp(host, port));
      }
    }
    System.out.println("READY " + apps.size());
    System.out.flush();
    Thread.currentThread().join();
  }

  private static HttpsServer https(String host, int port) throws Exception {
    TestPki pki = new TestPki();
    // A certificate of its own per server (SPIFFE ID .../ns/ext/sa/server-<port>), so a client
    // can tell by the certificate which one it reached.
    WorkloadCertificate cert = pki.leaf(pki.intermediate("ext"), "ext", "server-" + port);
    KeyStore keys = KeyStore.getInstance("PKCS12");
    keys.load(null, null);
    keys.setKeyEntry("server", cert.privateKey(), new char[0],
        cert.chain().toArray(Certificate[]::new));
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, new char[0]);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), null, null);
    HttpsServer server = HttpsServer.create(new InetSocketAddress(host, port), 16);
    server.setHttpsConfigurator(new HttpsConfigurator(context));
    server.createContext("/", exchange -> {
      byte[] body = ("server: " + port + "\npath: " + exchange.getRequestURI() + "\n")
          .getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.start();
    return server;
  }
}
