package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A local multi-cluster topology: clusters with their networks and localities, and the workloads
 * that run in them. The format is documented in {@code topologies/README.md}; {@link #parse} and
 * {@link #load} report every problem as a {@link TopologyException} naming the field.
 *
 * <p>Addresses on this machine follow docs/design/contracts.md: cluster {@code i} (0-based, in file
 * order) owns {@code 127.<addressBase+i>.0.0/16} ({@code 10.<addressBase+i>.0.0/16} in
 * {@link NetworkMode#NETNS}); {@code .0.1} is its controller (and, on loopback, its API server),
 * {@code .0.2} its east-west gateway, {@code .1.n} the pod IP and {@code .2.n} the pod's localhost of
 * its {@code n}th workload (1-based, in file order).
 */
public record Topology(
        String name, int addressBase, String trustDomain, List<ClusterSpec> clusters, List<WorkloadSpec> workloads,
        Optional<java.time.Duration> certTtl, NetworkMode networkMode, List<String> trustDomainAliases) {

    /** The longest workload certificate lifetime the mesh CA issues. */
    public static final java.time.Duration MAX_CERT_TTL = java.time.Duration.ofDays(30);

    public Topology {
        Names.requireDnsLabel("name", name);
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(certTtl, "certTtl");
        requireNonNull(networkMode, "networkMode");
        if (certTtl.isPresent() && (certTtl.get().toMillis() < 1000 || certTtl.get().compareTo(MAX_CERT_TTL) > 0
                || certTtl.get().toMillis() % 1000 != 0)) {
            throw new TopologyException("certTtl: " + certTtl.get() + " (expected: whole seconds from 1s to 30d,"
                    + " e.g. 6s, 30m, 24h)");
        }
        if (!trustDomain.matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?")) {
            throw new TopologyException("trustDomain: '" + trustDomain + "' (expected: a domain such as cluster.local)");
        }
        trustDomainAliases = List.copyOf(requireNonNull(trustDomainAliases, "trustDomainAliases"));
        for (int i = 0; i < trustDomainAliases.size(); i++) {
            String alias = trustDomainAliases.get(i);
            if (!alias.matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?")) {
                throw new TopologyException("trustDomainAliases[" + i + "]: '" + alias
                        + "' (expected: a domain such as old.example.com)");
            }
        }
        clusters = List.copyOf(requireNonNull(clusters, "clusters"));
        workloads = List.copyOf(requireNonNull(workloads, "workloads"));
        if (clusters.isEmpty()) {
            throw new TopologyException("clusters: empty (expected: at least one cluster)");
        }
        if (addressBase < 1 || addressBase + clusters.size() - 1 > 254) {
            throw new TopologyException("addressBase: " + addressBase + " (expected: 1.." + (255 - clusters.size())
                    + " so that the " + clusters.size() + " clusters' 127.<addressBase+i>.0.0/16 fit in 127.1-254)");
        }
        Set<String> clusterNames = new HashSet<>();
        for (int i = 0; i < clusters.size(); i++) {
            if (!clusterNames.add(clusters.get(i).name())) {
                throw new TopologyException("clusters[" + i + "].name: '" + clusters.get(i).name()
                        + "' is used twice (expected: unique cluster names)");
            }
        }
        for (int i = 0; i < clusters.size(); i++) {
            ClusterSpec c = clusters.get(i);
            if (!c.isRemote()) {
                continue;
            }
            String at = "clusters[" + i + "].primary";
            ClusterSpec primary = clusters.stream().filter(p -> p.name().equals(c.primary())).findFirst()
                    .orElseThrow(() -> new TopologyException(at + ": '" + c.primary() + "' is not a cluster of this"
                            + " topology (expected: one of " + clusterNames.stream().sorted().toList() + ")"));
            if (primary.isRemote()) {
                throw new TopologyException(at + ": '" + c.primary() + "' is itself a remote of '" + primary.primary()
                        + "' (expected: a primary cluster, one without 'primary:')");
            }
        }
        Set<String> workloadNames = new HashSet<>();
        Map<String, Integer> perCluster = new HashMap<>();
        Map<String, List<PortSpec>> servicePorts = new HashMap<>();
        for (int i = 0; i < workloads.size(); i++) {
            WorkloadSpec w = workloads.get(i);
            String at = "workloads[" + i + "]";
            if (!workloadNames.add(w.name())) {
                throw new TopologyException(at + ".name: '" + w.name() + "' is used twice (expected: unique workload names)");
            }
            if (!clusterNames.contains(w.cluster())) {
                throw new TopologyException(at + ".cluster: '" + w.cluster() + "' is not a cluster of this topology"
                        + " (expected: one of " + clusterNames.stream().sorted().toList() + ")");
            }
            if (perCluster.merge(w.cluster(), 1, Integer::sum) > 254) {
                throw new TopologyException(at + ".cluster: '" + w.cluster() + "' has more than 254 workloads");
            }
            if (w.service().isPresent()) {
                String key = w.cluster() + '/' + w.namespace() + '/' + w.service().get();
                List<PortSpec> previous = servicePorts.putIfAbsent(key, w.ports());
                if (previous != null && !previous.equals(w.ports())) {
                    throw new TopologyException(at + ".ports: " + w.ports() + " differ from " + previous
                            + " of another workload of service '" + w.service().get() + "' in cluster '" + w.cluster()
                            + "' (expected: the same ports for one Service)");
                }
            }
        }
    }

    /** A topology without trust-domain aliases. */
    public Topology(String name, int addressBase, String trustDomain, List<ClusterSpec> clusters,
            List<WorkloadSpec> workloads, Optional<java.time.Duration> certTtl, NetworkMode networkMode) {
        this(name, addressBase, trustDomain, clusters, workloads, certTtl, networkMode, List.of());
    }

    /** A topology whose proxies use the CA's default certificate lifetime (the proxies' {@code --cert-ttl} default). */
    public Topology(String name, int addressBase, String trustDomain, List<ClusterSpec> clusters,
            List<WorkloadSpec> workloads) {
        this(name, addressBase, trustDomain, clusters, workloads, Optional.empty());
    }

    /** A topology on loopback. */
    public Topology(String name, int addressBase, String trustDomain, List<ClusterSpec> clusters,
            List<WorkloadSpec> workloads, Optional<java.time.Duration> certTtl) {
        this(name, addressBase, trustDomain, clusters, workloads, certTtl, NetworkMode.LOOPBACK);
    }

    /** Reads and validates a topology file. */
    public static Topology load(Path file) {
        requireNonNull(file, "file");
        String yaml;
        try {
            yaml = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new TopologyException(file + ": no such file (expected: a topology YAML file, e.g. topologies/demo.yaml)");
        } catch (IOException e) {
            throw new TopologyException(file + ": cannot be read: " + e.getMessage(), e);
        }
        try {
            return parse(yaml);
        } catch (TopologyException e) {
            throw new TopologyException(file + ": " + e.getMessage(), e);
        }
    }

    /** Parses and validates a topology from YAML text. */
    public static Topology parse(String yaml) {
        return TopologyReader.read(requireNonNull(yaml, "yaml"));
    }

    /** The same topology with another address base, e.g. so a test never collides with a running demo. */
    public Topology withAddressBase(int newAddressBase) {
        return new Topology(name, newAddressBase, trustDomain, clusters, workloads, certTtl, networkMode,
                trustDomainAliases);
    }

    /** The same topology wired another way, e.g. {@code ./isthmus up --netns}. */
    public Topology withNetworkMode(NetworkMode mode) {
        return new Topology(name, addressBase, trustDomain, clusters, workloads, certTtl,
                requireNonNull(mode, "mode"), trustDomainAliases);
    }

    /**
     * The same topology whose sidecars and gateways ask for certificates of this lifetime
     * ({@code --cert-ttl}); they renew at half the remaining lifetime, so a short one makes
     * certificates rotate under traffic.
     */
    public Topology withCertTtl(java.time.Duration ttl) {
        return new Topology(name, addressBase, trustDomain, clusters, workloads, Optional.of(requireNonNull(ttl, "ttl")),
                networkMode, trustDomainAliases);
    }

    /**
     * The same topology whose controllers, sidecars and gateways also accept peers of these trust
     * domains ({@code --trust-domain-aliases}, Istio's meshConfig {@code trustDomainAliases}).
     */
    public Topology withTrustDomainAliases(List<String> aliases) {
        return new Topology(name, addressBase, trustDomain, clusters, workloads, certTtl, networkMode, aliases);
    }

    /**
     * The same topology with one more cluster and its workloads, appended, so every address already
     * handed out stays the same: what {@link LocalMesh#addCluster} brings up next to a running mesh.
     */
    public Topology withCluster(ClusterSpec cluster, List<WorkloadSpec> clusterWorkloads) {
        requireNonNull(cluster, "cluster");
        requireNonNull(clusterWorkloads, "clusterWorkloads");
        for (WorkloadSpec w : clusterWorkloads) {
            if (!w.cluster().equals(cluster.name())) {
                throw new TopologyException("workloads: '" + w.name() + "' is in cluster '" + w.cluster()
                        + "' (expected: '" + cluster.name() + "', the cluster being added)");
            }
        }
        List<ClusterSpec> moreClusters = new ArrayList<>(clusters);
        moreClusters.add(cluster);
        List<WorkloadSpec> moreWorkloads = new ArrayList<>(workloads);
        moreWorkloads.addAll(clusterWorkloads);
        return new Topology(name, addressBase, trustDomain, moreClusters, moreWorkloads, certTtl, networkMode,
                trustDomainAliases);
    }

    /**
     * The same topology with one more workload in an existing cluster, numbered after the cluster's
     * others, so every address already handed out stays the same ({@link LocalMesh#addWorkload}).
     */
    public Topology withWorkload(WorkloadSpec workload) {
        requireNonNull(workload, "workload");
        List<WorkloadSpec> more = new ArrayList<>(workloads);
        more.add(workload);
        return new Topology(name, addressBase, trustDomain, clusters, more, certTtl, networkMode, trustDomainAliases);
    }

    public ClusterSpec cluster(String clusterName) {
        return clusters.stream().filter(c -> c.name().equals(clusterName)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("cluster: '" + clusterName + "' (expected: one of "
                        + clusters.stream().map(ClusterSpec::name).toList() + ")"));
    }

    public WorkloadSpec workload(String workloadName) {
        return workloads.stream().filter(w -> w.name().equals(workloadName)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("workload: '" + workloadName + "' (expected: one of "
                        + workloads.stream().map(WorkloadSpec::name).toList() + ")"));
    }

    public List<WorkloadSpec> workloadsIn(String clusterName) {
        return workloads.stream().filter(w -> w.cluster().equals(clusterName)).toList();
    }

    /** The second octet of a cluster's addresses. */
    public int clusterOctet(String clusterName) {
        return addressBase + clusters.indexOf(cluster(clusterName));
    }

    /** The first octet of every address: {@code 127} on loopback, {@code 10} in network namespaces. */
    public String addressPrefix() {
        return networkMode == NetworkMode.NETNS ? "10" : "127";
    }

    /** The cluster's controller address, {@code 127.X.0.1} (netns: {@code 10.X.0.1}). */
    public String controllerAddress(String clusterName) {
        return addressPrefix() + '.' + clusterOctet(clusterName) + ".0.1";
    }

    /**
     * The cluster's embedded API server address: on loopback the controller's, {@code 127.X.0.1};
     * in network namespaces {@code 10.X.254.1}, an address of the launcher's own namespace, since
     * the API servers run inside the launcher.
     */
    public String apiServerAddress(String clusterName) {
        return networkMode == NetworkMode.NETNS ? "10." + clusterOctet(clusterName) + ".254.1"
                : controllerAddress(clusterName);
    }

    /** The cluster's east-west gateway address, {@code 127.X.0.2} (netns: {@code 10.X.0.2}). */
    public String gatewayAddress(String clusterName) {
        return addressPrefix() + '.' + clusterOctet(clusterName) + ".0.2";
    }

    /** The workload's pod IP, {@code 127.X.1.n} (netns: {@code 10.X.1.n}). */
    public String podIp(WorkloadSpec workload) {
        return addressPrefix() + '.' + clusterOctet(workload.cluster()) + ".1." + workloadNumber(workload);
    }

    /** The workload's "localhost", where its app listens, {@code 127.X.2.n} (netns: {@code 10.X.2.n}). */
    public String podLocalhost(WorkloadSpec workload) {
        return addressPrefix() + '.' + clusterOctet(workload.cluster()) + ".2." + workloadNumber(workload);
    }

    /**
     * The pod name: the workload name plus a suffix that is stable for a topology, like a
     * Deployment's pod, so logs and config dumps can be compared between runs.
     */
    public String podName(WorkloadSpec workload) {
        int hash = (name + '/' + workload.cluster() + '/' + workload.name()).hashCode();
        return workload.name() + '-' + String.format("%05x", hash & 0xfffff);
    }

    /** The cluster that holds the given address, if it is one of this topology's. */
    public Optional<ClusterSpec> clusterOfAddress(String ip) {
        String[] parts = ip.split("\\.");
        if (parts.length != 4 || !parts[0].equals(addressPrefix())) {
            return Optional.empty();
        }
        try {
            int index = Integer.parseInt(parts[1]) - addressBase;
            return index >= 0 && index < clusters.size() ? Optional.of(clusters.get(index)) : Optional.empty();
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    private int workloadNumber(WorkloadSpec workload) {
        List<WorkloadSpec> inCluster = workloadsIn(workload.cluster());
        int index = inCluster.indexOf(workload);
        if (index < 0) {
            throw new IllegalArgumentException("workload: '" + workload.name() + "' is not part of topology '" + name + "'");
        }
        return index + 1;
    }

    /** The clusters that run a controller (every cluster but the remotes), in file order. */
    public List<ClusterSpec> primaries() {
        return clusters.stream().filter(c -> !c.isRemote()).toList();
    }

    /** The remote clusters a primary's controller serves, in file order. */
    public List<ClusterSpec> remotesOf(String primaryName) {
        cluster(primaryName);
        return clusters.stream().filter(c -> c.primary().equals(primaryName)).toList();
    }

    /** The cluster whose controller serves this one: itself for a primary, its primary for a remote. */
    public ClusterSpec controllerCluster(String clusterName) {
        ClusterSpec c = cluster(clusterName);
        return c.isRemote() ? cluster(c.primary()) : c;
    }

    /**
     * Where a cluster's proxies reach their controller's 15012 (certificates and xDS): a primary's
     * own controller; for a remote on its primary's network, the primary's controller directly;
     * for a remote on another network, the primary's east-west gateway, which relays 15012 and
     * 15017 to the controller (Istio's "expose istiod" gateway).
     */
    public String controllerEndpointFor(String clusterName) {
        ClusterSpec c = cluster(clusterName);
        ClusterSpec primary = controllerCluster(clusterName);
        return c.isRemote() && !primary.network().equals(c.network()) ? gatewayAddress(primary.name())
                : controllerAddress(primary.name());
    }

    /** The clusters on each network, in file order. */
    public Map<String, List<ClusterSpec>> networks() {
        Map<String, List<ClusterSpec>> byNetwork = new java.util.LinkedHashMap<>();
        for (ClusterSpec c : clusters) {
            byNetwork.computeIfAbsent(c.network(), n -> new ArrayList<>()).add(c);
        }
        return byNetwork;
    }
}
