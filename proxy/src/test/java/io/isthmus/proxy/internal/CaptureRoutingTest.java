package io.isthmus.proxy.internal;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.internal.capture.OriginalDestination;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContextBuilder;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A captured HTTP connection is routed with the route configuration of its original
 * destination's port, whatever port its Host header names (often none: an app that calls
 * {@code http://reviews/} sends {@code Host: reviews}, and the capture knows the port).
 */
class CaptureRoutingTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";

  private static DataPlaneConfig config() {
    XdsSnapshot snapshot = new XdsSnapshot(
        Map.of(outboundName(5000, HOST), MeshResources.outboundCluster(5000, HOST)),
        Map.of(outboundName(5000, HOST), MeshResources.endpoints(outboundName(5000, HOST), "x")),
        Map.of(), Map.of("5000", MeshResources.routes(5000, HOST)), Map.of(),
        Map.of(XdsResourceType.CLUSTER, "1"));
    return DataPlaneConfig.from(snapshot);
  }

  private static String send(String host, OriginalDestination captured) throws Exception {
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    EmbeddedChannel channel = new EmbeddedChannel();
    if (captured != null) {
      OriginalDestination.set(channel, captured);
    }
    channel.pipeline().addLast(new OutboundHandler(CaptureRoutingTest::config, tls,
        new HttpRelay("127.0.0.1"), new ProxyMetrics(), new WorkloadInfo("curl", "sample", "w")));
    var request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/");
    request.headers().set("host", host);
    channel.writeInbound(request);
    FullHttpResponse response = channel.readOutbound();
    try {
      return response.status().code() + " " + response.content().toString(StandardCharsets.UTF_8);
    } finally {
      response.release();
      channel.finishAndReleaseAll();
    }
  }

  @Test
  void theOriginalDestinationPortPicksTheRouteConfiguration() throws Exception {
    OriginalDestination to5000 =
        new OriginalDestination(new InetSocketAddress("10.96.0.10", 5000), "5000");
    // Routed to the cluster of port 5000 (which has no endpoint here: 503, not 404).
    assertThat(send("helloworld", to5000)).isEqualTo("503 no healthy upstream\n");
    assertThat(send(HOST, to5000)).isEqualTo("503 no healthy upstream\n");
  }

  @Test
  void withoutCaptureTheHostHeaderPortDecidesAsBefore() throws Exception {
    // Explicit entry: no port in Host means 80, where nothing is configured.
    assertThat(send("helloworld", null)).startsWith("404 no route for helloworld/");
    assertThat(send("helloworld:5000", null)).isEqualTo("503 no healthy upstream\n");
  }

  @Test
  void aCapturedPortWithoutRoutesRoutesNothing() throws Exception {
    OriginalDestination to7000 =
        new OriginalDestination(new InetSocketAddress("10.96.0.10", 7000), "7000");
    assertThat(send("helloworld:5000", to7000)).startsWith("404 no route for helloworld:5000/");
  }
}
