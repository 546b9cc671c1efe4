import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A plain HTTP/1.1 client that knows nothing of the mesh, for TransparentCaptureNetnsTest: run
 * with the JDK's source launcher inside a network namespace (as any user, since it needs no
 * classpath), it reads "ip port host path" lines and prints each response on one line (line
 * breaks as \n), or "ERROR ..." when the connection fails. A fifth word {@code tls} sends the
 * request over TLS with the host as SNI (any server certificate accepted) and appends a line
 * {@code tls-peer: <the server certificate's URI SANs>} to the response.
 */
public class HttpAgent {
  public static void main(String[] args) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    System.out.println("READY");
    System.out.flush();
    String line;
    while ((line = in.readLine()) != null) {
      String[] p = line.split(" ");
      try (Socket plain = new Socket()) {
        plain.connect(new InetSocketAddress(p[0], Integer.parseInt(p[1])), 5000);
        plain.setSoTimeout(10000);
        Socket socket = plain;
        String peer = "";
        if (p.length > 4 && p[4].equals("tls")) {
          javax.net.ssl.SSLContext tls = javax.net.ssl.SSLContext.getInstance("TLS");
          tls.init(null, new javax.net.ssl.TrustManager[] {new javax.net.ssl.X509TrustManager() {
            public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a) { }
            public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a) { }
            public java.security.cert.X509Certificate[] getAcceptedIssuers() {
              return new java.security.cert.X509Certificate[0];
            }
          }}, null);
          javax.net.ssl.SSLSocket ssl = (javax.net.ssl.SSLSocket) tls.getSocketFactory()
              .createSocket(plain, p[2], plain.getPort(), true);
          javax.net.ssl.SSLParameters parameters = ssl.getSSLParameters();
          parameters.setServerNames(java.util.List.of(new javax.net.ssl.SNIHostName(p[2])));
          ssl.setSSLParameters(parameters);
          ssl.startHandshake();
          socket = ssl;
          java.security.cert.X509Certificate leaf =
              (java.security.cert.X509Certificate) ssl.getSession().getPeerCertificates()[0];
          StringBuilder uris = new StringBuilder();
          if (leaf.getSubjectAlternativeNames() != null) {
            for (java.util.List<?> san : leaf.getSubjectAlternativeNames()) {
              if (Integer.valueOf(6).equals(san.get(0))) {
                uris.append(uris.length() == 0 ? "" : ",").append(san.get(1));
              }
            }
          }
          peer = "\\ntls-peer: " + uris;
        }
        socket.getOutputStream().write(("GET " + p[3] + " HTTP/1.1\r\nHost: " + p[2]
            + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.println(response.replace("\r", "").replace("\n", "\\n") + peer);
      } catch (IOException | RuntimeException | java.security.GeneralSecurityException e) {
        System.out.println("ERROR " + e);
      }
      System.out.flush();
    }
  }
}
