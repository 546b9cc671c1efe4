package io.isthmus.controller.remote;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.isthmus.controller.ca.CacertsLoader;
import io.isthmus.discovery.kube.InformerRetry;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.kube.ClusterWatcher;
import io.isthmus.discovery.kube.ClusterWatcherOptions;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's multicluster secret controller: watches the remote secrets ({@code istio/multiCluster=true})
 * in this controller's cluster and, for each remote cluster they name, watches that cluster's API
 * server and publishes its state into the federation as a cluster whose controller is this one
 * (primary-remote: a remote cluster has no controller, and its proxies use this one).
 *
 * <p>Lifecycle of a remote, level-triggered from the set of secrets:
 * <ul>
 *   <li>added: a client and a {@link ClusterWatcher} start; the cluster is published once the
 *       watcher has its first complete state ({@code syncing} → {@code synced}, or
 *       {@code timeout} after {@link RemoteClusterOptions#syncTimeout()}, still retrying);</li>
 *   <li>rotated (a different kubeconfig under the same key): a second watcher starts beside the
 *       first and replaces it only once synced, so the published endpoints never drop;</li>
 *   <li>broken (a kubeconfig that no longer parses, or names an exec plugin): refused, counted in
 *       {@value #REJECTED_METER}, and the previous kubeconfig keeps serving;</li>
 *   <li>deleted (key or Secret gone): the watcher stops and the cluster is removed from the
 *       federation.</li>
 * </ul>
 * All state is confined to one private thread; informer callbacks only hand events to it.
 */
public final class RemoteClusterController implements AutoCloseable {

    /** Counter of refused remote-secret keys, tags {@code secret} and {@code cluster}. */
    public static final String REJECTED_METER = "isthmus.remote.secrets.rejected";
    private static final Logger log = LoggerFactory.getLogger(RemoteClusterController.class);
    private static final Duration REFRESH = Duration.ofMillis(250);
    private static final Duration MAX_RETRY = Duration.ofMinutes(5);
    private static final String NETWORK_LABEL = "topology.istio.io/network";

    /** Where a remote cluster's state goes: the federation, in production. */
    public interface Sink {
        /** Starts publishing {@code cluster}; the returned publication takes its states in order. */
        Publication open(ClusterInfo cluster);

        /** The cluster is gone: remove it from the mesh. */
        void removed(String cluster);

        /**
         * A client of {@code cluster}'s API server is open (the serving one, or a rotated one
         * syncing beside it): whatever the controller keeps in that cluster besides watching it
         * (Istio's istio-ca-root-cert ConfigMaps) starts here, and is closed with the client.
         */
        default AutoCloseable clientOpened(String cluster, KubernetesClient client) {
            return () -> { };
        }
    }

    /** One remote cluster's stream of states into the {@link Sink}. */
    public interface Publication extends AutoCloseable {
        void offer(ClusterState state);

        @Override
        void close();
    }

    private final KubernetesClient local;
    private final RemoteClusterOptions options;
    private final Sink sink;
    private final MeterRegistry meters;
    private final Function<RemoteKubeconfig, KubernetesClient> clients;
    private final Clock clock;
    private final ScheduledExecutorService executor;
    private SharedIndexInformer<Secret> informer;

    // Confined to the executor.
    private final Map<String, Remote> remotes = new TreeMap<>();
    private final Map<String, Refusal> lastErrors = new HashMap<>();
    // Clusters named only by refused keys: shown in status, never watched.
    private final Map<String, Remote> statusOnly = new TreeMap<>();
    private volatile List<RemoteClusterStatus> statuses = List.of();
    // Written on the executor, read by CSR calls.
    private final Map<String, ServiceAccountTokenVerifier> issuers = new ConcurrentHashMap<>();

    private RemoteClusterController(KubernetesClient local, RemoteClusterOptions options, Sink sink,
            MeterRegistry meters, Function<RemoteKubeconfig, KubernetesClient> clients, Clock clock) {
        this.local = local;
        this.options = options;
        this.sink = sink;
        this.meters = meters;
        this.clients = clients;
        this.clock = clock;
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "remote-clusters-" + options.ownCluster());
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        this.executor = ex;
    }

    /** Starts watching remote secrets in {@code local}, building remote clients from their kubeconfigs. */
    public static RemoteClusterController start(KubernetesClient local, RemoteClusterOptions options, Sink sink,
            MeterRegistry meters) {
        return start(local, options, sink, meters, RemoteClusterController::newClient, Clock.systemUTC());
    }

    static RemoteClusterController start(KubernetesClient local, RemoteClusterOptions options, Sink sink,
            MeterRegistry meters, Function<RemoteKubeconfig, KubernetesClient> clients, Clock clock) {
        requireNonNull(local, "local");
        requireNonNull(options, "options");
        requireNonNull(sink, "sink");
        requireNonNull(meters, "meters");
        RemoteClusterController controller = new RemoteClusterController(local, options, sink, meters,
                requireNonNull(clients, "clients"), requireNonNull(clock, "clock"));
        controller.begin();
        return controller;
    }

    static KubernetesClient newClient(RemoteKubeconfig kubeconfig) {
        Config config = Config.fromKubeconfig(kubeconfig.yaml());
        // A slow remote must not hold this controller's single thread for long.
        config.setConnectionTimeout(5_000);
        config.setRequestTimeout(10_000);
        // Fail fast: an unreachable remote is retried by restarting its watch (see Remote#retryIfStuck).
        config.setRequestRetryBackoffLimit(1);
        config.setRequestRetryBackoffInterval(100);
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    private void begin() {
        informer = local.secrets().inNamespace(options.secretNamespace())
                .withLabel(RemoteSecret.LABEL, "true").runnableInformer(0);
        informer.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Secret secret) {
                executor.execute(RemoteClusterController.this::reconcile);
            }

            @Override
            public void onUpdate(Secret before, Secret after) {
                executor.execute(RemoteClusterController.this::reconcile);
            }

            @Override
            public void onDelete(Secret secret, boolean finalStateUnknown) {
                executor.execute(RemoteClusterController.this::reconcile);
            }
        });
        InformerRetry.install(informer, "remote-secrets", meters);
        informer.start();
        executor.scheduleWithFixedDelay(this::refresh, REFRESH.toMillis(), REFRESH.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * The service-account token issuer of a synced remote cluster, so its workloads can get
     * certificates from this controller's CA ({@code ClusterID} header); null when unknown.
     * Thread-safe.
     */
    public ServiceAccountTokenVerifier issuer(String cluster) {
        return cluster == null ? null : issuers.get(cluster);
    }

    /** Every remote cluster named by a remote secret, in name order. Thread-safe. */
    public List<RemoteClusterStatus> status() {
        return statuses;
    }

    // ---- on the executor -------------------------------------------------------------------

    private void reconcile() {
        List<Secret> secrets = new ArrayList<>(informer.getStore().list());
        secrets.sort(Comparator.comparing(s -> s.getMetadata().getName()));
        Map<String, RemoteKubeconfig> wanted = new TreeMap<>();
        Map<String, String> wantedBy = new TreeMap<>();
        // cluster (or cluster@secret for a duplicate) → why that key is refused
        Map<String, Refusal> errors = new TreeMap<>();
        for (Secret secret : secrets) {
            RemoteSecret read = RemoteSecret.read(secret);
            read.errors().forEach((cluster, why) -> {
                errors.put(cluster, new Refusal(cluster, read.ref(), why));
                wantedBy.putIfAbsent(cluster, read.ref());
            });
            read.clusters().forEach((cluster, kubeconfig) -> {
                if (cluster.equals(options.ownCluster())) {
                    errors.put(cluster, new Refusal(cluster, read.ref(), "Secret " + read.ref()
                            + " names this controller's own cluster '" + cluster
                            + "'; a cluster is not its own remote (delete that key)"));
                } else if (wanted.containsKey(cluster)) {
                    errors.put(cluster + "@" + read.ref(), new Refusal(cluster, read.ref(), "Secret " + read.ref()
                            + " names cluster '" + cluster + "', already named by Secret " + wantedBy.get(cluster)
                            + "; keep one of them"));
                } else {
                    wanted.put(cluster, kubeconfig);
                    wantedBy.put(cluster, read.ref());
                }
            });
        }
        reportErrors(errors);

        for (var it = remotes.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Remote> e = it.next();
            String cluster = e.getKey();
            Remote remote = e.getValue();
            if (wanted.containsKey(cluster)) {
                remote.reason = "";
                continue;
            }
            if (errors.containsKey(cluster) && wantedBy.containsKey(cluster)) {
                // Still named, but now broken: keep serving from the previous kubeconfig.
                remote.reason = errors.get(cluster).reason() + "; still using the previous kubeconfig";
                continue;
            }
            it.remove();
            remote.close();
            sink.removed(cluster);
            log.info("remote cluster {} removed (no remote secret names it any more)", cluster);
        }
        wanted.forEach((cluster, kubeconfig) -> {
            Remote remote = remotes.get(cluster);
            if (remote == null) {
                remote = new Remote(cluster, wantedBy.get(cluster));
                remotes.put(cluster, remote);
                remote.startWatch(kubeconfig);
            } else {
                remote.secret = wantedBy.get(cluster);
                if (!kubeconfig.sha256().equals(remote.wantedSha())) {
                    log.info("remote cluster {}: kubeconfig in {} changed; watching with the new one beside "
                            + "the old until it has synced", cluster, remote.secret);
                    remote.startWatch(kubeconfig);
                }
            }
        });
        errors.forEach((key, refusal) -> {
            if (!key.contains("@") && !wanted.containsKey(key) && !remotes.containsKey(key)) {
                Remote refused = new Remote(key, wantedBy.getOrDefault(key, ""));
                refused.reason = refusal.reason();
                refused.refused = true;
                statusOnly.put(key, refused);
            }
        });
        statusOnly.keySet().removeIf(key -> !errors.containsKey(key) || remotes.containsKey(key));
        refresh();
    }

    private void reportErrors(Map<String, Refusal> errors) {
        errors.forEach((key, refusal) -> {
            if (!refusal.equals(lastErrors.get(key))) {
                log.warn("remote secret refused: {}", refusal.reason());
                Counter.builder(REJECTED_METER)
                        .description("Remote-secret keys refused, by secret and cluster")
                        .tag("secret", refusal.secret()).tag("cluster", refusal.cluster())
                        .register(meters).increment();
            }
        });
        lastErrors.keySet().retainAll(errors.keySet());
        lastErrors.putAll(errors);
    }

    /** Promotes synced replacement watchers and recomputes the status list. */
    private void refresh() {
        Instant now = clock.instant();
        List<RemoteClusterStatus> list = new ArrayList<>();
        for (Remote remote : remotes.values()) {
            remote.promoteIfSynced();
            remote.retryIfStuck(now);
            remote.loadIssuerIfDue(now);
            list.add(remote.status(now));
        }
        for (Remote refused : statusOnly.values()) {
            list.add(refused.status(now));
        }
        list.sort(Comparator.comparing(RemoteClusterStatus::cluster));
        statuses = List.copyOf(list);
    }

    /** One watch of a remote API server with one kubeconfig. */
    private final class Watch {
        final RemoteKubeconfig kubeconfig;
        final Instant started;
        volatile boolean active;
        KubernetesClient client;
        ClusterWatcher watcher;
        AutoCloseable companion;

        Watch(RemoteKubeconfig kubeconfig, Instant started) {
            this.kubeconfig = kubeconfig;
            this.started = started;
        }

        boolean synced() {
            return watcher != null && watcher.hasSynced();
        }

        void close() {
            if (companion != null) {
                try {
                    companion.close();
                } catch (Exception e) {
                    log.debug("closing what was kept in a remote cluster failed", e);
                }
            }
            if (watcher != null) {
                watcher.close();
            }
            if (client != null) {
                client.close();
            }
        }
    }

    /** One remote cluster: the serving watch, and a replacement while a rotated kubeconfig syncs. */
    private final class Remote {
        final String cluster;
        String secret;
        String reason = "";
        boolean refused;
        Watch current;
        Watch next;
        Publication publication;
        boolean timedOut;
        // How long the current watch may go unsynced before it is started again; doubles per retry.
        Duration retryAfter = options.syncTimeout();
        Watch issuerFrom;
        Instant issuerAttempt = Instant.EPOCH;
        // A first watch that could not even start (client or informers failed, e.g. the remote's API
        // server timed out on a loaded machine): started again after openRetryAfter, doubling.
        RemoteKubeconfig failedOpen;
        Instant failedOpenAt = Instant.EPOCH;
        Duration openRetryAfter = Duration.ofSeconds(1);
        String status = RemoteClusterStatus.SYNCING;
        Instant since = clock.instant();

        Remote(String cluster, String secret) {
            this.cluster = cluster;
            this.secret = secret;
        }

        String wantedSha() {
            return next != null ? next.kubeconfig.sha256() : current != null ? current.kubeconfig.sha256()
                    : failedOpen != null ? failedOpen.sha256() : "";
        }

        /** Builds the client and starts the watcher; false (with {@link #reason} set) if that failed. */
        private boolean open(Watch watch) {
            try {
                watch.client = clients.apply(watch.kubeconfig);
                String network = networkOf(watch.client);
                watch.watcher = ClusterWatcher.start(watch.client, new ClusterWatcherOptions(cluster, network,
                        options.domainSuffix(), ClusterWatcherOptions.DEFAULT_DEBOUNCE),
                        state -> executor.execute(() -> {
                            if (watch.active && publication != null) {
                                publication.offer(state);
                            }
                        }), meters);
                watch.companion = sink.clientOpened(cluster, watch.client);
                return true;
            } catch (RuntimeException e) {
                watch.close();
                reason = "cannot watch " + watch.kubeconfig.server() + ": " + e.getMessage();
                log.warn("remote cluster {}: {}", cluster, reason);
                return false;
            }
        }

        void startWatch(RemoteKubeconfig kubeconfig) {
            Watch watch = new Watch(kubeconfig, clock.instant());
            if (!open(watch)) {
                if (current == null) {
                    // Nothing serves this remote yet: without a retry it would stay unwatched until its
                    // secret changed.
                    failedOpen = kubeconfig;
                    failedOpenAt = clock.instant();
                }
                return;
            }
            failedOpen = null;
            openRetryAfter = Duration.ofSeconds(1);
            if (next != null) {
                next.close();
            }
            if (current == null) {
                current = watch;
                watch.active = true;
                publication = sink.open(new ClusterInfo(cluster, watch.watcher.options().defaultNetwork(),
                        Locality.UNKNOWN, options.controllerAddress()));
                log.info("remote cluster {}: watching {} (from {})", cluster, kubeconfig.server(), secret);
            } else {
                next = watch;
            }
        }

        void promoteIfSynced() {
            if (next != null && next.synced()) {
                Watch old = current;
                current = next;
                next = null;
                old.active = false;
                current.active = true;
                publication.offer(current.watcher.current());
                old.close();
                log.info("remote cluster {}: now watching {} with the rotated kubeconfig", cluster,
                        current.kubeconfig.server());
            }
        }

        /**
         * An informer whose first list failed does not retry by itself: a watch that has not synced
         * within the sync timeout is started again, then after twice as long, up to 5 minutes
         * (a slow but progressing watch is not cut short forever).
         */
        void retryIfStuck(Instant now) {
            if (current == null && failedOpen != null
                    && Duration.between(failedOpenAt, now).compareTo(openRetryAfter) >= 0) {
                Duration waited = openRetryAfter;
                openRetryAfter = openRetryAfter.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY
                        : openRetryAfter.multipliedBy(2);
                log.info("remote cluster {}: starting its watch again ({} s after it failed to start)", cluster,
                        waited.toSeconds());
                startWatch(failedOpen);
                return;
            }
            if (current == null || current.synced()) {
                retryAfter = options.syncTimeout();
                return;
            }
            if (Duration.between(current.started, now).compareTo(retryAfter) <= 0) {
                return;
            }
            timedOut = true;
            retryAfter = retryAfter.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY : retryAfter.multipliedBy(2);
            Watch stuck = current;
            Watch retry = new Watch(stuck.kubeconfig, now);
            stuck.active = false;
            stuck.close();
            current = retry;
            open(retry);
            retry.active = true;
            log.info("remote cluster {}: not synced within {} s; retrying {} (next retry after {} s)", cluster,
                    Duration.between(stuck.started, now).toSeconds(), stuck.kubeconfig.server(),
                    retryAfter.toSeconds());
        }

        /**
         * Loads the remote's token issuer once its watch has synced (and again after a rotation),
         * retrying every sync timeout while it fails.
         */
        void loadIssuerIfDue(Instant now) {
            if (current == null || !current.synced() || issuerFrom == current
                    || Duration.between(issuerAttempt, now).compareTo(options.syncTimeout()) < 0) {
                return;
            }
            issuerAttempt = now;
            try {
                issuers.put(cluster, RemoteIssuer.load(current.client, clock));
                issuerFrom = current;
                log.info("remote cluster {}: loaded its service-account token issuer", cluster);
            } catch (RuntimeException e) {
                log.warn("remote cluster {}: cannot load its service-account token issuer (its workloads cannot "
                        + "get certificates yet): {}", cluster, e.getMessage());
            }
        }

        RemoteClusterStatus status(Instant now) {
            String s;
            if (current != null && current.synced()) {
                timedOut = false;
            }
            if (refused || current == null) {
                s = RemoteClusterStatus.ERROR;
            } else if (current.synced()) {
                s = RemoteClusterStatus.SYNCED;
            } else if (timedOut || Duration.between(current.started, now).compareTo(options.syncTimeout()) > 0) {
                s = RemoteClusterStatus.TIMEOUT;
            } else {
                s = RemoteClusterStatus.SYNCING;
            }
            if (!s.equals(status)) {
                status = s;
                since = now;
            }
            String why = reason;
            if (why.isEmpty() && next != null) {
                why = "rotated kubeconfig syncing; still serving from the previous one";
            }
            return new RemoteClusterStatus(cluster, secret, status, why,
                    current == null ? "" : current.kubeconfig.server(), since);
        }

        void close() {
            issuers.remove(cluster);
            if (next != null) {
                next.close();
            }
            if (current != null) {
                current.active = false;
                current.close();
            }
            if (publication != null) {
                publication.close();
            }
        }
    }

    /** Istio's rule: the remote's network is the label on its {@code istio-system} namespace. */
    private String networkOf(KubernetesClient client) {
        try {
            Namespace ns = client.namespaces().withName(options.secretNamespace()).get();
            String label = ns == null || ns.getMetadata().getLabels() == null ? null
                    : ns.getMetadata().getLabels().get(NETWORK_LABEL);
            return label == null || label.isBlank() ? options.defaultNetwork() : label;
        } catch (RuntimeException e) {
            log.debug("cannot read the network label of the remote's namespace {}: {}", options.secretNamespace(),
                    e.toString());
            return options.defaultNetwork();
        }
    }

    @Override
    public void close() {
        if (informer != null) {
            informer.stop();
        }
        executor.execute(() -> {
            remotes.values().forEach(Remote::close);
            remotes.clear();
        });
        executor.shutdown();
        try {
            if (!executor.awaitTermination(10, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    /** One refused remote-secret key: which cluster, which secret (namespace/name), and why. */
    private record Refusal(String cluster, String secret, String reason) {
    }
}
