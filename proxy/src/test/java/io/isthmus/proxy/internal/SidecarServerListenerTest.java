package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.ReservedPorts;
import io.isthmus.proxy.testing.TestPki;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Inbound listeners follow LDS: new ports are bound, removed ones closed. */
class SidecarServerListenerTest {

  private static final String POD = "127.216.1.1";

  private static XdsSnapshot inbound(int... ports) {
    return new XdsSnapshot(Map.of(), Map.of(),
        Map.of("virtualInbound", MeshResources.virtualInbound(ports)), Map.of(), Map.of(),
        Map.of(XdsResourceType.CLUSTER, "1", XdsResourceType.LISTENER, "1"));
  }

  @Test
  void rebindsInboundListenersWhenListenersChange() throws Exception {
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "helloworld");
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, new SimpleMeterRegistry());
    try (ReservedPorts ports = new ReservedPorts();
        SidecarServer server = SidecarServer.start(
        new SidecarSettings(POD, "127.216.2.1", 0, 0, 0, new WorkloadInfo("hw", "sample", "east")),
        tls, () -> true, () -> ConfigDump.mapper().createObjectNode())) {
      assertThat(server.ready()).isFalse();
      int a = ports.on(POD);
      int b = ports.on(POD);

      server.apply(inbound(a));
      assertThat(server.inboundPorts()).containsExactly(a);
      assertThat(server.ready()).isTrue();
      connect(a);

      server.apply(inbound(b));
      assertThat(server.inboundPorts()).containsExactly(b);
      connect(b);
      assertThatThrownBy(() -> connect(a)).isInstanceOf(ConnectException.class);
    }
  }

  @Test
  void anInboundPortThatCannotBeBoundKeepsTheSidecarUnreadyAndIsRetriedWithoutANewConfig()
      throws Exception {
    TestPki pki = new TestPki();
    WorkloadCertificate cert = pki.leaf(pki.intermediate("east"), "sample", "helloworld");
    TrustBundle bundle = TrustBundle.ofPem("cluster.local", List.of(pki.rootPem()));
    TlsContexts tls = MeshContexts.dataPlane(() -> cert, () -> bundle, new SimpleMeterRegistry());
    // The port stays reserved once the squatter goes, so only the sidecar's retry can take it.
    try (ReservedPorts ports = new ReservedPorts();
        ServerSocket squatter = listen(ports.on(POD));
        SidecarServer server = SidecarServer.start(
            new SidecarSettings(POD, "127.216.2.1", 0, 0, 0, new WorkloadInfo("hw", "sample", "east")),
            tls, () -> true, () -> ConfigDump.mapper().createObjectNode())) {
      int port = squatter.getLocalPort();

      server.apply(inbound(port));
      assertThat(server.inboundPorts()).isEmpty();
      assertThat(server.ready()).as("ready while its inbound port is unbound").isFalse();

      squatter.close();
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60))
          .until(() -> server.inboundPorts().contains(port));
      assertThat(server.ready()).isTrue();
      connect(port);
    }
  }

  private static ServerSocket listen(int port) throws IOException {
    ServerSocket socket = new ServerSocket();
    socket.setReuseAddress(true);
    socket.bind(new InetSocketAddress(POD, port), 1);
    return socket;
  }

  private static void connect(int port) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(POD, port), 10_000);
    }
  }
}
