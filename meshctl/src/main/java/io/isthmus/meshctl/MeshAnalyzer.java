package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.ConfigKind;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.DestinationRuleSpec;
import io.isthmus.meshctl.ClusterInventory.ConfigObject;
import io.isthmus.meshctl.ClusterInventory.GatewayDef;
import io.isthmus.meshctl.ClusterInventory.PortDef;
import io.isthmus.meshctl.ClusterInventory.RemoteSecretCheck;
import io.isthmus.meshctl.ClusterInventory.ServiceDef;
import io.isthmus.trust.Pem;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * The checks of {@code meshctl analyze}: a pure function from what was read from every cluster to
 * findings. No I/O: reachability was measured by the collector and is part of the input.
 */
final class MeshAnalyzer {

    /** The controller's own warning for the check {@link AnalysisCode#LOCALITY_FAILOVER_WITHOUT_OUTLIER_DETECTION} makes. */
    private static final String VALIDATOR_OUTLIER_WARNING = ".loadBalancer.localityLbSetting: has no effect without outlierDetection";

    private MeshAnalyzer() {
    }

    /**
     * Analyzes the clusters together.
     *
     * @param meshRoot the mesh's root certificate; empty: the root most clusters' cacerts hold
     * @return the findings in {@link Finding#ORDER}
     */
    static List<Finding> analyze(List<ClusterInventory> clusters, Optional<X509Certificate> meshRoot) {
        requireNonNull(clusters, "clusters");
        requireNonNull(meshRoot, "meshRoot");
        List<Finding> findings = new ArrayList<>();
        List<ClusterInventory> reachable = new ArrayList<>();
        for (ClusterInventory c : clusters) {
            if (c.unreachable().isPresent()) {
                findings.add(Finding.of(AnalysisCode.CLUSTER_UNREACHABLE, "Cluster " + c.name(), "API server not readable: "
                        + c.unreachable().get() + " (check the kubeconfig's server address and credentials, "
                        + "or leave the cluster out with --context)"));
            } else {
                reachable.add(c);
            }
        }
        for (ClusterInventory c : reachable) {
            for (ConfigObject o : c.configs()) {
                validate(c.name(), o, findings);
            }
            remoteSecrets(c, findings);
        }
        services(reachable, findings);
        conflicts(reachable, findings);
        gateways(reachable, findings);
        trust(reachable, meshRoot, findings);
        findings.sort(Finding.ORDER);
        return List.copyOf(findings);
    }

    private static void validate(String cluster, ConfigObject o, List<Finding> findings) {
        if (ConfigKind.of(o.kind()).isEmpty()) {
            return;
        }
        ConfigResource resource;
        try {
            resource = ConfigResource.fromObject(o.object(), o.namespace());
        } catch (IllegalArgumentException e) {
            findings.add(Finding.of(AnalysisCode.SCHEMA_VALIDATION_ERROR, o.kind(), o.namespace(), o.name(),
                    "in cluster " + cluster + ": " + e.getMessage()));
            return;
        }
        String who = resource.describe() + ": ";
        ConfigParser.Parsed parsed;
        try {
            parsed = ConfigParser.parse(resource);
        } catch (ConfigException e) {
            for (String error : e.errors()) {
                findings.add(Finding.of(AnalysisCode.SCHEMA_VALIDATION_ERROR, o.kind(), o.namespace(), o.name(),
                        "in cluster " + cluster + ": " + strip(error, who)
                                + " (the controllers reject it: fix it and re-apply, 'meshctl apply' checks it first)"));
            }
            return;
        }
        for (String warning : parsed.warnings()) {
            if (!warning.contains(VALIDATOR_OUTLIER_WARNING)) {
                findings.add(Finding.of(AnalysisCode.CONFIG_VALIDATION_WARNING, o.kind(), o.namespace(), o.name(),
                        "in cluster " + cluster + ": " + strip(warning, who)));
            }
        }
        if (parsed.spec() instanceof DestinationRuleSpec dr) {
            failoverWithoutOutlierDetection(cluster, o, dr, findings);
        }
    }

