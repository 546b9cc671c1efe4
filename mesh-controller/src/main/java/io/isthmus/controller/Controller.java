package io.isthmus.controller;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.isthmus.controller.admin.AdminAuth;
import io.isthmus.controller.admin.AdminEndpoints;
import io.isthmus.controller.admin.AdminServer;
import io.isthmus.controller.admin.FederationRoutes;
import io.isthmus.controller.admin.Readiness;
import io.isthmus.controller.ca.CaSource;
import io.isthmus.controller.ca.CacertsLoader;
import io.isthmus.controller.ca.MeshTrustBundle;
import io.isthmus.controller.ca.RootCertPublisher;
import io.isthmus.controller.ca.ServingCertificate;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.ConfigStore;
import io.isthmus.controller.config.ConfigWatcher;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.MeshSettings;
import io.isthmus.controller.config.MeshSettingsWatcher;
import io.isthmus.controller.dashboard.Dashboard;
import io.isthmus.controller.dashboard.DashboardOptions;
import io.isthmus.controller.dashboard.DashboardSources;
import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.FederationOptions;
import io.isthmus.controller.federation.PeerTls;
import io.isthmus.controller.federation.RemoveCluster;
import io.isthmus.controller.remote.RemoteClusterController;
import io.isthmus.controller.remote.RemoteClusterOptions;
import io.isthmus.controller.webhook.ValidationWebhook;
import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.SyncTracker;
import io.isthmus.controller.xds.XdsOptions;
import io.isthmus.controller.xds.XdsServer;
import io.isthmus.controller.xds.XdsServerOptions;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.kube.ClusterWatcher;
import io.isthmus.discovery.kube.ClusterWatcherOptions;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.IstioCertificateServiceImpl;
import io.isthmus.trust.MeshTls;
import io.isthmus.trust.Pem;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running controller: discovery of its own cluster, its federation peer, the xDS and CA
 * servers, and the admin endpoint, wired as in {@code ARCHITECTURE.md} (discovery → federation →
 * mesh view → translation → xDS). {@link #start} returns once every port is bound; readiness
 * follows ({@code /ready}). {@link #close()} stops everything it started, in reverse order.
 */
public final class Controller implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Controller.class);
    /** How long to wait for {@code cacerts} and the issuer ConfigMap to appear. */
    static final Duration INPUT_WAIT = Duration.ofSeconds(60);
    public static final String ROOT_CERT_CONFIG_MAP = RootCertPublisher.CONFIG_MAP;

    private final ControllerOptions options;
    private final DashboardOptions dashboardOptions;
    private final Deque<AutoCloseable> resources = new ArrayDeque<>();
    private KubernetesClient client;
    private volatile CertificateAuthority ca;
    private MeshTrustBundle trustBundle;
    /** istio-ca-root-cert publishers in the remote clusters this controller serves (primary-remote). */
    private final Set<RootCertPublisher> remoteRootCerts = ConcurrentHashMap.newKeySet();
    private FederationNode federation;
    private ClusterWatcher watcher;
    private FederationPublisher publisher;
    private MeshSnapshotCache cache;
    private XdsServer xds;
    private AdminServer admin;
    private ConfigStore configStore;
    private volatile RemoteClusterController remoteClusters;
    private volatile MeshConfig meshConfig = MeshConfig.EMPTY;
    // Confined to the federation's notifier thread.
    private Map<String, List<ConfigResource>> meshConfigInput = Map.of();

    private Controller(ControllerOptions options, DashboardOptions dashboardOptions) {
        this.options = options;
        this.dashboardOptions = dashboardOptions;
    }

    /**
     * Starts a controller.
     *
     * @throws IllegalStateException with a one-line reason (a port in use names the address, a bad
     *                               {@code cacerts} names the file); nothing is left running
     */
    public static Controller start(ControllerOptions options) {
        return start(options, DashboardOptions.defaults());
    }

    /** As {@link #start(ControllerOptions)}, with the dashboard's options ({@code --dashboard-*}). */
    public static Controller start(ControllerOptions options, DashboardOptions dashboardOptions) {
        requireNonNull(options, "options");
        requireNonNull(dashboardOptions, "dashboardOptions");
        Controller controller = new Controller(options, dashboardOptions);
        try {
            controller.startAll();
            return controller;
        } catch (RuntimeException | IOException | InterruptedException e) {
            controller.close();
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IllegalStateException(oneLine(e), e);
        }
    }

    private void startAll() throws IOException, InterruptedException {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        // Libraries that count into the global registry (trust, discovery) show up on /metrics too.
        Metrics.globalRegistry.add(registry);
        resources.push(() -> Metrics.globalRegistry.remove(registry));

        String kubeconfig;
        try {
            kubeconfig = Files.readString(options.kubeconfig());
        } catch (IOException e) {
            throw new IOException("cannot read --kubeconfig " + options.kubeconfig() + ": " + e, e);
        }
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfig)).build();
        resources.push(client);

        ca = waitFor(() -> CacertsLoader.loadCa(client));
        // Re-read while running: the phases of a root rotation change the Secret.
        CaSource caSource = new CaSource(client, ca, registry);
        resources.push(caSource);
        ServiceAccountTokenVerifier verifier = waitFor(() -> CacertsLoader.loadIssuer(client, Clock.systemUTC()));
        log.info("CA loaded for cluster {} ({}); token issuer {}", options.cluster(),
                ca.certificate().getSubjectX500Principal(), verifier.issuer());

        MeshTrustBundle bundle = new MeshTrustBundle(options.trustDomain(), options.trustDomainAliases(), CaSource.rootsPem(ca));
        trustBundle = bundle;
        // Every namespace's istio-ca-root-cert follows the bundle: own roots plus the federation's.
        RootCertPublisher rootCerts = RootCertPublisher.start(client, bundle.get().rootsPem(), registry);
        resources.push(rootCerts);
        ServingCertificate serving = new ServingCertificate(caSource, options.trustDomain(),
                ServingCertificate.DEFAULT_TTL, Clock.systemUTC());
        serving.get();

        cache = new MeshSnapshotCache(new XdsOptions(options.domainSuffix(), options.trustDomain(),
                options.debounceQuiet(), options.debounceMax()), registry);
        resources.push(cache);
        // Istio's mesh config (serviceSettings) from istio-system/istio; the MCS switch, as in istiod, from the environment.
        boolean mcsClusterLocal = Boolean.parseBoolean(System.getenv(MeshSettings.MCS_CLUSTER_LOCAL_ENV));
        // --trust-domain-aliases joins the mesh config's trustDomainAliases for AuthorizationPolicy principals.
        cache.onSettings(MeshSettings.DEFAULT.withMcsClusterLocal(mcsClusterLocal)
                .withMoreTrustDomainAliases(options.trustDomainAliases()));
        resources.push(MeshSettingsWatcher.start(client, mcsClusterLocal,
                s -> cache.onSettings(s.withMoreTrustDomainAliases(options.trustDomainAliases())), registry));
        // RequestAuthentication keys named by jwksUri: fetched here, inlined by translation.
        JwksFetcher jwksFetcher = new JwksFetcher(JwksFetcher.Options.DEFAULT, cache::onJwks, registry);
        resources.push(jwksFetcher);
        SyncTracker tracker = new SyncTracker(registry);
        IstioCertificateServiceImpl csr = new IstioCertificateServiceImpl(caSource, verifier, options.trustDomain(),
                CertificateAuthority.DEFAULT_TTL, CertificateAuthority.MAX_TTL, registry)
                // Remote clusters' workloads prove who they are with their own cluster's tokens.
                .withCallerClusters(options.cluster(),
                        cluster -> remoteClusters == null ? null : remoteClusters.issuer(cluster));
        xds = XdsServer.start(new XdsServerOptions(options.bind(), options.xdsPort(), options.securePort(),
                MeshTls.grpcServerContext(serving, bundle, false), List.of(csr.serviceDefinition())), cache, tracker);
        resources.push(xds);

        try {
            FederationOptions federationOptions = FederationOptions.of(options.raftId(), options.raftPeers(),
                    options.dataDir().resolve("raft"))
                    .withElectionTimeouts(options.raft().electionTimeoutMin(), options.raft().electionTimeoutMax())
                    .withTuning(options.raft().tuning());
            if (options.raft().join()) {
                federationOptions = federationOptions.joining();
            }
            if (options.raft().tls()) {
                // Every controller presents istiod's identity; only that identity may be a peer.
                federationOptions = federationOptions.withTls(PeerTls.of(serving, bundle, Set.of(serving.identity())));
            }
            federation = FederationNode.start(federationOptions);
        } catch (IOException e) {
            throw new IOException("cannot start the federation peer " + options.raftId() + " on "
                    + options.raftPeers().get(options.raftId()) + ": " + e.getMessage(), e);
        }
        resources.push(federation);
        federation.subscribe(state -> {
            bundle.update(state.trustRootsPem());
            rootCerts.publish(bundle.get().rootsPem());
            remoteRootCerts.forEach(remote -> remote.publish(bundle.get().rootsPem()));
            // Read after the state: every publish advances the applied index, so this is at least
            // as new as the state and at most one apply newer.
            Map<String, List<ConfigResource>> published = federation.meshConfig();
            // Most applies change endpoints only: re-parse the configuration only when it changed.
            MeshConfig merged = published.equals(meshConfigInput) ? meshConfig
                    : MeshConfig.merge(published, options.domainSuffix());
            meshConfigInput = published;
            if (!merged.equals(meshConfig)) {
                jwksFetcher.onConfig(merged);
                merged.conflicts().forEach(c -> log.warn("config conflict: {}", c));
                merged.problems().forEach(p -> log.warn("config problem: {}", p));
            }
            meshConfig = merged;
            // Until the federation holds this cluster's own state, a push would hand proxies a
            // mesh without their own cluster; they wait for their first response instead.
            if (state.clusterStates().containsKey(options.cluster())) {
                cache.onState(state, merged);
            }
        });

        // The same validation as the config watchers, for API servers to call before they store.
        resources.push(ValidationWebhook.start(options.bind(), options.webhookPort(), serving, registry));

        admin = AdminServer.start(options.bind(), options.adminPort(), new AdminEndpoints(
                this::readiness, this::federationDebug, cache, tracker, registry,
                () -> configStore == null ? Map.of() : configStore.debug(meshConfig)),
                AdminAuth.of(options.bind(), dashboardOptions.token(), Optional.of(verifier), registry));
        resources.push(admin);
        admin.route("/federation", new FederationRoutes(federation, () -> meshConfig.conflicts()));
        // Where each RequestAuthentication key source stands (what meshctl jwks-status shows).
        admin.jsonRoute("/debug/jwks", () -> Map.of("sources", List.copyOf(jwksFetcher.status().values())));
        resources.push(Dashboard.start(admin, dashboardSources(tracker, registry), dashboardOptions, registry));

        // The bound port, so a test asking for port 0 still registers a dialable address.
        String secureAddress = options.bind() + ':' + xds.secureAddress().getPort();
        publisher = new FederationPublisher(federation, new ClusterInfo(options.cluster(), options.network(),
                options.locality(), secureAddress), CaSource.rootsPem(ca));
        resources.push(publisher);
        publisher.start();
        caSource.addListener(next -> {
            ca = next;
            List<String> roots = CaSource.rootsPem(next);
            bundle.updateOwnRoots(roots);
            publisher.offerTrustRoots(roots);
            rootCerts.publish(bundle.get().rootsPem());
            remoteRootCerts.forEach(remote -> remote.publish(bundle.get().rootsPem()));
        });
        caSource.start(CaSource.DEFAULT_PERIOD);

        configStore = new ConfigStore(options.cluster(), registry, publisher::offerMeshConfig);
        resources.push(ConfigWatcher.start(client, configStore, registry));

        watcher = ClusterWatcher.start(client, new ClusterWatcherOptions(options.cluster(), options.network(),
                options.domainSuffix(), ClusterWatcherOptions.DEFAULT_DEBOUNCE), publisher::offer, registry);
        resources.push(watcher);

        remoteClusters = RemoteClusterController.start(client, new RemoteClusterOptions(options.cluster(),
                CacertsLoader.NAMESPACE, options.network(), options.domainSuffix(), secureAddress,
                RemoteClusterOptions.DEFAULT_SYNC_TIMEOUT), remoteSink(bundle, registry), registry);
        resources.push(remoteClusters);

        log.info("controller {} started: xDS {} (plaintext), {} (TLS), admin {}", options.cluster(),
                xds.plaintextAddress(), xds.secureAddress(), admin.address());
    }

    /** Remote clusters go into the federation as clusters whose controller is this one. */
    private RemoteClusterController.Sink remoteSink(MeshTrustBundle bundle, MeterRegistry registry) {
        return new RemoteClusterController.Sink() {
            @Override
            public AutoCloseable clientOpened(String cluster, KubernetesClient remoteClient) {
                // A remote cluster has no controller of its own: its namespaces get the mesh's roots
                // from this one, as Istio's primary publishes them there.
                RootCertPublisher publisher = RootCertPublisher.start(remoteClient, bundle.get().rootsPem(), registry);
                remoteRootCerts.add(publisher);
                return () -> {
                    remoteRootCerts.remove(publisher);
                    publisher.close();
                };
            }

            @Override
            public RemoteClusterController.Publication open(ClusterInfo cluster) {
                // No roots of its own: its workloads get certificates from this controller, whose
                // publisher already contributes (and, through a root rotation, replaces) those roots.
                return new RemoteClusterController.Publication() {
                    // Started on the first state to publish, so a skipped primary is never registered.
                    private FederationPublisher remote;
                    private boolean skipped;

                    @Override
                    public void offer(ClusterState state) {
                        // Multi-primary: Istio's remote secrets go both ways between primaries, but a
                        // primary's own controller publishes its state; publishing it from here too
                        // would overwrite its registration (controller address, locality) with ours.
                        if (federation.isMember(cluster.name())) {
                            if (!skipped) {
                                log.info("remote secret names {}, a primary of the federation: its own controller"
                                        + " publishes it, this one does not", cluster.name());
                                skipped = true;
                            }
                            close();
                            return;
                        }
                        skipped = false;
                        if (remote == null) {
                            remote = new FederationPublisher(federation, cluster, List.of());
                            remote.start();
                        }
                        remote.offer(state);
                    }

                    @Override
                    public void close() {
                        if (remote != null) {
                            remote.close();
                            remote = null;
                        }
                    }
                };
            }

            @Override
            public void removed(String cluster) {
                if (federation.isMember(cluster)) {
                    // A primary's secret going away does not remove the primary.
                    return;
                }
                federation.submit(new RemoveCluster(cluster)).whenComplete((index, failure) -> {
                    if (failure != null) {
                        log.warn("could not remove remote cluster {} from the federation: {}", cluster,
                                failure.toString());
                    } else {
                        log.info("removed remote cluster {} from the federation at index {}", cluster, index);
                    }
                });
            }
        };
    }

    /** Retries while the object is missing (the launcher may still be writing it). */
    private <T> T waitFor(Supplier<T> load) throws InterruptedException {
        Instant deadline = Instant.now().plus(INPUT_WAIT);
        while (true) {
            try {
                return load.get();
            } catch (CacertsLoader.MissingObjectException e) {
                if (Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException(e.getMessage() + " after waiting " + INPUT_WAIT.toSeconds() + " s");
                }
                log.info("waiting: {}", e.getMessage());
                Thread.sleep(500);
            }
        }
    }

    /** What {@code /ready} reports. */
    public Readiness readiness() {
        List<String> waiting = new ArrayList<>();
        if (watcher == null || !watcher.hasSynced()) {
            waiting.add("informers of cluster " + options.cluster() + " not synced");
        }
        if (configStore == null || !configStore.synced()) {
            waiting.add("Istio configuration informers of cluster " + options.cluster() + " not synced");
        }
        if (ca == null) {
            waiting.add("CA not loaded");
        }
        if (federation == null || !federation.hasLeader()) {
            waiting.add("federation has no leader");
        } else if (!federation.state().clusterStates().containsKey(options.cluster())) {
            waiting.add("federation has not applied the state of cluster " + options.cluster());
        }
        return Readiness.of(waiting);
    }

    private DashboardSources dashboardSources(SyncTracker tracker, PrometheusMeterRegistry registry) {
        return new DashboardSources(options.cluster(), options.network(), options.locality().toString(),
                admin.address().getPort(), () -> cache.connectedProxies().values(), federation::state,
                federation::status, this::readiness, () -> watcher != null && watcher.hasSynced(),
                () -> Map.of("cluster intermediate CA", ca.certificate(), "mesh root CA", ca.root()),
                () -> configStore == null ? Map.of() : configStore.rejected());
    }

    private Object federationDebug() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("status", federation.status());
        FederatedState state = federation.state();
        doc.put("appliedIndex", state.appliedIndex());
        doc.put("trustRoots", state.trustRootsPem().size());
        doc.put("trust", trustDebug(state));
        List<Map<String, Object>> clusters = new ArrayList<>();
        for (ClusterInfo info : new TreeMap<>(state.clusters()).values()) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("name", info.name());
            c.put("network", info.network());
            c.put("locality", info.locality().toString());
            c.put("controllerAddress", info.controllerAddress());
            ClusterState cs = state.clusterStates().get(info.name());
            c.put("hasState", cs != null);
            c.put("services", cs == null ? 0 : cs.services().size());
            c.put("endpoints", cs == null ? 0 : cs.endpoints().size());
            c.put("gateways", cs == null ? 0 : cs.gateways().size());
            clusters.add(c);
        }
        doc.put("clusters", clusters);
        doc.put("remoteClusters", remoteClusters == null ? List.of() : remoteClusters.status());
        doc.put("xdsPushedIndex", cache.pushedStateIndex());
        doc.put("connectedProxies", cache.connectedProxies().size());
        return doc;
    }

    /** What {@code meshctl trust status} reads: the signing CA, its roots, and the bundle in force. */
    private Map<String, Object> trustDebug(FederatedState state) {
        Map<String, Object> trust = new LinkedHashMap<>();
        CertificateAuthority current = ca;
        trust.put("caSubject", current.certificate().getSubjectX500Principal().getName());
        trust.put("caNotAfter", current.certificate().getNotAfter().toInstant().toString());
        trust.put("signingRoot", CaSource.fingerprint(current.root()));
        trust.put("ownRoots", CaSource.fingerprints(current.trustedRoots()));
        trust.put("federatedRoots", state.trustRootsPem().stream()
                .map(pem -> CaSource.fingerprint(Pem.decodeCertificate(pem))).toList());
        trust.put("bundleRoots", CaSource.fingerprints(trustBundle.get().roots()));
        trust.put("trustDomain", trustBundle.get().trustDomain());
        trust.put("trustDomainAliases", trustBundle.get().trustDomainAliases().stream().sorted().toList());
        return trust;
    }

    public ControllerOptions options() {
        return options;
    }

    /** The bound admin address (useful when the options asked for port 0). */
    public InetSocketAddress adminAddress() {
        return admin.address();
    }

    public InetSocketAddress plaintextXdsAddress() {
        return xds.plaintextAddress();
    }

    public InetSocketAddress secureXdsAddress() {
        return xds.secureAddress();
    }

    @Override
    public synchronized void close() {
        while (!resources.isEmpty()) {
            AutoCloseable resource = resources.pop();
            try {
                resource.close();
            } catch (Exception e) {
                log.warn("error while stopping {}: {}", resource.getClass().getSimpleName(), e.toString());
            }
        }
    }

    static String oneLine(Throwable e) {
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (e instanceof UncheckedIOException || e instanceof IllegalStateException || e instanceof IOException
                || e instanceof IllegalArgumentException || e instanceof io.isthmus.trust.InvalidCacertsException) {
            return message.replace('\n', ' ');
        }
        return (e.getClass().getSimpleName() + ": " + message).replace('\n', ' ');
    }
}
