package io.isthmus.controller.bench;

import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyType;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A demo-shaped mesh at scale for the controller's benchmarks: clusters {@code east} and
 * {@code west} on net1 and {@code eu} on net2, each running every service with
 * {@code endpointsPerCluster} pods; every tenth service has a DestinationRule (subsets v1/v2,
 * outlier detection, locality failover) and a VirtualService splitting v1/v2, so translation
 * does the policy work a real mesh asks of it.
 */
public final class MeshScale {

    public static final String DOMAIN = "cluster.local";
    static final List<String> ROOTS = List.of(
            "-----BEGIN CERTIFICATE-----\nUk9PVC1GT1ItQkVOQ0hNQVJL\n-----END CERTIFICATE-----\n");
    private static final String[][] CLUSTERS = {
            {"east", "net1", "us-east", "us-east-1a"},
            {"west", "net1", "us-west", "us-west-1a"},
            {"eu", "net2", "eu-west", "eu-west-1a"}};

    private MeshScale() {}

    public static FederatedState state(int services, int endpointsPerCluster, long version) {
        Map<String, ClusterInfo> infos = new TreeMap<>();
        Map<String, ClusterState> states = new TreeMap<>();
        for (int c = 0; c < CLUSTERS.length; c++) {
            String cluster = CLUSTERS[c][0];
            String network = CLUSTERS[c][1];
            Locality locality = new Locality(CLUSTERS[c][2], CLUSTERS[c][3], "");
            List<MeshService> svc = new ArrayList<>();
            List<Endpoint> eps = new ArrayList<>();
            for (int s = 0; s < services; s++) {
                ServiceKey key = key(s);
                svc.add(new MeshService(key, key.hostname(DOMAIN),
                        List.of(new ServicePort("http", port(s), 8080, "HTTP")), Map.of("app", key.name()),
                        Set.of("*"), false));
                for (int e = 0; e < endpointsPerCluster; e++) {
                    String address = "10." + c + "." + (s / 25) + "." + ((s % 25) * 10 + e);
                    eps.add(new Endpoint(key, address, Map.of("http", 8080), true, locality, cluster, network,
                            key.name(), key.name() + "-" + cluster + "-" + e,
                            Map.of("app", key.name(), "version", e % 2 == 0 ? "v1" : "v2")));
                }
            }
            infos.put(cluster, new ClusterInfo(cluster, network, locality, "10." + c + ".0.1:15012"));
            states.put(cluster, new ClusterState(cluster, network, svc, eps,
                    List.of(new NetworkGateway(network, cluster, "10." + c + ".255.1", 15443))));
        }
        return new FederatedState(version, infos, states, ROOTS);
    }

    /**
     * Issue 5's scale shape: {@code clusters} clusters ({@code cluster-<i>}, alternately on net1 and
     * net2, one region per pair), each running every service with {@code endpointsPerCluster}
     * pods and publishing its east-west gateway. {@code version} also shifts one endpoint's
     * readiness per cluster, so consecutive versions differ as a real endpoint change would.
     */
    public static FederatedState wideState(int clusters, int services, int endpointsPerCluster, long version) {
        Map<String, ClusterInfo> infos = new TreeMap<>();
        Map<String, ClusterState> states = new TreeMap<>();
        for (int c = 0; c < clusters; c++) {
            String cluster = clusterName(c);
            String network = c % 2 == 0 ? "net1" : "net2";
            Locality locality = new Locality("region-" + (c / 2), "zone-" + c, "");
            List<MeshService> svc = new ArrayList<>(services);
            List<Endpoint> eps = new ArrayList<>(services * endpointsPerCluster);
            for (int s = 0; s < services; s++) {
                ServiceKey key = key(s);
                svc.add(new MeshService(key, key.hostname(DOMAIN),
                        List.of(new ServicePort("http", port(s), 8080, "HTTP")), Map.of("app", key.name()),
                        Set.of("*"), false));
                for (int e = 0; e < endpointsPerCluster; e++) {
                    String address = "10." + c + "." + (s / 25) + "." + ((s % 25) * 10 + e);
                    boolean ready = !(s == version % services && e == 0);
                    eps.add(new Endpoint(key, address, Map.of("http", 8080), ready, locality, cluster, network,
                            key.name(), key.name() + "-" + cluster + "-" + e,
                            Map.of("app", key.name(), "version", e % 2 == 0 ? "v1" : "v2")));
                }
            }
            infos.put(cluster, new ClusterInfo(cluster, network, locality, "10." + c + ".0.1:15012"));
            states.put(cluster, new ClusterState(cluster, network, svc, eps,
                    List.of(new NetworkGateway(network, cluster, "10." + c + ".255.1", 15443))));
        }
        return new FederatedState(version, infos, states, ROOTS);
    }