    private static void failoverWithoutOutlierDetection(String cluster, ConfigObject o, DestinationRuleSpec dr,
            List<Finding> findings) {
        DestinationRuleSpec.TrafficPolicy top = dr.trafficPolicy();
        boolean topOutlier = top != null && top.outlierDetection() != null;
        List<String> fields = new ArrayList<>();
        if (top != null) {
            if (fails(top.loadBalancer()) && !topOutlier) {
                fields.add("trafficPolicy");
            }
            for (int i = 0; i < top.portLevelSettings().size(); i++) {
                var p = top.portLevelSettings().get(i);
                if (p != null && fails(p.loadBalancer()) && p.outlierDetection() == null && !topOutlier) {
                    fields.add("trafficPolicy.portLevelSettings[" + i + "]");
                }
            }
        }
        for (int i = 0; i < dr.subsets().size(); i++) {
            var s = dr.subsets().get(i);
            if (s != null && s.trafficPolicy() != null && fails(s.trafficPolicy().loadBalancer())
                    && s.trafficPolicy().outlierDetection() == null && !topOutlier) {
                fields.add("subsets[" + i + "].trafficPolicy");
            }
        }
        for (String f : fields) {
            findings.add(Finding.of(AnalysisCode.LOCALITY_FAILOVER_WITHOUT_OUTLIER_DETECTION, o.kind(), o.namespace(),
                    o.name(), "in cluster " + cluster + ": spec." + f + ".loadBalancer.localityLbSetting sets failover "
                            + "or failoverPriority but there is no outlierDetection, so unhealthy endpoints are never "
                            + "ejected and traffic never fails over (add spec." + f
                            + ".outlierDetection, e.g. {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s})"));
        }
    }

    private static boolean fails(DestinationRuleSpec.LoadBalancer lb) {
        return lb != null && lb.localityLbSetting() != null
                && (!lb.localityLbSetting().failover().isEmpty() || !lb.localityLbSetting().failoverPriority().isEmpty());
    }

    private static void remoteSecrets(ClusterInventory c, List<Finding> findings) {
        for (RemoteSecretCheck s : c.remoteSecrets()) {
            String[] nsName = s.secret().split("/", 2);
            String where = "in cluster " + c.name() + ", entry '" + s.cluster() + "'";
            if (s.invalid().isPresent()) {
                findings.add(Finding.of(AnalysisCode.REMOTE_SECRET_INVALID, "Secret", nsName[0], nsName[1],
                        where + ": " + s.invalid().get() + " (regenerate it: meshctl create-remote-secret --name "
                                + s.cluster() + " --context " + s.cluster() + " | kubectl apply -f -)"));
            } else if (s.failure().isPresent()) {
                findings.add(Finding.of(AnalysisCode.REMOTE_SECRET_UNREACHABLE, "Secret", nsName[0], nsName[1],
                        where + ": " + s.server().orElse("?") + ": " + s.failure().get() + " (the controller of "
                                + c.name() + " cannot watch " + s.cluster() + ": make the server reachable from "
                                + c.name() + " or regenerate the secret with --server <reachable URL>)"));
            }
        }
    }

