package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Message;
import com.google.protobuf.Value;
import io.envoyproxy.controlplane.cache.ConfigWatcher;
import io.envoyproxy.controlplane.cache.DeltaResponse;
import io.envoyproxy.controlplane.cache.DeltaWatch;
import io.envoyproxy.controlplane.cache.DeltaXdsRequest;
import io.envoyproxy.controlplane.cache.Response;
import io.envoyproxy.controlplane.cache.Watch;
import io.envoyproxy.controlplane.cache.XdsRequest;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.controlplane.cache.Resources;
import io.envoyproxy.controlplane.cache.v3.SimpleCache;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyResources;
import io.isthmus.controller.translate.ProxyType;
import io.isthmus.trust.nds.NameTable;
import io.isthmus.controller.translate.SharedTranslation;
import io.isthmus.controller.translate.XdsTranslator;
import io.isthmus.controller.translate.MeshPolicies;
import io.isthmus.controller.translate.TrustDomains;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.MeshSettings;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshView;
import io.isthmus.discovery.MeshViewOptions;
import io.isthmus.discovery.Viewpoint;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-proxy xDS snapshots of every connected proxy, recomputed from one federation state at a
 * time.
 *
 * <p>New states are debounced (a quiet period and a maximum delay, {@link XdsOptions}); a push
 * translates every connected proxy from that one state value, so no proxy sees a mix of two
 * states. A newly connected proxy gets its snapshot from the state the others already have.
 * Each resource type is versioned by a hash of its content: when only endpoints change, only
 * EDS is re-sent.
 *
 * <p>Thread-safe: all mutation runs on one private serialized executor; read methods see
 * published immutable values.
 */
