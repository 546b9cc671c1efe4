package io.isthmus.proxy.internal;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The routing decisions that end in the proxy itself, on an EmbeddedChannel. */
class OutboundHandlerTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";

  private static DataPlaneConfig config() {
    XdsSnapshot snapshot = new XdsSnapshot(
        Map.of(outboundName(5000, HOST), MeshResources.outboundCluster(5000, HOST)),
        Map.of(outboundName(5000, HOST), MeshResources.endpoints(outboundName(5000, HOST), "x")),
        Map.of(), Map.of("5000", MeshResources.routes(5000, HOST)), Map.of(),
        Map.of(XdsResourceType.CLUSTER, "1"));
    return DataPlaneConfig.from(snapshot);
  }

  private static FullHttpResponse send(String host) throws Exception {
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    ProxyMetrics metrics = new ProxyMetrics();
    EmbeddedChannel channel = new EmbeddedChannel(new OutboundHandler(
        OutboundHandlerTest::config, tls, new HttpRelay("127.0.0.1"), metrics,
        new WorkloadInfo("curl", "sample", "west")));
    var request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/");
    request.headers().set("host", host);
    channel.writeInbound(request);
    FullHttpResponse response = channel.readOutbound();
    channel.finishAndReleaseAll();
    return response;
  }

  @Test
  void unroutedHostIs404() throws Exception {
    FullHttpResponse response = send("nowhere.sample.svc.cluster.local:5000");
    try {
      assertThat(response.status().code()).isEqualTo(404);
      assertThat(response.content().toString(StandardCharsets.UTF_8)).contains("no route");
    } finally {
      response.release();
    }
  }

  @Test
  void routedClusterWithoutHealthyEndpointsIs503() throws Exception {
    FullHttpResponse response = send(HOST + ":5000");
    try {
      assertThat(response.status().code()).isEqualTo(503);
      assertThat(response.content().toString(StandardCharsets.UTF_8))
          .isEqualTo("no healthy upstream\n");
    } finally {
      response.release();
    }
  }

  @Test
  void requestWithoutHostIs400() throws Exception {
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    EmbeddedChannel channel = new EmbeddedChannel(new OutboundHandler(
        OutboundHandlerTest::config, tls, new HttpRelay("127.0.0.1"), new ProxyMetrics(),
        new WorkloadInfo("curl", "sample", "west")));
    channel.writeInbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/"));
    FullHttpResponse response = channel.readOutbound();
    assertThat(response.status().code()).isEqualTo(400);
    response.release();
    channel.finishAndReleaseAll();
  }
}
