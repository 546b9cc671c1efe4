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
 * breaks as \n), or "ERROR ..." when the connection fails.
 */
public class HttpAgent {
  public static void main(String[] args) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    System.out.println("READY");
    System.out.flush();
    String line;
    while ((line = in.readLine()) != null) {
      String[] p = line.split(" ");
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(p[0], Integer.parseInt(p[1])), 5000);
        socket.setSoTimeout(10000);
        socket.getOutputStream().write(("GET " + p[3] + " HTTP/1.1\r\nHost: " + p[2]
            + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.println(response.replace("\r", "").replace("\n", "\\n"));
      } catch (IOException | RuntimeException e) {
        System.out.println("ERROR " + e);
      }
      System.out.flush();
    }
  }
}
