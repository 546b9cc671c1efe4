package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import io.isthmus.topologies.internal.SimpleHttp;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The checks of {@code meshctl demo --verify}, over a running {@link LocalMesh} and a burst of
 * {@link DemoTraffic}: every cluster that runs the service answered; answers from the client's
 * network came directly and answers from other networks only through their cluster's east-west
 * gateway; the caller identity is the client's SPIFFE ID; the client sidecar holds other
 * networks' endpoints only as gateway addresses; a server's sidecar refuses plaintext; the
 * gateways counted the connections they relayed.
 */
public final class DemoVerifier {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private DemoVerifier() {}

    /** Reads a number from the gateways' metrics, to compare before and after a burst. */
    public static double gatewayConnections(LocalMesh mesh, String cluster) {
        try {
            String url = mesh.gatewayAdminUrl(cluster);
            java.net.URI uri = java.net.URI.create(url);
            SimpleHttp.Response r = SimpleHttp.get(uri.getHost(), uri.getPort(), "/stats/prometheus",
                    uri.getHost() + ':' + uri.getPort(), Optional.empty(), 5000);
            return r.status() == 200 ? sumConnectionMetrics(r.body()) : -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * Sums the samples of Istio's {@code istio_tcp_connections_opened_total}: the connections a
     * gateway actually relayed. Rejected connections ({@code isthmus_gateway_rejected_connections_total})
     * are deliberately not counted, so a gateway that refuses everything never passes for one that
     * relays.
     */
    static double sumConnectionMetrics(String prometheusText) {
        double opened = 0;
        for (String line : prometheusText.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            if (space < 0) {
                continue;
            }
            String name = line.substring(0, brace >= 0 ? brace : line.indexOf(' '));
            if (!name.equals("istio_tcp_connections_opened_total")) {
                continue;
            }
            try {
                opened += Double.parseDouble(line.substring(space + 1).trim());
            } catch (NumberFormatException e) {
                // A malformed sample is not a relayed connection.
            }
        }
        return opened;
    }

    /**
     * Runs every check.
     *
     * @param gatewayConnectionsBefore {@link #gatewayConnections} of each other-network cluster
     *     before the burst, keyed by cluster name
     */
    public static List<Check> verify(LocalMesh mesh, DemoScenario scenario, DemoTraffic.Burst burst,
            java.util.Map<String, Double> gatewayConnectionsBefore) {
        requireNonNull(mesh, "mesh");
        requireNonNull(scenario, "scenario");
        requireNonNull(burst, "burst");
        Topology t = mesh.topology();
        ClusterSpec clientCluster = t.cluster(scenario.client().cluster());
        String clientIdentity = scenario.client().identity(t.trustDomain());
        Set<String> expectedClusters = scenario.servers().stream().map(WorkloadSpec::cluster)
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> remoteClusters = expectedClusters.stream()
                .filter(c -> !t.cluster(c).network().equals(clientCluster.network()))
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> localClusters = new TreeSet<>(expectedClusters);
        localClusters.removeAll(remoteClusters);

        List<Check> checks = new ArrayList<>();
        int total = burst.answers().size() + burst.errors().size();
        checks.add(new Check("every request answered", burst.errors().isEmpty() && total > 0,
                burst.answers().size() + "/" + total + " answered"
                        + (burst.errors().isEmpty() ? "" : "; first failure: " + burst.errors().get(0))));
        checks.add(new Check("answers from every cluster running " + scenario.service() + " " + expectedClusters,
                burst.clusters().containsAll(expectedClusters),
                "answered by " + burst.clusters()));

        for (String local : localClusters) {
            List<DemoTraffic.Answer> from = answersFrom(burst, local);
            long direct = from.stream().filter(a -> a.path().equals("direct")).count();
            checks.add(new Check(local + " (" + t.cluster(local).network() + ", the client's network) answers came direct",
                    !from.isEmpty() && direct == from.size(),
                    direct + "/" + from.size() + " direct" + otherPaths(from, "direct")));
        }
        for (String remote : remoteClusters) {
            List<DemoTraffic.Answer> from = answersFrom(burst, remote);
            String gw = t.gatewayAddress(remote);
            long viaGateway = from.stream().filter(a -> a.forwardedFor().equals(Optional.of(gw))).count();
            checks.add(new Check(remote + " (" + t.cluster(remote).network() + ") answers came only via its east-west gateway "
                    + gw, !from.isEmpty() && viaGateway == from.size(),
                    viaGateway + "/" + from.size() + " via " + gw + otherPaths(from, "via " + gw + " (east-west gateway)")));
        }
        long withIdentity = burst.answers().stream().filter(a -> a.callerIdentity().equals(Optional.of(clientIdentity)))
                .count();
        checks.add(new Check("caller identity is " + clientIdentity + " on every answer",
                !burst.answers().isEmpty() && withIdentity == burst.answers().size(),
                withIdentity + "/" + burst.answers().size() + burst.answers().stream()
                        .map(a -> a.callerIdentity().orElse("(none)")).filter(id -> !id.equals(clientIdentity)).distinct()
                        .map(id -> "; also saw " + id).collect(Collectors.joining())));

        checks.add(configDumpCheck(mesh, scenario, localClusters, remoteClusters));
        for (String remote : remoteClusters) {
            WorkloadSpec server = scenario.servers().stream().filter(w -> w.cluster().equals(remote)).findFirst().orElseThrow();
            checks.add(plaintextRefused(t, server, scenario));
        }
        for (String remote : remoteClusters) {
            double before = gatewayConnectionsBefore.getOrDefault(remote, 0.0);
            double after = gatewayConnections(mesh, remote);
            // Not after > before: the client sidecar may reuse a pooled connection through the gateway.
            checks.add(new Check(remote + "'s east-west gateway counted the relayed connections", after > 0,
                    after < 0 ? "no metrics at " + mesh.gatewayAdminUrl(remote) + "/stats/prometheus"
                            : String.format("connection counters %.0f before the burst, %.0f after", Math.max(before, 0), after)));
        }
        return checks;
    }

    private static List<DemoTraffic.Answer> answersFrom(DemoTraffic.Burst burst, String cluster) {
        return burst.answers().stream().filter(a -> a.cluster().equals(cluster)).toList();
    }

    private static String otherPaths(List<DemoTraffic.Answer> from, String expected) {
        String others = from.stream().map(DemoTraffic.Answer::path).filter(p -> !p.equals(expected)).distinct()
                .collect(Collectors.joining(", "));
        return others.isEmpty() ? "" : "; also " + others;
    }

    private static Check configDumpCheck(LocalMesh mesh, DemoScenario scenario, Set<String> localClusters,
            Set<String> remoteClusters) {
        Topology t = mesh.topology();
        String name = "client sidecar holds " + scenario.outboundCluster() + " endpoints of "
                + (remoteClusters.isEmpty() ? "its network" : "other networks only as their gateways");
        Set<String> endpoints;
        try {
            java.net.URI uri = java.net.URI.create(mesh.sidecarAdminUrl(scenario.client()));
            SimpleHttp.Response r = SimpleHttp.get(uri.getHost(), uri.getPort(), "/config_dump",
                    uri.getHost() + ':' + uri.getPort(), Optional.empty(), 5000);
            if (r.status() != 200) {
                return new Check(name, false, "GET /config_dump answered " + r.status());
            }
            endpoints = endpointsOf(JSON.readTree(r.body()), scenario.outboundCluster());
        } catch (IOException | RuntimeException e) {
            return new Check(name, false, "cannot read " + mesh.sidecarAdminUrl(scenario.client()) + "/config_dump: " + e);
        }
        List<String> problems = new ArrayList<>();
        for (String remote : remoteClusters) {
            String gw = t.gatewayAddress(remote) + ':' + LocalMesh.GATEWAY_PORT;
            if (!endpoints.contains(gw)) {
                problems.add("missing " + remote + "'s gateway " + gw);
            }
            String prefix1 = t.addressPrefix() + '.' + t.clusterOctet(remote) + ".1.";
            String prefix2 = t.addressPrefix() + '.' + t.clusterOctet(remote) + ".2.";
            endpoints.stream().filter(e -> e.startsWith(prefix1) || e.startsWith(prefix2))
                    .forEach(e -> problems.add(remote + " pod address " + e + " is exposed"));
        }
        for (WorkloadSpec s : scenario.servers()) {
            if (localClusters.contains(s.cluster())) {
                String pod = t.podIp(s) + ':' + scenario.port().targetPort();
                if (!endpoints.contains(pod)) {
                    problems.add("missing " + s.cluster() + " pod " + pod);
                }
            }
        }
        return new Check(name, problems.isEmpty(), "endpoints " + endpoints
                + (problems.isEmpty() ? "" : "; " + String.join("; ", problems)));
    }

    /**
     * The {@code address:port} pairs under the endpoints of one cluster in a config dump. Reads
     * Envoy's ClusterLoadAssignment JSON ({@code clusterName}, nested {@code socketAddress}) and
     * tolerates other layouts that key endpoints by the cluster name.
     */
    static Set<String> endpointsOf(JsonNode dump, String clusterName) {
        Set<String> out = new TreeSet<>();
        JsonNode endpoints = dump.get("endpoints");
        if (endpoints == null) {
            return out;
        }
        if (endpoints.isArray()) {
            for (JsonNode cla : endpoints) {
                JsonNode n = cla.has("clusterName") ? cla.get("clusterName") : cla.get("cluster_name");
                if (n != null && clusterName.equals(n.asString())) {
                    collectAddresses(cla, out);
                }
            }
        } else if (endpoints.isObject() && endpoints.has(clusterName)) {
            collectAddresses(endpoints.get(clusterName), out);
        }
        return out;
    }

    private static void collectAddresses(JsonNode node, Set<String> out) {
        if (node.isObject()) {
            JsonNode address = node.get("address");
            JsonNode port = node.has("portValue") ? node.get("portValue") : node.get("port_value");
            if (address != null && address.isString() && port != null && port.canConvertToInt()) {
                out.add(address.asString() + ':' + port.asInt());
            }
        }
        if (node.isContainer()) {
            for (JsonNode child : node.values()) {
                collectAddresses(child, out);
            }
        }
    }

    /** A plaintext HTTP request straight to a server's sidecar inbound port must get no HTTP answer. */
    static Check plaintextRefused(Topology t, WorkloadSpec server, DemoScenario scenario) {
        String ip = t.podIp(server);
        int port = scenario.port().targetPort();
        String name = "plaintext HTTP to " + server.cluster() + "'s " + server.name() + " sidecar " + ip + ':' + port
                + " is refused";
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(ip, port), 3000);
            s.setSoTimeout(5000);
            s.getOutputStream().write(("GET / HTTP/1.1\r\nHost: " + scenario.authority() + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            byte[] first = in.readNBytes(5);
            if (first.length == 0) {
                return new Check(name, true, "connection closed without an answer");
            }
            if (first[0] == 0x15) {
                return new Check(name, true, "TLS alert, no HTTP answer");
            }
            String text = new String(first, StandardCharsets.ISO_8859_1);
            return new Check(name, !text.startsWith("HTTP/"), text.startsWith("HTTP/")
                    ? "answered in plaintext HTTP" : "no HTTP answer (got " + first.length + " other bytes)");
        } catch (java.net.ConnectException e) {
            return new Check(name, false, "nothing listens there (expected: the sidecar's mTLS inbound listener)");
        } catch (SocketTimeoutException e) {
            return new Check(name, false, "no answer and no close within 5 s (expected: the connection closed or a TLS alert)");
        } catch (IOException e) {
            return new Check(name, true, "connection reset (" + e.getMessage() + ")");
        }
    }
}
