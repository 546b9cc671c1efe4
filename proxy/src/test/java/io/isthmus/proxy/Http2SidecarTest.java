package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServerTransportFilter;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.GrpcBytes;
import io.isthmus.proxy.testing.H2Client;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.xds.XdsResourceType;
import io.netty.handler.codec.http.HttpMethod;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP/2 and gRPC through two real sidecars on loopback: a grpc-java client speaks h2c to the
 * outbound entry, the sidecars speak h2 over mTLS (ALPN), and the inbound sidecar speaks h2c
 * to a grpc-java server. Streams are multiplexed on pooled connections; trailers, grpc-status
 * retries and grpc-timeout work per stream.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Http2SidecarTest {

  private static final String GRPC = "grpc.sample.svc.cluster.local";
  private static final String WEB = "web.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.213.1.1";
  private static final String SERVER_LOCAL = "127.213.2.1";
  private static final String CLIENT_POD = "127.214.1.1";
  private static final String CLIENT_LOCAL = "127.214.2.1";

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = GrpcBytes.MARSHALLER;
  private static final MethodDescriptor<byte[], byte[]> ECHO = method("Echo");
  private static final MethodDescriptor<byte[], byte[]> FLAKY = method("Flaky");
  private static final MethodDescriptor<byte[], byte[]> SLOW = method("Slow");

  @TempDir
  static Path dir;

  private final AtomicInteger appConnections = new AtomicInteger();
  private final Map<String, AtomicInteger> flakyCalls = new ConcurrentHashMap<>();
  private final AtomicInteger slowCalls = new AtomicInteger();
  private ScheduledExecutorService appTimers;
  private TwoSidecars mesh;
  private Server app;
  private HeaderEchoApp web;
  private Sidecar server;
  private Sidecar client;
  private ManagedChannel channel;

  private static MethodDescriptor<byte[], byte[]> method(String name) {
    return MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName("isthmus.test.Echo/" + name)
        .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
  }

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    appTimers = Executors.newSingleThreadScheduledExecutor();
    app = NettyServerBuilder.forAddress(new InetSocketAddress(SERVER_LOCAL, 0))
        .addTransportFilter(new ServerTransportFilter() {
          @Override
          public io.grpc.Attributes transportReady(io.grpc.Attributes attributes) {
            appConnections.incrementAndGet();
            return attributes;
          }
        })
        .addService(ServerServiceDefinition.builder("isthmus.test.Echo")
            .addMethod(ECHO, ServerCalls.asyncUnaryCall((request, response) -> {
              response.onNext(("echo:" + new String(request, StandardCharsets.UTF_8))
                  .getBytes(StandardCharsets.UTF_8));
              response.onCompleted();
            }))
            .addMethod(FLAKY, ServerCalls.asyncUnaryCall((request, response) -> {
              String key = new String(request, StandardCharsets.UTF_8);
              if (flakyCalls.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet()
                  <= 2) {
                response.onError(Status.UNAVAILABLE.withDescription("not yet").asException());
              } else {
                response.onNext(request);
                response.onCompleted();
              }
            }))
            .addMethod(SLOW, ServerCalls.asyncUnaryCall((request, response) -> {
              slowCalls.incrementAndGet();
              appTimers.schedule(() -> {
                response.onNext(request);
                response.onCompleted();
              }, 3, TimeUnit.SECONDS);
            }))
            .build())
        .build().start();
    web = mesh.own(new HeaderEchoApp(SERVER_LOCAL));
    int grpcInbound = mesh.port(SERVER_POD);
    int webInbound = mesh.port(SERVER_POD);
    int appPort = ((InetSocketAddress) app.getListenSockets().get(0)).getPort();

    FakeAdsServer serverAds = mesh.serverAds();
    serverAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.inboundCluster(grpcInbound, appPort),
        MeshResources.inboundCluster(webInbound, web.port())));
    serverAds.set(XdsResourceType.LISTENER, "1",
        List.of(MeshResources.virtualInbound(grpcInbound, webInbound)));

    FakeAdsServer clientAds = mesh.clientAds();
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.outboundCluster(5000, GRPC), MeshResources.outboundCluster(8000, WEB)));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(
        MeshResources.endpoints(outboundName(5000, GRPC), "us-east",
            new Ep(SERVER_POD, grpcInbound, 1, "east", false)),
        MeshResources.endpoints(outboundName(8000, WEB), "us-east",
            new Ep(SERVER_POD, webInbound, 1, "east", false))));
    clientAds.set(XdsResourceType.LISTENER, "1",
        List.of(MeshResources.outboundListener(5000), MeshResources.outboundListener(8000)));
    clientAds.set(XdsResourceType.ROUTE, "1",
        List.of(MeshResources.withRetries(MeshResources.routes(5000, GRPC),
            "unavailable,cancelled,deadline-exceeded,resource-exhausted"),
            MeshResources.routes(8000, WEB)));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "grpc");
    client = mesh.startClient(CLIENT_POD, CLIENT_LOCAL, "curl");
    mesh.awaitReady(Duration.ofSeconds(60));
    channel = NettyChannelBuilder.forAddress(client.outboundAddress())
        .overrideAuthority(GRPC + ":5000").usePlaintext().build();
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (mesh != null) {
      mesh.close();
    }
    if (app != null) {
      app.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (appTimers != null) {
      appTimers.shutdownNow();
    }
  }

  private byte[] call(MethodDescriptor<byte[], byte[]> method, String body) {
    return ClientCalls.blockingUnaryCall(channel, method,
        CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS),
        body.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void grpcUnaryCallCrossesBothSidecarsOverHttp2AndIsCountedWithItsStatus() {
    assertThat(new String(call(ECHO, "hi"), StandardCharsets.UTF_8)).isEqualTo("echo:hi");

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(scrape(client)).containsPattern("istio_requests_total\\{[^}]*"
          + "destination_service=\"" + GRPC + "\"[^}]*grpc_response_status=\"0\"[^}]*"
          + "reporter=\"source\"[^}]*response_code=\"200\"");
      assertThat(scrape(server)).containsPattern("istio_requests_total\\{[^}]*"
          + "grpc_response_status=\"0\"[^}]*reporter=\"destination\"");
    });
  }

  @Test
  void manyConcurrentCallsShareOneMultiplexedConnectionToTheApp() throws Exception {
    call(ECHO, "warm-up");
    int before = appConnections.get();
    List<CompletableFuture<byte[]>> calls = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      String body = "m" + i;
      calls.add(CompletableFuture.supplyAsync(() -> call(ECHO, body)));
    }
    for (int i = 0; i < calls.size(); i++) {
      assertThat(new String(calls.get(i).get(60, TimeUnit.SECONDS), StandardCharsets.UTF_8))
          .isEqualTo("echo:m" + i);
    }
    // One client connection → its streams stay on one event loop of each sidecar, whose pool
    // keeps one h2 connection per peer and multiplexes every stream onto it: no new connection.
    assertThat(appConnections.get()).isEqualTo(before);
  }

  @Test
  void aRetriableGrpcStatusIsRetriedAndTheClientSeesSuccess() {
    assertThat(new String(call(FLAKY, "retry-me"), StandardCharsets.UTF_8))
        .isEqualTo("retry-me");
    assertThat(flakyCalls.get("retry-me").get()).isEqualTo(3);
  }

  @Test
  void aGrpcErrorStatusReachesTheClientWithItsMessageInTheTrailers() {
    // UNIMPLEMENTED (an unknown method) is not a retry condition: it comes back as it is.
    assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(channel,
        method("Missing"), CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS),
        new byte[0]))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNIMPLEMENTED));
  }

  @Test
  void grpcTimeoutIsHonouredByTheProxyWithDeadlineExceeded() throws Exception {
    try (H2Client h2 = new H2Client(client.outboundAddress())) {
      long start = System.nanoTime();
      H2Client.Response response = h2.send(HttpMethod.POST, GRPC + ":5000",
          "/isthmus.test.Echo/Slow",
          Map.of("content-type", "application/grpc", "te", "trailers", "grpc-timeout", "300m"),
          new byte[] {0, 0, 0, 0, 1, 'x'}, Duration.ofSeconds(30));
      long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

      assertThat(response.status()).isEqualTo(200);
      String status = response.trailers().getOrDefault("grpc-status",
          response.headers().get("grpc-status"));
      // DEADLINE_EXCEEDED can only come from the proxy (the app answers OK after 3 s); not
      // before the timeout. No tight upper bound: a loaded machine may be seconds late.
      assertThat(status).isEqualTo("4");
      assertThat(millis).isBetween(250L, 20_000L);
    }
  }

  @Test
  void plainHttp2RequestsToAnHttp1AppAreServedPerStream() throws Exception {
    try (H2Client h2 = new H2Client(client.outboundAddress())) {
      for (int i = 0; i < 3; i++) {
        H2Client.Response response = h2.send(HttpMethod.GET, WEB + ":8000", "/h2/" + i,
            Map.of(), new byte[0], Duration.ofSeconds(10));
        assertThat(response.status()).isEqualTo(200);
        assertThat(new String(response.body(), StandardCharsets.UTF_8))
            .contains("path: /h2/" + i)
            .contains("x-forwarded-client-cert: By=spiffe://cluster.local/ns/sample/sa/grpc;"
                + "URI=spiffe://cluster.local/ns/sample/sa/curl")
            .doesNotContain("x-http2-");
      }
    }
    // HTTP/1.1 clients still work on the same entry.
    assertThat(RawHttp.get(client.outboundAddress(), WEB + ":8000", "/h1").status())
        .isEqualTo(200);
  }

  private static String scrape(Sidecar sidecar) throws IOException {
    return RawHttp.get(sidecar.adminAddress(), "admin", "/stats/prometheus").body();
  }
}
