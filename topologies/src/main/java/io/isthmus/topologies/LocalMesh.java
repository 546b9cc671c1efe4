package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.MeshComponent.Kind;
import io.isthmus.topologies.internal.ChildProcess;
import io.isthmus.topologies.internal.KubeObjects;
import io.isthmus.topologies.internal.NetnsNetwork;
import io.isthmus.topologies.internal.PortOwner;
import io.isthmus.topologies.internal.SimpleHttp;
import io.isthmus.gateway.ControllerRoute;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.isthmus.trust.ServiceAccountIssuer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings a {@link Topology} up on this machine as real processes: one embedded Kubernetes API
 * server per cluster (in this JVM), and as child JVMs the controllers (one Raft group), the
 * east-west gateways, the sidecars and the echo apps, on the loopback addresses of
 * docs/design/contracts.md, or, for a {@link NetworkMode#NETNS} topology run as root, each cluster's
 * processes in its own network namespace (falling back to loopback, with a progress line saying
 * why, when namespaces cannot be made).
 *
 * <p>{@link #start} returns once every component reports ready, or throws a
 * {@link LocalMeshException} naming what is not ready, with the end of its log, after stopping
 * everything it started. {@link #close()} stops every child (TERM, then KILL after a grace
 * period) and the API servers; it also runs from a shutdown hook, so Ctrl-C leaves nothing
 * behind. Not thread-safe except {@link #close()}, which may be called from any thread, once or
 * more.
 */
public final class LocalMesh implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(LocalMesh.class);

    public static final String CONTROLLER_MAIN = "io.isthmus.controller.ControllerMain";
    public static final String PROXY_MAIN = "io.isthmus.proxy.ProxyMain";
    public static final String GATEWAY_MAIN = "io.isthmus.gateway.GatewayMain";
    public static final String ECHO_MAIN = "io.isthmus.topologies.sample.EchoServer";
    public static final String PROXY_INIT_MAIN = "io.isthmus.proxy.capture.ProxyInitMain";
    /**
     * The group the sidecars run as in network namespaces (istio-proxy's gid): the capture rules
     * leave its connections alone ({@code isthmus-proxy-init -g 1337}), while the launcher runs
     * everything else as root, so a {@code curl} run as root in a pod is captured.
     */
    public static final int PROXY_GID = 1337;
    /** In a pod's own network namespace, the app and the sidecar's admin and outbound ports listen here. */
    private static final String POD_LOOPBACK = "127.0.0.1";

    public static final int API_PORT = 6443;
    public static final int XDS_PORT = 15010;
    public static final int SECURE_PORT = 15012;
    public static final int CONTROLLER_ADMIN_PORT = 15014;
    public static final int RAFT_PORT = 15031;
    public static final int GATEWAY_PORT = 15443;
    public static final int HEALTH_PORT = 15021;
    public static final int PROXY_ADMIN_PORT = 15000;
    public static final int OUTBOUND_PORT = 15001;
    public static final int METRICS_PORT = 15020;
    public static final String GATEWAY_NAMESPACE = "istio-system";
    public static final String GATEWAY_SERVICE_ACCOUNT = "istio-eastwestgateway";

    private static final String MARKER = ".isthmus-run";
    private static final Duration STOP_GRACE = Duration.ofSeconds(8);

    // Grows when a cluster or a workload is added to the running mesh (addCluster, addWorkload).
    private volatile Topology topology;
    private final LocalMeshOptions options;
    private final Instant startedAt = Instant.now();
    private final Map<String, EmbeddedApiServer> apiServers = new LinkedHashMap<>();
    private final Map<String, Path> kubeconfigs = new LinkedHashMap<>();
    private final List<Child> children = new CopyOnWriteArrayList<>();
    private final List<String> unexpectedExits = new CopyOnWriteArrayList<>();
    private final java.util.Set<MeshComponent> killed = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Map<String, Duration> readyAt = new java.util.concurrent.ConcurrentHashMap<>();
    private final Thread shutdownHook;
    private Path rootCertFile;
    private CertificateAuthority rootCa;
    private final Map<String, ServiceAccountIssuer> issuers = new java.util.concurrent.ConcurrentHashMap<>();
    private Duration timeToReady;
    private NetnsNetwork network;

    /**
     * @param readyPort must accept connections too (an app's port; a server sidecar's inbound port)
     * @param routesReady a further condition beyond /ready (a gateway routes its cluster's services)
     */
    private record Child(MeshComponent component, ChildProcess process, Optional<InetSocketAddress> readyPort,
            java.util.function.BooleanSupplier routesReady, List<String> command) {}

    private LocalMesh(Topology topology, LocalMeshOptions options) {
        this.topology = topology;
        this.options = options;
        this.shutdownHook = new Thread(this::closeFromHook, "isthmus-local-mesh-shutdown");
    }

    /** Starts the whole topology and waits until every component is ready. */
    public static LocalMesh start(Topology topology, LocalMeshOptions options) {
        requireNonNull(topology, "topology");
        requireNonNull(options, "options");
        topology = effectiveTopology(topology, options);
        if (topology.networkMode() == NetworkMode.LOOPBACK) {
            preflight(topology);
        }
        LocalMesh mesh = new LocalMesh(topology, options);
        Runtime.getRuntime().addShutdownHook(mesh.shutdownHook);
        try {
            mesh.bringUp();
            return mesh;
        } catch (RuntimeException | Error e) {
            mesh.close();
            throw e;
        }
    }

    /**
     * A netns topology where namespaces cannot be made (not root, not Linux, no iproute2 or
     * iptables) runs on loopback instead; the progress line says why.
     */
    private static Topology effectiveTopology(Topology topology, LocalMeshOptions options) {
        if (topology.networkMode() != NetworkMode.NETNS) {
            return topology;
        }
        Optional<String> unavailable = NetnsNetwork.unavailableReason();
        if (unavailable.isEmpty()) {
            return topology;
        }
        Topology loopback = topology.withNetworkMode(NetworkMode.LOOPBACK);
        options.progress().accept("network namespaces unavailable: " + unavailable.get() + "; running topology '"
                + topology.name() + "' on loopback instead (127." + topology.addressBase() + ".0.0/16 and up)");
        return loopback;
    }

    /** Why a {@link NetworkMode#NETNS} topology would fall back to loopback here, or empty if it would not. */
    public static Optional<String> networkNamespacesUnavailable() {
        return NetnsNetwork.unavailableReason();
    }

    /**
     * Removes the network namespaces of a topology with this addressBase left by a launcher that
     * did not close (killed, crashed), after killing any process still inside; root only.
     *
     * @return the namespaces removed
     */
    public static List<String> removeNetworkNamespaces(int addressBase) {
        return NetnsNetwork.unavailableReason().isPresent() ? List.of() : NetnsNetwork.sweep(addressBase);
    }

    /** The topology as it runs: a netns topology that fell back to loopback says LOOPBACK here. */
    public Topology topology() {
        return topology;
    }

    /** The network namespace a cluster's processes run in, or empty on loopback. */
    public Optional<String> networkNamespace(String cluster) {
        topology.cluster(cluster);
        return network == null ? Optional.empty() : Optional.of(network.namespace(cluster));
    }

    /**
     * The network namespace of a workload's pod (its app and sidecar, behind the capture rules:
     * {@code ip netns exec <it> curl http://helloworld.sample:5000/} goes through the sidecar), or
     * empty on loopback.
     */
    public Optional<String> podNetworkNamespace(WorkloadSpec workload) {
        requireNonNull(workload, "workload");
        WorkloadSpec w = topology.workload(workload.name());
        return network == null ? Optional.empty() : Optional.of(network.podNamespace(w));
    }

    public Path runDirectory() {
        return options.runDirectory();
    }

    /** The kubeconfig file of a cluster's embedded API server. */
    public Path kubeconfig(String cluster) {
        Path p = kubeconfigs.get(cluster);
        if (p == null) {
            throw new IllegalArgumentException("cluster: '" + cluster + "' (expected: one of " + kubeconfigs.keySet() + ")");
        }
        return p;
    }

    /** The embedded API server of a cluster, e.g. to create Istio resources with {@link EmbeddedApiServer#newClient()}. */
    public EmbeddedApiServer apiServer(String cluster) {
        EmbeddedApiServer s = apiServers.get(cluster);
        if (s == null) {
            throw new IllegalArgumentException("cluster: '" + cluster + "' (expected: one of " + apiServers.keySet() + ")");
        }
        return s;
    }

    /** The mesh root certificate (PEM), as given to every proxy. */
    /**
     * {@code <run dir>/prometheus.yml}: a Prometheus configuration that scrapes every sidecar's
     * {@code :15020/stats/prometheus} and every gateway's admin port ({@link PrometheusScrapeConfig}).
     */
    public Path prometheusConfig() {
        return options.runDirectory().toAbsolutePath().normalize().resolve("prometheus.yml");
    }

    public Path rootCertFile() {
        return rootCertFile;
    }

    /** Every child process, in start order. */
    public List<MeshComponent> components() {
        return children.stream().map(Child::component).toList();
    }

    /** From the call to {@link #start} until every component answered ready. */
    public Duration timeToReady() {
        return timeToReady;
    }

    /** When each component was first seen ready, from the call to {@link #start}, keyed by display name. */
    public Map<String, Duration> readyTimes() {
        Map<String, Duration> sorted = new LinkedHashMap<>();
        readyAt.entrySet().stream().sorted(Map.Entry.comparingByValue())
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /** Components that exited while the mesh was running, with their exit code and log tail. */
    public List<String> unexpectedExits() {
        return List.copyOf(unexpectedExits);
    }

    /**
     * Kills one component at once (SIGKILL: no drain, no goodbye to its peers), as a crashed
     * process or a lost node would end, and waits until it is gone. Not reported as an
     * unexpected exit. For failover tests.
     */
    public void kill(MeshComponent component) {
        Child child = children.stream().filter(c -> c.component().equals(component)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("component: " + component.displayName()
                        + " (expected: one of " + components().stream().map(MeshComponent::displayName).toList() + ")"));
        killed.add(component);
        child.process().process().destroyForcibly();
        try {
            child.process().process().waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalMeshException("interrupted while killing " + component.displayName(), e);
        }
    }

    /**
     * Starts a component {@link #kill killed} before again, with the same command line (its log
     * continues in the same file), and waits until it is ready as {@link #start} does: a pod that
     * comes back after a crash. From then on its exit is unexpected again.
     *
     * @throws IllegalStateException if the component is still running
     * @throws LocalMeshException if it exits or is not ready within {@code timeout}
     */
    public void restart(MeshComponent component, Duration timeout) {
        requireNonNull(component, "component");
        requireNonNull(timeout, "timeout");
        int index = -1;
        for (int i = 0; i < children.size(); i++) {
            if (children.get(i).component().equals(component)) {
                index = i;
            }
        }
        if (index < 0) {
            throw new IllegalArgumentException("component: " + component.displayName() + " (expected: one of "
                    + components().stream().map(MeshComponent::displayName).toList() + ")");
        }
        Child old = children.get(index);
        if (old.process().isAlive()) {
            throw new IllegalStateException(component.displayName() + " is running (expected: killed with kill() first)");
        }
        if (closed.get()) {
            throw new LocalMeshException("stopped (close()); " + component.displayName() + " was not restarted");
        }
        Child fresh;
        try {
            ChildProcess p = ChildProcess.start(component.displayName(), old.command(), component.log(),
                    options.runDirectory().toAbsolutePath().normalize());
            fresh = new Child(component, p, old.readyPort(), old.routesReady(), old.command());
        } catch (IOException e) {
            throw new LocalMeshException("cannot restart " + component.displayName() + ": " + e.getMessage(), e);
        }
        children.set(index, fresh);
        killed.remove(component);
        reportUnexpectedExit(fresh);
        Instant deadline = Instant.now().plus(timeout);
        while (!isReady(fresh)) {
            if (!fresh.process().isAlive()) {
                throw new LocalMeshException(component.displayName() + " exited with code "
                        + fresh.process().process().exitValue() + " after a restart; the end of its log ("
                        + fresh.process().log() + "):\n" + fresh.process().logTail(25));
            }
            if (Instant.now().isAfter(deadline)) {
                throw new LocalMeshException(component.displayName() + " not ready " + timeout.toSeconds()
                        + " s after a restart; the end of its log (" + fresh.process().log() + "):\n"
                        + fresh.process().logTail(15));
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LocalMeshException("interrupted while restarting " + component.displayName(), e);
            }
        }
    }

    /** Records the child's exit as unexpected unless the mesh is closing or the child was killed on purpose. */
    private void reportUnexpectedExit(Child child) {
        child.process().process().onExit().thenAccept(p -> {
            if (!closed.get() && !killed.contains(child.component())
                    && children.stream().anyMatch(c -> c.process() == child.process())) {
                String report = child.component().displayName() + " exited with code " + p.exitValue()
                        + "; the end of its log (" + child.process().log() + "):\n" + child.process().logTail(15);
                unexpectedExits.add(report);
                options.progress().accept(report);
            }
        });
    }

    /** The base URL of a workload's sidecar admin endpoint, {@code http://<pod localhost>:15000}. */
    public String sidecarAdminUrl(WorkloadSpec workload) {
        return "http://" + topology.podLocalhost(workload) + ':' + PROXY_ADMIN_PORT;
    }

    /** The base URL of a cluster's gateway admin endpoint, {@code http://<gateway>:15000}. */
    public String gatewayAdminUrl(String cluster) {
        return "http://" + topology.gatewayAddress(cluster) + ':' + PROXY_ADMIN_PORT;
    }

    /** The base URL of a cluster's controller admin/debug endpoint, {@code http://<controller>:15014}. */
    public String controllerAdminUrl(String cluster) {
        return "http://" + topology.controllerAddress(cluster) + ':' + CONTROLLER_ADMIN_PORT;
    }

    // ---------------------------------------------------------------- grow a running mesh

    /**
     * Brings up one more cluster next to the running mesh, without joining it: its embedded API
     * server (kubeconfig {@code <run dir>/<cluster>/kubeconfig}, so {@code meshctl --run-dir <run dir>
     * --context <cluster>} finds it), the objects of docs/design/contracts.md except
     * {@code istio-system/cacerts} (it has no CA until {@code meshctl cluster join} issues its
     * intermediate under the mesh root, {@link #rootKeyFile()}), and its workloads' apps. Nothing
     * of the mesh knows about it yet. Then, for a primary: {@link #startJoiningController}, the join,
     * {@link #startDataPlane}; a remote needs only the join and {@link #startDataPlane}.
     *
     * @param workloads the new cluster's workloads (their {@code cluster} is the new one)
     * @throws LocalMeshException if an address it needs is taken, or a process is not ready within {@code timeout}
     */
    public void addCluster(ClusterSpec cluster, List<WorkloadSpec> workloads, Duration timeout) {
        requireNonNull(cluster, "cluster");
        requireNonNull(workloads, "workloads");
        requireNonNull(timeout, "timeout");
        Instant since = Instant.now();
        Topology before = topology;
        if (apiServers.containsKey(cluster.name())) {
            throw new IllegalArgumentException("cluster: '" + cluster.name() + "' is already part of the mesh"
                    + " (expected: a new name, not one of " + apiServers.keySet() + ")");
        }
        requireGrowable("add cluster '" + cluster.name() + "'");
        Topology next = before.withCluster(cluster, workloads);
        Map<InetSocketAddress, String> planned = new LinkedHashMap<>(plannedListeners(next));
        planned.keySet().removeAll(plannedListeners(before).keySet());
        preflight(next, planned);
        try {
            Files.createDirectories(clusterDir(cluster.name()).resolve("tokens"));
        } catch (IOException e) {
            throw new LocalMeshException("cannot prepare " + clusterDir(cluster.name()) + ": " + e.getMessage(), e);
        }
        topology = next;
        EmbeddedApiServer server = EmbeddedApiServer.start(cluster.name(), next.apiServerAddress(cluster.name()), API_PORT);
        apiServers.put(cluster.name(), server);
        kubeconfigs.put(cluster.name(), server.writeKubeconfig(clusterDir(cluster.name()).resolve("kubeconfig")));
        issuers.put(cluster.name(), ServiceAccountIssuer.create("https://kubernetes.default.svc/" + cluster.name()));
        writeObjects(cluster, Map.of());
        int first = children.size();
        for (WorkloadSpec w : workloads) {
            if (w.role() == WorkloadSpec.Role.SERVER) {
                startApp(w);
            }
        }
        awaitAdded(first, since, timeout);
        options.progress().accept(String.format("cluster %s added in %.1f s (not in the mesh yet); kubeconfig %s",
                cluster.name(), secondsSince(since), kubeconfigs.get(cluster.name())));
    }

    /**
     * Starts the controller of a primary {@link #addCluster added} to the running mesh, with
     * {@code --raft-join} and {@code --raft-peers} listing every primary: it waits for its
     * {@code istio-system/cacerts} (written by {@code meshctl cluster join}), then for the group to
     * add it ({@code POST /federation/members}, which the join sends and which returns once this
     * peer has caught up). Returns at once; {@link #startDataPlane} waits for it.
     */
    public MeshComponent startJoiningController(String cluster) {
        ClusterSpec c = topology.cluster(cluster);
        if (c.isRemote()) {
            throw new IllegalArgumentException("cluster: '" + cluster + "' is a remote of '" + c.primary()
                    + "' (expected: a primary; a remote runs no controller)");
        }
        if (components().stream().anyMatch(m -> m.kind() == Kind.CONTROLLER && m.cluster().equals(cluster))) {
            throw new IllegalStateException("cluster '" + cluster + "' has a controller already");
        }
        startController(c, true);
        Child child = children.get(children.size() - 1);
        reportUnexpectedExit(child);
        return child.component();
    }

    /**
     * Starts an added cluster's east-west gateway and sidecars once its controller (its primary's,
     * for a remote) accepts on 15012, and waits until each is ready. As at {@link #start}, their JVM
     * start overlaps the rest of the controller's start: for a joining primary, may be called while
     * {@code meshctl cluster join} runs (the controller listens once the join wrote its cacerts); the
     * proxies are ready once it has been added to the group and serves the whole mesh.
     */
    public void startDataPlane(String cluster, Duration timeout) {
        requireNonNull(timeout, "timeout");
        ClusterSpec c = topology.cluster(cluster);
        Instant since = Instant.now();
        Child controller = children.stream().filter(ch -> ch.component().kind() == Kind.CONTROLLER
                && ch.component().cluster().equals(topology.controllerCluster(cluster).name())).findFirst()
                .orElseThrow(() -> new IllegalStateException("cluster '" + cluster + "' has no controller to serve it"
                        + " (expected: startJoiningController(\"" + cluster + "\") first)"));
        awaitReady(List.of(controller), true, since, timeout);
        int first = children.size();
        startDataPlaneOf(c);
        awaitAdded(first, since, timeout);
        options.progress().accept(String.format("cluster %s: gateway and sidecars ready in %.1f s", cluster,
                secondsSince(since)));
    }

    /**
     * Starts one more pod in a running cluster, as a Deployment scaling up would: its Pod (Running;
     * Ready only if {@code ready}) and its endpoint in the service's EndpointSlice with that
     * readiness, then its app and sidecar; returns once both are up. A pod started not ready gets
     * no traffic until {@link #setReady} marks it ready.
     */
    public void addWorkload(WorkloadSpec workload, boolean ready, Duration timeout) {
        requireNonNull(workload, "workload");
        requireNonNull(timeout, "timeout");
        Instant since = Instant.now();
        requireGrowable("add workload '" + workload.name() + "'");
        ClusterSpec c = topology.cluster(workload.cluster());
        Topology next = topology.withWorkload(workload);
        Map<InetSocketAddress, String> planned = new LinkedHashMap<>(plannedListeners(next));
        planned.keySet().removeAll(plannedListeners(topology).keySet());
        preflight(next, planned);
        topology = next;
        try (KubernetesClient client = apiServers.get(c.name()).newClient()) {
            KubeObjects.writeWorkload(client, next, c, workload, ready);
        }
        int first = children.size();
        if (workload.role() == WorkloadSpec.Role.SERVER) {
            startApp(workload);
        }
        try {
            startSidecar(workload, issuers.get(c.name()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        awaitAdded(first, since, timeout);
    }

    /** Marks a workload's pod ready or not ready: its Pod's conditions and its EndpointSlice endpoint. */
    public void setReady(WorkloadSpec workload, boolean ready) {
        requireNonNull(workload, "workload");
        ClusterSpec c = topology.cluster(workload.cluster());
        try (KubernetesClient client = apiServer(c.name()).newClient()) {
            KubeObjects.setReady(client, topology, c, topology.workload(workload.name()), ready);
        }
    }

    /**
     * Deletes a workload's pod from its cluster's API server (the Pod and its EndpointSlice
     * endpoint), as the API server sees a pod deletion; its processes keep running, as a
     * terminating pod's do during its grace period, until {@link #kill}ed.
     */
    public void deletePod(WorkloadSpec workload) {
        requireNonNull(workload, "workload");
        ClusterSpec c = topology.cluster(workload.cluster());
        try (KubernetesClient client = apiServer(c.name()).newClient()) {
            KubeObjects.deletePod(client, topology, c, topology.workload(workload.name()));
        }
    }

    /**
     * {@code <run dir>/root-key.pem}: the mesh root's private key (PKCS#8 PEM, owner-only), written
     * on the first call, for {@code meshctl cluster join --root-key} to issue a joining cluster's
     * intermediate. A local mesh's root exists only for this run.
     */
    public synchronized Path rootKeyFile() {
        Path file = options.runDirectory().toAbsolutePath().normalize().resolve("root-key.pem");
        if (!Files.exists(file)) {
            try {
                write(file, rootCa.toCacerts().get(CertificateAuthority.CA_KEY));
                Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // Not a POSIX file system: the run directory's own permissions protect it.
            } catch (IOException e) {
                throw new LocalMeshException("cannot write the mesh root key " + file + ": " + e.getMessage(), e);
            }
        }
        return file;
    }

    private void requireGrowable(String what) {
        if (closed.get()) {
            throw new LocalMeshException("stopped (close()); cannot " + what);
        }
        if (network != null) {
            throw new LocalMeshException("cannot " + what + " to a mesh in network namespaces (its router and"
                    + " namespaces are made at start); run it on loopback");
        }
    }

    /** Waits for the children started since index {@code first}, then watches them for unexpected exits. */
    private void awaitAdded(int first, Instant since, Duration timeout) {
        List<Child> added = List.copyOf(children.subList(first, children.size()));
        awaitReady(added, false, since, timeout);
        added.forEach(this::reportUnexpectedExit);
    }

    /** Writes a cluster's objects into its API server; {@code cacerts} empty for a cluster that joins later. */
    private void writeObjects(ClusterSpec c, Map<String, String> cacerts) {
        try (KubernetesClient client = apiServers.get(c.name()).newClient()) {
            ServiceAccountIssuer issuer = issuers.get(c.name());
            KubeObjects.write(client, topology, c, cacerts, issuer.issuer(), issuer.jwksJson());
        }
    }

    /** A cluster's east-west gateway and its workloads' sidecars. */
    private void startDataPlaneOf(ClusterSpec c) {
        try {
            startGateway(c, issuers.get(c.name()));
            for (WorkloadSpec w : topology.workloadsIn(c.name())) {
                startSidecar(w, issuers.get(c.name()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---------------------------------------------------------------- start

    /** Every address and port the topology will listen on, with who will use it. */
    static Map<InetSocketAddress, String> plannedListeners(Topology topology) {
        Map<InetSocketAddress, String> planned = new LinkedHashMap<>();
        for (ClusterSpec c : topology.clusters()) {
            String ctrl = topology.controllerAddress(c.name());
            put(planned, ctrl, API_PORT, c.name() + " API server");
            if (!c.isRemote()) {
                for (int p : List.of(XDS_PORT, SECURE_PORT, CONTROLLER_ADMIN_PORT, RAFT_PORT)) {
                    put(planned, ctrl, p, c.name() + " controller");
                }
            }
            if (!topology.remotesOf(c.name()).isEmpty()) {
                for (int p : ControllerRoute.DEFAULT_PORTS) {
                    put(planned, topology.gatewayAddress(c.name()), p, c.name() + " east-west gateway (controller's port)");
                }
            }
            for (int p : List.of(GATEWAY_PORT, HEALTH_PORT, PROXY_ADMIN_PORT)) {
                put(planned, topology.gatewayAddress(c.name()), p, c.name() + " east-west gateway");
            }
        }
        for (WorkloadSpec w : topology.workloads()) {
            String sidecar = w.cluster() + '/' + w.name() + " sidecar";
            for (PortSpec p : w.ports()) {
                put(planned, topology.podIp(w), p.targetPort(), sidecar + " (inbound " + p.name() + ")");
                if (w.role() == WorkloadSpec.Role.SERVER) {
                    put(planned, topology.podLocalhost(w), p.targetPort(), w.cluster() + '/' + w.name() + " app");
                }
            }
            put(planned, topology.podIp(w), HEALTH_PORT, sidecar);
            put(planned, topology.podIp(w), METRICS_PORT, sidecar);
            put(planned, topology.podLocalhost(w), OUTBOUND_PORT, sidecar);
            put(planned, topology.podLocalhost(w), PROXY_ADMIN_PORT, sidecar);
        }
        return planned;
    }

    private static void put(Map<InetSocketAddress, String> planned, String ip, int port, String who) {
        planned.putIfAbsent(new InetSocketAddress(ip, port), who);
    }

    private static void preflight(Topology topology) {
        preflight(topology, plannedListeners(topology));
    }

    private static void preflight(Topology topology, Map<InetSocketAddress, String> planned) {
        List<String> busy = new ArrayList<>();
        for (Map.Entry<InetSocketAddress, String> e : planned.entrySet()) {
            InetSocketAddress a = e.getKey();
            try (ServerSocket s = new ServerSocket()) {
                s.setReuseAddress(true);
                s.bind(a);
            } catch (IOException ex) {
                String ip = a.getAddress().getHostAddress();
                busy.add("  " + ip + ':' + a.getPort() + " (for the " + e.getValue() + "): " + ex.getMessage()
                        + PortOwner.describe(ip, a.getPort()).map(o -> " — in use by " + o).orElse(""));
            }
        }
        String hint = busy.stream().anyMatch(b -> b.contains("Cannot assign requested address"))
                ? "\nThis system does not route all of 127.0.0.0/8 to loopback (Linux does). On macOS add aliases"
                        + " first, e.g. 'sudo ifconfig lo0 alias 127." + topology.addressBase() + ".0.1 up' for each address."
                : "";
        if (!busy.isEmpty()) {
            throw new LocalMeshException("cannot start topology '" + topology.name() + "': "
                    + (busy.size() == 1 ? "an address it needs is" : busy.size() + " addresses it needs are")
                    + " not free:\n" + String.join("\n", busy.subList(0, Math.min(12, busy.size())))
                    + (busy.size() > 12 ? "\n  ... and " + (busy.size() - 12) + " more" : "")
                    + "\nStop the other mesh (Ctrl-C in its terminal), or use another addressBase in the topology file"
                    + " (this one uses 127." + topology.addressBase() + ".0.0/16 and up)." + hint);
        }
    }

    private void bringUp() {
        Path run = prepareRunDirectory();
        options.progress().accept("run directory: " + run);
        if (topology.networkMode() == NetworkMode.NETNS) {
            // Before the API servers: they bind the launcher-side addresses this creates.
            network = NetnsNetwork.create(topology, options.progress());
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(2, topology.clusters().size()), r -> {
            Thread t = new Thread(r, "isthmus-launcher");
            t.setDaemon(true);
            return t;
        });
        try {
            writeArgFile(run);
            write(prometheusConfig(), PrometheusScrapeConfig.render(topology, Duration.ofSeconds(5)));
            Map<String, CompletableFuture<EmbeddedApiServer>> starting = new LinkedHashMap<>();
            for (ClusterSpec c : topology.clusters()) {
                starting.put(c.name(), CompletableFuture.supplyAsync(
                        () -> EmbeddedApiServer.start(c.name(), topology.apiServerAddress(c.name()), API_PORT), pool));
            }
            if (network != null) {
                // As istio-init runs before a pod's containers: no app or sidecar before its rules.
                installCapture();
            }
            // The echo apps need nothing from the mesh: their JVMs start while the API servers do.
            for (WorkloadSpec w : topology.workloads()) {
                if (w.role() == WorkloadSpec.Role.SERVER) {
                    startApp(w);
                }
            }
            // The CA and the issuers are made while the API servers start.
            CertificateAuthority root = CertificateAuthority.createRoot("Isthmus " + topology.name(), Duration.ofDays(3650));
            rootCa = root;
            Map<String, CertificateAuthority> intermediates = new LinkedHashMap<>();
            for (ClusterSpec c : topology.clusters()) {
                intermediates.put(c.name(), root.createIntermediate(c.name(), Duration.ofDays(365)));
                issuers.put(c.name(), ServiceAccountIssuer.create("https://kubernetes.default.svc/" + c.name()));
            }
            rootCertFile = write(run.resolve("root-cert.pem"), Pem.encodeCertificate(root.root()));
            try {
                for (var e : starting.entrySet()) {
                    apiServers.put(e.getKey(), join(e.getValue()));
                }
            } catch (RuntimeException e) {
                // One failed: the others may still be starting; close them once they are up.
                starting.forEach((name, f) -> {
                    if (!apiServers.containsKey(name)) {
                        f.thenAccept(EmbeddedApiServer::close);
                    }
                });
                throw e;
            }
            for (ClusterSpec c : topology.clusters()) {
                kubeconfigs.put(c.name(), apiServers.get(c.name()).writeKubeconfig(
                        run.resolve(c.name()).resolve("kubeconfig")));
            }
            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (ClusterSpec c : topology.clusters()) {
                writes.add(CompletableFuture.runAsync(() -> writeObjects(c, intermediates.get(c.name()).toCacerts()),
                        pool));
            }
            writes.forEach(LocalMesh::join);
            options.progress().accept(String.format("API servers up and objects written in %.1f s; kubeconfigs: %s",
                    secondsSince(startedAt), kubeconfigs.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                            .collect(Collectors.joining(" "))));

            // Not earlier: three controller JVMs loading classes while the objects are written starved
            // the API servers' event loops on a loaded 2-core machine (writes timed out after 10 s).
            writeRemoteSecrets();
            for (ClusterSpec c : topology.primaries()) {
                startController(c, false);
            }
            // The data plane starts once the controllers serve CSRs and xDS (15012 accepts): its JVM
            // start-up then overlaps the controllers' Raft election and informer sync.
            awaitReady(kinds(Kind.CONTROLLER, Kind.APP), true);
            options.progress().accept(String.format("controllers serving on %d after %.1f s; starting gateways and"
                    + " sidecars", SECURE_PORT, secondsSince(startedAt)));
            for (ClusterSpec c : topology.clusters()) {
                startDataPlaneOf(c);
            }
            awaitReady(kinds(Kind.values()), false);
            timeToReady = Duration.between(startedAt, Instant.now());
            options.progress().accept("ready: " + readyTimes().entrySet().stream()
                    .map(e -> String.format("%s %.1fs", e.getKey(), e.getValue().toMillis() / 1000.0))
                    .collect(Collectors.joining(", ")));
            children.forEach(this::reportUnexpectedExit);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            pool.shutdownNow();
        }
    }

    private static java.util.Set<Kind> kinds(Kind... kinds) {
        return java.util.EnumSet.copyOf(List.of(kinds));
    }

    private Path prepareRunDirectory() {
        Path run = options.runDirectory().toAbsolutePath().normalize();
        try {
            if (Files.isDirectory(run)) {
                boolean empty;
                try (Stream<Path> s = Files.list(run)) {
                    empty = s.findAny().isEmpty();
                }
                if (!empty && !Files.exists(run.resolve(MARKER))) {
                    throw new LocalMeshException("run directory " + run + " is not empty and was not made by Isthmus"
                            + " (expected: a new, empty or earlier Isthmus run directory; pass another --run-dir)");
                }
                deleteContents(run);
            }
            Files.createDirectories(run);
            Files.writeString(run.resolve(MARKER), "topology " + topology.name() + " started " + startedAt + '\n');
            for (ClusterSpec c : topology.clusters()) {
                Files.createDirectories(run.resolve(c.name()).resolve("tokens"));
            }
            return run;
        } catch (IOException e) {
            throw new LocalMeshException("cannot prepare run directory " + run + ": " + e.getMessage(), e);
        }
    }

    private static void deleteContents(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                if (!p.equals(dir)) {
                    Files.delete(p);
                }
            }
        }
    }

    private void writeArgFile(Path run) throws IOException {
        String cp = options.classPath().replace("\\", "\\\\").replace("\"", "\\\"");
        write(run.resolve("classpath.args"), "-cp \"" + cp + "\"\n");
    }

    private List<String> javaCommand(String component, String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(options.javaCommand());
        cmd.addAll(options.jvmOptionsFor(mainClass));
        cmd.add("-Disthmus.component=" + component);
        cmd.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
        cmd.add("-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS");
        cmd.add("@" + options.runDirectory().toAbsolutePath().normalize().resolve("classpath.args"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    private Path clusterDir(String cluster) {
        return options.runDirectory().toAbsolutePath().normalize().resolve(cluster);
    }

    private void launch(MeshComponent component, String mainClass, List<String> args,
            Optional<InetSocketAddress> readyPort) {
        launch(component, mainClass, args, readyPort, () -> true);
    }

    private void launch(MeshComponent component, String mainClass, List<String> args,
            Optional<InetSocketAddress> readyPort, java.util.function.BooleanSupplier routesReady) {
        launch(component, mainClass, args, readyPort, routesReady,
                network == null ? List.of() : network.inCluster(component.cluster(), List.of()));
    }

    /** The prefix that runs a command in a workload's pod: its namespace, then {@code then}; none on loopback. */
    private List<String> inPod(WorkloadSpec w, List<String> then) {
        if (network == null) {
            return List.of();
        }
        return network.inPod(w, then);
    }

    /** @param prefix what runs the JVM's command: {@code ip netns exec <ns>} and the like, or nothing */
    private void launch(MeshComponent component, String mainClass, List<String> args,
            Optional<InetSocketAddress> readyPort, java.util.function.BooleanSupplier routesReady,
            List<String> prefix) {
        if (closed.get()) {
            throw new LocalMeshException("stopped while starting (Ctrl-C or close()); " + component.displayName()
                    + " was not started");
        }
        try {
            List<String> command = new ArrayList<>(prefix);
            command.addAll(javaCommand(component.name(), mainClass, args));
            Files.writeString(component.log(), "# " + String.join(" ", command) + "\n");
            ChildProcess p = ChildProcess.start(component.displayName(), command,
                    component.log(), options.runDirectory().toAbsolutePath().normalize());
            children.add(new Child(component, p, readyPort, routesReady, List.copyOf(command)));
            if (closed.get()) {
                // close() ran between the check above and the add: it did not see this child.
                p.terminate();
                p.awaitOrKill(STOP_GRACE);
                throw new LocalMeshException("stopped while starting (Ctrl-C or close())");
            }
        } catch (IOException e) {
            throw new LocalMeshException("cannot start " + component.displayName() + " with " + options.javaCommand()
                    + ": " + e.getMessage(), e);
        }
    }

    /**
     * For each remote cluster, a remote secret in its primary's API server (Istio's
     * {@code istioctl create-remote-secret} output: {@code istio-system/istio-remote-secret-<remote>},
     * labelled {@code istio/multiCluster=true}, the remote's kubeconfig under its name), so the
     * primary's controller watches the remote's API server and serves its proxies.
     */
    private void writeRemoteSecrets() {
        for (ClusterSpec remote : topology.clusters()) {
            if (!remote.isRemote()) {
                continue;
            }
            try (KubernetesClient client = apiServers.get(remote.primary()).newClient()) {
                KubeObjects.writeRemoteSecret(client, remote.name(), apiServers.get(remote.name()).kubeconfig());
            }
            options.progress().accept("remote cluster " + remote.name() + ": remote secret written to "
                    + remote.primary() + "'s API server; its proxies use " + remote.primary() + "'s controller at "
                    + topology.controllerEndpointFor(remote.name()) + ':' + SECURE_PORT);
        }
    }

    private static boolean isLoopback(String ip) {
        try {
            return java.net.InetAddress.getByName(ip).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    /** {@code <run dir>/admin-token}: created once (owner-only), shared by every controller of this run. */
    private synchronized Path adminTokenFile() {
        Path file = options.runDirectory().toAbsolutePath().normalize().resolve("admin-token");
        if (!Files.exists(file)) {
            byte[] secret = new byte[32];
            new java.security.SecureRandom().nextBytes(secret);
            try {
                Files.writeString(file, java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(secret) + "\n");
                try {
                    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
                } catch (UnsupportedOperationException e) {
                    // Not a POSIX file system: the run directory's own permissions protect it.
                }
            } catch (IOException e) {
                throw new LocalMeshException("cannot write the controllers' admin token " + file + ": " + e.getMessage(), e);
            }
        }
        return file;
    }

    /**
     * @param join a primary added to a running mesh: {@code --raft-join}, so its peer waits to be
     *             added to the group ({@code POST /federation/members}) instead of founding one
     */
    private void startController(ClusterSpec c, boolean join) {
        Topology topology = this.topology;
        String ip = topology.controllerAddress(c.name());
        String peers = topology.primaries().stream()
                .map(p -> p.name() + '=' + topology.controllerAddress(p.name()) + ':' + RAFT_PORT)
                .collect(Collectors.joining(","));
        List<String> args = new ArrayList<>(List.of(
                "--cluster", c.name(), "--network", c.network(), "--region", c.region(), "--zone", c.zone()));
        if (!c.subzone().isEmpty()) {
            args.addAll(List.of("--subzone", c.subzone()));
        }
        args.addAll(List.of(
                "--kubeconfig", kubeconfigs.get(c.name()).toString(),
                "--bind", ip,
                "--xds-port", String.valueOf(XDS_PORT),
                "--secure-port", String.valueOf(SECURE_PORT),
                "--admin-port", String.valueOf(CONTROLLER_ADMIN_PORT),
                "--raft-id", c.name(),
                "--raft-port", String.valueOf(RAFT_PORT),
                "--raft-peers", peers,
                "--data-dir", clusterDir(c.name()).resolve("controller-data").toString()));
        if (join) {
            args.add("--raft-join");
        }
        args.addAll(trustDomainArgs());
        if (!isLoopback(ip)) {
            // Beyond loopback the admin port wants a credential (AdminAuth): one shared token, in
            // the run directory where meshctl finds it.
            args.addAll(List.of("--admin-token-file", adminTokenFile().toString()));
        }
        String admin = controllerAdminUrl(c.name());
        launch(new MeshComponent("controller", c.name(), Kind.CONTROLLER, clusterDir(c.name()).resolve("controller.log"),
                Optional.of(admin), Optional.of(admin + "/ready")), CONTROLLER_MAIN, args, Optional.empty());
    }

    /**
     * Runs {@code isthmus-proxy-init} in every pod's namespace, all at once, and waits for each:
     * REDIRECT capture (inbound → 15006, outbound → 15001) and the app's DNS to the sidecar's proxy
     * ({@code --redirect-dns}), leaving alone the connections of group {@link #PROXY_GID}, the
     * sidecar's. Its output goes to {@code <cluster>/<workload>-init.log}.
     */
    private void installCapture() throws IOException {
        Map<WorkloadSpec, ChildProcess> inits = new LinkedHashMap<>();
        for (WorkloadSpec w : topology.workloads()) {
            Path log = clusterDir(w.cluster()).resolve(w.name() + "-init.log");
            List<String> command = network.inPod(w, javaCommand(w.name() + "-init", PROXY_INIT_MAIN, List.of(
                    "--istio-inbound-interception-mode", "REDIRECT",
                    "--proxy-uid", String.valueOf(PROXY_GID),
                    "--proxy-gid", String.valueOf(PROXY_GID),
                    "--redirect-dns")));
            Files.writeString(log, "# " + String.join(" ", command) + "\n");
            inits.put(w, ChildProcess.start(w.cluster() + '/' + w.name() + "-init", command, log,
                    options.runDirectory().toAbsolutePath().normalize()));
        }
        try {
            for (Map.Entry<WorkloadSpec, ChildProcess> e : inits.entrySet()) {
                ChildProcess p = e.getValue();
                if (!p.process().waitFor(options.readyTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    throw new LocalMeshException(p.name() + " (isthmus-proxy-init) did not finish in "
                            + options.readyTimeout().toSeconds() + " s; the end of its log (" + p.log() + "):\n"
                            + p.logTail(15));
                }
                if (p.process().exitValue() != 0) {
                    throw new LocalMeshException(p.name() + " (isthmus-proxy-init) failed with exit code "
                            + p.process().exitValue() + "; the end of its log (" + p.log() + "):\n" + p.logTail(15));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalMeshException("interrupted while installing the pods' capture rules", e);
        } finally {
            inits.values().forEach(p -> p.awaitOrKill(Duration.ZERO));
        }
        options.progress().accept("capture rules installed in " + inits.size() + " pod namespaces"
                + " (isthmus-proxy-init: REDIRECT, --redirect-dns; the sidecars run as group " + PROXY_GID + ")");
    }

    private void startApp(WorkloadSpec w) {
        ClusterSpec c = topology.cluster(w.cluster());
        PortSpec http = w.httpPort().orElse(w.ports().get(0));
        List<String> args = new ArrayList<>(List.of(
                // In its pod's namespace the app owns 127.0.0.1, as in a real pod; the launcher
                // reaches it through the pod's localhost window (NetnsNetwork).
                "--address", network != null ? POD_LOOPBACK : topology.podLocalhost(w),
                "--http-port", String.valueOf(http.targetPort())));
        w.tcpPort().ifPresent(t -> args.addAll(List.of("--tcp-port", String.valueOf(t.targetPort()))));
        args.addAll(List.of("--cluster", c.name(), "--version", w.version(), "--pod", topology.podName(w),
                "--namespace", w.namespace(), "--locality", c.locality()));
        launch(new MeshComponent(w.name(), c.name(), Kind.APP, clusterDir(c.name()).resolve(w.name() + ".log"),
                Optional.empty(), Optional.empty()), ECHO_MAIN, args,
                Optional.of(new InetSocketAddress(topology.podLocalhost(w), http.targetPort())), () -> true,
                inPod(w, List.of()));
    }

    private void startSidecar(WorkloadSpec w, ServiceAccountIssuer issuer) throws IOException {
        ClusterSpec c = topology.cluster(w.cluster());
        String pod = topology.podName(w);
        Path token = writeToken(c.name(), pod, issuer.mint(w.namespace(), w.serviceAccount(), pod, List.of("istio-ca"),
                Duration.ofDays(1), Instant.now()));
        String labels = w.labels().entrySet().stream().sorted(Map.Entry.comparingByKey())
                .map(e -> e.getKey() + '=' + e.getValue()).collect(Collectors.joining(","));
        List<String> args = new ArrayList<>(List.of(
                "--pod-ip", topology.podIp(w),
                "--localhost", network != null ? POD_LOOPBACK : topology.podLocalhost(w),
                "--pod-name", pod,
                "--namespace", w.namespace(),
                "--service-account", w.serviceAccount(),
                "--cluster", c.name(),
                "--network", c.network(),
                "--locality", c.locality(),
                "--labels", labels,
                "--controller", topology.controllerEndpointFor(c.name()) + ':' + SECURE_PORT,
                "--root-cert", rootCertFile.toString(),
                "--token-file", token.toString(),
                // One line per request, Istio's format, beside the sidecar's own log.
                "--access-log", clusterDir(c.name()).resolve(w.name() + "-access.log").toString()));
        if (!options.otlpEndpoint().isBlank()) {
            args.addAll(List.of("--otlp-endpoint", options.otlpEndpoint(),
                    "--trace-sampling", String.valueOf(options.traceSamplingPercent())));
        }
        args.addAll(certTtlArgs());
        args.addAll(trustDomainArgs());
        if (network != null) {
            // Behind isthmus-proxy-init's rules: 15006 takes every inbound port, 15001 every outbound
            // connection, the DNS proxy the app's queries.
            args.addAll(List.of("--capture", "redirect", "--dns-capture"));
        }
        String admin = sidecarAdminUrl(w);
        // A server's sidecar binds its mTLS inbound listeners when its config names them; until
        // they accept, a peer (or a gateway relaying for one) is refused although /ready says 200.
        Optional<InetSocketAddress> inbound = w.role() == WorkloadSpec.Role.SERVER && !w.ports().isEmpty()
                ? Optional.of(new InetSocketAddress(topology.podIp(w), w.ports().get(0).targetPort()))
                : Optional.empty();
        launch(new MeshComponent(w.name() + "-sidecar", c.name(), Kind.SIDECAR,
                clusterDir(c.name()).resolve(w.name() + "-sidecar.log"), Optional.of(admin),
                Optional.of(admin + "/ready")), PROXY_MAIN, args, inbound, () -> true,
                // Root still (it reads the run directory's files), but in the group capture leaves alone.
                inPod(w, List.of("setpriv", "--regid=" + PROXY_GID, "--clear-groups")));
    }

    private void startGateway(ClusterSpec c, ServiceAccountIssuer issuer) throws IOException {
        String pod = GATEWAY_SERVICE_ACCOUNT + '-' + String.format("%05x", (topology.name() + c.name()).hashCode() & 0xfffff);
        Path token = writeToken(c.name(), pod, issuer.mint(GATEWAY_NAMESPACE, GATEWAY_SERVICE_ACCOUNT, pod,
                List.of("istio-ca"), Duration.ofDays(1), Instant.now()));
        String ip = topology.gatewayAddress(c.name());
        List<String> args = new ArrayList<>(List.of(
                "--pod-ip", ip,
                "--localhost", ip,
                "--pod-name", pod,
                "--namespace", GATEWAY_NAMESPACE,
                "--service-account", GATEWAY_SERVICE_ACCOUNT,
                "--cluster", c.name(),
                "--network", c.network(),
                "--locality", c.locality(),
                "--labels", "app=istio-eastwestgateway,istio=eastwestgateway",
                "--controller", topology.controllerEndpointFor(c.name()) + ':' + SECURE_PORT,
                "--root-cert", rootCertFile.toString(),
                "--token-file", token.toString(),
                "--port", String.valueOf(GATEWAY_PORT)));
        if (!topology.remotesOf(c.name()).isEmpty()) {
            // Its remote clusters' proxies reach this controller's 15012 (and 15017) through it.
            args.addAll(List.of("--expose-controller", topology.controllerAddress(c.name())));
        }
        args.addAll(certTtlArgs());
        args.addAll(trustDomainArgs());
        String admin = gatewayAdminUrl(c.name());
        launch(new MeshComponent("istio-eastwestgateway", c.name(), Kind.GATEWAY,
                clusterDir(c.name()).resolve("istio-eastwestgateway.log"), Optional.of(admin),
                Optional.of(admin + "/ready")), GATEWAY_MAIN, args, Optional.empty(), () -> routesLocalServices(c));
    }

    /**
     * Whether a gateway's config routes the SNI of every service port its cluster serves to that
     * cluster's pods. Its /ready only means a first config arrived, which may hold no cluster yet
     * when it came before the controller applied its cluster's state: a gateway in that state
     * rejects every connection as unknown_sni, and the client sidecar quietly retries elsewhere.
     */
    private boolean routesLocalServices(ClusterSpec c) {
        Map<String, String> expected = new LinkedHashMap<>();
        for (WorkloadSpec w : topology.workloads()) {
            if (w.cluster().equals(c.name()) && w.role() == WorkloadSpec.Role.SERVER && w.service().isPresent()) {
                for (PortSpec p : w.ports()) {
                    expected.put("outbound_." + p.port() + "_._." + w.service().get() + '.' + w.namespace()
                            + ".svc.cluster.local", topology.podIp(w) + ':' + p.targetPort());
                }
            }
        }
        if (expected.isEmpty()) {
            return true;
        }
        String ip = topology.gatewayAddress(c.name());
        try {
            SimpleHttp.Response r = SimpleHttp.get(ip, PROXY_ADMIN_PORT, "/config_dump", ip + ':' + PROXY_ADMIN_PORT,
                    Optional.empty(), 2000);
            if (r.status() != 200) {
                return false;
            }
            tools.jackson.databind.JsonNode dump = tools.jackson.databind.json.JsonMapper.builder().build()
                    .readTree(r.body());
            return expected.entrySet().stream()
                    .allMatch(e -> DemoVerifier.endpointsOf(dump, e.getKey()).contains(e.getValue()));
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private List<String> certTtlArgs() {
        return topology.certTtl().map(ttl -> List.of("--cert-ttl", ttl.toSeconds() + "s")).orElse(List.of());
    }

    /** The same for the controller, the sidecars and the gateways: they must agree on whose identities to accept. */
    private List<String> trustDomainArgs() {
        List<String> args = new ArrayList<>(List.of("--trust-domain", topology.trustDomain()));
        if (!topology.trustDomainAliases().isEmpty()) {
            args.addAll(List.of("--trust-domain-aliases", String.join(",", topology.trustDomainAliases())));
        }
        return args;
    }

    private Path writeToken(String cluster, String pod, String jwt) throws IOException {
        Path file = clusterDir(cluster).resolve("tokens").resolve(pod + ".jwt");
        write(file, jwt);
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException ignored) {
            // not a POSIX file system; the token is only valid for this local mesh anyway
        }
        return file;
    }

    /**
     * Waits until every child of the given kinds is ready or, with {@code listeningOnly}, until
     * controllers accept connections on their secure port.
     */
    private void awaitReady(java.util.Set<Kind> kinds, boolean listeningOnly) {
        awaitReady(children.stream().filter(c -> kinds.contains(c.component().kind())).toList(), listeningOnly,
                startedAt, options.readyTimeout());
    }

    /** The same for these children, {@code timeout} from {@code since}; ready times are recorded from {@code since}. */
    private void awaitReady(List<Child> children, boolean listeningOnly, Instant since, Duration timeout) {
        Instant deadline = since.plus(timeout);
        List<Child> pending = new ArrayList<>(children);
        while (!pending.isEmpty()) {
            if (closed.get()) {
                throw new LocalMeshException("stopped while starting (Ctrl-C or close())");
            }
            for (Child child : List.copyOf(pending)) {
                if (!child.process().isAlive()) {
                    throw new LocalMeshException(child.component().displayName() + " exited with code "
                            + child.process().process().exitValue() + " before it was ready; the end of its log ("
                            + child.process().log() + "):\n" + child.process().logTail(25));
                }
                boolean ready = listeningOnly && child.component().kind() == Kind.CONTROLLER
                        ? accepts(new InetSocketAddress(topology.controllerAddress(child.component().cluster()), SECURE_PORT))
                        : isReady(child);
                if (ready) {
                    pending.remove(child);
                    if (!listeningOnly || child.component().kind() != Kind.CONTROLLER) {
                        readyAt.put(child.component().displayName(), Duration.between(since, Instant.now()));
                    }
                    log.debug("{} ready after {} s", child.component().displayName(), secondsSince(since));
                }
            }
            if (pending.isEmpty()) {
                break;
            }
            if (Instant.now().isAfter(deadline)) {
                StringBuilder sb = new StringBuilder("not ready after " + timeout.toSeconds() + " s: "
                        + pending.stream().map(c -> c.component().displayName()).toList());
                for (Child c : pending) {
                    sb.append("\n").append(c.component().displayName()).append(" (")
                            .append(c.component().readyUrl().map(u -> u + c.readyPort().map(a -> " and inbound " + a).orElse(""))
                                    .orElse("port " + c.readyPort().map(Object::toString).orElse("?")))
                            .append(c.component().kind() == Kind.GATEWAY
                                    ? " not ready, or its /config_dump does not route its cluster's services yet; log "
                                    : " not ready; log ").append(c.process().log()).append("):\n")
                            .append(c.process().logTail(15));
                }
                throw new LocalMeshException(sb.toString());
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LocalMeshException("interrupted while waiting for the mesh to be ready");
            }
        }
    }

    /** The ready URL answers 200 and, where a port is named too, that port accepts connections. */
    private static boolean isReady(Child child) {
        if (child.component().readyUrl().isPresent()) {
            java.net.URI uri = java.net.URI.create(child.component().readyUrl().get());
            try {
                if (SimpleHttp.get(uri.getHost(), uri.getPort(), uri.getPath(), uri.getHost() + ':' + uri.getPort(),
                        Optional.empty(), 2000).status() != 200) {
                    return false;
                }
            } catch (IOException | RuntimeException e) {
                return false;
            }
            return child.readyPort().map(LocalMesh::accepts).orElse(true) && child.routesReady().getAsBoolean();
        }
        return accepts(child.readyPort().orElseThrow());
    }

    private static boolean accepts(InetSocketAddress port) {
        try (Socket s = new Socket()) {
            s.connect(port, 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static double secondsSince(Instant start) {
        return Duration.between(start, Instant.now()).toMillis() / 1000.0;
    }

    private static Path write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
        return file;
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            throw new LocalMeshException(String.valueOf(cause.getMessage()), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalMeshException("interrupted while starting the mesh", e);
        }
    }

    // ---------------------------------------------------------------- stop

    private void closeFromHook() {
        stop(false);
    }

    /** Stops every child process and the API servers. Idempotent. */
    @Override
    public void close() {
        stop(true);
    }

    private void stop(boolean removeHook) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (removeHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException ignored) {
                // the JVM is already shutting down: the hook is running or will run, and finds us closed
            }
        }
        if (!children.isEmpty()) {
            options.progress().accept("stopping " + children.size() + " processes and " + apiServers.size()
                    + " API servers");
        }
        // Data plane first, so controllers do not log a storm of disconnects they would try to repair.
        List<Child> reversed = new ArrayList<>(children);
        java.util.Collections.reverse(reversed);
        List<Child> dataPlane = reversed.stream().filter(c -> c.component().kind() != Kind.CONTROLLER).toList();
        List<Child> controllers = reversed.stream().filter(c -> c.component().kind() == Kind.CONTROLLER).toList();
        dataPlane.forEach(c -> c.process().terminate());
        dataPlane.forEach(c -> c.process().awaitOrKill(STOP_GRACE));
        controllers.forEach(c -> c.process().terminate());
        controllers.forEach(c -> c.process().awaitOrKill(STOP_GRACE));
        for (EmbeddedApiServer s : apiServers.values()) {
            try {
                s.close();
            } catch (RuntimeException e) {
                log.warn("stopping the {} API server: {}", s.clusterName(), e.toString());
            }
        }
        if (network != null) {
            network.close();
        }
    }
}
