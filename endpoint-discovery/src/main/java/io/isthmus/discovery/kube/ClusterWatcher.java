package io.isthmus.discovery.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.isthmus.discovery.ClusterState;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches one Kubernetes cluster and publishes what it exports to the mesh as a
 * {@link ClusterState}.
 *
 * <p>One shared informer set per cluster (Services, discovery.k8s.io/v1 EndpointSlices, Pods,
 * Nodes, Namespaces, Istio's ServiceEntries and WorkloadEntries in every version
 * {@code networking.istio.io} serves, and the multi-cluster services API's ServiceExports and
 * ServiceImports, {@code multicluster.x-k8s.io/v1alpha1}). Every informer retries a failed list or
 * watch until closed ({@link InformerRetry}), the first list too. A cluster without Istio's or the
 * MCS CRDs (or some of their versions) is watched without them: the first state does not wait for
 * a kind the API server answers 404 for, and a CRD installed later is watched from then on.
 * Informer callbacks only enqueue named events; a single queue thread applies
 * them, rebuilds the state once the queue has been quiet for the debounce period (or the maximum
 * delay has passed), and calls {@code onChange} on that thread when the state differs from the
 * last one published. The first state is published once every informer has synced, even if it is
 * empty. A callback that throws is logged and does not stop the watcher.
 *
 * <p>Malformed objects are skipped with a warning naming them and counted in
 * {@value #REJECTED_OBJECTS_METER} (Prometheus: {@code isthmus_discovery_rejected_objects_total})
 * with tags {@code cluster}, {@code kind}, {@code reason}; the last good version of the object
 * stays in effect.
 *
 * <p>The caller owns the {@link KubernetesClient}: {@link #close()} stops the informers and the
 * queue thread but does not close the client. Thread-safe.
 */
public final class ClusterWatcher implements AutoCloseable {

    /** Micrometer name of the rejected-object counter. */
    public static final String REJECTED_OBJECTS_METER = "isthmus.discovery.rejected.objects";

    private static final Logger log = LoggerFactory.getLogger(ClusterWatcher.class);
    private static final String ISTIO_GROUP = "networking.istio.io";
    private static final List<String> ISTIO_VERSIONS = List.of("v1", "v1beta1", "v1alpha3");
    private static final Map<String, String> ISTIO_PLURALS = Map.of(
            IstioWorkloads.KIND_SERVICE_ENTRY, "serviceentries",
            IstioWorkloads.KIND_WORKLOAD_ENTRY, "workloadentries");

    private final ClusterWatcherOptions options;
    private final Consumer<ClusterState> onChange;
    private final MeterRegistry meters;
    private final LinkedBlockingQueue<ClusterEvent> queue = new LinkedBlockingQueue<>();
    private final ClusterIndex index;
    private final Thread queueThread;
    private final List<SharedIndexInformer<?>> informers;
    /** kind → its informers, one per served version. */
    private final Map<String, List<SharedIndexInformer<GenericKubernetesResource>>> istioInformers =
            new LinkedHashMap<>();
    /** ServiceExport and ServiceImport (multicluster.x-k8s.io): optional like Istio's kinds. */
    private final Map<String, SharedIndexInformer<GenericKubernetesResource>> mcsInformers = new LinkedHashMap<>();

    private volatile ClusterState current;
    private volatile boolean synced;
    private volatile boolean closed;

    private ClusterWatcher(
            KubernetesClient client, ClusterWatcherOptions options, Consumer<ClusterState> onChange,
            MeterRegistry meters) {
        this.options = options;
        this.onChange = onChange;
        this.meters = meters;
        this.current = ClusterState.empty(options.clusterName(), options.defaultNetwork());
        this.index = new ClusterIndex(options.clusterName(), options.defaultNetwork(), options.domainSuffix(),
                this::rejected);
        this.informers = List.of(
                informer(client.services().inAnyNamespace().runnableInformer(0),
                        ClusterEvent.ServiceUpserted::new, ClusterEvent.ServiceDeleted::new),
                informer(client.discovery().v1().endpointSlices().inAnyNamespace().runnableInformer(0),
                        ClusterEvent.EndpointSliceUpserted::new, ClusterEvent.EndpointSliceDeleted::new),
                informer(client.pods().inAnyNamespace().runnableInformer(0),
                        ClusterEvent.PodUpserted::new, ClusterEvent.PodDeleted::new),
                informer(client.nodes().runnableInformer(0),
                        ClusterEvent.NodeUpserted::new, ClusterEvent.NodeDeleted::new),
                informer(client.namespaces().runnableInformer(0),
                        ClusterEvent.NamespaceUpserted::new, ClusterEvent.NamespaceDeleted::new));
        for (String kind : List.of(IstioWorkloads.KIND_SERVICE_ENTRY, IstioWorkloads.KIND_WORKLOAD_ENTRY)) {
            List<SharedIndexInformer<GenericKubernetesResource>> versions = new ArrayList<>();
            for (String version : ISTIO_VERSIONS) {
                versions.add(optionalInformer(client, ISTIO_GROUP, version, kind, ISTIO_PLURALS.get(kind),
                        object -> new ClusterEvent.IstioObjectUpserted(kind, object),
                        object -> new ClusterEvent.IstioObjectDeleted(kind, object)));
            }
            istioInformers.put(kind, versions);
        }
        for (String kind : List.of(MultiClusterServices.KIND_SERVICE_EXPORT, MultiClusterServices.KIND_SERVICE_IMPORT)) {
            mcsInformers.put(kind, optionalInformer(client, MultiClusterServices.GROUP, MultiClusterServices.VERSION,
                    kind, MultiClusterServices.PLURALS.get(kind),
                    object -> new ClusterEvent.McsObjectUpserted(kind, object),
                    object -> new ClusterEvent.McsObjectDeleted(kind, object)));
        }
        this.queueThread = new Thread(this::runQueue, "isthmus-discovery-" + options.clusterName());
        this.queueThread.setDaemon(true);
    }

    /**
     * Starts watching with the global Micrometer registry. Returns at once; see
     * {@link #hasSynced()}.
     */
    public static ClusterWatcher start(
            KubernetesClient client, ClusterWatcherOptions options, Consumer<ClusterState> onChange) {
        return start(client, options, onChange, Metrics.globalRegistry);
    }

    /** Starts watching, counting rejected objects in {@code meters}. Returns at once. */
    public static ClusterWatcher start(
            KubernetesClient client, ClusterWatcherOptions options, Consumer<ClusterState> onChange,
            MeterRegistry meters) {
        requireNonNull(client, "client");
        requireNonNull(options, "options");
        requireNonNull(onChange, "onChange");
        requireNonNull(meters, "meters");
        ClusterWatcher watcher = new ClusterWatcher(client, options, onChange, meters);
        watcher.begin();
        return watcher;
    }

    private void begin() {
        queueThread.start();
        List<CompletableFuture<?>> startList = new ArrayList<>();
        informers.forEach(informer -> startList.add(informer.start().toCompletableFuture()));
        // An API server without Istio's or the MCS CRDs (or without one of their versions) is not an error.
        istioInformers.forEach((kind, versions) -> {
            for (int i = 0; i < versions.size(); i++) {
                startList.add(startOptional(ISTIO_GROUP + "/" + ISTIO_VERSIONS.get(i) + " " + kind, versions.get(i)));
            }
        });
        mcsInformers.forEach((kind, informer) -> startList.add(startOptional(
                MultiClusterServices.GROUP + "/" + MultiClusterServices.VERSION + " " + kind, informer)));
        CompletableFuture<?>[] starts = startList.toArray(CompletableFuture[]::new);
        CompletableFuture.allOf(starts).whenComplete((ignored, failure) -> {
            if (failure != null) {
                if (!closed) {
                    log.error("cluster {}: informers failed to start; discovery has no state for it",
                            options.clusterName(), failure);
                }
                return;
            }
            queue.add(new ClusterEvent.InformersSynced(
                    store(Service.class), store(EndpointSlice.class), store(Pod.class), store(Node.class),
                    store(Namespace.class), istioStore(IstioWorkloads.KIND_SERVICE_ENTRY),
                    istioStore(IstioWorkloads.KIND_WORKLOAD_ENTRY),
                    optionalStore(mcsInformers.get(MultiClusterServices.KIND_SERVICE_EXPORT)),
                    optionalStore(mcsInformers.get(MultiClusterServices.KIND_SERVICE_IMPORT))));
        });
    }

    private CompletableFuture<?> startOptional(String kind, SharedIndexInformer<GenericKubernetesResource> informer) {
        return InformerRetry.startOptional(informer, "cluster " + options.clusterName() + ": " + kind, meters);
    }

    /** True once the first complete state (after every informer listed its kind) was published. */
    public boolean hasSynced() {
        return synced;
    }

    /** The last published state; empty for this cluster until {@link #hasSynced()}. */
    public ClusterState current() {
        return current;
    }

    public ClusterWatcherOptions options() {
        return options;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<SharedIndexInformer<?>> all = new ArrayList<>(informers);
        istioInformers.values().forEach(all::addAll);
        all.addAll(mcsInformers.values());
        for (SharedIndexInformer<?> informer : all) {
            try {
                informer.stop();
            } catch (RuntimeException e) {
                log.debug("cluster {}: stopping informer failed", options.clusterName(), e);
            }
        }
        queueThread.interrupt();
        try {
            queueThread.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private <T extends HasMetadata> SharedIndexInformer<T> informer(
            SharedIndexInformer<T> informer, Function<T, ClusterEvent> upserted, Function<T, ClusterEvent> deleted) {
        String kind = informer.getApiTypeClass().getSimpleName();
        informer.addEventHandler(new ResourceEventHandler<T>() {
            @Override
            public void onAdd(T object) {
                queue.add(upserted.apply(object));
            }

            @Override
            public void onUpdate(T oldObject, T newObject) {
                queue.add(upserted.apply(newObject));
            }

            @Override
            public void onDelete(T object, boolean deletedFinalStateUnknown) {
                queue.add(deleted.apply(object));
            }
        });
        InformerRetry.install(informer, "cluster " + options.clusterName() + ": " + kind, meters);
        return informer;
    }

    private SharedIndexInformer<GenericKubernetesResource> optionalInformer(KubernetesClient client, String group,
            String version, String kind, String plural, Function<GenericKubernetesResource, ClusterEvent> upserted,
            Function<GenericKubernetesResource, ClusterEvent> deleted) {
        ResourceDefinitionContext context = new ResourceDefinitionContext.Builder()
                .withGroup(group)
                .withVersion(version)
                .withKind(kind)
                .withPlural(plural)
                .withNamespaced(true)
                .build();
        SharedIndexInformer<GenericKubernetesResource> informer =
                client.genericKubernetesResources(context).inAnyNamespace().runnableInformer(0);
        informer.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(GenericKubernetesResource object) {
                queue.add(upserted.apply(object));
            }

            @Override
            public void onUpdate(GenericKubernetesResource oldObject, GenericKubernetesResource newObject) {
                queue.add(upserted.apply(newObject));
            }

            @Override
            public void onDelete(GenericKubernetesResource object, boolean deletedFinalStateUnknown) {
                queue.add(deleted.apply(object));
            }
        });
        return informer;
    }

    /** What a synced optional informer holds; nothing for a kind the API server does not serve. */
    private static List<GenericKubernetesResource> optionalStore(SharedIndexInformer<GenericKubernetesResource> informer) {
        return informer.hasSynced() ? informer.getStore().list() : List.of();
    }

    /** The union over versions; a version that is not served contributes nothing. */
    private List<GenericKubernetesResource> istioStore(String kind) {
        List<GenericKubernetesResource> out = new ArrayList<>();
        for (SharedIndexInformer<GenericKubernetesResource> informer : istioInformers.get(kind)) {
            if (informer.hasSynced()) {
                out.addAll(informer.getStore().list());
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private <T> List<T> store(Class<T> type) {
        for (SharedIndexInformer<?> informer : informers) {
            if (informer.getApiTypeClass() == type) {
                return ((SharedIndexInformer<T>) informer).getStore().list();
            }
        }
        throw new IllegalStateException("no informer for " + type.getSimpleName());
    }

    private void runQueue() {
        long quietNanos = options.debounce().toNanos();
        long maxDelayNanos = options.maxDelay().toNanos();
        boolean informersSynced = false;
        try {
            while (!closed) {
                ClusterEvent event = queue.take();
                long deadline = System.nanoTime() + maxDelayNanos;
                informersSynced |= applySafely(event);
                while (true) {
                    long wait = Math.min(quietNanos, deadline - System.nanoTime());
                    if (wait <= 0) {
                        break;
                    }
                    ClusterEvent next = queue.poll(wait, TimeUnit.NANOSECONDS);
                    if (next == null) {
                        break;
                    }
                    informersSynced |= applySafely(next);
                }
                if (informersSynced && !closed) {
                    publish();
                }
            }
        } catch (InterruptedException e) {
            // close() interrupts the queue thread: exit quietly.
        }
    }

    /** Applies one event; returns whether it was the informers' sync marker. */
    private boolean applySafely(ClusterEvent event) {
        try {
            index.apply(event);
        } catch (RuntimeException e) {
            log.error("cluster {}: could not apply {}; skipped it", options.clusterName(),
                    event.getClass().getSimpleName(), e);
            counter("Event", "internal-error").increment();
        }
        return event instanceof ClusterEvent.InformersSynced;
    }

    private void publish() {
        ClusterState next;
        try {
            next = index.build();
        } catch (RuntimeException e) {
            log.error("cluster {}: could not build the cluster state; keeping the last one",
                    options.clusterName(), e);
            counter("ClusterState", "internal-error").increment();
            return;
        }
        if (synced && next.equals(current)) {
            return;
        }
        current = next;
        try {
            onChange.accept(next);
        } catch (RuntimeException e) {
            log.error("cluster {}: state listener failed", options.clusterName(), e);
        }
        synced = true;
    }

    private void rejected(String kind, String object, String reason, String detail) {
        log.warn("cluster {}: skipping {} {}: {}", options.clusterName(), kind, object, detail);
        counter(kind, reason).increment();
    }

    private Counter counter(String kind, String reason) {
        return Counter.builder(REJECTED_OBJECTS_METER)
                .description("Kubernetes objects (or parts of them) discovery skipped as malformed")
                .tag("cluster", options.clusterName())
                .tag("kind", kind)
                .tag("reason", reason)
                .register(meters);
    }
}
