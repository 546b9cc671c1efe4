package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.dashboard.DashboardData.CertificateExpiry;
import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.GatewayHealth;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardData.ProxyHealth;
import io.isthmus.controller.admin.Readiness;
import io.isthmus.controller.federation.FederationStatus;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * Collects what the dashboard shows, on one private scheduled thread (never on a request or event
 * loop thread): every round it scrapes the Prometheus text of the proxies connected to this
 * controller, updates the traffic window, checks this cluster's health, then asks the other
 * primaries' controllers (from the federation registry) for their local views and merges the
 * whole mesh. Every network call has a bounded timeout; a proxy that is down or answers garbage
 * is shown as such and counted ({@code isthmus_dashboard_scrape_failures_total{reason}}), a
 * controller that cannot be asked is named in the graph's problems
 * ({@code isthmus_dashboard_peer_failures_total}). Readers get the latest immutable documents.
 */
public final class DashboardCollector implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DashboardCollector.class);
    static final JsonMapper JSON = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();
    private static final String METRICS_PATH = "/stats/prometheus";

    private final DashboardSources sources;
    private final DashboardOptions options;
    private final MeterRegistry registry;
    private final Clock clock;
    private final HttpClient http;
    private final ScheduledExecutorService executor;
    private final TrafficWindow traffic;
    private final LocalityTracker localities = new LocalityTracker();
    /** proxy id → the metrics port that answered last, tried first next time. */
    private final Map<String, Integer> workingPort = new TreeMap<>();
    private volatile LocalView local;
    private volatile MeshGraph mesh;

    private DashboardCollector(DashboardSources sources, DashboardOptions options, MeterRegistry registry, Clock clock) {
        this.sources = sources;
        this.options = options;
        this.registry = registry;
        this.clock = clock;
        this.traffic = new TrafficWindow(options.window());
        this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dashboard-collector");
            t.setDaemon(true);
            return t;
        });
        this.http = HttpClient.newBuilder().connectTimeout(options.timeout())
                .followRedirects(HttpClient.Redirect.NEVER).build();
        Instant now = clock.instant();
        this.local = localView(List.of(), now);
        this.mesh = MeshGraphBuilder.build(sources.cluster(), now.toString(), List.of(), List.of(local),
                List.of("collecting: the first round has not finished yet"));
    }

    /** Starts collecting now and every {@code options.scrapeInterval()}. */
    public static DashboardCollector start(DashboardSources sources, DashboardOptions options, MeterRegistry registry,
            Clock clock) {
        requireNonNull(sources, "sources");
        requireNonNull(options, "options");
        requireNonNull(registry, "registry");
        requireNonNull(clock, "clock");
        DashboardCollector collector = new DashboardCollector(sources, options, registry, clock);
        collector.executor.scheduleWithFixedDelay(collector::round, 0, options.scrapeInterval().toMillis(),
                TimeUnit.MILLISECONDS);
        return collector;
    }

    /** This cluster's part, as the other controllers fetch it. */
    public LocalView localView() {
        return local;
    }

    /** The whole mesh as of the last round. */
    public MeshGraph meshGraph() {
        return mesh;
    }

    public DashboardOptions options() {
        return options;
    }

    private void round() {
        try {
            List<ProxyHealth> proxies = scrapeProxies();
            Instant now = clock.instant();
            traffic.endRound(now);
            LocalView view = localView(proxies, now);
            local = view;
            mesh = merge(view);
        } catch (RuntimeException | Error e) {
            // One bad round must not stop the schedule.
            log.warn("dashboard round failed: {}", e.toString(), e);
        }
    }

    private List<ProxyHealth> scrapeProxies() {
        List<ProxyNode> nodes = new ArrayList<>(sources.proxies().get());
        nodes.sort(java.util.Comparator.comparing(ProxyNode::id));
        Map<ProxyNode, CompletableFuture<Scrape>> pending = new LinkedHashMap<>();
        for (ProxyNode node : nodes) {
            pending.put(node, scrape(node, ports(node.id()), 0, ""));
        }
        long deadline = System.nanoTime() + options.timeout().multipliedBy(options.metricsPorts().size() + 1).toNanos();
        List<ProxyHealth> health = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (Map.Entry<ProxyNode, CompletableFuture<Scrape>> e : pending.entrySet()) {
            ProxyNode node = e.getKey();
            seen.add(node.id());
            Scrape result;
            try {
                result = e.getValue().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException ex) {
                e.getValue().cancel(true);
                result = Scrape.failed("down", "", "no answer within " + options.timeout().toMillis() + " ms");
            } catch (ExecutionException ex) {
                result = Scrape.failed("down", "", String.valueOf(ex.getCause()));
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return health;
            }
            String type = node.type().name().toLowerCase(java.util.Locale.ROOT);
            if (result.samples() != null) {
                traffic.observe(node.id(), result.samples());
                workingPort.put(node.id(), result.port());
            } else {
                Counter.builder("isthmus_dashboard_scrape_failures")
                        .description("Proxy metrics the dashboard could not read, by reason (down, garbage)")
                        .tag("reason", result.status().equals("unknown") ? "garbage" : "down")
                        .register(registry).increment();
            }
            health.add(new ProxyHealth(node.id(), type, node.cluster(), result.status(), result.target(),
                    result.error(), result.samples() == null ? null : certExpiry(result.samples())));
        }
        workingPort.keySet().retainAll(seen);
        return health;
    }

    /** The workload certificate's time left, from istio-agent's gauge; {@code null} when absent or not a number. */
    static Double certExpiry(List<Sample> samples) {
        for (Sample s : samples) {
            if (s.name().equals("istio_agent_cert_expiry_seconds") && Double.isFinite(s.value())) {
                return s.value();
            }
        }
        return null;
    }

    private List<Integer> ports(String proxyId) {
        List<Integer> ports = new ArrayList<>(options.metricsPorts());
        Integer known = workingPort.get(proxyId);
        if (known != null && ports.remove(known)) {
            ports.add(0, known);
        }
        return ports;
    }

    private record Scrape(String status, String target, String error, int port, List<Sample> samples) {
        static Scrape failed(String status, String target, String error) {
            return new Scrape(status, target, error, 0, null);
        }
    }

    /** Tries the ports in order; the first that answers 200 decides (garbage there is not retried elsewhere). */
    private CompletableFuture<Scrape> scrape(ProxyNode node, List<Integer> ports, int index, String errors) {
        if (index >= ports.size()) {
            return CompletableFuture.completedFuture(Scrape.failed("down", "", errors));
        }
        int port = ports.get(index);
        URI uri = URI.create("http://" + hostLiteral(node.ip()) + ":" + port + METRICS_PATH);
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(options.timeout()).GET().build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                .handle((response, failure) -> {
                    if (failure == null && response.statusCode() == 200) {
                        try {
                            return CompletableFuture.completedFuture(
                                    new Scrape("up", uri.toString(), "", port, PrometheusText.parse(response.body())));
                        } catch (PrometheusText.FormatException e) {
                            return CompletableFuture.completedFuture(Scrape.failed("unknown", uri.toString(),
                                    "not Prometheus text: " + e.getMessage()));
                        }
                    }
                    String why = failure != null ? uri + ": " + rootCause(failure)
                            : uri + ": HTTP " + response.statusCode();
                    return scrape(node, ports, index + 1, errors.isEmpty() ? why : errors + "; " + why);
                })
                .thenCompose(f -> f);
    }

    private LocalView localView(List<ProxyHealth> proxies, Instant now) {
        FederatedState state = sources.federatedState().get();
        Map<String, String> localityOf = new TreeMap<>();
        state.clusters().values().forEach(c -> localityOf.put(c.name(), c.locality().toString()));
        List<EdgeStats> edges = traffic.stats();
        return new LocalView(sources.cluster(), now.toString(), options.window().toSeconds(), edges, proxies,
                health(state, now), localities.update(edges, localityOf, now));
    }

    private ClusterHealth health(FederatedState state, Instant now) {
        FederationStatus status = sources.federationStatus().get();
        Readiness readiness = sources.readiness().get();
        List<GatewayHealth> gateways = new ArrayList<>();
        ClusterState own = state.clusterStates().get(sources.cluster());
        if (own != null) {
            for (NetworkGateway g : own.gateways()) {
                gateways.add(probe(g));
            }
        }
        List<CertificateExpiry> certificates = new ArrayList<>();
        new TreeMap<>(sources.certificates().get()).forEach((name, cert) -> {
            Instant notAfter = cert.getNotAfter().toInstant();
            certificates.add(new CertificateExpiry(name, cert.getSubjectX500Principal().getName(), notAfter.toString(),
                    Duration.between(now, notAfter).toDays()));
        });
        List<String> configErrors = new ArrayList<>();
        sources.configErrors().get().forEach((object, errors) -> configErrors.add(object + ": " + String.join("; ", errors)));
        return new ClusterHealth(sources.cluster(), sources.network(), sources.locality(),
                sources.apiSynced().getAsBoolean(), readiness.ready(), readiness.waitingFor(),
                status == null ? null : status.leaderId(), status == null ? List.of() : status.members(),
                status == null ? 0 : status.term(), state.appliedIndex(), gateways, certificates, configErrors);
    }

    private GatewayHealth probe(NetworkGateway gateway) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(gateway.address(), gateway.port()), (int) options.timeout().toMillis());
            return new GatewayHealth(gateway.address(), gateway.port(), true, "");
        } catch (IOException | RuntimeException e) {
            return new GatewayHealth(gateway.address(), gateway.port(), false, e.toString());
        }
    }

    private MeshGraph merge(LocalView own) {
        FederatedState state = sources.federatedState().get();
        List<LocalView> views = new ArrayList<>();
        views.add(own);
        List<String> problems = new ArrayList<>();
        Map<String, CompletableFuture<LocalView>> asked = new TreeMap<>();
        for (ClusterInfo info : new TreeMap<>(state.clusters()).values()) {
            if (info.name().equals(sources.cluster())) {
                continue;
            }
            URI uri = peerUri(info);
            if (uri == null) {
                problems.add("cluster " + info.name() + ": no controller address in the federation registry");
                continue;
            }
            HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(options.timeout()).GET();
            options.token().ifPresent(t -> request.header("Authorization", "Bearer " + t));
            asked.put(info.name(), http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString())
                    .thenApply(response -> {
                        if (response.statusCode() != 200) {
                            throw new IllegalStateException(uri + " answered HTTP " + response.statusCode() + ": "
                                    + abbreviate(response.body()));
                        }
                        LocalView view = JSON.readValue(response.body(), LocalView.class);
                        if (!view.cluster().equals(info.name())) {
                            throw new IllegalStateException(uri + " describes cluster " + view.cluster()
                                    + " (expected: " + info.name() + ")");
                        }
                        return view;
                    }));
        }
        long deadline = System.nanoTime() + options.timeout().toNanos() + TimeUnit.MILLISECONDS.toNanos(500);
        asked.forEach((cluster, future) -> {
            try {
                views.add(future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
            } catch (TimeoutException e) {
                future.cancel(true);
                failedPeer(problems, cluster, "no answer within " + options.timeout().toMillis() + " ms");
            } catch (ExecutionException e) {
                failedPeer(problems, cluster, rootCause(e.getCause()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        List<MeshGraphBuilder.ClusterEntry> entries = new ArrayList<>();
        for (ClusterInfo info : new TreeMap<>(state.clusters()).values()) {
            ClusterState cs = state.clusterStates().get(info.name());
            List<String> services = new ArrayList<>();
            if (cs != null) {
                for (MeshService s : cs.services()) {
                    services.add(s.hostname());
                }
            }
            entries.add(new MeshGraphBuilder.ClusterEntry(info.name(), info.network(), info.locality().toString(),
                    services));
        }
        return MeshGraphBuilder.build(sources.cluster(), own.generatedAt(), entries, views, problems);
    }

    private void failedPeer(List<String> problems, String cluster, String why) {
        Counter.builder("isthmus_dashboard_peer_failures")
                .description("Questions to other controllers' dashboards that failed")
                .tag("cluster", cluster).register(registry).increment();
        problems.add("cluster " + cluster + ": its controller's dashboard could not be read: " + why);
    }

    private URI peerUri(ClusterInfo info) {
        String address = info.controllerAddress();
        int colon = address.lastIndexOf(':');
        if (address.isBlank() || colon <= 0) {
            return null;
        }
        int port = options.peerAdminPort() > 0 ? options.peerAdminPort() : sources.adminPort();
        return URI.create("http://" + hostLiteral(address.substring(0, colon)) + ":" + port + "/dashboard/api/local");
    }

    private static String hostLiteral(String host) {
        return host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host;
    }

    private static String rootCause(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage() == null ? c.getClass().getSimpleName() : c.getClass().getSimpleName() + ": " + c.getMessage();
    }

    private static String abbreviate(String s) {
        String one = s.replace('\n', ' ').strip();
        return one.length() <= 120 ? one : one.substring(0, 117) + "...";
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