    private static void services(List<ClusterInventory> clusters, List<Finding> findings) {
        // namespace/name -> cluster -> definition, in cluster order.
        Map<String, Map<String, ServiceDef>> byKey = new TreeMap<>();
        for (ClusterInventory c : clusters) {
            for (ServiceDef s : c.services()) {
                if (s.namespace().equals("kube-system") || (s.namespace().equals("default") && s.name().equals("kubernetes"))) {
                    continue;
                }
                byKey.computeIfAbsent(s.namespace() + '/' + s.name(), k -> new LinkedHashMap<>()).put(c.name(), s);
            }
        }
        for (Map<String, ServiceDef> defs : byKey.values()) {
            if (defs.size() < 2) {
                continue;
            }
            ServiceDef any = defs.values().iterator().next();
            Map<Integer, Set<String>> protocolsByPort = new TreeMap<>();
            defs.values().forEach(s -> s.ports().forEach(p ->
                    protocolsByPort.computeIfAbsent(p.port(), k -> new TreeSet<>()).add(p.protocol())));
            String described = defs.entrySet().stream()
                    .map(e -> e.getKey() + ": " + (e.getValue().ports().isEmpty() ? "no ports"
                            : e.getValue().ports().stream().map(PortDef::toString).collect(Collectors.joining(", "))))
                    .collect(Collectors.joining("; "));
            List<String> conflicting = protocolsByPort.entrySet().stream().filter(e -> e.getValue().size() > 1)
                    .map(e -> e.getKey() + " (" + String.join(" vs ", e.getValue()) + ")").toList();
            if (!conflicting.isEmpty()) {
                findings.add(Finding.of(AnalysisCode.SERVICE_PROTOCOL_CONFLICT, "Service", any.namespace(), any.name(),
                        "port " + String.join(", ", conflicting) + " has a different protocol in different clusters ("
                                + described + "); the mesh merges the Service by name and cannot route one port as both "
                                + "(name the port with the same protocol prefix, e.g. http-, grpc-, tcp-, in every cluster)"));
                continue;
            }
            // Port names may differ (the mesh routes by number and protocol); numbers and protocols may not.
            Set<Set<String>> distinct = defs.values().stream()
                    .map(s -> s.ports().stream().map(p -> p.port() + "/" + p.protocol()).collect(Collectors.toSet()))
                    .collect(Collectors.toSet());
            if (distinct.size() > 1) {
                findings.add(Finding.of(AnalysisCode.SERVICE_PORTS_DIFFER, "Service", any.namespace(), any.name(),
                        "defined with different ports in different clusters (" + described + "); a request to a port "
                                + "that one cluster lacks cannot be served or fail over there (give the Service the same "
                                + "ports in every cluster)"));
            }
        }
    }

    private static void conflicts(List<ClusterInventory> clusters, List<Finding> findings) {
        record Candidate(String cluster, ConfigObject object, String spec) {}
        Map<String, List<Candidate>> byKey = new TreeMap<>();
        for (ClusterInventory c : clusters) {
            if (!c.primary()) {
                continue;
            }
            for (ConfigObject o : c.configs()) {
                if (ConfigKind.of(o.kind()).isPresent()) {
                    byKey.computeIfAbsent(o.kind() + '/' + o.namespace() + '/' + o.name(), k -> new ArrayList<>())
                            .add(new Candidate(c.name(), o, ConfigParser.canonicalSpec(o.object().get("spec"))));
                }
            }
        }
        for (List<Candidate> candidates : byKey.values()) {
            if (candidates.stream().map(Candidate::spec).distinct().count() < 2) {
                continue;
            }
            // The controllers' merge rule (MeshConfig): the oldest wins, ties broken by cluster name.
            candidates.sort(Comparator.comparing((Candidate c) -> c.object().creationTimestamp())
                    .thenComparing(Candidate::cluster));
            Candidate winner = candidates.get(0);
            ConfigObject o = winner.object();
            String others = candidates.subList(1, candidates.size()).stream()
                    .filter(c -> !c.spec().equals(winner.spec())).map(Candidate::cluster).collect(Collectors.joining(", "));
            findings.add(Finding.of(AnalysisCode.CONFLICTING_MESH_CONFIG, o.kind(), o.namespace(), o.name(),
                    "defined differently in primaries " + winner.cluster() + ", " + others + ": the controllers use the "
                            + "oldest, from " + winner.cluster() + (o.creationTimestamp().isEmpty() ? ""
                            : " (created " + o.creationTimestamp() + ")") + ", and ignore the one from " + others
                            + " (make the definitions identical, or delete all but one)"));
        }
    }

