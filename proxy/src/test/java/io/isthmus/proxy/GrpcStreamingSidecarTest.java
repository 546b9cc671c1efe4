package io.isthmus.proxy;

import static io.isthmus.proxy.testing.MeshResources.outboundName;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.testing.FakeAdsServer;
import io.isthmus.proxy.testing.GrpcBytes;
import io.isthmus.proxy.testing.H2Client;
import io.netty.handler.codec.http.HttpMethod;
import com.google.protobuf.Any;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.xds.XdsResourceType;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Client-streaming and bidirectional gRPC through two real sidecars on loopback: a grpc-java
 * client speaks h2c to the client sidecar, which relays each stream over mTLS (ALPN h2) to the
 * server sidecar, which relays it in h2c to a grpc-java server. Request bodies stream: each
 * message is handed on as it comes, with flow control, half-close and cancellation both ways;
 * retries replay a body kept in the 1 MiB retry buffer, and a longer one is not retried.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GrpcStreamingSidecarTest {

  private static final String GRPC = "stream.sample.svc.cluster.local";
  private static final String WEB = "upload.sample.svc.cluster.local";
  /** Inbound RBAC denies this method's path: refused on its head, whatever the body does. */
  private static final String FORBIDDEN_PATH = "/isthmus.test.Stream/Forbidden";
  private static final String SERVER_POD = "127.231.1.1";
  private static final String SERVER_LOCAL = "127.231.2.1";
  private static final String CLIENT_POD = "127.232.1.1";
  private static final String CLIENT_LOCAL = "127.232.2.1";

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = GrpcBytes.MARSHALLER;
  /** Echoes each message as it arrives; ends when the client does. */
  private static final MethodDescriptor<byte[], byte[]> PING_PONG =
      method("PingPong", MethodDescriptor.MethodType.BIDI_STREAMING);
  /** Counts the bytes of every message; answers the total when the client ends. */
  private static final MethodDescriptor<byte[], byte[]> UPLOAD =
      method("Upload", MethodDescriptor.MethodType.CLIENT_STREAMING);
  /** As Upload, but answers UNAVAILABLE to the first two calls with the same first message. */
  private static final MethodDescriptor<byte[], byte[]> FLAKY_UPLOAD =
      method("FlakyUpload", MethodDescriptor.MethodType.CLIENT_STREAMING);
  /** Answers the third message and ends the call, whatever the client still sends. */
  private static final MethodDescriptor<byte[], byte[]> HANG_UP =
      method("HangUp", MethodDescriptor.MethodType.BIDI_STREAMING);
  /** Never answers; records its cancellation. */
  private static final MethodDescriptor<byte[], byte[]> WAIT =
      method("Wait", MethodDescriptor.MethodType.BIDI_STREAMING);
  private static final MethodDescriptor<byte[], byte[]> FLAKY =
      method("Flaky", MethodDescriptor.MethodType.UNARY);

  @TempDir
  static Path dir;

  private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
  private final BlockingQueue<String> cancelled = new ArrayBlockingQueue<>(16);
  /** "host length" of each request the web app received. */
  private final BlockingQueue<String> webRequests = new java.util.concurrent.LinkedBlockingQueue<>();
  private TwoSidecars mesh;
  private Server app;
  private Sidecar server;
  private Sidecar client;
  private ManagedChannel channel;
  private com.sun.net.httpserver.HttpServer web;
  private int inbound;

  private static MethodDescriptor<byte[], byte[]> method(String name,
      MethodDescriptor.MethodType type) {
    return MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(type)
        .setFullMethodName("isthmus.test.Stream/" + name)
        .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
  }

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = NettyServerBuilder.forAddress(new InetSocketAddress(SERVER_LOCAL, 0))
        .addService(ServerServiceDefinition.builder("isthmus.test.Stream")
            .addMethod(PING_PONG, ServerCalls.asyncBidiStreamingCall(response ->
                new Observer() {
                  @Override
                  public void onNext(byte[] message) {
                    response.onNext(message);
                  }

                  @Override
                  public void onCompleted() {
                    response.onCompleted();
                  }
                }))
            .addMethod(UPLOAD, ServerCalls.asyncClientStreamingCall(response ->
                counting(response, null)))
            .addMethod(FLAKY_UPLOAD, ServerCalls.asyncClientStreamingCall(response ->
                counting(response, "flaky-upload")))
            .addMethod(HANG_UP, ServerCalls.asyncBidiStreamingCall(response ->
                new Observer() {
                  int seen;

                  @Override
                  public void onNext(byte[] message) {
                    if (++seen == 3) {
                      response.onNext(message);
                      response.onCompleted();
                    }
                  }
                }))
            .addMethod(WAIT, ServerCalls.asyncBidiStreamingCall(response -> {
              ((ServerCallStreamObserver<byte[]>) response).setOnCancelHandler(() ->
                  cancelled.add("wait"));
              return new Observer() {
                @Override
                public void onNext(byte[] message) {
                  if (message.length > 0 && message[0] == 'p') {
                    response.onNext(message);
                  }
                }
              };
            }))
            .addMethod(FLAKY, ServerCalls.asyncUnaryCall((request, response) -> {
              String key = new String(request, StandardCharsets.UTF_8);
              if (calls.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet() <= 2) {
                response.onError(Status.UNAVAILABLE.withDescription("not yet").asException());
              } else {
                response.onNext(request);
                response.onCompleted();
              }
            }))
            .build())
        .build().start();
    // An HTTP/1.1 app, whose outbound cluster says HTTP/1.1: the client sidecar sends an HTTP/2
    // client's streamed body on over HTTP/1.1.
    web = com.sun.net.httpserver.HttpServer.create(new InetSocketAddress(SERVER_LOCAL, 0), 16);
    web.createContext("/", exchange -> {
      byte[] received = exchange.getRequestBody().readAllBytes();
      webRequests.add(exchange.getRequestHeaders().getFirst("Host") + " " + received.length);
      byte[] answer = ("length=" + received.length).getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, answer.length);
      exchange.getResponseBody().write(answer);
      exchange.close();
    });
    web.start();
    inbound = mesh.port(SERVER_POD);
    int webInbound = mesh.port(SERVER_POD);
    int appPort = ((InetSocketAddress) app.getListenSockets().get(0)).getPort();

    FakeAdsServer serverAds = mesh.serverAds();
    serverAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.inboundCluster(inbound, appPort),
        MeshResources.inboundCluster(webInbound, web.getAddress().getPort())));
    serverAds.set(XdsResourceType.LISTENER, "1",
        List.of(denying(MeshResources.virtualInbound(inbound, webInbound))));

    FakeAdsServer clientAds = mesh.clientAds();
    clientAds.set(XdsResourceType.CLUSTER, "1", List.of(
        MeshResources.outboundCluster(5000, GRPC), http1(MeshResources.outboundCluster(8000, WEB))));
    clientAds.set(XdsResourceType.ENDPOINT, "1", List.of(
        MeshResources.endpoints(outboundName(5000, GRPC), "us-east",
            new Ep(SERVER_POD, inbound, 1, "east", false)),
        MeshResources.endpoints(outboundName(8000, WEB), "us-east",
            new Ep(SERVER_POD, webInbound, 1, "east", false))));
    clientAds.set(XdsResourceType.LISTENER, "1",
        List.of(MeshResources.outboundListener(5000), MeshResources.outboundListener(8000)));
    clientAds.set(XdsResourceType.ROUTE, "1", List.of(
        MeshResources.withRetries(MeshResources.routes(5000, GRPC), "unavailable"),
        mirrored(MeshResources.routes(8000, WEB), outboundName(8000, WEB))));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "stream");
    client = mesh.startClient(CLIENT_POD, CLIENT_LOCAL, "curl");
    mesh.awaitReady(Duration.ofSeconds(60));
    channel = NettyChannelBuilder.forAddress(client.outboundAddress())
        .overrideAuthority(GRPC + ":5000").usePlaintext().build();
  }

  /** The cluster with DestinationRule's {@code h2UpgradePolicy: DO_NOT_UPGRADE}: HTTP/1.1. */
  private static io.envoyproxy.envoy.config.cluster.v3.Cluster http1(
      io.envoyproxy.envoy.config.cluster.v3.Cluster cluster) {
    return cluster.toBuilder().putTypedExtensionProtocolOptions(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        Any.pack(io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.newBuilder()
            .setExplicitHttpConfig(io.envoyproxy.envoy.extensions.upstreams.http.v3
                .HttpProtocolOptions.ExplicitHttpConfig.newBuilder().setHttpProtocolOptions(
                    io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions.getDefaultInstance()))
            .build()))
        .build();
  }

  /** Adds an RBAC filter denying {@link #FORBIDDEN_PATH} to every chain's connection manager. */
  private static Listener denying(Listener listener) {
    Listener.Builder builder = listener.toBuilder();
    for (FilterChain.Builder chain : builder.getFilterChainsBuilderList()) {
      Filter.Builder filter = chain.getFiltersBuilder(0);
      try {
        HttpConnectionManager hcm = filter.getTypedConfig().unpack(HttpConnectionManager.class);
        filter.setTypedConfig(Any.pack(hcm.toBuilder().addHttpFilters(HttpFilter.newBuilder()
            .setName(Authorization.RBAC_FILTER)
            .setTypedConfig(Any.pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC
                .newBuilder().setRules(RBAC.newBuilder().setAction(RBAC.Action.DENY)
                    .putPolicies("ns[sample]-policy[deny-forbidden]-rule[0]", Policy.newBuilder()
                        .addPermissions(Permission.newBuilder().setUrlPath(PathMatcher
                            .newBuilder().setPath(StringMatcher.newBuilder()
                                .setPrefix(FORBIDDEN_PATH))))
                        .addPrincipals(Principal.newBuilder().setAny(true))
                        .build()))
                .build())))
            .build()));
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        throw new IllegalStateException(e);
      }
    }
    return builder.build();
  }

  /** VirtualService {@code mirror}: every request also goes to {@code cluster}, host -shadow. */
  private static RouteConfiguration mirrored(RouteConfiguration config, String cluster) {
    var builder = config.toBuilder();
    builder.getVirtualHostsBuilder(0).getRoutesBuilder(0).getRouteBuilder()
        .addRequestMirrorPolicies(io.envoyproxy.envoy.config.route.v3.RouteAction
            .RequestMirrorPolicy.newBuilder().setCluster(cluster));
    return builder.build();
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
    if (web != null) {
      web.stop(0);
    }
  }

  /** Sums message sizes; {@code flakyKey}: fails the first two calls of each first message. */
  private StreamObserver<byte[]> counting(StreamObserver<byte[]> response, String flakyKey) {
    return new Observer() {
      long total;
      String first;

      @Override
      public void onNext(byte[] message) {
        if (first == null) {
          int end = 0;
          while (end < Math.min(message.length, 64) && message[end] != 0) {
            end++;
          }
          first = new String(message, 0, end, StandardCharsets.UTF_8);
        }
        total += message.length;
      }

      @Override
      public void onCompleted() {
        if (flakyKey != null && calls.computeIfAbsent(flakyKey + ":" + first,
            k -> new AtomicInteger()).incrementAndGet() <= 2) {
          response.onError(Status.UNAVAILABLE.withDescription("not yet").asException());
          return;
        }
        response.onNext(Long.toString(total).getBytes(StandardCharsets.UTF_8));
        response.onCompleted();
      }
    };
  }

  private CallOptions deadline(long seconds) {
    return CallOptions.DEFAULT.withDeadlineAfter(seconds, TimeUnit.SECONDS);
  }

  @Test
  void bidiPingPongWhereEachMessageWaitsForThePreviousReply() throws Exception {
    BlockingQueue<Object> replies = new ArrayBlockingQueue<>(4);
    StreamObserver<byte[]> requests = ClientCalls.asyncBidiStreamingCall(
        channel.newCall(PING_PONG, deadline(60)), collecting(replies));
    for (int i = 0; i < 100; i++) {
      requests.onNext(("ping " + i).getBytes(StandardCharsets.UTF_8));
      // Before: the request went on only at END_STREAM, so this first reply never came.
      Object reply = replies.poll(30, TimeUnit.SECONDS);
      assertThat(reply).as("reply to ping %d", i).isInstanceOf(byte[].class);
      assertThat(new String((byte[]) reply, StandardCharsets.UTF_8)).isEqualTo("ping " + i);
    }
    requests.onCompleted();
    assertThat(replies.poll(30, TimeUnit.SECONDS)).isEqualTo(Status.Code.OK);
  }

  @Test
  void clientStreamsTwentyMegabytesInSixtyFourKilobyteMessagesWithBoundedMemory()
      throws Exception {
    // Past the old 8 MiB aggregation limit; memory must not grow with the body.
    double countedBefore = SidecarMetrics.requestBytes(client, GRPC, "source");
    AllocatorPeak peak = AllocatorPeak.start();
    CompletableFuture<byte[]> total = new CompletableFuture<>();
    StreamObserver<byte[]> requests = ClientCalls.asyncClientStreamingCall(
        channel.newCall(UPLOAD, deadline(60)), completing(total));
    byte[] message = new byte[64 * 1024];
    int messages = 20 * 16;
    try {
      for (int i = 0; i < messages; i++) {
        message[0] = (byte) i;
        requests.onNext(message);
      }
      requests.onCompleted();
      assertThat(new String(total.get(60, TimeUnit.SECONDS), StandardCharsets.UTF_8))
          .isEqualTo(Long.toString((long) messages * message.length));
    } finally {
      peak.close();
    }
    // An aggregating relay holds the whole 20 MiB (the old one refused it at 8 MiB). Streamed:
    // a 1 MiB retry buffer per sidecar until it overflows, the frames in flight, and the
    // allocator's chunk granularity (about 12 MiB in all here).
    // Both sidecars share this JVM's allocator: aggregating, each would hold the whole body.
    assertThat(peak.growth()).as("allocator growth while 20 MiB streamed")
        .isLessThan((long) messages * message.length);
    // The telemetry counts the streamed body, not just the head.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(SidecarMetrics.requestBytes(client, GRPC, "source") - countedBefore)
            .isGreaterThanOrEqualTo((double) messages * message.length));
  }

  @Test
  void serverEndsTheCallWhileTheClientStillSends() throws Exception {
    BlockingQueue<Object> replies = new ArrayBlockingQueue<>(4);
    StreamObserver<byte[]> requests = ClientCalls.asyncBidiStreamingCall(
        channel.newCall(HANG_UP, deadline(60)), collecting(replies));
    for (int i = 0; i < 3; i++) {
      requests.onNext(("m" + i).getBytes(StandardCharsets.UTF_8));
    }
    Object reply = replies.poll(30, TimeUnit.SECONDS);
    assertThat(reply).isInstanceOf(byte[].class);
    assertThat(new String((byte[]) reply, StandardCharsets.UTF_8)).isEqualTo("m2");
    // The client keeps sending after the server's status: the call still ends OK, nothing hangs.
    for (int i = 3; i < 10; i++) {
      requests.onNext(("m" + i).getBytes(StandardCharsets.UTF_8));
    }
    assertThat(replies.poll(30, TimeUnit.SECONDS)).isEqualTo(Status.Code.OK);
    requests.onCompleted();
    // Both sidecars still serve streams afterwards.
    bidiPingPong(3);
  }

  @Test
  void aClientCancelReachesTheServerCall() throws Exception {
    cancelled.clear();
    BlockingQueue<Object> replies = new ArrayBlockingQueue<>(4);
    ClientCall<byte[], byte[]> call = channel.newCall(WAIT, deadline(30));
    StreamObserver<byte[]> requests = ClientCalls.asyncBidiStreamingCall(call,
        collecting(replies));
    requests.onNext("ping".getBytes(StandardCharsets.UTF_8));
    // The call is established end to end: the server answered.
    assertThat(replies.poll(30, TimeUnit.SECONDS)).isInstanceOf(byte[].class);
    call.cancel("client gave up", null);
    // No deadline is near: only a propagated RST_STREAM can tell the server.
    assertThat(cancelled.poll(30, TimeUnit.SECONDS)).isEqualTo("wait");
  }

  @Test
  void aDeadlineEndsTheCallAtTheClientAndCancelsItAtTheServer() throws Exception {
    cancelled.clear();
    BlockingQueue<Object> replies = new ArrayBlockingQueue<>(4);
    long start = System.nanoTime();
    StreamObserver<byte[]> requests = ClientCalls.asyncBidiStreamingCall(
        channel.newCall(WAIT, CallOptions.DEFAULT.withDeadlineAfter(700, TimeUnit.MILLISECONDS)),
        collecting(replies));
    requests.onNext("ping".getBytes(StandardCharsets.UTF_8));
    assertThat(replies.poll(30, TimeUnit.SECONDS)).isInstanceOf(byte[].class);
    requests.onNext("quiet".getBytes(StandardCharsets.UTF_8));
    assertThat(replies.poll(30, TimeUnit.SECONDS)).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    // Not before the deadline; the upper bound only catches a call that never ends on its own (a
    // loaded CI machine can take seconds for the first reply alone).
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isBetween(600L, 20_000L);
    assertThat(cancelled.poll(30, TimeUnit.SECONDS)).isEqualTo("wait");
  }

  @Test
  void aUnaryCallIsRetriedOnUnavailable() {
    byte[] answer = ClientCalls.blockingUnaryCall(channel, FLAKY, deadline(60),
        "unary-retry".getBytes(StandardCharsets.UTF_8));
    assertThat(new String(answer, StandardCharsets.UTF_8)).isEqualTo("unary-retry");
    assertThat(calls.get("unary-retry").get()).isEqualTo(3);
  }

  @Test
  void aStreamedBodyWithinTheBufferIsReplayedOnRetry() throws Exception {
    // 256 KiB in 16 messages: within the 1 MiB buffer, so the whole stream is sent three times.
    assertThat(upload(FLAKY_UPLOAD, "small-retried", 16, 16 * 1024))
        .isEqualTo(Long.toString(16L * 16 * 1024));
    assertThat(calls.get("flaky-upload:small-retried").get()).isEqualTo(3);
  }

  @Test
  void aStreamedBodyPastTheBufferIsNotRetriedAndIsCounted() throws Exception {
    double abandonedBefore = SidecarMetrics.abandoned(client, "outbound");
    // 2 MiB: past the 1 MiB buffer, the first attempt's UNAVAILABLE is final.
    assertThatThrownBy(() -> upload(FLAKY_UPLOAD, "large-not-retried", 32, 64 * 1024))
        .hasCauseInstanceOf(StatusRuntimeException.class)
        .cause().satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode())
            .isEqualTo(Status.Code.UNAVAILABLE));
    assertThat(calls.get("flaky-upload:large-not-retried").get()).isEqualTo(1);
    // Read over the admin ports: awaited, as nothing orders them before the client's answer.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(SidecarMetrics.abandoned(client, "outbound")).isGreaterThan(abandonedBefore);
      assertThat(SidecarMetrics.abandoned(server, "inbound")).isGreaterThan(0);
    });
  }

  @Test
  void aStreamingCallIsAuthorizedOnItsHeadAndRefusedWhileItsBodyStillComes() throws Exception {
    double deniedBefore = denied();
    MethodDescriptor<byte[], byte[]> forbidden = method("Forbidden",
        MethodDescriptor.MethodType.CLIENT_STREAMING);
    // The server has no such method: had the call reached it, the status would be UNIMPLEMENTED.
    assertThatThrownBy(() -> upload(forbidden, "forbidden", 8, 64 * 1024))
        .cause().isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
    assertThat(denied()).isEqualTo(deniedBefore + 1);
    // The stream was reset after the refusal; the connection serves the next call.
    bidiPingPong(2);
  }

  @Test
  void anHttp2PostStreamsOnOverAnHttp1Upstream() throws Exception {
    byte[] body = new byte[300 * 1024];
    try (H2Client h2 = new H2Client(client.outboundAddress())) {
      for (int i = 0; i < 2; i++) {
        H2Client.Response response = h2.send(HttpMethod.POST, WEB + ":8000", "/upload",
            Map.of("content-type", "application/octet-stream"), body, Duration.ofSeconds(10));
        assertThat(response.status()).as(new String(response.body(), StandardCharsets.UTF_8))
            .isEqualTo(200);
        assertThat(new String(response.body(), StandardCharsets.UTF_8))
            .isEqualTo("length=" + body.length);
      }
    }
  }

  @Test
  void aStreamedBodyIsMirroredOnlyWhenItFitsTheBuffer() throws Exception {
    webRequests.clear();
    double abandonedBefore = SidecarMetrics.abandoned(client, "outbound");
    try (H2Client h2 = new H2Client(client.outboundAddress())) {
      byte[] small = new byte[100 * 1024];
      assertThat(h2.send(HttpMethod.POST, WEB + ":8000", "/upload", Map.of(), small,
          Duration.ofSeconds(10)).status()).isEqualTo(200);
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(webRequests)
          .contains(WEB + ":8000 " + small.length, WEB + "-shadow:8000 " + small.length));

      webRequests.clear();
      byte[] large = new byte[2 << 20];
      assertThat(h2.send(HttpMethod.POST, WEB + ":8000", "/upload", Map.of(), large,
          Duration.ofSeconds(20)).status()).isEqualTo(200);
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(webRequests)
          .contains(WEB + ":8000 " + large.length));
      // Past the buffer: no shadow, counted as Envoy's retry_or_shadow_abandoned. The count is
      // awaited (read over the admin port, it need not be there when the response is); the
      // absence of a shadow is checked after it, over half a second.
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
          assertThat(SidecarMetrics.abandoned(client, "outbound")).isGreaterThan(abandonedBefore));
      await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(30)).untilAsserted(() ->
          assertThat(webRequests).doesNotContain(WEB + "-shadow:8000 " + large.length));
    }
  }

  @Test
  void aBodyOfUnknownLengthGoesChunkedOverAnHttp1Upstream() throws Exception {
    webRequests.clear();
    // A gRPC call declares no length: its three messages (5-byte prefix + 1000 bytes each) go
    // on as HTTP/1.1 chunks. The app is no gRPC server, so the call fails; the body got there.
    CompletableFuture<byte[]> answer = new CompletableFuture<>();
    StreamObserver<byte[]> requests = ClientCalls.asyncClientStreamingCall(
        channel.newCall(UPLOAD, deadline(60).withAuthority(WEB + ":8000")), completing(answer));
    for (int i = 0; i < 3; i++) {
      requests.onNext(new byte[1000]);
    }
    requests.onCompleted();
    // WEB's route mirrors, and the whole body fits the retry buffer: the shadow gets it too, in
    // either order.
    // (A shadow of an earlier test's request may still arrive: only these two are asserted.)
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(webRequests)
        .contains(WEB + ":8000 " + 3 * 1005, WEB + "-shadow:8000 " + 3 * 1005));
    assertThat(answer).failsWithin(Duration.ofSeconds(30));
  }

  private double denied() throws IOException {
    String metrics = RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body();
    var matcher = java.util.regex.Pattern.compile(
        "isthmus_rbac_denied_total\\{[^}]*port=\"" + inbound + "\"[^}]*\\} (\\S+)")
        .matcher(metrics);
    return matcher.find() ? Double.parseDouble(matcher.group(1)) : 0;
  }

  private String upload(MethodDescriptor<byte[], byte[]> method, String key, int messages,
      int size) throws Exception {
    CompletableFuture<byte[]> total = new CompletableFuture<>();
    StreamObserver<byte[]> requests = ClientCalls.asyncClientStreamingCall(
        channel.newCall(method, deadline(60)), completing(total));
    byte[] first = new byte[size];
    byte[] name = key.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(name, 0, first, 0, name.length);
    requests.onNext(first);
    for (int i = 1; i < messages; i++) {
      requests.onNext(new byte[size]);
    }
    requests.onCompleted();
    return new String(total.get(60, TimeUnit.SECONDS), StandardCharsets.UTF_8);
  }

  private void bidiPingPong(int rounds) throws Exception {
    BlockingQueue<Object> replies = new ArrayBlockingQueue<>(4);
    StreamObserver<byte[]> requests = ClientCalls.asyncBidiStreamingCall(
        channel.newCall(PING_PONG, deadline(60)), collecting(replies));
    for (int i = 0; i < rounds; i++) {
      requests.onNext(("again " + i).getBytes(StandardCharsets.UTF_8));
      assertThat(replies.poll(30, TimeUnit.SECONDS)).isInstanceOf(byte[].class);
    }
    requests.onCompleted();
    assertThat(replies.poll(30, TimeUnit.SECONDS)).isEqualTo(Status.Code.OK);
  }

  /** Messages as byte[], then the final status code (or the error's code). */
  private static StreamObserver<byte[]> collecting(BlockingQueue<Object> into) {
    return new StreamObserver<>() {
      @Override
      public void onNext(byte[] value) {
        into.add(value);
      }

      @Override
      public void onError(Throwable t) {
        into.add(Status.fromThrowable(t).getCode());
      }

      @Override
      public void onCompleted() {
        into.add(Status.Code.OK);
      }
    };
  }

  private static StreamObserver<byte[]> completing(CompletableFuture<byte[]> result) {
    return new StreamObserver<>() {
      @Override
      public void onNext(byte[] value) {
        result.complete(value);
      }

      @Override
      public void onError(Throwable t) {
        result.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {
        result.complete(null);
      }
    };
  }

  /** A server-side request observer that ignores errors and the end unless told otherwise. */
  private abstract static class Observer implements StreamObserver<byte[]> {
    @Override
    public void onError(Throwable t) {
    }

    @Override
    public void onCompleted() {
    }
  }
}