    /** Sidecar number {@code i} of a client workload in cluster {@code c} of {@link #wideState}. */
    public static ProxyNode sidecar(int c, int i) {
        String ip = "10." + c + "." + (200 + i / 250) + "." + (i % 250);
        String pod = "client-" + i;
        return new ProxyNode("sidecar~" + ip + "~" + pod + ".bench~bench.svc." + DOMAIN, ProxyType.SIDECAR, ip,
                pod, "bench", "client", clusterName(c), c % 2 == 0 ? "net1" : "net2",
                new Locality("region-" + (c / 2), "zone-" + c, ""), Map.of("app", "client", "version", "v1"));
    }

    private static String clusterName(int c) {
        return "cluster-" + c;
    }

    /** The policies; {@code v1Weight} lets a benchmark change the configuration between pushes. */
    public static MeshConfig config(int services, int v1Weight) {
        StringBuilder yaml = new StringBuilder();
        for (int s = 0; s < services; s += 10) {
            ServiceKey key = key(s);
            String host = key.hostname(DOMAIN);
            yaml.append("""
                    apiVersion: networking.istio.io/v1
                    kind: DestinationRule
                    metadata: {name: %1$s, namespace: %2$s}
                    spec:
                      host: %3$s
                      trafficPolicy:
                        outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s}
                        loadBalancer:
                          simple: ROUND_ROBIN
                          localityLbSetting: {enabled: true, failover: [{from: us-west, to: us-east}]}
                      subsets:
                      - {name: v1, labels: {version: v1}}
                      - {name: v2, labels: {version: v2}}
                    ---
                    apiVersion: networking.istio.io/v1
                    kind: VirtualService
                    metadata: {name: %1$s, namespace: %2$s}
                    spec:
                      hosts: [%3$s]
                      http:
                      - match: [{headers: {x-canary: {exact: "yes"}}}]
                        route: [{destination: {host: %3$s, subset: v2}}]
                      - retries: {attempts: 3, perTryTimeout: 2s, retryOn: 5xx}
                        timeout: 10s
                        route:
                        - {destination: {host: %3$s, subset: v1}, weight: %4$d}
                        - {destination: {host: %3$s, subset: v2}, weight: %5$d}
                    ---
                    """.formatted(key.name(), key.namespace(), host, v1Weight, 100 - v1Weight));
        }
        List<ConfigResource> resources = Yaml.resources(yaml.toString(), "default", "2026-11-27T00:00:00Z");
        return MeshConfig.merge(Map.of("east", resources), DOMAIN);
    }

    /** Sidecar number {@code i} of a client workload in {@code west}. */
    public static ProxyNode westSidecar(int i) {
        String ip = "10.1." + (200 + i / 250) + "." + (i % 250);
        String pod = "client-" + i;
        return new ProxyNode("sidecar~" + ip + "~" + pod + ".bench~bench.svc." + DOMAIN, ProxyType.SIDECAR, ip,
                pod, "bench", "client", "west", "net1", new Locality("us-west", "us-west-1a", ""),
                Map.of("app", "client", "version", "v1"));
    }

    private static ServiceKey key(int s) {
        return new ServiceKey("ns-" + (s % 20), "svc-" + s);
    }

    /** A few hundred ports shared by many services, as in a real mesh (route configs are per port). */
    private static int port(int s) {
        return 8000 + (s % 50);
    }
}
