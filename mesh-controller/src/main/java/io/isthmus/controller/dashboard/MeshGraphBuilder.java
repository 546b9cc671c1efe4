package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.dashboard.DashboardData.ClusterGroup;
import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.GraphEdge;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.LocalityServing;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardData.Node;
import io.isthmus.controller.dashboard.DashboardData.ProxyHealth;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Merges every controller's {@link LocalView} with the federation's registry into one laid-out
 * {@link MeshGraph}. Pure: the same inputs give the same graph.
 *
 * <p>Which reporter counts: a request is seen twice, by the client's sidecar ({@code source})
 * and by the server's ({@code destination}). The graph shows the source's edge, which knows the
 * client's cluster and the service it asked for; a destination-reported edge only adds what the
 * source cannot know (whether the hop used mutual TLS), or stands alone when no sidecar reported
 * the client side (a caller outside the mesh).
 *
 * <p>Layout: clusters are columns, left to right by name; in each, client workloads come first,
 * then services, each sorted by name; a column holds at most {@value #ROWS} nodes, then wraps
 * into another sub-column, so 50 services stay on screen without overlap.
 */
public final class MeshGraphBuilder {

    static final double NODE_WIDTH = 210;
    static final double NODE_HEIGHT = 26;
    static final double ROW_GAP = 10;
    static final double PADDING = 16;
    static final double HEADER = 44;
    static final double CLUSTER_GAP = 150;
    static final double MARGIN = 20;
    static final int ROWS = 16;

    /**
     * What the federation registry says about one cluster.
     *
     * @param services the host names of the services the cluster exports
     */
    public record ClusterEntry(String name, String network, String locality, List<String> services) {
        public ClusterEntry {
            requireNonNull(name, "name");
            requireNonNull(network, "network");
            requireNonNull(locality, "locality");
            services = List.copyOf(services);
        }
    }

    private MeshGraphBuilder() {
    }

    public static MeshGraph build(String viewpoint, String generatedAt, List<ClusterEntry> clusters,
            List<LocalView> views, List<String> problems) {
        requireNonNull(viewpoint, "viewpoint");
        requireNonNull(generatedAt, "generatedAt");
        Map<String, ClusterEntry> registry = new TreeMap<>();
        clusters.forEach(c -> registry.put(c.name(), c));
        Map<String, LocalView> byCluster = new TreeMap<>();
        views.forEach(v -> byCluster.put(v.cluster(), v));

        List<EdgeStats> all = new ArrayList<>();
        byCluster.values().forEach(v -> all.addAll(v.edges()));
        List<GraphEdge> edges = mergeEdges(all);

        // cluster → node id → node (name, kind); services from the registry, then whatever traffic names.
        Map<String, Map<String, String[]>> nodes = new TreeMap<>();
        registry.values().forEach(c -> {
            Map<String, String[]> n = nodes.computeIfAbsent(c.name(), k -> new TreeMap<>());
            c.services().forEach(host -> n.put(serviceId(c.name(), host), new String[] {host, "service"}));
        });
        for (GraphEdge e : edges) {
            nodes.computeIfAbsent(e.fromCluster(), k -> new TreeMap<>())
                    .putIfAbsent(e.from(), new String[] {nameOf(e.from()), "workload"});
            nodes.computeIfAbsent(e.toCluster(), k -> new TreeMap<>())
                    .putIfAbsent(e.to(), new String[] {nameOf(e.to()), "service"});
        }
        byCluster.keySet().forEach(c -> nodes.computeIfAbsent(c, k -> new TreeMap<>()));

        List<ClusterGroup> groups = new ArrayList<>();
        double x = MARGIN;
        double height = 0;
        for (Map.Entry<String, Map<String, String[]>> c : nodes.entrySet()) {
            String cluster = c.getKey();
            List<Map.Entry<String, String[]>> sorted = new ArrayList<>(c.getValue().entrySet());
            sorted.sort(Comparator.<Map.Entry<String, String[]>, Boolean>comparing(e -> !e.getValue()[1].equals("workload"))
                    .thenComparing(e -> e.getValue()[0]));
            int columns = Math.max(1, (sorted.size() + ROWS - 1) / ROWS);
            int rows = Math.max(1, Math.min(ROWS, sorted.size()));
            double width = PADDING * 2 + columns * NODE_WIDTH + (columns - 1) * PADDING;
            double groupHeight = HEADER + rows * (NODE_HEIGHT + ROW_GAP) + PADDING;
            List<Node> placed = new ArrayList<>();
            for (int i = 0; i < sorted.size(); i++) {
                Map.Entry<String, String[]> n = sorted.get(i);
                int column = i / ROWS;
                int row = i % ROWS;
                placed.add(new Node(n.getKey(), cluster, n.getValue()[0], n.getValue()[1],
                        x + PADDING + column * (NODE_WIDTH + PADDING), MARGIN + HEADER + row * (NODE_HEIGHT + ROW_GAP),
                        NODE_WIDTH, NODE_HEIGHT));
            }
            ClusterEntry entry = registry.get(cluster);
            LocalView view = byCluster.get(cluster);
            ClusterHealth health = view == null ? null : view.health();
            groups.add(new ClusterGroup(cluster,
                    entry != null ? entry.network() : health != null ? health.network() : EdgeKey.UNKNOWN,
                    entry != null ? entry.locality() : health != null ? health.locality() : EdgeKey.UNKNOWN,
                    health, x, MARGIN, width, groupHeight, placed));
            x += width + CLUSTER_GAP;
            height = Math.max(height, groupHeight);
        }
        double width = Math.max(x - CLUSTER_GAP + MARGIN, 400);

        List<ProxyHealth> proxies = new ArrayList<>();
        List<LocalityServing> localities = new ArrayList<>();
        byCluster.values().forEach(v -> {
            proxies.addAll(v.proxies());
            localities.addAll(v.localities());
        });
        return new MeshGraph(viewpoint, generatedAt, width, height + 2 * MARGIN, groups, edges, proxies, localities,
                problems);
    }

    /** The graph's edges: source-reported ones, completed by destination-reported ones (see the class doc). */
    static List<GraphEdge> mergeEdges(List<EdgeStats> stats) {
        Map<String, EdgeStats> bySource = new TreeMap<>();
        List<EdgeStats> destinationSide = new ArrayList<>();
        for (EdgeStats s : stats) {
            EdgeKey k = s.key();
            if (k.reporter().equals("destination")) {
                destinationSide.add(s);
                continue;
            }
            String id = workloadId(k.sourceCluster(), k.sourceWorkload()) + "->" + serviceId(k.destinationCluster(),
                    k.destinationService());
            bySource.merge(id, s, MeshGraphBuilder::combine);
        }
        Map<String, String> securityById = new LinkedHashMap<>();
        Map<String, EdgeStats> alone = new TreeMap<>();
        for (EdgeStats d : destinationSide) {
            EdgeKey k = d.key();
            String match = null;
            for (Map.Entry<String, EdgeStats> s : bySource.entrySet()) {
                EdgeKey sk = s.getValue().key();
                boolean sameClient = sk.sourceWorkload().equals(k.sourceWorkload())
                        && (k.sourceCluster().equals(EdgeKey.UNKNOWN) || sk.sourceCluster().equals(k.sourceCluster()));
                // A server-side report without the client's cluster comes from a sidecar that
                // labels partially: its service name may be its own workload's, so match on less.
                boolean partial = k.sourceCluster().equals(EdgeKey.UNKNOWN)
                        || k.destinationService().equals(EdgeKey.UNKNOWN);
                boolean sameServer = sk.destinationCluster().equals(k.destinationCluster())
                        && (sk.destinationService().equals(k.destinationService()) || partial);
                if (sameClient && sameServer) {
                    match = s.getKey();
                    break;
                }
            }
            if (match != null) {
                if (!d.security().equals(EdgeKey.UNKNOWN)) {
                    securityById.merge(match, d.security(), (a, b) -> a.equals(b) ? a : "mixed");
                }
            } else {
                String id = workloadId(k.sourceCluster(), k.sourceWorkload()) + "->"
                        + serviceId(k.destinationCluster(), k.destinationService());
                alone.merge(id, d, MeshGraphBuilder::combine);
            }
        }
        List<GraphEdge> out = new ArrayList<>();
        bySource.forEach((id, s) -> {
            String security = s.security().equals(EdgeKey.UNKNOWN) ? securityById.getOrDefault(id, EdgeKey.UNKNOWN)
                    : s.security();
            out.add(edge(s, security, "source"));
        });
        alone.values().forEach(d -> out.add(edge(d, d.security(), "destination")));
        return out;
    }

    private static GraphEdge edge(EdgeStats s, String security, String reporter) {
        EdgeKey k = s.key();
        return new GraphEdge(workloadId(k.sourceCluster(), k.sourceWorkload()),
                serviceId(k.destinationCluster(), k.destinationService()), k.sourceCluster(), k.destinationCluster(),
                s.requestsPerSecond(), s.errorRate(), s.p99Millis(), security, reporter);
    }

    /** Two reports of one edge (e.g. labels the graph does not split on): rates add, the worse p99 wins. */
    private static EdgeStats combine(EdgeStats a, EdgeStats b) {
        double requests = a.requests() + b.requests();
        double errors = a.errorRate() * a.requests() + b.errorRate() * b.requests();
        Double p99 = a.p99Millis() == null ? b.p99Millis()
                : b.p99Millis() == null ? a.p99Millis() : Math.max(a.p99Millis(), b.p99Millis());
        String security = a.security().equals(b.security()) ? a.security()
                : a.security().equals(EdgeKey.UNKNOWN) ? b.security()
                : b.security().equals(EdgeKey.UNKNOWN) ? a.security() : "mixed";
        return new EdgeStats(a.key(), a.requestsPerSecond() + b.requestsPerSecond(),
                requests > 0 ? Math.min(1, errors / requests) : 0, p99, requests, security);
    }

    static String serviceId(String cluster, String service) {
        return "svc:" + cluster + ":" + service;
    }

    static String workloadId(String cluster, String workload) {
        return "wl:" + cluster + ":" + workload;
    }

    private static String nameOf(String id) {
        return id.substring(id.indexOf(':', id.indexOf(':') + 1) + 1);
    }

    /** Every cluster named by the registry or by a view, for tests and the page's legend. */
    static List<String> clusterNames(MeshGraph graph) {
        TreeSet<String> names = new TreeSet<>();
        graph.clusters().forEach(c -> names.add(c.name()));
        return List.copyOf(names);
    }
}