public final class MeshSnapshotCache implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MeshSnapshotCache.class);

    private final XdsOptions options;
    private final SimpleCache<String> cache = new SimpleCache<>(node -> node.getId());
    private final ScheduledExecutorService executor;
    private final Counter pushes;
    private final Counter translationFailures;

    // Confined to the executor.
    private final Map<String, Connection> connections = new HashMap<>();
    private final Map<Viewpoint, MeshView> views = new HashMap<>();
    // Translation work shared by the proxies of the current state and config; null until needed.
    private SharedTranslation shared;
    private FederatedState current;
    private FederatedState pending;
    // The Istio configuration that goes with current/pending; null: translate without config.
    private MeshConfig currentConfig;
    private MeshConfig pendingConfig;
    // How the merge scopes hosts (cluster-local, clusterset); changes rarely, applies at the next flush.
    private MeshViewOptions viewOptions;
    // The trust domain and aliases AuthorizationPolicy principals expand to; from the mesh settings.
    private TrustDomains trustDomains;
    // RequestAuthentication keys fetched from jwksUri (translation inlines them), by source key.
    private Map<String, String> jwks = Map.of();
    private long firstPendingNanos = -1;
    private ScheduledFuture<?> timer;

    // Published for readers on other threads.
    private final Map<String, ProxySnapshot> snapshots = new ConcurrentHashMap<>();
    private final Map<String, ProxyNode> connected = new ConcurrentHashMap<>();
    // Sidecars' name tables (NDS) and who watches them; touched on the executor only.
    private final Map<String, NameTable> nameTables = new HashMap<>();
    private final Map<String, List<Consumer<NameTable>>> nameTableWatchers = new HashMap<>();
    private final List<Consumer<String>> goneListeners =
            new CopyOnWriteArrayList<>();
    private volatile long pushedStateIndex = -1;
    /** The mesh config's {@code outboundTrafficPolicy.mode}; the push thread's. */
    private String outboundTrafficMode = MeshSettings.ALLOW_ANY;
    private java.time.Duration protocolDetectionTimeout = java.time.Duration.ZERO;

    private record Connection(ProxyNode node, int streams) {}

    public MeshSnapshotCache(XdsOptions options) {
        this(options, new SimpleMeterRegistry());
    }

    public MeshSnapshotCache(XdsOptions options, MeterRegistry registry) {
        this.options = requireNonNull(options, "options");
        requireNonNull(registry, "registry");
        this.viewOptions = MeshSettings.DEFAULT.viewOptions(options.domainSuffix(), options.trustDomain());
        this.trustDomains = trustDomains(MeshSettings.DEFAULT);
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "xds-push");
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        this.executor = ex;
        this.pushes = Counter.builder("isthmus.xds.pushes").description("Snapshots computed for a proxy")
                .register(registry);
        this.translationFailures = Counter.builder("isthmus.xds.translation.failures")
                .description("Proxies whose translation failed (their last good snapshot stays)").register(registry);
        registry.gauge("isthmus.xds.connected.proxies", snapshots, Map::size);
        // Istio's pilot_conflict_outbound_listener_* gauges: conflicts in the proxies' current
        // snapshots, by kind (each listed, with how it was settled, in the log when it appears).
        for (String type : List.of("tcp_over_current_tcp", "tcp_over_current_http", "http_over_current_tcp")) {
            io.micrometer.core.instrument.Gauge.builder("pilot.conflict.outbound.listener." + type.replace('_', '.'),
                            snapshots, all -> all.values().stream()
                                    .flatMap(p -> p.resources().listenerConflicts().stream())
                                    .filter(c -> c.type().equals(type)).count())
                    .description("Outbound listener conflicts (" + type + ") in the connected proxies' snapshots")
                    .register(registry);
        }
    }

    private TrustDomains trustDomains(MeshSettings settings) {
        return TrustDomains.of(settings.trustDomain().isEmpty() ? options.trustDomain() : settings.trustDomain(),
                settings.trustDomainAliases());
    }

    /**
     * The snapshot cache the gRPC discovery server watches. On an ADS stream java-control-plane
     * answers nothing until it holds every resource a request names, which keeps Envoy's view
     * consistent while it warms clusters. A proxyless gRPC client does not warm: it names the
     * clusters its last RDS named, so after a change that removes one (a subset, a weight) it
     * would get neither the new clusters nor their endpoints, and keep dialing the old ones until
     * its 15 s resource timer. Such a client is answered with what exists, as istiod does.
     */
    public ConfigWatcher configWatcher() {
        return new ConfigWatcher() {
            @Override
            public Watch createWatch(boolean ads, XdsRequest request, Set<String> knownResourceNames,
                    Consumer<Response> responseConsumer, boolean hasClusterChanged,
                    boolean allowDefaultEmptyEdsUpdate) {
                boolean waitForAll = ads && !isProxylessGrpc(request.v3Request().getNode());
                return cache.createWatch(waitForAll, request, knownResourceNames, responseConsumer,
                        hasClusterChanged, allowDefaultEmptyEdsUpdate);
            }

            @Override
            public DeltaWatch createDeltaWatch(DeltaXdsRequest request, String requesterVersion,
                    Map<String, String> resourceVersions, Set<String> pendingResources, boolean isWildcard,
                    Consumer<DeltaResponse> responseConsumer, boolean hasClusterChanged) {
                return cache.createDeltaWatch(request, requesterVersion, resourceVersions, pendingResources,
                        isWildcard, responseConsumer, hasClusterChanged);
            }
        };
    }

    private static boolean isProxylessGrpc(Node node) {
        Value generator = node.getMetadata().getFieldsMap().get(ProxyNodeParser.GENERATOR);
        return node.getId().startsWith("sidecar~") && generator != null
                && "grpc".equals(generator.getStringValue());
    }

    /** Takes a new federation state; connected proxies get it after the debounce period. */
    public void onState(FederatedState state) {
        requireNonNull(state, "state");
        executor.execute(() -> {
            pending = state;
            debounce();
        });
    }

    /**
     * Takes a new federation state with the mesh's Istio configuration merged from it; connected
     * proxies get both, translated together, after the debounce period.
     */
    public void onState(FederatedState state, MeshConfig config) {
        requireNonNull(state, "state");
        requireNonNull(config, "config");
        executor.execute(() -> {
            pending = state;
            pendingConfig = config;
            debounce();
        });
    }

    /**
     * Takes new mesh settings (cluster-local hosts, the multi-cluster services switch); connected
     * proxies are re-translated with them after the debounce period.
     */
    public void onSettings(MeshSettings settings) {
        requireNonNull(settings, "settings");
        MeshViewOptions next = settings.viewOptions(options.domainSuffix(), options.trustDomain());
        TrustDomains nextDomains = trustDomains(settings);
        String nextOutboundMode = settings.outboundTrafficMode();
        java.time.Duration nextDetection = settings.protocolDetectionTimeout();
        executor.execute(() -> {
            if (next.equals(viewOptions) && nextOutboundMode.equals(outboundTrafficMode)
                    && nextDomains.equals(trustDomains) && nextDetection.equals(protocolDetectionTimeout)) {
                return;
            }
            viewOptions = next;
            outboundTrafficMode = nextOutboundMode;
            protocolDetectionTimeout = nextDetection;
            trustDomains = nextDomains;
            if (pending == null && current != null) {
                pending = current;
                pendingConfig = currentConfig;
            }
            views.clear();
            shared = null;
            if (pending != null) {
                debounce();
            }
        });
    }

    /**
     * Takes the JWKS last fetched for RequestAuthentication rules (by {@code jwksUri} or discovery
     * URL); connected proxies are re-translated with them after the debounce period.
     */
    public void onJwks(Map<String, String> fetched) {
        Map<String, String> next = Map.copyOf(requireNonNull(fetched, "fetched"));
        executor.execute(() -> {
            if (next.equals(jwks)) {
                return;
            }
            jwks = next;
            shared = null;
            if (pending == null && current != null) {
                pending = current;
                pendingConfig = currentConfig;
            }
            if (pending != null) {
                debounce();
            }
        });
    }

    /** On the executor: (re)arms the flush timer within the quiet period and the maximum delay. */
    private void debounce() {
        long now = System.nanoTime();
        if (firstPendingNanos < 0) {
            firstPendingNanos = now;
        }
        long deadline = Math.min(now + options.debounceQuiet().toNanos(),
                firstPendingNanos + options.debounceMax().toNanos());
        if (timer != null) {
            timer.cancel(false);
        }
        timer = executor.schedule(this::flush, Math.max(0, deadline - now), TimeUnit.NANOSECONDS);
    }

    /** A proxy opened a stream; it gets a snapshot from the current state (if any yet). */
    public void connect(ProxyNode node) {
        requireNonNull(node, "node");
        executor.execute(() -> {
            Connection previous = connections.get(node.id());
            connections.put(node.id(), new Connection(node, previous == null ? 1 : previous.streams + 1));
            connected.put(node.id(), node);
            if (current != null && (previous == null || !previous.node.equals(node))) {
                push(node, current, new IdentityHashMap<>());
            }
        });
    }

    /** A proxy's stream closed; its snapshot goes when its last stream does. */
    public void disconnect(ProxyNode node) {
        requireNonNull(node, "node");
        executor.execute(() -> {
            Connection connection = connections.get(node.id());
            if (connection == null) {
                return;
            }
            if (connection.streams > 1) {
                connections.put(node.id(), new Connection(connection.node, connection.streams - 1));
                return;
            }
            connections.remove(node.id());
            connected.remove(node.id());
            nameTables.remove(node.id());
            snapshots.remove(node.id());
            cache.clearSnapshot(node.id());
            for (Consumer<String> listener : goneListeners) {
                listener.accept(node.id());
            }
        });
    }

    /** The snapshot currently served to {@code proxyId}, if it is connected and has one. */
    public Optional<ProxySnapshot> snapshot(String proxyId) {
        return Optional.ofNullable(snapshots.get(requireNonNull(proxyId, "proxyId")));
    }

    /**
     * Watches a sidecar's name table (Istio's NDS): {@code listener} gets the current one (if
     * translated yet) and every changed one after, on the push thread, in order. Run the returned
     * handle to stop.
     */
    public Runnable watchNameTable(String proxyId, Consumer<NameTable> listener) {
        requireNonNull(proxyId, "proxyId");
        requireNonNull(listener, "listener");
        executor.execute(() -> {
            nameTableWatchers.computeIfAbsent(proxyId, id -> new ArrayList<>()).add(listener);
            NameTable current = nameTables.get(proxyId);
            if (current != null) {
                listener.accept(current);
            }
        });
        return () -> executor.execute(() -> {
            List<Consumer<NameTable>> watchers = nameTableWatchers.get(proxyId);
            if (watchers != null) {
                watchers.remove(listener);
                if (watchers.isEmpty()) {
                    nameTableWatchers.remove(proxyId);
                }
            }
        });
    }

    /** Every proxy with at least one open stream, by id. */
    public Map<String, ProxyNode> connectedProxies() {
        return Map.copyOf(connected);
    }

    /** Called (on the push thread) with a proxy id when its last stream has closed. */
    public void onProxyGone(Consumer<String> listener) {
        goneListeners.add(requireNonNull(listener, "listener"));
    }

    /** Every proxy that has a snapshot, by id. */
    public Map<String, ProxySnapshot> snapshots() {
        return Map.copyOf(snapshots);
    }

    /** The applied index of the last state pushed to all proxies, or -1 before the first. */
    public long pushedStateIndex() {
        return pushedStateIndex;
    }

    private void flush() {
        timer = null;
        firstPendingNanos = -1;
        FederatedState state = pending;
        pending = null;
        if (state == null) {
            return;
        }
        current = state;
        currentConfig = pendingConfig;
        views.clear();
        shared = null;
        // A content digest per resource message of this push: messages shared by proxies are hashed once.
        Map<Message, byte[]> digests = new IdentityHashMap<>();
        for (Connection connection : new ArrayList<>(connections.values())) {
            push(connection.node, state, digests);
        }
        pushedStateIndex = state.appliedIndex();
    }

    private void push(ProxyNode node, FederatedState state, Map<Message, byte[]> digests) {
        ProxyResources resources;
        try {
            MeshView view = views.computeIfAbsent(node.viewpoint(),
                    vp -> MeshView.of(state, vp, viewOptions));
            if (shared == null) {
                MeshConfig config = currentConfig;
                shared = config == null ? SharedTranslation.withoutPolicies()
                        : SharedTranslation.of(new MeshPolicies(config, state, options.domainSuffix(), jwks,
                                outboundTrafficMode, trustDomains, protocolDetectionTimeout));
            }
            resources = XdsTranslator.translate(view, node, state.trustRootsPem(), shared);
            if (node.type() == ProxyType.SIDECAR) {
                NameTable table = XdsTranslator.nameTable(view, node, shared);
                if (!table.equals(nameTables.put(node.id(), table))) {
                    for (Consumer<NameTable> watcher : nameTableWatchers.getOrDefault(node.id(), List.of())) {
                        watcher.accept(table);
                    }
                }
            }
        } catch (RuntimeException e) {
            translationFailures.increment();
            log.error("translation failed for proxy {} at state {}; keeping its last snapshot",
                    node.id(), state.appliedIndex(), e);
            return;
        }
        Map<String, String> versions = Map.of(
                Resources.V3.CLUSTER_TYPE_URL, version(resources.clusters(), digests),
                Resources.V3.ENDPOINT_TYPE_URL, version(resources.endpoints(), digests),
                Resources.V3.LISTENER_TYPE_URL, version(resources.listeners(), digests),
                Resources.V3.ROUTE_TYPE_URL, version(resources.routes(), digests),
                Resources.V3.SECRET_TYPE_URL, version(resources.secrets(), digests));
        cache.setSnapshot(node.id(), Snapshot.create(
                resources.clusters(), versions.get(Resources.V3.CLUSTER_TYPE_URL),
                resources.endpoints(), versions.get(Resources.V3.ENDPOINT_TYPE_URL),
                resources.listeners(), versions.get(Resources.V3.LISTENER_TYPE_URL),
                resources.routes(), versions.get(Resources.V3.ROUTE_TYPE_URL),
                resources.secrets(), versions.get(Resources.V3.SECRET_TYPE_URL)));
        ProxySnapshot previous = snapshots.put(node.id(),
                new ProxySnapshot(node, state.appliedIndex(), resources, versions));
        if (!resources.listenerConflicts().isEmpty() && (previous == null
                || !previous.resources().listenerConflicts().equals(resources.listenerConflicts()))) {
            resources.listenerConflicts().forEach(c -> log.warn("proxy {}: outbound {}", node.id(), c.describe()));
        }
        pushes.increment();
    }

    /** A content hash: deterministic serialization, so equal resources always hash alike. */
    static String version(List<? extends Message> resources) {
        return version(resources, new IdentityHashMap<>());
    }

    /**
     * The hash of the resources' own digests, in order; {@code memo} keeps each message's digest
     * for the push, so a resource shared by many proxies is serialized and hashed once.
     */
    static String version(List<? extends Message> resources, Map<Message, byte[]> memo) {
        MessageDigest digest = sha256();
        for (Message resource : resources) {
            digest.update(memo.computeIfAbsent(resource, MeshSnapshotCache::digestOf));
        }
        return HexFormat.of().formatHex(digest.digest(), 0, 8);
    }

    private static byte[] digestOf(Message resource) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            CodedOutputStream out = CodedOutputStream.newInstance(bytes);
            out.useDeterministicSerialization();
            resource.writeTo(out);
            out.flush();
            // Fixed-length digests: [ab][c] and [a][bc] cannot collide.
            return sha256().digest(bytes.toByteArray());
        } catch (IOException e) {
            throw new IllegalStateException("cannot hash xDS resources", e);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot hash xDS resources", e);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
