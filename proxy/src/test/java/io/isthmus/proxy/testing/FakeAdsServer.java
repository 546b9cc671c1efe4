package io.isthmus.proxy.testing;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.isthmus.proxy.xds.XdsResourceType;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real gRPC ADS server on 127.0.0.1 for tests: state of the world, answers each type's
 * first request on a stream with the current resources, pushes on {@link #set}, and records
 * every request it receives (ACKs and NACKs included).
 */
public final class FakeAdsServer implements AutoCloseable {

  private final Map<XdsResourceType, List<Any>> resources = new EnumMap<>(XdsResourceType.class);
  private final Map<XdsResourceType, String> versions = new EnumMap<>(XdsResourceType.class);
  private final List<Stream> streams = new CopyOnWriteArrayList<>();
  private final List<DiscoveryRequest> requests = new CopyOnWriteArrayList<>();
  private final AtomicInteger nonces = new AtomicInteger();
  private final AtomicInteger streamsOpened = new AtomicInteger();
  private Server server;

  public FakeAdsServer start() throws IOException {
    return start(0);
  }

  public FakeAdsServer start(int port) throws IOException {
    server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
        .addService(service())
        .build()
        .start();
    return this;
  }

  /** The ADS service, to mount on another server (e.g. one that also serves the CA, with TLS). */
  public io.grpc.BindableService service() {
    return new AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase() {
      @Override
      public StreamObserver<DiscoveryRequest> streamAggregatedResources(
          StreamObserver<DiscoveryResponse> responses) {
        Stream stream = new Stream(responses);
        streams.add(stream);
        streamsOpened.incrementAndGet();
        return stream;
      }
    };
  }

  public int port() {
    return server.getPort();
  }

  public String target() {
    return "127.0.0.1:" + port();
  }

  /** Replaces the resources of one type and pushes them to every open stream. */
  public synchronized void set(XdsResourceType type, String version, List<? extends Message> items) {
    List<Any> packed = new ArrayList<>();
    for (Message m : items) {
      packed.add(Any.pack(m));
    }
    resources.put(type, packed);
    versions.put(type, version);
    for (Stream stream : streams) {
      if (stream.subscribed.contains(type)) {
        stream.send(type);
      }
    }
  }

  public List<DiscoveryRequest> requests() {
    return List.copyOf(requests);
  }

  public int streamsOpened() {
    return streamsOpened.get();
  }

  /** Ends every open stream with an error, as a controller restart would. */
  public void breakStreams() {
    for (Stream stream : streams) {
      streams.remove(stream);
      stream.responses.onError(io.grpc.Status.UNAVAILABLE.withDescription("test").asException());
    }
  }

  @Override
  public void close() throws InterruptedException {
    if (server != null) {
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private final class Stream implements StreamObserver<DiscoveryRequest> {
    final StreamObserver<DiscoveryResponse> responses;
    final Set<XdsResourceType> subscribed = java.util.EnumSet.noneOf(XdsResourceType.class);
    final Map<XdsResourceType, List<String>> lastNames = new EnumMap<>(XdsResourceType.class);

    Stream(StreamObserver<DiscoveryResponse> responses) {
      this.responses = responses;
    }

    @Override
    public void onNext(DiscoveryRequest request) {
      requests.add(request);
      XdsResourceType type = XdsResourceType.fromTypeUrl(request.getTypeUrl());
      synchronized (FakeAdsServer.this) {
        subscribed.add(type);
        List<String> names = List.copyOf(request.getResourceNamesList());
        boolean namesChanged = !names.equals(lastNames.put(type, names));
        boolean ackOrNack = !request.getResponseNonce().isEmpty() && !namesChanged;
        if (!ackOrNack && resources.containsKey(type)) {
          send(type);
        }
      }
    }

    void send(XdsResourceType type) {
      synchronized (this) {
        responses.onNext(DiscoveryResponse.newBuilder()
            .setTypeUrl(type.typeUrl())
            .setVersionInfo(versions.get(type))
            .setNonce(Integer.toString(nonces.incrementAndGet()))
            .addAllResources(resources.get(type))
            .build());
      }
    }

    @Override
    public void onError(Throwable t) {
      streams.remove(this);
    }

    @Override
    public void onCompleted() {
      streams.remove(this);
      responses.onCompleted();
    }
  }
}
