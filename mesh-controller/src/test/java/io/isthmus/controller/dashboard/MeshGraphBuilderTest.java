package io.isthmus.controller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.dashboard.DashboardData.ClusterGroup;
import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.GraphEdge;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardData.Node;
import io.isthmus.controller.dashboard.MeshGraphBuilder.ClusterEntry;
import java.util.ArrayList;
import java.util.List;
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
        assertThat(g.height()).isLessThanOrEqualTo(700);
        assertThat(all.stream().filter(n -> n.kind().equals("service")).map(Node::name))
                .allSatisfy(name -> assertThat(name).endsWith(".svc.cluster.local"));
    }
}
