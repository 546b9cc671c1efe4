package io.isthmus.topologies.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.LocalMeshException;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The Linux network namespaces of a {@link io.isthmus.topologies.NetworkMode#NETNS} topology, with
 * its address plan (docs/design/contracts.md, "Network namespaces"):
 *
 * <pre>
 *  launcher's namespace ── veth isthmus&lt;B&gt; 169.254.B.1/30, API servers on 10.N.254.1
 *        │
 *  isthmus&lt;B&gt;-router ── host 169.254.B.2/30; c&lt;N&gt; 10.N.255.254/24 per cluster; ip_forward;
 *        │                 iptables FORWARD: the only place traffic between clusters is filtered
 *  isthmus&lt;B&gt;-&lt;cluster&gt; ── eth0: 10.N.255.1/24 (default route), 10.N.0.1 controller,
 *        │                   10.N.0.2 gateway; ip_forward; pod&lt;n&gt; per pod, routes to its two addresses
 *  isthmus&lt;B&gt;-&lt;cluster&gt;-&lt;workload&gt; ── a pod: eth0 10.N.1.n (pod IP) and 10.N.2.n (its
 *                            localhost as the launcher sees it), default route via 10.N.255.1
 * </pre>
 *
 * where {@code B} is the topology's addressBase and {@code N = B + i} the cluster's octet. Clusters
 * on one network reach each other's every address; across networks only the gateway's 15443 and
 * the controller's 15010, 15012, 15017 and 15031, other TCP connections are reset. The launcher's
 * namespace reaches everything (it checks readiness and sends the demo's requests), and every
 * cluster reaches the launcher's namespace (its API server).
 *
 * <p>Each workload (pod) has a namespace of its own, where its app and sidecar run and where the
 * launcher runs {@code isthmus-proxy-init} (the capture rules). Its app and the sidecar's admin and
 * outbound ports listen on the pod's {@code 127.0.0.1}, as in a real pod; the launcher reaches them
 * through {@code 10.N.2.n}, which a DNAT rule in the pod's namespace (first in nat PREROUTING, before
 * the capture rules, and only for connections from the launcher's {@code 169.254.B.1}) sends to
 * {@code 127.0.0.1}, as {@code kubectl port-forward} reaches a pod's localhost. The pod's
 * {@code /etc/netns/<namespace>/resolv.conf} ({@code ip netns exec} mounts it over
 * {@code /etc/resolv.conf}) names the cluster's search domains, so an app there resolves
 * {@code helloworld.sample} through the sidecar's DNS proxy.
 *
 * <p>Every namespace it creates is named {@code isthmus<B>-p<pid>-...} and its launcher-side link
 * {@code is<B>-p<pid>}, where {@code <pid>} is the launcher JVM's pid in base 36: the run that owns
 * them. {@link #close()} deletes them, which also deletes their veth pairs, the launcher-side end and
 * its routes. A run that died without closing leaves them behind: {@link #sweep} (run by
 * {@link #create}) removes those of runs that are over (their pid is gone, or now names a process
 * younger than the namespace), after killing any process still inside, with their
 * {@code /etc/netns} directories; a live run's (another checkout's tests, an {@code isthmus up}) are
 * left alone, and {@link #create} refuses the addressBase while such a run holds it, since its
 * addresses and routes in the launcher's namespace would clash. Not thread-safe; close is
 * idempotent.
 */
public final class NetnsNetwork implements AutoCloseable {

    /**
     * TCP ports of a cluster other networks may reach: the gateway's passthrough, and the
     * controller's 15012 and 15017 that a primary's gateway carries for its remote clusters.
     */
    public static final List<Integer> GATEWAY_PORTS = List.of(15443, 15012, 15017);
    public static final List<Integer> CONTROLLER_PORTS = List.of(15010, 15012, 15017, 15031);

    private static final long COMMAND_TIMEOUT_SECONDS = 15;
    /** Where {@code ip netns exec} finds a namespace's own resolv.conf and hosts. */
    private static final Path ETC_NETNS = Path.of("/etc/netns");
    /** Linux's limit on a file name, which a namespace's name is (under /run/netns and /etc/netns). */
    private static final int MAX_NAME = 255;

    /** The runs this JVM has open, by addressBase: their namespaces are not stale. */
    private static final Map<Integer, String> OPEN = new java.util.concurrent.ConcurrentHashMap<>();
    private static final Path RUN_NETNS = Path.of("/run/netns");

    private final Topology topology;
    private final Consumer<String> progress;
    private final String runPrefix;
    private final String router;
    private final String hostLink;
    private final Map<String, String> namespaces = new LinkedHashMap<>();
    private final Map<String, String> podNamespaces = new LinkedHashMap<>();
    private final List<String> created = new ArrayList<>();
    private boolean closed;

    private NetnsNetwork(Topology topology, Consumer<String> progress) {
        this.topology = topology;
        this.progress = progress;
        this.runPrefix = runPrefix(topology.addressBase(), ProcessHandle.current().pid());
        this.router = runPrefix + "router";
        this.hostLink = hostLink(topology.addressBase(), ProcessHandle.current().pid());
        for (ClusterSpec c : topology.clusters()) {
            namespaces.put(c.name(), runPrefix + c.name());
        }
        java.util.Set<String> taken = new java.util.HashSet<>(namespaces.values());
        taken.add(router);
        for (WorkloadSpec w : topology.workloads()) {
            String ns = podNamespaceName(runPrefix, w);
            if (!taken.add(ns)) {
                throw new LocalMeshException("workload '" + w.name() + "' in cluster '" + w.cluster()
                        + "': its pod's network namespace " + ns + " has the name of another namespace of this"
                        + " topology (expected: cluster and workload names that do not combine into another"
                        + " cluster's name; rename one)");
            }
            podNamespaces.put(w.name(), ns);
        }
    }

    /**
     * {@code <runPrefix><cluster>-<workload>}: a workload name is unique in a topology and both are
     * DNS labels, so it is at most 150 characters, within Linux's limit; should that ever change, a
     * longer one keeps its start and a hash of the whole, so the sweep's prefix still finds it.
     */
    static String podNamespaceName(String runPrefix, WorkloadSpec w) {
        String name = runPrefix + w.cluster() + '-' + w.name();
        if (name.length() <= MAX_NAME) {
            return name;
        }
        String hash = String.format("%08x", name.hashCode());
        return name.substring(0, MAX_NAME - hash.length() - 1) + '-' + hash;
    }

    /** The name prefix of every namespace of a topology with this addressBase, whichever run made it. */
    public static String prefix(int addressBase) {
        return "isthmus" + addressBase + "-";
    }

    /** {@code isthmus<B>-p<pid in base 36>-}: the names of one launcher's namespaces. */
    static String runPrefix(int addressBase, long pid) {
        return prefix(addressBase) + "p" + Long.toString(pid, 36) + "-";
    }

    /**
     * {@code is<B>-p<pid in base 36>}, the launcher-side end of the router's link: at most 12
     * characters for Linux's pids (up to 2²²), within an interface name's 15.
     */
    static String hostLink(int addressBase, long pid) {
        return "is" + addressBase + "-p" + Long.toString(pid, 36);
    }

    /**
     * The launcher pid that owns {@code name} (a namespace {@code isthmus<B>-p<pid36>-...} or a link
     * {@code is<B>-p<pid36>}); empty for a name of another shape (an older launcher's, owner unknown).
     */
    static Optional<Long> owner(String name) {
        int dash = name.indexOf("-p");
        if (dash < 0) {
            return Optional.empty();
        }
        int end = name.indexOf('-', dash + 2);
        String pid = name.substring(dash + 2, end < 0 ? name.length() : end);
        try {
            return pid.isEmpty() ? Optional.empty() : Optional.of(Long.parseLong(pid, 36));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * Whether the run that made namespace {@code name} is over: this JVM with no network of that
     * addressBase open, or a pid that is gone or now names a process started after the namespace was
     * (a reused pid). An unknown owner (an older launcher's names) counts as over.
     */
    static boolean stale(String name, int addressBase) {
        Optional<Long> owner = owner(name.substring(prefix(addressBase).length() - 1));
        if (owner.isEmpty()) {
            return true;
        }
        if (owner.get() == ProcessHandle.current().pid()) {
            return !OPEN.containsKey(addressBase);
        }
        Optional<ProcessHandle> process = ProcessHandle.of(owner.get());
        if (process.isEmpty() || !process.get().isAlive()) {
            return true;
        }
        Optional<java.time.Instant> started = process.get().info().startInstant();
        try {
            java.time.Instant createdAt = Files.getLastModifiedTime(RUN_NETNS.resolve(name)).toInstant();
            // Start times are rounded to clock ticks: a second of slack.
            return started.isPresent() && started.get().isAfter(createdAt.plusSeconds(1));
        } catch (IOException e) {
            // No such namespace (an /etc/netns directory left alone): the process is alive, keep it.
            return false;
        }
    }

    /**
     * Why network namespaces cannot be used here (not Linux, not root, no {@code ip} or
     * {@code iptables}), or empty when they can.
     */
    public static Optional<String> unavailableReason() {
        if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            return Optional.of("network namespaces need Linux (this is " + System.getProperty("os.name") + ")");
        }
        try {
            String status = Files.readString(Path.of("/proc/self/status"));
            String uid = status.lines().filter(l -> l.startsWith("Uid:")).findFirst().orElse("Uid: ?")
                    .split("\\s+")[2];
            if (!uid.equals("0")) {
                return Optional.of("network namespaces need root (effective uid " + uid
                        + "); run as root, e.g. with sudo");
            }
        } catch (IOException | RuntimeException e) {
            return Optional.of("cannot tell whether this is root: " + e);
        }
        for (List<String> probe : List.of(List.of("ip", "-V"), List.of("iptables", "-V"))) {
            try {
                run(probe);
            } catch (LocalMeshException e) {
                return Optional.of("'" + probe.get(0) + "' is missing or fails (" + e.getMessage()
                        + "); install iproute2 and iptables");
            }
        }
        // Root in a container without CAP_SYS_ADMIN/CAP_NET_ADMIN has the tools but cannot use them.
        String probe = "isthmus-probe-" + ProcessHandle.current().pid();
        try {
            run(List.of("ip", "netns", "add", probe));
        } catch (LocalMeshException e) {
            return Optional.of("cannot create a network namespace (" + e.getMessage()
                    + "); run as root with CAP_SYS_ADMIN and CAP_NET_ADMIN (e.g. a privileged container)");
        } finally {
            runQuietly(List.of("ip", "netns", "del", probe));
        }
        return Optional.empty();
    }

    /**
     * Deletes the namespaces that runs with this addressBase which are over left behind, killing any
     * process still inside them first; a live run's stay.
     *
     * @return the namespaces removed
     */
    public static List<String> sweep(int addressBase) {
        List<String> removed = new ArrayList<>();
        for (String ns : listNamespaces()) {
            if (ns.startsWith(prefix(addressBase)) && stale(ns, addressBase)) {
                delete(ns);
                removed.add(ns);
            }
        }
        // A launcher-side link whose router is gone with its run (an older launcher's: isthmus<B>).
        runQuietly(List.of("ip", "link", "del", "isthmus" + addressBase));
        for (String link : listLinks()) {
            Optional<Long> owner = owner(link);
            if (link.startsWith("is" + addressBase + "-p") && owner.isPresent()
                    && (owner.get() == ProcessHandle.current().pid() ? !OPEN.containsKey(addressBase)
                            : ProcessHandle.of(owner.get()).map(p -> !p.isAlive()).orElse(true))) {
                runQuietly(List.of("ip", "link", "del", link));
            }
        }
        // Pods' resolv.conf directories whose namespace is already gone.
        try (var dirs = Files.list(ETC_NETNS)) {
            for (Path dir : dirs.filter(d -> d.getFileName().toString().startsWith(prefix(addressBase))).toList()) {
                String name = dir.getFileName().toString();
                if (!Files.exists(RUN_NETNS.resolve(name)) && stale(name, addressBase)) {
                    removeEtc(name);
                }
            }
        } catch (IOException | RuntimeException e) {
            // no /etc/netns: nothing left there
        }
        return removed;
    }

    /**
     * Sweeps stale namespaces of this addressBase, then builds the topology's namespaces; refuses
     * the addressBase while a live run holds it (its addresses and routes would clash with these).
     */
    public static NetnsNetwork create(Topology topology, Consumer<String> progress) {
        requireNonNull(topology, "topology");
        requireNonNull(progress, "progress");
        int base = topology.addressBase();
        List<String> stale = sweep(base);
        if (!stale.isEmpty()) {
            progress.accept("removed network namespaces left by an earlier run: " + stale);
        }
        List<String> live = listNamespaces().stream().filter(ns -> ns.startsWith(prefix(base))).toList();
        if (!live.isEmpty() || OPEN.containsKey(base)) {
            String owner = live.isEmpty() ? "this process" : owner(live.get(0).substring(prefix(base).length() - 1))
                    .map(pid -> "launcher pid " + pid).orElse("another launcher");
            throw new LocalMeshException("addressBase " + base + " is in use by a running mesh (" + owner
                    + ", network namespaces " + live + "); stop it (meshctl down) or give this topology another"
                    + " addressBase");
        }
        NetnsNetwork network = new NetnsNetwork(topology, progress);
        OPEN.put(base, network.runPrefix);
        try {
            network.build();
            return network;
        } catch (RuntimeException e) {
            network.close();
            throw e;
        }
    }

    /** {@code isthmus<B>-p<pid36>-}: the prefix of every namespace of this run. */
    public String runPrefix() {
        return runPrefix;
    }

    /** The launcher-side end of the router's link, {@code is<B>-p<pid36>}. */
    public String hostLink() {
        return hostLink;
    }

    /** The namespace a cluster's processes run in. */
    public String namespace(String cluster) {
        String ns = namespaces.get(cluster);
        if (ns == null) {
            throw new IllegalArgumentException("cluster: '" + cluster + "' (expected: one of " + namespaces.keySet() + ")");
        }
        return ns;
    }

    /** The namespace a workload's pod (its app and sidecar) runs in. */
    public String podNamespace(WorkloadSpec workload) {
        String ns = podNamespaces.get(workload.name());
        if (ns == null) {
            throw new IllegalArgumentException("workload: '" + workload.name() + "' (expected: one of "
                    + podNamespaces.keySet() + ")");
        }
        return ns;
    }

    /** {@code command} run inside the workload's pod namespace ({@code ip netns exec}: same pid). */
    public List<String> inPod(WorkloadSpec workload, List<String> command) {
        List<String> wrapped = new ArrayList<>(List.of("ip", "netns", "exec", podNamespace(workload)));
        wrapped.addAll(command);
        return wrapped;
    }

    /** The router namespace, where the firewall between clusters lives. */
    public String routerNamespace() {
        return router;
    }

    /** {@code command} run inside the cluster's namespace ({@code ip netns exec}, which execs it: same pid). */
    public List<String> inCluster(String cluster, List<String> command) {
        List<String> wrapped = new ArrayList<>(List.of("ip", "netns", "exec", namespace(cluster)));
        wrapped.addAll(command);
        return wrapped;
    }

    private void build() {
        int b = topology.addressBase();
        String hostIp = launcherAddress(b);
        String routerHostIp = "169.254." + b + ".2";
        addNamespace(router);
        ip(router, "link", "set", "lo", "up");
        run(List.of("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"));
        run(List.of("ip", "link", "add", hostLink, "type", "veth", "peer", "name", "host", "netns", router));
        run(List.of("ip", "addr", "add", hostIp + "/30", "dev", hostLink));
        run(List.of("ip", "link", "set", hostLink, "up"));
        ip(router, "addr", "add", routerHostIp + "/30", "dev", "host");
        ip(router, "link", "set", "host", "up");
        for (ClusterSpec c : topology.clusters()) {
            int n = topology.clusterOctet(c.name());
            String ns = namespace(c.name());
            String routerSide = "c" + n;
            addNamespace(ns);
            link(ns, router, routerSide);
            ip(ns, "addr", "add", "10." + n + ".255.1/24", "dev", "eth0");
            for (String a : List.of(topology.controllerAddress(c.name()), topology.gatewayAddress(c.name()))) {
                ip(ns, "addr", "add", a + "/24", "dev", "eth0");
            }
            ip(ns, "route", "add", "default", "via", "10." + n + ".255.254");
            // It routes between its pods and the router now.
            run(List.of("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"));
            int index = 0;
            for (WorkloadSpec w : topology.workloadsIn(c.name())) {
                buildPod(c, w, ++index);
            }
            ip(router, "addr", "add", "10." + n + ".255.254/24", "dev", routerSide);
            // Via the cluster's namespace, which owns the controller's and gateway's addresses and
            // routes the pods' on to their veths.
            ip(router, "route", "add", "10." + n + ".0.0/22", "via", "10." + n + ".255.1", "dev", routerSide);
            ip(router, "route", "add", "10." + n + ".254.0/24", "via", hostIp);
            run(List.of("ip", "addr", "add", topology.apiServerAddress(c.name()) + "/32", "dev", hostLink));
            run(List.of("ip", "route", "add", "10." + n + ".0.0/16", "via", routerHostIp, "dev", hostLink));
        }
        firewall();
        progress.accept("network namespaces: " + String.join(", ", namespaces.values()) + " joined by " + router
                + " (same network: every address; across networks: gateway " + GATEWAY_PORTS + ", controller "
                + CONTROLLER_PORTS + ")");
    }

    /** A veth pair, up: {@code eth0} in {@code ns} (its loopback up too), {@code peer} in {@code peerNs}. */
    private void link(String ns, String peerNs, String peer) {
        run(List.of("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", peer, "netns", peerNs));
        ip(ns, "link", "set", "lo", "up");
        ip(ns, "link", "set", "eth0", "up");
        ip(peerNs, "link", "set", peer, "up");
    }

    /**
     * A pod's namespace: a veth {@code eth0} into its cluster's namespace ({@code pod<index>} there)
     * with the pod IP and the launcher's window onto its localhost, a default route via the
     * cluster's {@code 10.N.255.1} (answered by the cluster's namespace, which owns that address),
     * the window's DNAT, and the pod's resolv.conf.
     */
    private void buildPod(ClusterSpec c, WorkloadSpec w, int index) {
        int n = topology.clusterOctet(c.name());
        String cluster = namespace(c.name());
        String pod = podNamespace(w);
        String clusterSide = "pod" + index;
        addNamespace(pod);
        link(pod, cluster, clusterSide);
        String gateway = "10." + n + ".255.1";
        for (String a : List.of(topology.podIp(w), topology.podLocalhost(w))) {
            ip(pod, "addr", "add", a + "/32", "dev", "eth0");
            ip(cluster, "route", "add", a + "/32", "dev", clusterSide);
        }
        ip(pod, "route", "add", gateway + "/32", "dev", "eth0");
        ip(pod, "route", "add", "default", "via", gateway, "dev", "eth0");
        // The launcher's window onto the pod's 127.0.0.1 (the app, the sidecar's admin and 15001).
        run(List.of("ip", "netns", "exec", pod, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1",
                "net.ipv4.conf.eth0.route_localnet=1"));
        run(List.of("ip", "netns", "exec", pod, "iptables", "-w", "-t", "nat", "-I", "PREROUTING", "1",
                "-i", "eth0", "-s", launcherAddress(topology.addressBase()) + "/32", "-d", topology.podLocalhost(w) + "/32",
                "-p", "tcp", "-j", "DNAT", "--to-destination", "127.0.0.1",
                "-m", "comment", "--comment", "isthmus: the launcher's window onto the pod's localhost"));
        try {
            Path etc = ETC_NETNS.resolve(pod);
            Files.createDirectories(etc);
            Files.writeString(etc.resolve("resolv.conf"), resolvConf(w, n));
        } catch (IOException e) {
            throw new LocalMeshException("cannot write " + ETC_NETNS.resolve(pod).resolve("resolv.conf") + ": "
                    + e.getMessage() + " (expected: root, with /etc writable)", e);
        }
    }

    /**
     * A pod's resolv.conf as the kubelet writes it: its namespace's search domains and
     * {@code ndots:5}. The nameserver (the cluster's {@code 10.N.0.10}, standing for kube-dns) exists
     * nowhere: the sidecar's DNS proxy answers mesh names, captured on their way there
     * ({@code --redirect-dns}); other names fail, as nothing outside the mesh is reachable here.
     */
    static String resolvConf(WorkloadSpec w, int clusterOctet) {
        return "# written by the isthmus launcher for " + w.cluster() + '/' + w.name() + "\n"
                + "search " + w.namespace() + ".svc.cluster.local svc.cluster.local cluster.local\n"
                + "nameserver 10." + clusterOctet + ".0.10\n"
                + "options ndots:5\n";
    }

    /** The launcher's address on its link to the router: where its connections into the clusters come from. */
    public static String launcherAddress(int addressBase) {
        return "169.254." + addressBase + ".1";
    }

    /** iptables in the router namespace: what may cross from one cluster to another. */
    private void firewall() {
        iptables("-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT");
        iptables("-A", "FORWARD", "-i", "host", "-j", "ACCEPT");
        iptables("-A", "FORWARD", "-o", "host", "-j", "ACCEPT");
        String ports = String.join(",", CONTROLLER_PORTS.stream().map(String::valueOf).toList());
        String gatewayPorts = String.join(",", GATEWAY_PORTS.stream().map(String::valueOf).toList());
        for (ClusterSpec from : topology.clusters()) {
            for (ClusterSpec to : topology.clusters()) {
                if (from.equals(to)) {
                    continue;
                }
                String in = "c" + topology.clusterOctet(from.name());
                String out = "c" + topology.clusterOctet(to.name());
                if (from.network().equals(to.network())) {
                    iptables("-A", "FORWARD", "-i", in, "-o", out, "-j", "ACCEPT");
                } else {
                    iptables("-A", "FORWARD", "-i", in, "-o", out, "-p", "tcp", "-d",
                            topology.gatewayAddress(to.name()), "-m", "multiport", "--dports", gatewayPorts, "-j",
                            "ACCEPT");
                    iptables("-A", "FORWARD", "-i", in, "-o", out, "-p", "tcp", "-d",
                            topology.controllerAddress(to.name()), "-m", "multiport", "--dports", ports, "-j", "ACCEPT");
                }
            }
        }
        // Refused at once rather than dropped: a direct attempt across networks fails fast and visibly.
        iptables("-A", "FORWARD", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset");
        iptables("-A", "FORWARD", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited");
    }

    private void addNamespace(String ns) {
        run(List.of("ip", "netns", "add", ns));
        created.add(ns);
    }

    private static void ip(String ns, String... args) {
        List<String> cmd = new ArrayList<>(List.of("ip", "-n", ns));
        cmd.addAll(List.of(args));
        run(cmd);
    }

    private void iptables(String... args) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", router, "iptables", "-w"));
        cmd.addAll(List.of(args));
        run(cmd);
    }

    /** Deletes every namespace this network created (their veths, the launcher's link and routes go with them). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<String> reversed = new ArrayList<>(created);
        Collections.reverse(reversed);
        List<String> failed = new ArrayList<>();
        for (String ns : reversed) {
            try {
                delete(ns);
            } catch (LocalMeshException e) {
                failed.add(e.getMessage());
            }
        }
        runQuietly(List.of("ip", "link", "del", hostLink));
        OPEN.remove(topology.addressBase(), runPrefix);
        if (!failed.isEmpty()) {
            progress.accept("could not remove every network namespace: " + failed
                    + "; the next start with addressBase " + topology.addressBase() + " sweeps them");
        }
    }

    private static void delete(String ns) {
        // A process left inside keeps the namespace's network alive after 'ip netns del'.
        for (String pid : runQuietly(List.of("ip", "netns", "pids", ns)).lines().map(String::strip)
                .filter(l -> l.matches("[0-9]+")).toList()) {
            ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
        }
        run(List.of("ip", "netns", "del", ns));
        removeEtc(ns);
    }

    /** {@code /etc/netns/<ns>}, which {@code ip netns del} leaves behind. */
    private static void removeEtc(String ns) {
        Path dir = ETC_NETNS.resolve(ns);
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new LocalMeshException("cannot remove " + dir + ": " + e.getMessage(), e);
        }
    }

    private static List<String> listLinks() {
        // "3: name@if2: <...>" or "3: name: <...>"
        return runQuietly(List.of("ip", "-o", "link", "show")).lines()
                .map(l -> l.split(":\\s+", 3))
                .filter(parts -> parts.length >= 2)
                .map(parts -> parts[1].split("@")[0])
                .toList();
    }

    private static List<String> listNamespaces() {
        // "name (id: 3)" or "name"
        return runQuietly(List.of("ip", "netns", "list")).lines().map(l -> l.split("\\s+")[0])
                .filter(s -> !s.isBlank()).toList();
    }

    /** Runs a command; its output, or a {@link LocalMeshException} naming the command and what it said. */
    static String run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new LocalMeshException("'" + String.join(" ", command) + "' did not finish in "
                        + COMMAND_TIMEOUT_SECONDS + " s");
            }
            String text = new String(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new LocalMeshException("'" + String.join(" ", command) + "' failed with exit code "
                        + p.exitValue() + ": " + text.strip());
            }
            return text;
        } catch (IOException e) {
            throw new LocalMeshException("cannot run '" + String.join(" ", command) + "': " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalMeshException("interrupted while running '" + String.join(" ", command) + "'", e);
        }
    }

    private static String runQuietly(List<String> command) {
        try {
            return run(command);
        } catch (LocalMeshException e) {
            return "";
        }
    }
}
