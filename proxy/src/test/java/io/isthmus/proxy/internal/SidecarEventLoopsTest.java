package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.proxy.CaptureOptions;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The sidecar runs exactly its configured number of event loops ({@code --concurrency}),
 * however many connections it serves: each connection and its upstreams live on one of them.
 */
class SidecarEventLoopsTest {

  private static final String POD = "127.216.1.7";
  private static final String LOCALHOST = "127.216.2.7";

  @ParameterizedTest
  @ValueSource(ints = {1, 3})
  void servesEveryConnectionOnTheConfiguredEventLoops(int loops) throws Exception {
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "helloworld");
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, new SimpleMeterRegistry());
    Set<Thread> before = eventLoopThreads();
    List<Socket> clients = new ArrayList<>();
    try (SidecarServer server = SidecarServer.start(
        new SidecarSettings(POD, LOCALHOST, 0, 0, 0, new WorkloadInfo("hw", "sample", "east"),
            CaptureOptions.NONE, List.of(), loops),
        tls, () -> true, () -> ConfigDump.mapper().createObjectNode())) {
      // Channels are spread round-robin over the loops: eight connections would start eight
      // loops if there were that many.
      for (int i = 0; i < 8; i++) {
        Socket s = new Socket(server.outboundAddress().getAddress(),
            server.outboundAddress().getPort());
        s.getOutputStream().write("GET / HTTP/1.1\r\nhost: nowhere.test\r\n\r\n".getBytes());
        s.getOutputStream().flush();
        clients.add(s);
      }
      for (Socket s : clients) {
        s.setSoTimeout(30_000);
        // Any answer means the connection was served by an event loop.
        assertThat(s.getInputStream().read()).isNotNegative();
      }
      Set<Thread> started = eventLoopThreads();
      started.removeAll(before);
      assertThat(started).as("event-loop threads started by this sidecar").hasSize(loops);
    } finally {
      for (Socket s : clients) {
        s.close();
      }
    }
  }

  @Test
  void refusesNoEventLoops() {
    assertThatThrownBy(() -> new SidecarSettings(POD, LOCALHOST, 0, 0, 0,
        new WorkloadInfo("hw", "sample", "east"), CaptureOptions.NONE, List.of(), 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("eventLoops: 0 (expected: >= 1)");
  }

  private static Set<Thread> eventLoopThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().matches("isthmus-proxy-\\d+-\\d+"))
        .collect(Collectors.toSet());
  }
}
