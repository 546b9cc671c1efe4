package io.isthmus.controller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.dashboard.DashboardData.ClusterGroup;
import io.isthmus.controller.dashboard.DashboardData.EdgeLabel;
import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.GraphEdge;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardData.Node;
import io.isthmus.controller.dashboard.DashboardData.Point;
import io.isthmus.controller.dashboard.MeshGraphBuilder.ClusterEntry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MeshGraphBuilderTest {

    private static final String HW = "helloworld.sample.svc.cluster.local";

    private static EdgeStats edge(String reporter, String workload, String srcCluster, String service, String dstCluster,
            double rps, String security) {
        return new EdgeStats(new EdgeKey(reporter, workload, "sample", srcCluster, service, dstCluster), rps, 0.0, 3.0,
                rps * 60, security);
    }

    private static ClusterHealth health(String cluster) {
        return new ClusterHealth(cluster, "net1", "r/z", true, true, List.of(), "east", List.of("east", "eu", "west"),
                2, 40, List.of(), List.of(), List.of());
    }

    private static LocalView view(String cluster, List<EdgeStats> edges) {
        return new LocalView(cluster, "2026-11-27T05:00:00Z", 60, edges, List.of(), health(cluster), List.of());
    }

    @Test
    void theSourceReportDrawsTheEdgeAndTheDestinationReportAddsMutualTls() {
        // West's curl reports what it asked for; eu's sidecar (with today's partial labels: no
        // source cluster, its own workload as the service) says the hop was mutual TLS.
        List<GraphEdge> edges = MeshGraphBuilder.mergeEdges(List.of(
                edge("source", "curl", "west", HW, "eu", 5, "unknown"),
                edge("source", "curl", "west", HW, "east", 4, "unknown"),
                edge("destination", "curl", "unknown", "helloworld-v2.sample", "eu", 5, "mutual_tls")));
        assertThat(edges).hasSize(2);
        assertThat(edges).filteredOn(e -> e.toCluster().equals("eu")).singleElement().satisfies(e -> {
            assertThat(e.from()).isEqualTo("wl:west:curl");
            assertThat(e.to()).isEqualTo("svc:eu:" + HW);
            assertThat(e.requestsPerSecond()).isEqualTo(5.0);
            assertThat(e.security()).isEqualTo("mutual_tls");
            assertThat(e.reporter()).isEqualTo("source");
        });
        assertThat(edges).filteredOn(e -> e.toCluster().equals("east")).singleElement()
                .satisfies(e -> assertThat(e.security()).isEqualTo("unknown"));
    }

    @Test
    void aDestinationReportWithoutAClientSideReportStandsAlone() {
        List<GraphEdge> edges = MeshGraphBuilder.mergeEdges(List.of(
                edge("destination", "ingress", "west", HW, "east", 2, "none")));
        assertThat(edges).singleElement().satisfies(e -> {
            assertThat(e.reporter()).isEqualTo("destination");
            assertThat(e.security()).isEqualTo("none");
            assertThat(e.fromCluster()).isEqualTo("west");
        });
    }

    @Test
    void reportsOfOneEdgeAddUp() {
        List<GraphEdge> edges = MeshGraphBuilder.mergeEdges(List.of(
                new EdgeStats(new EdgeKey("source", "curl", "a", "west", HW, "eu"), 2, 0.5, 10.0, 120, "mutual_tls"),
                new EdgeStats(new EdgeKey("source", "curl", "b", "west", HW, "eu"), 6, 0.0, 20.0, 360, "none")));
        assertThat(edges).singleElement().satisfies(e -> {
            assertThat(e.requestsPerSecond()).isEqualTo(8.0);
            assertThat(e.errorRate()).isEqualTo(0.125);
            assertThat(e.p99Millis()).isEqualTo(20.0);
            assertThat(e.security()).isEqualTo("mixed");
        });
    }

    @Test
    void clustersWithoutTrafficOrWhoseControllerIsMissingStillShowTheirServices() {
        MeshGraph g = MeshGraphBuilder.build("west", "now",
                List.of(new ClusterEntry("east", "net1", "us-east/us-east-1a/", List.of(HW)),
                        new ClusterEntry("west", "net1", "us-west/us-west-1a/", List.of())),
                List.of(view("west", List.of(edge("source", "curl", "west", HW, "east", 1, "unknown")))),
                List.of("cluster east: its controller's dashboard could not be read: timeout"));
        assertThat(g.clusters()).extracting(ClusterGroup::name).containsExactly("east", "west");
        ClusterGroup east = g.clusters().get(0);
        assertThat(east.health()).isNull();
        assertThat(east.nodes()).extracting(Node::id).containsExactly("svc:east:" + HW);
        assertThat(g.clusters().get(1).nodes()).extracting(Node::id, Node::kind)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("wl:west:curl", "workload"));
        assertThat(g.problems()).hasSize(1);
    }

    /**
     * What makes the picture readable: every edge runs from its client's box to its service's box
     * in axis-parallel segments that cross no cluster other than its two and no node but its
     * ends; no label overlaps a node, another label or an unrelated cluster; all on the canvas.
     */
    static void assertReadable(MeshGraph g) {
        Map<String, Node> nodes = new java.util.HashMap<>();
        g.clusters().forEach(c -> c.nodes().forEach(n -> nodes.put(n.id(), n)));
        List<double[]> labels = new ArrayList<>();
        for (GraphEdge e : g.edges()) {
            Node from = nodes.get(e.from());
            Node to = nodes.get(e.to());
            List<Point> route = e.route();
            assertThat(route).as("route of %s -> %s", e.from(), e.to()).hasSizeGreaterThanOrEqualTo(2);
            assertThat(onBorder(route.get(0), from)).as("%s starts on its client's box", e.from()).isTrue();
            assertThat(onBorder(route.get(route.size() - 1), to)).as("%s ends on its service's box", e.to()).isTrue();
            for (int i = 0; i + 1 < route.size(); i++) {
                Point p = route.get(i);
                Point q = route.get(i + 1);
                assertThat(p.x() == q.x() || p.y() == q.y()).as("segment %s-%s is axis-parallel", p, q).isTrue();
                for (ClusterGroup c : g.clusters()) {
                    if (!c.name().equals(e.fromCluster()) && !c.name().equals(e.toCluster())) {
                        assertThat(crosses(p, q, c.x(), c.y(), c.width(), c.height()))
                                .as("%s -> %s crosses unrelated cluster %s", e.from(), e.to(), c.name()).isFalse();
                    }
                }
                for (Node n : nodes.values()) {
                    if (n != from && n != to) {
                        assertThat(crosses(p, q, n.x(), n.y(), n.width(), n.height()))
                                .as("%s -> %s crosses node %s", e.from(), e.to(), n.id()).isFalse();
                    }
                }
                assertThat(p.x()).isBetween(0.0, g.width());
                assertThat(p.y()).isBetween(0.0, g.height());
            }
            EdgeLabel l = e.label();
            assertThat(l).isNotNull();
            assertThat(l.text()).contains("/s").contains("%");
            double[] box = {l.x(), l.y(), l.width(), l.height()};
            assertThat(l.x()).isGreaterThanOrEqualTo(0);
            assertThat(l.y()).isGreaterThanOrEqualTo(0);
            assertThat(l.x() + l.width()).isLessThanOrEqualTo(g.width());
            assertThat(l.y() + l.height()).isLessThanOrEqualTo(g.height());
            for (double[] other : labels) {
                assertThat(overlaps(box, other)).as("label of %s -> %s overlaps another", e.from(), e.to()).isFalse();
            }
            for (Node n : nodes.values()) {
                assertThat(overlaps(box, new double[] {n.x(), n.y(), n.width(), n.height()}))
                        .as("label of %s -> %s overlaps node %s", e.from(), e.to(), n.id()).isFalse();
            }
            for (ClusterGroup c : g.clusters()) {
                if (!c.name().equals(e.fromCluster()) && !c.name().equals(e.toCluster())) {
                    assertThat(overlaps(box, new double[] {c.x(), c.y(), c.width(), c.height()}))
                            .as("label of %s -> %s lies on unrelated cluster %s", e.from(), e.to(), c.name()).isFalse();
                }
            }
            labels.add(box);
        }
    }

    private static boolean onBorder(Point p, Node n) {
        boolean onSide = (p.x() == n.x() || p.x() == n.x() + n.width()) && p.y() >= n.y() && p.y() <= n.y() + n.height();
        return onSide;
    }

    /** Whether the axis-parallel segment p-q enters the open box (touching its border does not count). */
    private static boolean crosses(Point p, Point q, double x, double y, double w, double h) {
        double x1 = Math.min(p.x(), q.x());
        double x2 = Math.max(p.x(), q.x());
        double y1 = Math.min(p.y(), q.y());
        double y2 = Math.max(p.y(), q.y());
        return x1 < x + w && x2 > x && y1 < y + h && y2 > y;
    }

    private static boolean overlaps(double[] a, double[] b) {
        return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
    }

    /** Issue 10: readable with 3 clusters and 50 services. */
    @Test
    void threeClustersAndFiftyServicesAreLaidOutWithoutOverlapInsideTheirGroups() {
        List<ClusterEntry> clusters = new ArrayList<>();
        List<LocalView> views = new ArrayList<>();
        String[] names = {"east", "eu", "west"};
        int service = 0;
        for (int c = 0; c < names.length; c++) {
            List<String> hosts = new ArrayList<>();
            List<EdgeStats> edges = new ArrayList<>();
            // 50 services: 17 + 17 + 16, plus clients calling services in the next cluster.
            for (int i = 0; i < (c < 2 ? 17 : 16); i++, service++) {
                hosts.add("svc-" + service + ".shop.svc.cluster.local");
            }
            for (int i = 0; i < 5; i++) {
                edges.add(edge("source", "client-" + i, names[c], "svc-" + ((service + 3 * i) % 50)
                        + ".shop.svc.cluster.local", names[(c + 1) % 3], 1 + i, "mutual_tls"));
            }
            clusters.add(new ClusterEntry(names[c], "net" + c, "region-" + c + "/zone/", hosts));
            views.add(view(names[c], edges));
        }
        MeshGraph g = MeshGraphBuilder.build("east", "now", clusters, views, List.of());

        List<Node> all = g.clusters().stream().flatMap(c -> c.nodes().stream()).toList();
        assertThat(all.stream().filter(n -> n.kind().equals("service")).count()).isEqualTo(50);
        assertThat(g.edges()).hasSize(15).allSatisfy(e -> assertThat(e.fromCluster()).isNotEqualTo(e.toCluster()));
        for (ClusterGroup c : g.clusters()) {
            for (Node n : c.nodes()) {
                assertThat(n.cluster()).isEqualTo(c.name());
                assertThat(n.x()).isGreaterThanOrEqualTo(c.x());
                assertThat(n.y()).isGreaterThan(c.y());
                assertThat(n.x() + n.width()).isLessThanOrEqualTo(c.x() + c.width());
                assertThat(n.y() + n.height()).isLessThanOrEqualTo(c.y() + c.height());
            }
        }
        for (int i = 0; i < all.size(); i++) {
            for (int j = i + 1; j < all.size(); j++) {
                Node a = all.get(i);
                Node b = all.get(j);
                boolean overlap = a.x() < b.x() + b.width() && b.x() < a.x() + a.width()
                        && a.y() < b.y() + b.height() && b.y() < a.y() + a.height();
                assertThat(overlap).as("%s overlaps %s", a.id(), b.id()).isFalse();
            }
        }
        for (int i = 0; i + 1 < g.clusters().size(); i++) {
            ClusterGroup a = g.clusters().get(i);
            ClusterGroup b = g.clusters().get(i + 1);
            assertThat(a.x() + a.width() + 100).as("room for edge labels between clusters").isLessThanOrEqualTo(b.x());
        }
        // Fits a laptop screen without zooming out to unreadable: at most ~2 screens wide, 1 tall.
        assertThat(g.width()).isLessThanOrEqualTo(2600);
        assertThat(g.height()).isLessThanOrEqualTo(760);
        assertReadable(g);
        // The known bug: west → east was drawn straight across eu, which lies between them.
        assertThat(g.edges()).filteredOn(e -> e.fromCluster().equals("west") && e.toCluster().equals("east"))
                .hasSize(5);
        assertThat(all.stream().filter(n -> n.kind().equals("service")).map(Node::name))
                .allSatisfy(name -> assertThat(name).endsWith(".svc.cluster.local"));
    }
}