    private static void gateways(List<ClusterInventory> clusters, List<Finding> findings) {
        // network -> its clusters; clusters without a network label share the unnamed network "".
        Map<String, List<ClusterInventory>> networks = new TreeMap<>();
        for (ClusterInventory c : clusters) {
            networks.computeIfAbsent(c.network().orElse(""), k -> new ArrayList<>()).add(c);
        }
        if (networks.size() < 2) {
            return;
        }
        Map<String, List<GatewayDef>> gatewaysByNetwork = new TreeMap<>();
        for (ClusterInventory c : clusters) {
            for (GatewayDef g : c.gateways()) {
                gatewaysByNetwork.computeIfAbsent(g.network().or(c::network).orElse(""), k -> new ArrayList<>()).add(g);
            }
        }
        networks.forEach((network, members) -> {
            String names = members.stream().map(ClusterInventory::name).collect(Collectors.joining(", "));
            String label = network.isEmpty() ? "(no topology.istio.io/network label)" : network;
            List<GatewayDef> gws = gatewaysByNetwork.getOrDefault(network, List.of());
            if (gws.isEmpty()) {
                findings.add(Finding.of(AnalysisCode.NETWORK_GATEWAY_UNREACHABLE, "Network " + label,
                        "no east-west gateway: clusters " + names + " cannot be reached from the other networks "
                                + "(deploy one: meshctl manifest generate --cluster <c> --network " + (network.isEmpty()
                                ? "<n>" : network) + " includes it; its Service needs the label topology.istio.io/network="
                                + (network.isEmpty() ? "<n>" : network) + " and an external address)"));
            } else if (gws.stream().allMatch(g -> g.address().isEmpty() || g.unreachable().isPresent())) {
                String why = gws.stream().map(g -> g.namespace() + '/' + g.name() + " "
                        + g.address().map(a -> a + ": " + g.unreachable().orElse("?")).orElse("has no external address"))
                        .collect(Collectors.joining("; "));
                findings.add(Finding.of(AnalysisCode.NETWORK_GATEWAY_UNREACHABLE, "Network " + label,
                        "no reachable east-west gateway for clusters " + names + ": " + why + " (check the gateway "
                                + "Deployment is running and its Service's external address and port 15443 are reachable)"));
            }
        });
    }

    private static void trust(List<ClusterInventory> clusters, Optional<X509Certificate> meshRoot,
            List<Finding> findings) {
        // A cluster's root-cert.pem may list several roots while a root rotates: its first is the one it signs under.
        Map<String, X509Certificate> roots = new LinkedHashMap<>();
        Map<String, List<X509Certificate>> trusted = new LinkedHashMap<>();
        Map<String, X509Certificate> intermediates = new LinkedHashMap<>();
        for (ClusterInventory c : clusters) {
            String resource = "Cluster " + c.name();
            if (c.cacerts().isEmpty()) {
                if (c.primary()) {
                    findings.add(Finding.of(AnalysisCode.CA_NOT_CHAINED_TO_MESH_ROOT, resource, "no Secret "
                            + "istio-system/cacerts: its controller has no intermediate CA under the mesh root (create "
                            + "it from an intermediate signed by the mesh root: ca-cert.pem, ca-key.pem, root-cert.pem, "
                            + "cert-chain.pem)"));
                }
                continue;
            }
            Map<String, String> files = c.cacerts().get();
            try {
                String rootPem = required(files, "root-cert.pem");
                String caPem = required(files, "ca-cert.pem");
                List<X509Certificate> clusterRoots = Pem.decodeCertificates(rootPem);
                if (clusterRoots.isEmpty()) {
                    throw new IllegalArgumentException("root-cert.pem: no certificate");
                }
                X509Certificate ca = Pem.decodeCertificate(caPem);
                // The root that signed the intermediate, else the first listed.
                roots.put(c.name(), clusterRoots.stream().filter(r -> signedBy(ca, r)).findFirst()
                        .orElse(clusterRoots.get(0)));
                trusted.put(c.name(), clusterRoots);
                intermediates.put(c.name(), ca);
            } catch (RuntimeException e) {
                findings.add(Finding.of(AnalysisCode.CA_NOT_CHAINED_TO_MESH_ROOT, resource, "Secret istio-system/cacerts "
                        + "is unusable: " + firstLine(e.getMessage()) + " (recreate it with PEM files ca-cert.pem, "
                        + "ca-key.pem, root-cert.pem, cert-chain.pem)"));
            }
        }
        Optional<X509Certificate> root = meshRoot.or(() -> mostCommon(roots));
        if (root.isEmpty()) {
            return;
        }
        X509Certificate shared = root.get();
        String sharedName = shared.getSubjectX500Principal().getName();
        for (var e : intermediates.entrySet()) {
            String cluster = e.getKey();
            X509Certificate ownRoot = roots.get(cluster);
            X509Certificate ca = e.getValue();
            if (!trusted.get(cluster).contains(shared)) {
                findings.add(Finding.of(AnalysisCode.CA_NOT_CHAINED_TO_MESH_ROOT, "Cluster " + cluster,
                        "its root-cert.pem (" + ownRoot.getSubjectX500Principal().getName() + ") is not the mesh root ("
                                + sharedName + "): its workloads' certificates are not trusted by the other clusters "
                                + "(replace istio-system/cacerts with an intermediate signed by the mesh root, then "
                                + "restart its controller)"));
            } else if (!signedBy(ca, shared)) {
                findings.add(Finding.of(AnalysisCode.CA_NOT_CHAINED_TO_MESH_ROOT, "Cluster " + cluster,
                        "its intermediate ca-cert.pem (" + ca.getSubjectX500Principal().getName() + ") is not signed by "
                                + "the mesh root (" + sharedName + ") (replace istio-system/cacerts with an intermediate "
                                + "signed by the mesh root)"));
            }
        }
    }

