package io.isthmus.discovery.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.LoadBalancerIngress;
import io.fabric8.kubernetes.api.model.LoadBalancerStatus;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServiceStatus;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.NetworkGateway;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The Kubernetes and Istio conventions discovery reads: label and annotation names, protocol
 * selection, locality and gateway derivation. Pure functions, so they are tested as tables.
 */
final class KubeConventions {

    static final String LABEL_NETWORK = "topology.istio.io/network";
    static final String LABEL_LOCALITY = "topology.istio.io/locality";
    static final String LABEL_LEGACY_LOCALITY = "istio-locality";
    static final String LABEL_REGION = "topology.kubernetes.io/region";
    static final String LABEL_ZONE = "topology.kubernetes.io/zone";
    static final String LABEL_SUBZONE = "topology.istio.io/subzone";
    static final String LABEL_SERVICE_NAME = "kubernetes.io/service-name";
    static final String ANNOTATION_EXPORT_TO = "networking.istio.io/exportTo";
    static final String ANNOTATION_GATEWAY_PORT = "networking.istio.io/gatewayPort";

    private static final Pattern IPV4 = Pattern.compile(
            "((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]+");
    private static final Pattern HOSTNAME = Pattern.compile(
            "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*");

    private static final Map<String, String> PROTOCOLS = Map.ofEntries(
            Map.entry("http", "HTTP"),
            Map.entry("http2", "HTTP2"),
            Map.entry("h2c", "HTTP2"),
            Map.entry("kubernetes.io/h2c", "HTTP2"),
            Map.entry("grpc", "GRPC"),
            Map.entry("grpc-web", "GRPC-Web"),
            Map.entry("https", "HTTPS"),
            Map.entry("tls", "TLS"),
            Map.entry("tcp", "TCP"),
            Map.entry("mongo", "Mongo"),
            Map.entry("redis", "Redis"),
            Map.entry("mysql", "MySQL"),
            Map.entry("kubernetes.io/ws", "HTTP"),
            Map.entry("kubernetes.io/wss", "HTTPS"));

    /**
     * Istio's name for a port whose protocol nothing declares: the sidecar detects it per
     * connection (HTTP, else raw TCP).
     */
    static final String UNSUPPORTED = "UnsupportedProtocol";

    /**
     * Istio's well-known ports of server-first protocols (SMTP, DNS, MySQL, MongoDB): detection
     * would wait for a client that speaks second, so an undeclared port there is TCP.
     */
    private static final Set<Integer> WELL_KNOWN_TCP_PORTS = Set.of(25, 53, 3306, 27017);

    private KubeConventions() {
    }

    /**
     * Istio's protocol for a service port: {@code UDP} for UDP ports; else {@code appProtocol}
     * when it names a known protocol, else the port name's prefix before the first {@code -}
     * ({@code http-web} → HTTP); else {@code TCP} on a well-known server-first port (25, 53,
     * 3306, 27017) and {@link #UNSUPPORTED} (detected per connection) anywhere else.
     */
    static String protocolOf(int port, String portName, String appProtocol, String kubeProtocol) {
        if ("UDP".equalsIgnoreCase(kubeProtocol)) {
            return "UDP";
        }
        if (appProtocol != null && !appProtocol.isBlank()) {
            String known = PROTOCOLS.get(appProtocol.trim().toLowerCase(Locale.ROOT));
            if (known != null) {
                return known;
            }
        }
        if (portName != null && !portName.isEmpty()) {
            String lower = portName.toLowerCase(Locale.ROOT);
            if (lower.startsWith("grpc-web")) {
                return "GRPC-Web";
            }
            int dash = lower.indexOf('-');
            String prefix = dash >= 0 ? lower.substring(0, dash) : lower;
            String known = PROTOCOLS.get(prefix);
            if (known != null) {
                return known;
            }
        }
        return WELL_KNOWN_TCP_PORTS.contains(port) ? "TCP" : UNSUPPORTED;
    }

    /** The {@code networking.istio.io/exportTo} annotation as a set; {@code {"*"}} when unset or blank. */
    static Set<String> exportTo(String annotation) {
        if (annotation == null || annotation.isBlank()) {
            return Set.of("*");
        }
        Set<String> values = new TreeSet<>();
        for (String part : annotation.split(",")) {
            String trimmed = part.trim();
            if (!trimmed.isEmpty()) {
                values.add(trimmed);
            }
        }
        return values.isEmpty() ? Set.of("*") : Set.copyOf(values);
    }

    /**
     * A pod's own locality override from {@code topology.istio.io/locality} (or the legacy
     * {@code istio-locality}), where Istio writes {@code region.zone.subzone} because label values
     * cannot hold {@code /}. Empty when neither label is set.
     *
     * @throws IllegalArgumentException when the label is set but is not a locality
     */
    static Optional<Locality> localityOverride(Map<String, String> podLabels) {
        String value = podLabels.get(LABEL_LOCALITY);
        if (value == null || value.isBlank()) {
            value = podLabels.get(LABEL_LEGACY_LOCALITY);
        }
        if (value == null || value.isBlank()) {
            return Optional.empty();
        }
        Locality locality = Locality.parse(value.trim());
        for (String part : List.of(locality.region(), locality.zone(), locality.subzone())) {
            if (!part.isEmpty() && !isLabelValue(part)) {
                throw new IllegalArgumentException("locality label: '" + value
                        + "' (expected: region[.zone[.subzone]] of label-value characters)");
            }
        }
        if (locality.region().isEmpty() && !locality.isUnknown()) {
            throw new IllegalArgumentException("locality label: '" + value + "' (expected: a non-empty region)");
        }
        return Optional.of(locality);
    }

