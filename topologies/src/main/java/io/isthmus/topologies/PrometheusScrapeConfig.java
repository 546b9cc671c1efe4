package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * A Prometheus configuration that scrapes a local topology the way Istio's Prometheus
 * integration scrapes pods: every sidecar on its merged-metrics port
 * {@code <podIP>:15020/stats/prometheus} (what the pods' {@code prometheus.io/*} annotations
 * say), and every east-west gateway on {@code <gateway>:15000/stats/prometheus}. Targets are
 * static (no Kubernetes service discovery on this machine); each carries the {@code cluster},
 * {@code namespace}, {@code pod} and {@code app} of what it scrapes.
 */
public final class PrometheusScrapeConfig {

    private PrometheusScrapeConfig() {}

    /** The {@code prometheus.yml} text for {@code topology}, scraping every {@code interval}. */
    public static String render(Topology topology, Duration interval) {
        requireNonNull(topology, "topology");
        requireNonNull(interval, "interval");
        if (interval.toMillis() < 100) {
            throw new IllegalArgumentException("interval: " + interval + " (expected: >= 100ms)");
        }
        String every = interval.toMillis() + "ms";
        StringBuilder y = new StringBuilder()
                .append("# Written by the Isthmus launcher for topology ").append(topology.name()).append('\n')
                .append("global:\n")
                .append("  scrape_interval: ").append(every).append('\n')
                .append("  evaluation_interval: ").append(every).append('\n')
                .append("scrape_configs:\n")
                .append("  - job_name: envoy-stats\n")
                .append("    metrics_path: /stats/prometheus\n")
                .append("    static_configs:\n");
        for (WorkloadSpec w : topology.workloads()) {
            y.append("      - targets: ['").append(topology.podIp(w)).append(':').append(LocalMesh.METRICS_PORT)
                    .append("']\n")
                    .append("        labels: {cluster: '").append(w.cluster()).append("', namespace: '")
                    .append(w.namespace()).append("', pod: '").append(topology.podName(w)).append("', app: '")
                    .append(w.app()).append("'}\n");
        }
        y.append("  - job_name: istio-eastwestgateway\n")
                .append("    metrics_path: /stats/prometheus\n")
                .append("    static_configs:\n");
        for (ClusterSpec c : topology.clusters()) {
            y.append("      - targets: ['").append(topology.gatewayAddress(c.name())).append(':')
                    .append(LocalMesh.PROXY_ADMIN_PORT).append("']\n")
                    .append("        labels: {cluster: '").append(c.name()).append("', namespace: '")
                    .append(LocalMesh.GATEWAY_NAMESPACE).append("', app: 'istio-eastwestgateway'}\n");
        }
        return y.toString();
    }
}
