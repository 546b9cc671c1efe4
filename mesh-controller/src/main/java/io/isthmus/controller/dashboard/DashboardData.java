package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * The dashboard's JSON documents. {@link LocalView} is what one controller knows first-hand about
 * its own cluster ({@code GET /dashboard/api/local}, fetched by the other primaries);
 * {@link MeshGraph} is the whole mesh merged from every controller's local view, laid out for the
 * page ({@code GET /dashboard/api/mesh}). Times are ISO-8601 strings.
 */
public final class DashboardData {

    private DashboardData() {
    }

    /** One controller's first-hand view of its cluster. */
    public record LocalView(String cluster, String generatedAt, double windowSeconds, List<EdgeStats> edges,
            List<ProxyHealth> proxies, ClusterHealth health, List<LocalityServing> localities) {
        public LocalView {
            requireNonNull(cluster, "cluster");
            requireNonNull(generatedAt, "generatedAt");
            edges = List.copyOf(edges);
            proxies = List.copyOf(proxies);
            requireNonNull(health, "health");
            localities = List.copyOf(localities);
        }
    }

    /**
     * Whether the controller could read one proxy's metrics.
     *
     * @param status {@code up}; {@code down} (no answer, an error status); {@code unknown} (it
     *               answered something that is not Prometheus text)
     * @param target the URL scraped last
     * @param certExpiresInSeconds how long its workload certificate has left, from its
     *               {@code istio_agent_cert_expiry_seconds}; {@code null} when not known
     */
    public record ProxyHealth(String id, String type, String cluster, String status, String target, String error,
            Double certExpiresInSeconds) {
        public ProxyHealth {
            requireNonNull(id, "id");
            requireNonNull(type, "type");
            requireNonNull(cluster, "cluster");
            requireNonNull(status, "status");
            requireNonNull(target, "target");
            requireNonNull(error, "error");
        }
    }

    /**
     * @param apiSynced       this cluster's Kubernetes informers have synced
     * @param waitingFor      why the controller is not ready (empty when it is)
     * @param leader          the federation leader this controller follows, or {@code null}
     * @param members         the federation's peers
     * @param configErrors    Istio objects rejected in this cluster, with their errors
     */
    public record ClusterHealth(String cluster, String network, String locality, boolean apiSynced, boolean ready,
            List<String> waitingFor, String leader, List<String> members, long term, long appliedIndex,
            List<GatewayHealth> gateways, List<CertificateExpiry> certificates, List<String> configErrors) {
        public ClusterHealth {
            requireNonNull(cluster, "cluster");
            requireNonNull(network, "network");
            requireNonNull(locality, "locality");
            waitingFor = List.copyOf(waitingFor);
            members = List.copyOf(members);
            gateways = List.copyOf(gateways);
            certificates = List.copyOf(certificates);
            configErrors = List.copyOf(configErrors);
        }
    }

    /** Whether this cluster's controller could open a TCP connection to one of its east-west gateways. */
    public record GatewayHealth(String address, int port, boolean reachable, String error) {
        public GatewayHealth {
            requireNonNull(address, "address");
            requireNonNull(error, "error");
        }
    }

    /** @param name what the certificate is for, e.g. {@code cluster intermediate CA} */
    public record CertificateExpiry(String name, String subject, String notAfter, long daysLeft) {
        public CertificateExpiry {
            requireNonNull(name, "name");
            requireNonNull(subject, "subject");
            requireNonNull(notAfter, "notAfter");
        }
    }

    /**
     * Where one client's requests to one service are answered from now.
     *
     * @param servedFrom      the destination clusters (with their locality) that answered in the window
     * @param previous        what served it before the last change (empty if nothing changed yet)
     * @param since           when {@code servedFrom} last changed (or was first seen)
     */
    public record LocalityServing(String client, String clientCluster, String clientLocality, String service,
            List<String> servedFrom, List<String> previous, String since) {
        public LocalityServing {
            requireNonNull(client, "client");
            requireNonNull(clientCluster, "clientCluster");
            requireNonNull(clientLocality, "clientLocality");
            requireNonNull(service, "service");
            servedFrom = List.copyOf(servedFrom);
            previous = List.copyOf(previous);
            requireNonNull(since, "since");
        }
    }

    /**
     * The whole mesh, laid out: every coordinate is in SVG user units of a {@code width × height} canvas.
     *
     * @param viewpoint the cluster whose controller merged this graph
     * @param problems  controllers that could not be asked, with why; the page shows them
     */
    public record MeshGraph(String viewpoint, String generatedAt, double width, double height,
            List<ClusterGroup> clusters, List<GraphEdge> edges, List<ProxyHealth> proxies,
            List<LocalityServing> localities, List<String> problems) {
        public MeshGraph {
            requireNonNull(viewpoint, "viewpoint");
            requireNonNull(generatedAt, "generatedAt");
            clusters = List.copyOf(clusters);
            edges = List.copyOf(edges);
            proxies = List.copyOf(proxies);
            localities = List.copyOf(localities);
            problems = List.copyOf(problems);
        }
    }

    /**
     * One cluster as a group of nodes.
     *
     * @param health {@code null} when its controller could not be asked
     */
    public record ClusterGroup(String name, String network, String locality, ClusterHealth health, double x, double y,
            double width, double height, List<Node> nodes) {
        public ClusterGroup {
            requireNonNull(name, "name");
            requireNonNull(network, "network");
            requireNonNull(locality, "locality");
            nodes = List.copyOf(nodes);
        }
    }

    /** @param kind {@code service} (a destination) or {@code workload} (a client seen in the metrics) */
    public record Node(String id, String cluster, String name, String kind, double x, double y, double width,
            double height) {
        public Node {
            requireNonNull(id, "id");
            requireNonNull(cluster, "cluster");
            requireNonNull(name, "name");
            requireNonNull(kind, "kind");
        }
    }

    /**
     * @param p99Millis {@code null} when no latency histogram was seen for this edge
     * @param route     where the arrow runs, from the client's box to the service's (axis-parallel
     *                  segments; empty until laid out)
     * @param label     the rate/errors/p99/mTLS text and the box it is drawn in ({@code null} until laid out)
     */
    public record GraphEdge(String from, String to, String fromCluster, String toCluster, double requestsPerSecond,
            double errorRate, Double p99Millis, String security, String reporter, List<Point> route,
            EdgeLabel label) {
        public GraphEdge {
            requireNonNull(from, "from");
            requireNonNull(to, "to");
            requireNonNull(fromCluster, "fromCluster");
            requireNonNull(toCluster, "toCluster");
            requireNonNull(security, "security");
            requireNonNull(reporter, "reporter");
            route = List.copyOf(route);
        }

        GraphEdge withLayout(List<Point> route, EdgeLabel label) {
            return new GraphEdge(from, to, fromCluster, toCluster, requestsPerSecond, errorRate, p99Millis, security,
                    reporter, route, label);
        }
    }

    /** A point of the canvas, in SVG user units. */
    public record Point(double x, double y) {
    }

    /**
     * An edge's label: {@code text} then {@code security} ({@code mTLS}, {@code plain}, {@code mixed}
     * or {@code ?}), drawn in the box at ({@code x}, {@code y}) (top left) that no other label or
     * node overlaps.
     */
    public record EdgeLabel(String text, String security, double x, double y, double width, double height) {
        public EdgeLabel {
            requireNonNull(text, "text");
            requireNonNull(security, "security");
        }
    }
}