    /**
     * A node's locality from {@code topology.kubernetes.io/region|zone} and
     * {@code topology.istio.io/subzone}; {@link Locality#UNKNOWN} when none is set.
     *
     * @throws IllegalArgumentException when a label is not a valid locality part
     */
    static Locality nodeLocality(Map<String, String> nodeLabels) {
        String region = nodeLabels.getOrDefault(LABEL_REGION, "").trim();
        String zone = nodeLabels.getOrDefault(LABEL_ZONE, "").trim();
        String subzone = nodeLabels.getOrDefault(LABEL_SUBZONE, "").trim();
        for (String part : List.of(region, zone, subzone)) {
            if (!part.isEmpty() && !isLabelValue(part)) {
                throw new IllegalArgumentException("node locality: '" + region + '/' + zone + '/' + subzone
                        + "' (expected: label-value characters in region, zone and subzone)");
            }
        }
        return new Locality(region, zone, subzone);
    }

    /**
     * The locality of one endpoint: the pod's override, else its node's labels, else the
     * EndpointSlice's {@code zone}, else unknown.
     */
    static Locality endpointLocality(Optional<Locality> podOverride, Locality nodeLocality, String sliceZone) {
        if (podOverride.isPresent()) {
            return podOverride.get();
        }
        if (nodeLocality != null && !nodeLocality.isUnknown()) {
            return nodeLocality;
        }
        if (sliceZone != null && !sliceZone.isBlank() && isLabelValue(sliceZone.trim())) {
            return new Locality("", sliceZone.trim(), "");
        }
        return Locality.UNKNOWN;
    }

    /** The network of a pod: its own label, else its namespace's label, else the cluster default. */
    static String networkOf(Map<String, String> podLabels, String namespaceNetwork, String defaultNetwork) {
        String own = podLabels.get(LABEL_NETWORK);
        if (own != null && !own.isBlank()) {
            return own.trim();
        }
        if (namespaceNetwork != null && !namespaceNetwork.isBlank()) {
            return namespaceNetwork.trim();
        }
        return defaultNetwork;
    }

    /**
     * The gateway a Service labelled {@code topology.istio.io/network} stands for.
     *
     * @throws IllegalArgumentException naming what is missing when the Service has no usable
     *                                  address or port
     */
    static NetworkGateway gatewayOf(Service service, String cluster) {
        String network = labels(service.getMetadata().getLabels()).get(LABEL_NETWORK).trim();
        if (network.isEmpty()) {
            throw new IllegalArgumentException("label " + LABEL_NETWORK + ": '' (expected: a network name)");
        }
        String address = gatewayAddress(service).orElseThrow(() -> new IllegalArgumentException(
                "gateway address: none (expected: spec.externalIPs[0] or status.loadBalancer.ingress[0])"));
        return new NetworkGateway(network, cluster, address, gatewayPort(service));
    }

    static Optional<String> gatewayAddress(Service service) {
        if (service.getSpec() != null && service.getSpec().getExternalIPs() != null) {
            for (String ip : service.getSpec().getExternalIPs()) {
                if (ip != null && isIpAddress(ip.trim())) {
                    return Optional.of(ip.trim());
                }
            }
        }
        ServiceStatus status = service.getStatus();
        LoadBalancerStatus lb = status == null ? null : status.getLoadBalancer();
        if (lb != null && lb.getIngress() != null) {
            for (LoadBalancerIngress ingress : lb.getIngress()) {
                if (ingress.getIp() != null && isIpAddress(ingress.getIp().trim())) {
                    return Optional.of(ingress.getIp().trim());
                }
                if (ingress.getHostname() != null && HOSTNAME.matcher(ingress.getHostname().trim()).matches()) {
                    return Optional.of(ingress.getHostname().trim());
                }
            }
        }
        return Optional.empty();
    }

    static int gatewayPort(Service service) {
        String annotation = labels(service.getMetadata().getAnnotations()).get(ANNOTATION_GATEWAY_PORT);
        if (annotation != null && !annotation.isBlank()) {
            int port;
            try {
                port = Integer.parseInt(annotation.trim());
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("annotation " + ANNOTATION_GATEWAY_PORT + ": '" + annotation
                        + "' (expected: a port 1-65535)");
            }
            return port;
        }
        List<ServicePort> ports = service.getSpec() == null || service.getSpec().getPorts() == null
                ? List.of() : service.getSpec().getPorts();
        for (ServicePort port : ports) {
            if ("tls".equals(port.getName()) && port.getPort() != null) {
                return port.getPort();
            }
        }
        for (ServicePort port : ports) {
            if (port.getPort() != null && port.getPort() == NetworkGateway.DEFAULT_PORT) {
                return port.getPort();
            }
        }
        throw new IllegalArgumentException("gateway port: none (expected: annotation " + ANNOTATION_GATEWAY_PORT
                + ", a port named 'tls' or port " + NetworkGateway.DEFAULT_PORT + ")");
    }

    /** A literal IPv4 or IPv6 address (never resolves a name). */
    static boolean isIpAddress(String value) {
        requireNonNull(value, "value");
        if (IPV4.matcher(value).matches()) {
            return true;
        }
        if (value.indexOf(':') < 0 || !IPV6.matcher(value).matches()) {
            return false;
        }
        try {
            // Brackets make the JDK insist on an IPv6 literal: it throws rather than falling back to DNS.
            java.net.InetAddress.getByName("[" + value + "]");
            return true;
        } catch (java.net.UnknownHostException | SecurityException e) {
            return false;
        }
    }

    static Map<String, String> labels(Map<String, String> labels) {
        return labels == null ? Map.of() : labels;
    }

    private static boolean isLabelValue(String value) {
        return value.length() <= 63 && value.matches("[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?");
    }
}
