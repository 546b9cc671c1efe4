package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.dashboard.DashboardData.ClusterGroup;
import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.EdgeLabel;
import io.isthmus.controller.dashboard.DashboardData.GraphEdge;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.LocalityServing;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardData.Node;
import io.isthmus.controller.dashboard.DashboardData.Point;
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
 *
 * <p>Edges ({@link #route}) run in axis-parallel segments through empty space only: out of the
 * client's box into the gap beside it, along the gap between two rows to the edge of its
 * cluster, down the gutter between two clusters, and into the service's box the same way. An
 * edge between clusters that are not neighbours goes over the top, in a lane of its own above
 * every cluster, so it never crosses a cluster it does not connect. Labels ({@link #placeLabels})
 * go where they overlap no node, no other label and no unrelated cluster.
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
    /** Vertical distance between two lanes over the top (edges between clusters that are not neighbours). */
    static final double LANE_GAP = 10;
    /** Horizontal distance between two bundles of edges sharing a gutter. */
    static final double BUNDLE_GAP = 6;
    static final double LABEL_HEIGHT = 13;
    /** Width per character of a label; the page stretches the text to exactly this (SVG textLength). */
    static final double LABEL_CHAR_WIDTH = 5.6;

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

        List<String> order = List.copyOf(nodes.keySet());
        Map<String, Integer> lanes = lanes(edges, order);
        double top = MARGIN + lanes.size() * LANE_GAP + (lanes.isEmpty() ? 0 : LANE_GAP);
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
                        x + PADDING + column * (NODE_WIDTH + PADDING), top + HEADER + row * (NODE_HEIGHT + ROW_GAP),
                        NODE_WIDTH, NODE_HEIGHT));
            }
            ClusterEntry entry = registry.get(cluster);
            LocalView view = byCluster.get(cluster);
            ClusterHealth health = view == null ? null : view.health();
            groups.add(new ClusterGroup(cluster,
                    entry != null ? entry.network() : health != null ? health.network() : EdgeKey.UNKNOWN,
                    entry != null ? entry.locality() : health != null ? health.locality() : EdgeKey.UNKNOWN,
                    health, x, top, width, groupHeight, placed));
            x += width + CLUSTER_GAP;
            height = Math.max(height, groupHeight);
        }
        double width = Math.max(x - CLUSTER_GAP + MARGIN, 400);
        double canvasHeight = top + height + MARGIN;
        List<GraphEdge> laidOut = placeLabels(route(edges, groups, lanes), groups, width, canvasHeight);

        List<ProxyHealth> proxies = new ArrayList<>();
        List<LocalityServing> localities = new ArrayList<>();
        byCluster.values().forEach(v -> {
            proxies.addAll(v.proxies());
            localities.addAll(v.localities());
        });
        return new MeshGraph(viewpoint, generatedAt, width, canvasHeight, groups, laidOut, proxies, localities,
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
                s.requestsPerSecond(), s.errorRate(), s.p99Millis(), security, reporter, List.of(), null);
    }

    /** One lane over the top per pair of clusters that are not neighbours and have an edge between them. */
    static Map<String, Integer> lanes(List<GraphEdge> edges, List<String> order) {
        TreeSet<String> pairs = new TreeSet<>();
        for (GraphEdge e : edges) {
            int a = order.indexOf(e.fromCluster());
            int b = order.indexOf(e.toCluster());
            if (a >= 0 && b >= 0 && Math.abs(a - b) >= 2) {
                pairs.add(pair(order.get(Math.min(a, b)), order.get(Math.max(a, b))));
            }
        }
        Map<String, Integer> lanes = new LinkedHashMap<>();
        pairs.forEach(p -> lanes.put(p, lanes.size()));
        return lanes;
    }

    private static String pair(String a, String b) {
        return a + "\u0000" + b;
    }

    /** Gives every edge its route (see the class doc); an edge whose ends are not drawn keeps none. */
    static List<GraphEdge> route(List<GraphEdge> edges, List<ClusterGroup> groups, Map<String, Integer> lanes) {
        Map<String, Node> byId = new TreeMap<>();
        Map<String, Integer> index = new TreeMap<>();
        for (int i = 0; i < groups.size(); i++) {
            index.put(groups.get(i).name(), i);
            groups.get(i).nodes().forEach(n -> byId.put(n.id(), n));
        }
        // Bundles sharing a gutter (the one right of cluster i) sit side by side, centred.
        Map<Integer, List<String>> bundles = new TreeMap<>();
        for (GraphEdge e : edges) {
            Integer a = index.get(e.fromCluster());
            Integer b = index.get(e.toCluster());
            if (a == null || b == null || a.equals(b)) {
                continue;
            }
            String bundle = e.fromCluster() + "->" + e.toCluster();
            for (int g : List.of(b > a ? a : a - 1, b > a ? b - 1 : b)) {
                List<String> in = bundles.computeIfAbsent(g, k -> new ArrayList<>());
                if (!in.contains(bundle)) {
                    in.add(bundle);
                }
            }
        }
        List<GraphEdge> out = new ArrayList<>();
        for (GraphEdge e : edges) {
            Node a = byId.get(e.from());
            Node b = byId.get(e.to());
            Integer ia = index.get(e.fromCluster());
            Integer ib = index.get(e.toCluster());
            if (a == null || b == null || ia == null || ib == null) {
                out.add(e);
                continue;
            }
            out.add(e.withLayout(ia.equals(ib) ? routeInside(a, b) : routeAcross(e, a, b, groups, ia, ib, bundles,
                    lanes), null));
        }
        return out;
    }

    private static List<Point> routeInside(Node a, Node b) {
        double exitX = a.x() + a.width() + PADDING / 2;
        double rowA = a.y() + a.height() + ROW_GAP / 2;
        boolean fromLeft = b.x() >= a.x() + a.width();
        double entry = fromLeft ? b.x() : b.x() + b.width();
        double gapB = fromLeft ? b.x() - PADDING / 2 : b.x() + b.width() + PADDING / 2;
        return points(a.x() + a.width(), cy(a), exitX, cy(a), exitX, rowA, gapB, rowA, gapB, cy(b), entry, cy(b));
    }

    private static List<Point> routeAcross(GraphEdge e, Node a, Node b, List<ClusterGroup> groups, int ia, int ib,
            Map<Integer, List<String>> bundles, Map<String, Integer> lanes) {
        int dir = ib > ia ? 1 : -1;
        ClusterGroup from = groups.get(ia);
        ClusterGroup to = groups.get(ib);
        String bundle = e.fromCluster() + "->" + e.toCluster();
        double ax = dir > 0 ? a.x() + a.width() : a.x();
        double gapA = ax + dir * PADDING / 2;
        double rowA = a.y() + a.height() + ROW_GAP / 2;
        int gutterA = dir > 0 ? ia : ia - 1;
        int gutterB = dir > 0 ? ib - 1 : ib;
        double gA = (dir > 0 ? from.x() + from.width() + CLUSTER_GAP / 2 : from.x() - CLUSTER_GAP / 2)
                + offset(bundles.get(gutterA), bundle);
        double gB = (dir > 0 ? to.x() - CLUSTER_GAP / 2 : to.x() + to.width() + CLUSTER_GAP / 2)
                + offset(bundles.get(gutterB), bundle);
        double bx = dir > 0 ? b.x() : b.x() + b.width();
        double gapB = bx - dir * PADDING / 2;
        double rowB = b.y() - ROW_GAP / 2;
        if (Math.abs(ib - ia) == 1) {
            return points(ax, cy(a), gapA, cy(a), gapA, rowA, gA, rowA, gA, rowB, gapB, rowB, gapB, cy(b), bx, cy(b));
        }
        Integer lane = lanes.get(pair(groups.get(Math.min(ia, ib)).name(), groups.get(Math.max(ia, ib)).name()));
        double laneY = MARGIN + (lane == null ? 0 : lane) * LANE_GAP;
        return points(ax, cy(a), gapA, cy(a), gapA, rowA, gA, rowA, gA, laneY, gB, laneY, gB, rowB, gapB, rowB,
                gapB, cy(b), bx, cy(b));
    }

    private static double offset(List<String> bundles, String bundle) {
        if (bundles == null || bundles.size() < 2) {
            return 0;
        }
        return (bundles.indexOf(bundle) - (bundles.size() - 1) / 2.0) * BUNDLE_GAP;
    }

    private static double cy(Node n) {
        return n.y() + n.height() / 2;
    }

    /** The points of (x, y) pairs, without repeats. */
    private static List<Point> points(double... xy) {
        List<Point> out = new ArrayList<>();
        for (int i = 0; i + 1 < xy.length; i += 2) {
            Point p = new Point(xy[i], xy[i + 1]);
            if (out.isEmpty() || !out.get(out.size() - 1).equals(p)) {
                out.add(p);
            }
        }
        return out;
    }

    /** A box on the canvas: x, y (top left), width, height. */
    record Box(double x, double y, double width, double height) {
        boolean overlaps(Box o) {
            return x < o.x + o.width && o.x < x + width && y < o.y + o.height && o.y < y + height;
        }

        boolean within(double canvasWidth, double canvasHeight) {
            return x >= 0 && y >= 0 && x + width <= canvasWidth && y + height <= canvasHeight;
        }
    }

    /**
     * Puts each edge's label where it overlaps no node, no label placed before and no cluster
     * other than the edge's two: first along the edge's own segments (the gutters, the lanes),
     * then stepping down the gutter beside the service. Deterministic: edges in the given order.
     */
    static List<GraphEdge> placeLabels(List<GraphEdge> edges, List<ClusterGroup> groups, double width, double height) {
        List<Box> taken = new ArrayList<>();
        for (ClusterGroup g : groups) {
            for (Node n : g.nodes()) {
                taken.add(new Box(n.x() - 1, n.y() - 1, n.width() + 2, n.height() + 2));
            }
            // The cluster's title and subtitle.
            taken.add(new Box(g.x(), g.y(), Math.min(g.width(), NODE_WIDTH), HEADER - ROW_GAP));
        }
        List<GraphEdge> out = new ArrayList<>();
        for (GraphEdge e : edges) {
            if (e.route().size() < 2) {
                out.add(e);
                continue;
            }
            String text = labelText(e);
            String security = securityText(e.security());
            double w = Math.ceil((text.length() + 1 + security.length()) * LABEL_CHAR_WIDTH) + 4;
            List<Box> foreign = new ArrayList<>();
            for (ClusterGroup g : groups) {
                if (!g.name().equals(e.fromCluster()) && !g.name().equals(e.toCluster())) {
                    foreign.add(new Box(g.x(), g.y(), g.width(), g.height()));
                }
            }
            Box chosen = null;
            Box first = null;
            for (Box candidate : candidates(e.route(), w, height)) {
                if (first == null) {
                    first = candidate;
                }
                if (candidate.within(width, height) && taken.stream().noneMatch(candidate::overlaps)
                        && foreign.stream().noneMatch(candidate::overlaps)) {
                    chosen = candidate;
                    break;
                }
            }
            Box box = chosen != null ? chosen : first;
            taken.add(box);
            out.add(e.withLayout(e.route(), new EdgeLabel(text, security, box.x(), box.y(), box.width(),
                    box.height())));
        }
        return out;
    }

    /** Label boxes along the route: middles of segments first (vertical ones first), then stepping along them. */
    private static List<Box> candidates(List<Point> route, double w, double canvasHeight) {
        List<Box> out = new ArrayList<>();
        double[] fractions = {0.5, 0.3, 0.7, 0.15, 0.85};
        for (boolean vertical : new boolean[] {true, false}) {
            for (double f : fractions) {
                for (int i = route.size() - 2; i >= 0; i--) {
                    Point p = route.get(i);
                    Point q = route.get(i + 1);
                    boolean isVertical = p.x() == q.x();
                    if (isVertical != vertical) {
                        continue;
                    }
                    double x = p.x() + (q.x() - p.x()) * f;
                    double y = p.y() + (q.y() - p.y()) * f;
                    out.add(vertical ? new Box(x - w / 2, y - LABEL_HEIGHT / 2, w, LABEL_HEIGHT)
                            : new Box(x - w / 2, y - LABEL_HEIGHT - 1, w, LABEL_HEIGHT));
                }
            }
        }
        // Last resort: anywhere up or down each vertical segment's line.
        for (int i = route.size() - 2; i >= 0; i--) {
            Point p = route.get(i);
            Point q = route.get(i + 1);
            if (p.x() != q.x()) {
                continue;
            }
            for (double y = 0; y + LABEL_HEIGHT <= canvasHeight; y += LABEL_HEIGHT / 2) {
                out.add(new Box(p.x() - w / 2, y, w, LABEL_HEIGHT));
            }
        }
        return out;
    }

    static String labelText(GraphEdge e) {
        return rate(e.requestsPerSecond()) + "/s " + percent(e.errorRate()) + " "
                + (e.p99Millis() == null ? "p99 –" : "p99 " + millis(e.p99Millis()) + "ms");
    }

    private static String rate(double x) {
        return x >= 100 ? String.format(java.util.Locale.ROOT, "%.0f", x)
                : x >= 10 ? String.format(java.util.Locale.ROOT, "%.1f", x)
                : String.format(java.util.Locale.ROOT, "%.2f", x);
    }

    private static String percent(double x) {
        return String.format(java.util.Locale.ROOT, x > 0 && x < 0.01 ? "%.2f%%" : "%.1f%%", 100 * x);
    }

    private static String millis(double x) {
        return String.format(java.util.Locale.ROOT, x >= 10 ? "%.0f" : "%.1f", x);
    }

    static String securityText(String s) {
        return switch (s) {
            case "mutual_tls" -> "mTLS";
            case "none" -> "plain";
            case "mixed" -> "mixed";
            default -> "?";
        };
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