    private static Optional<X509Certificate> mostCommon(Map<String, X509Certificate> roots) {
        Map<X509Certificate, Integer> counts = new LinkedHashMap<>();
        roots.values().forEach(r -> counts.merge(r, 1, Integer::sum));
        // Ties go to the root of the first cluster: the stream keeps insertion order and max keeps the first maximum.
        X509Certificate best = null;
        int bestCount = 0;
        for (var e : counts.entrySet()) {
            if (e.getValue() > bestCount) {
                best = e.getKey();
                bestCount = e.getValue();
            }
        }
        return Optional.ofNullable(best);
    }

    static boolean signedBy(X509Certificate cert, X509Certificate issuer) {
        try {
            cert.verify(issuer.getPublicKey());
            return cert.getIssuerX500Principal().equals(issuer.getSubjectX500Principal());
        } catch (GeneralSecurityException | RuntimeException e) {
            return false;
        }
    }

    private static String required(Map<String, String> files, String name) {
        String v = files.get(name);
        if (v == null || v.isBlank()) {
            throw new IllegalArgumentException(name + ": missing");
        }
        return v;
    }

    /**
     * The protocol Istio infers for a Service port: {@code appProtocol}, else the port name's prefix
     * ({@code http-web} is HTTP), else UDP/SCTP from {@code protocol}, else "auto" (sniffed).
     */
    static String inferProtocol(String name, String appProtocol, String protocol) {
        if (protocol != null && !protocol.equalsIgnoreCase("TCP")) {
            return protocol.toUpperCase(java.util.Locale.ROOT);
        }
        String candidate = appProtocol != null && !appProtocol.isBlank() ? appProtocol
                : name == null ? "" : name.split("-", 2)[0];
        return switch (candidate.toLowerCase(java.util.Locale.ROOT)) {
            case "http", "http1" -> "HTTP";
            case "http2", "h2c", "kubernetes.io/h2c" -> "HTTP2";
            case "https" -> "HTTPS";
            case "grpc" -> "GRPC";
            case "grpc-web" -> "GRPC-Web";
            case "tcp" -> "TCP";
            case "tls" -> "TLS";
            case "mongo" -> "Mongo";
            case "mysql" -> "MySQL";
            case "redis" -> "Redis";
            case "ws", "kubernetes.io/ws", "kubernetes.io/wss" -> "HTTP";
            default -> "auto";
        };
    }

    private static String strip(String message, String prefix) {
        return message.startsWith(prefix) ? message.substring(prefix.length()) : message;
    }

    static String firstLine(String s) {
        return ResourceApplier.firstLine(Objects.requireNonNullElse(s, "failed"));
    }
}
