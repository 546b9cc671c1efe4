package io.isthmus.proxy.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.Code;
import com.google.rpc.Status;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.isthmus.trust.nds.NameTable;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A state-of-the-world ADS client: one gRPC stream to the controller carrying CDS and LDS
 * (wildcard), EDS for the EDS clusters received, RDS for the route names the listeners
 * use, and SDS {@code ROOTCA}.
 *
 * <p>Each resource is validated on its own. A response with an invalid resource is NACKed
 * with the reason; its valid resources apply and the invalid ones keep their last good
 * value. When the stream breaks the client keeps its last good snapshot, reconnects with
 * bounded exponential backoff and resubscribes with the versions it had accepted.
 *
 * <p>Thread-safety: all protocol state lives on one private thread. The listener receives
 * each new {@link XdsSnapshot} on another single thread, in order, never concurrently.
 */
public final class XdsClient implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(XdsClient.class);
  public static final String ROOT_CA_SECRET = "ROOTCA";
  /** Istio's node metadata key ({@code ISTIO_META_DNS_CAPTURE}) asking for the name table. */
  public static final String DNS_CAPTURE_METADATA = "DNS_CAPTURE";

  private final XdsClientOptions options;
  private final Consumer<XdsSnapshot> listener;
  private final ManagedChannel channel;
  private final ScheduledExecutorService sync;
  private final ExecutorService notifier;
  private final Map<XdsResourceType, TypeState> states = new EnumMap<>(XdsResourceType.class);

  // Fields below are touched only on the sync thread, except the volatile ones.
  private ClientCallStreamObserver<DiscoveryRequest> stream;
  private boolean nodeSent;
  private Duration nextBackoff;
  private ScheduledFuture<?> reconnect;
  private boolean closed;
  private volatile XdsSnapshot snapshot = XdsSnapshot.EMPTY;
  private volatile XdsSnapshot published = null;
  private volatile boolean connected;
  private volatile int nacks;

  private XdsClient(XdsClientOptions options, Consumer<XdsSnapshot> listener) {
    this.options = options;
    this.listener = listener;
    this.nextBackoff = options.initialBackoff();
    // No client keepalive: gRPC servers reject pings more often than every 5 minutes by
    // default (GOAWAY too_many_pings), and a dead controller shows up as a reset anyway.
    NettyChannelBuilder builder = NettyChannelBuilder.forTarget(options.target())
        .maxInboundMessageSize(64 << 20);
    if (options.sslContext() != null) {
      builder.sslContext(options.sslContext()).overrideAuthority(options.authority());
    } else {
      builder.usePlaintext();
    }
    this.channel = builder.build();
    this.sync = Executors.newSingleThreadScheduledExecutor(daemon("isthmus-xds-client"));
    this.notifier = Executors.newSingleThreadExecutor(daemon("isthmus-xds-notify"));
    for (XdsResourceType type : XdsResourceType.values()) {
      states.put(type, new TypeState(type));
    }
    states.get(XdsResourceType.SECRET).names.add(ROOT_CA_SECRET);
  }

  /** Starts the client; the listener is called with every new snapshot. */
  public static XdsClient start(XdsClientOptions options, Consumer<XdsSnapshot> listener) {
    requireNonNull(options, "options");
    requireNonNull(listener, "listener");
    XdsClient client = new XdsClient(options, listener);
    client.sync.execute(client::openStream);
    return client;
  }

  /** The latest accepted configuration; {@link XdsSnapshot#EMPTY} before the first response. */
  public XdsSnapshot snapshot() {
    return snapshot;
  }

  /** Whether the ADS stream is currently open and has received a response. */
  public boolean connected() {
    return connected;
  }

  /** How many responses this client has rejected, for diagnostics. */
  public int nackCount() {
    return nacks;
  }

  public XdsClientOptions options() {
    return options;
  }

  @Override
  public void close() {
    sync.execute(() -> {
      closed = true;
      if (reconnect != null) {
        reconnect.cancel(false);
      }
      if (stream != null) {
        stream.cancel("client closed", null);
        stream = null;
      }
    });
    sync.shutdown();
    try {
      sync.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    channel.shutdownNow();
    notifier.shutdown();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
      notifier.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void openStream() {
    if (closed) {
      return;
    }
    reconnect = null;
    nodeSent = false;
    StreamObserver observer = new StreamObserver();
    AggregatedDiscoveryServiceGrpc.newStub(channel).streamAggregatedResources(observer);
    stream = observer.requests;
    observer.self = stream;
    log.info("ADS stream to {} opening", options.target());
    for (XdsResourceType type : XdsResourceType.values()) {
      TypeState state = states.get(type);
      state.nonce = "";
      if ((type.fullState() && subscribes(type)) || !state.names.isEmpty()) {
        sendRequest(state, null);
      }
    }
  }

  /** NDS only with DNS capture, as istio-agent asks for it: other controllers need not serve it. */
  private boolean subscribes(XdsResourceType type) {
    return type != XdsResourceType.NAME_TABLE
        || "true".equals(options.node().extraMetadata().get(DNS_CAPTURE_METADATA));
  }

  private void sendRequest(TypeState state, Status error) {
    if (stream == null) {
      return;
    }
    DiscoveryRequest.Builder request = DiscoveryRequest.newBuilder()
        .setTypeUrl(state.type.typeUrl())
        .setVersionInfo(state.version)
        .setResponseNonce(state.nonce)
        .addAllResourceNames(state.type.fullState() ? List.of() : state.names);
    if (!nodeSent) {
      request.setNode(options.node().toProto());
      nodeSent = true;
    }
    if (error != null) {
      request.setErrorDetail(error);
    }
    stream.onNext(request.build());
  }

  private void onResponse(ClientCallStreamObserver<DiscoveryRequest> from,
      DiscoveryResponse response) {
    if (from != stream || closed) {
      return;
    }
    connected = true;
    nextBackoff = options.initialBackoff();
    XdsResourceType type = XdsResourceType.fromTypeUrl(response.getTypeUrl());
    if (type == null) {
      log.warn("ignoring ADS response of unknown type {}", response.getTypeUrl());
      return;
    }
    TypeState state = states.get(type);
    state.nonce = response.getNonce();

    Map<String, Message> accepted = new LinkedHashMap<>();
    List<String> errors = new ArrayList<>();
    Set<String> invalidNames = new TreeSet<>();
    for (Any any : response.getResourcesList()) {
      Message resource;
      try {
        resource = any.unpack(type.messageClass());
      } catch (InvalidProtocolBufferException e) {
        errors.add("cannot decode " + any.getTypeUrl() + ": " + e.getMessage());
        continue;
      }
      String name = nameOf(resource);
      try {
        XdsValidator.validate(resource);
        accepted.put(name, resource);
      } catch (IllegalArgumentException e) {
        errors.add(e.getMessage());
        invalidNames.add(name);
      }
    }

    Map<String, Message> next = new HashMap<>();
    if (!type.fullState()) {
      // Named types: resources absent from this response keep their value.
      next.putAll(state.resources);
    }
    next.putAll(accepted);
    for (String name : invalidNames) {
      Message lastGood = state.resources.get(name);
      if (lastGood != null) {
        next.put(name, lastGood);
      } else {
        next.remove(name);
      }
    }
    if (!type.fullState()) {
      next.keySet().retainAll(state.names);
    }
    state.resources = Map.copyOf(next);
    state.received = true;

    if (errors.isEmpty()) {
      state.version = response.getVersionInfo();
      sendRequest(state, null);
    } else {
      nacks++;
      String message = String.join("; ", errors);
      log.warn("NACK {} version {}: {}", type, response.getVersionInfo(), message);
      sendRequest(state, Status.newBuilder()
          .setCode(Code.INVALID_ARGUMENT_VALUE).setMessage(message).build());
    }

    if (type == XdsResourceType.CLUSTER) {
      Set<String> edsNames = new TreeSet<>();
      for (Message m : state.resources.values()) {
        Cluster cluster = (Cluster) m;
        if (cluster.getType() == Cluster.DiscoveryType.EDS) {
          edsNames.add(XdsResources.edsServiceName(cluster));
        }
      }
      updateSubscription(XdsResourceType.ENDPOINT, edsNames);
    } else if (type == XdsResourceType.LISTENER) {
      List<Listener> listeners = new ArrayList<>();
      state.resources.values().forEach(m -> listeners.add((Listener) m));
      updateSubscription(XdsResourceType.ROUTE, XdsResources.routeNames(listeners));
    }
    publish();
  }

  private void updateSubscription(XdsResourceType type, Set<String> names) {
    TypeState state = states.get(type);
    if (state.names.equals(names)) {
      return;
    }
    state.names.clear();
    state.names.addAll(names);
    Map<String, Message> kept = new HashMap<>(state.resources);
    kept.keySet().retainAll(names);
    state.resources = Map.copyOf(kept);
    // An empty name list would mean "wildcard" to the server: stay subscribed to the old
    // names and just drop them locally.
    if (!names.isEmpty()) {
      sendRequest(state, null);
    }
  }

  @SuppressWarnings("unchecked")
  private void publish() {
    Map<XdsResourceType, String> versions = new EnumMap<>(XdsResourceType.class);
    for (TypeState state : states.values()) {
      if (state.received) {
        versions.put(state.type, state.version);
      }
    }
    XdsSnapshot next = new XdsSnapshot(
        (Map<String, Cluster>) (Map<String, ?>) states.get(XdsResourceType.CLUSTER).resources,
        (Map<String, ClusterLoadAssignment>) (Map<String, ?>)
            states.get(XdsResourceType.ENDPOINT).resources,
        (Map<String, Listener>) (Map<String, ?>) states.get(XdsResourceType.LISTENER).resources,
        (Map<String, RouteConfiguration>) (Map<String, ?>)
            states.get(XdsResourceType.ROUTE).resources,
        (Map<String, Secret>) (Map<String, ?>) states.get(XdsResourceType.SECRET).resources,
        (Map<String, NameTable>) (Map<String, ?>) states.get(XdsResourceType.NAME_TABLE).resources,
        versions);
    if (next.equals(snapshot)) {
      return;
    }
    snapshot = next;
    notifier.execute(() -> {
      try {
        listener.accept(next);
      } catch (RuntimeException e) {
        log.error("xDS snapshot listener failed", e);
      }
    });
  }

  private void onStreamClosed(ClientCallStreamObserver<DiscoveryRequest> from, Throwable error) {
    if (from != stream || closed) {
      return;
    }
    stream = null;
    connected = false;
    Duration delay = nextBackoff;
    long jittered = (long) (delay.toMillis() * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble()));
    nextBackoff = delay.multipliedBy(2).compareTo(options.maxBackoff()) > 0
        ? options.maxBackoff() : delay.multipliedBy(2);
    log.warn("ADS stream to {} closed ({}); keeping last good config, reconnecting in {} ms",
        options.target(), error == null ? "completed" : error.toString(), jittered);
    reconnect = sync.schedule(this::openStream, jittered, TimeUnit.MILLISECONDS);
  }

  static String nameOf(Message resource) {
    if (resource instanceof Cluster c) {
      return c.getName();
    } else if (resource instanceof ClusterLoadAssignment cla) {
      return cla.getClusterName();
    } else if (resource instanceof Listener l) {
      return l.getName();
    } else if (resource instanceof RouteConfiguration r) {
      return r.getName();
    } else if (resource instanceof Secret s) {
      return s.getName();
    } else if (resource instanceof NameTable) {
      // Istio's NDS resource has no name: there is one table per proxy.
      return "";
    }
    throw new IllegalArgumentException("unsupported resource " + resource.getClass());
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }

  private static final class TypeState {
    final XdsResourceType type;
    final Set<String> names = new TreeSet<>();
    String version = "";
    String nonce = "";
    boolean received;
    Map<String, Message> resources = Map.of();

    TypeState(XdsResourceType type) {
      this.type = type;
    }
  }

  private final class StreamObserver
      implements ClientResponseObserver<DiscoveryRequest, DiscoveryResponse> {
    ClientCallStreamObserver<DiscoveryRequest> requests;
    volatile ClientCallStreamObserver<DiscoveryRequest> self;

    @Override
    public void beforeStart(ClientCallStreamObserver<DiscoveryRequest> requestStream) {
      this.requests = requestStream;
    }

    @Override
    public void onNext(DiscoveryResponse response) {
      runOnSync(() -> onResponse(self, response));
    }

    @Override
    public void onError(Throwable t) {
      runOnSync(() -> onStreamClosed(self, t));
    }

    @Override
    public void onCompleted() {
      runOnSync(() -> onStreamClosed(self, null));
    }
  }

  private void runOnSync(Runnable task) {
    try {
      sync.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // closing
    }
  }
}
