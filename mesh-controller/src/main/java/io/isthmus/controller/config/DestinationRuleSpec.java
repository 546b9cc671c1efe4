package io.isthmus.controller.config;

import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The spec of an Istio {@code DestinationRule}, field for field as Istio names them. Absent
 * fields are {@code null} (lists and maps: empty). {@code tunnel} and {@code retryBudget} are
 * kept as raw JSON.
 */
public record DestinationRuleSpec(
        String host,
        TrafficPolicy trafficPolicy,
        List<Subset> subsets,
        List<String> exportTo,
        WorkloadSelector workloadSelector) {

    public DestinationRuleSpec {
        subsets = Specs.list(subsets);
        exportTo = Specs.list(exportTo);
    }

    public record Subset(String name, Map<String, String> labels, TrafficPolicy trafficPolicy) {

        public Subset {
            labels = Specs.map(labels);
        }
    }

    public record TrafficPolicy(
            LoadBalancer loadBalancer,
            ConnectionPool connectionPool,
            OutlierDetection outlierDetection,
            Tls tls,
            List<PortTrafficPolicy> portLevelSettings,
            JsonNode tunnel,
            ProxyProtocol proxyProtocol,
            JsonNode retryBudget) {

        public TrafficPolicy {
            portLevelSettings = Specs.list(portLevelSettings);
        }
    }

    /** Istio's {@code proxyProtocol}: {@code version} {@code V1} (the default) or {@code V2}. */
    public record ProxyProtocol(String version) {}

    public record PortTrafficPolicy(
            VirtualServiceSpec.PortSelector port,
            LoadBalancer loadBalancer,
            ConnectionPool connectionPool,
            OutlierDetection outlierDetection,
            Tls tls) {}

    public record LoadBalancer(
            String simple,
            ConsistentHash consistentHash,
            LocalityLbSetting localityLbSetting,
            String warmupDurationSecs,
            Warmup warmup) {}

    /**
     * Istio's {@code WarmupConfiguration}: a new endpoint's weight ramps over {@code duration}
     * from {@code minimumPercent} (default 10) with {@code aggression} (default 1.0, linear).
     */
    public record Warmup(String duration, Double minimumPercent, Double aggression) {}

    /**
     * Istio's {@code ConsistentHashLB}: one hash key ({@code httpHeaderName}, {@code httpCookie},
     * {@code useSourceIp} or {@code httpQueryParameterName}) and at most one algorithm
     * ({@code ringHash}, {@code maglev}, or the deprecated {@code minimumRingSize}).
     */
    public record ConsistentHash(
            String httpHeaderName,
            HttpCookie httpCookie,
            Boolean useSourceIp,
            String httpQueryParameterName,
            RingHash ringHash,
            Maglev maglev,
            Long minimumRingSize) {}

    public record HttpCookie(String name, String path, String ttl, JsonNode attributes) {}

    public record RingHash(Long minimumRingSize) {}

    public record Maglev(Long tableSize) {}

    public record LocalityLbSetting(
            List<Distribute> distribute,
            List<Failover> failover,
            List<String> failoverPriority,
            Boolean enabled) {

        public LocalityLbSetting {
            distribute = Specs.list(distribute);
            failover = Specs.list(failover);
            failoverPriority = Specs.list(failoverPriority);
        }
    }

    public record Distribute(String from, Map<String, Integer> to) {

        public Distribute {
            to = Specs.map(to);
        }
    }

    public record Failover(String from, String to) {}

    public record ConnectionPool(Tcp tcp, Http http) {}

    public record Tcp(Integer maxConnections, String connectTimeout, TcpKeepalive tcpKeepalive,
            String maxConnectionDuration, String idleTimeout) {}

    /** Istio's {@code TcpKeepalive}: probes before the connection is dead, idle time before the first, interval between. */
    public record TcpKeepalive(Integer probes, String time, String interval) {}

    public record Http(
            Integer http1MaxPendingRequests,
            Integer http2MaxRequests,
            Integer maxRequestsPerConnection,
            Integer maxRetries,
            String idleTimeout,
            String h2UpgradePolicy,
            Boolean useClientProtocol,
            Integer maxConcurrentStreams) {}

    public record OutlierDetection(
            Integer consecutiveErrors,
            Boolean splitExternalLocalOriginErrors,
            Integer consecutiveLocalOriginFailures,
            Integer consecutiveGatewayErrors,
            Integer consecutive5xxErrors,
            String interval,
            String baseEjectionTime,
            Integer maxEjectionPercent,
            Integer minHealthPercent) {}

    public record Tls(
            String mode,
            String clientCertificate,
            String privateKey,
            String caCertificates,
            String credentialName,
            List<String> subjectAltNames,
            String sni,
            Boolean insecureSkipVerify,
            String caCrl) {}
}
