package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.CONNECT_TIMEOUT;
import static io.isthmus.controller.translate.Protos.ads;
import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.EdsClusterConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster.LbPolicy;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.DestinationRuleSpec;
import io.isthmus.controller.config.GatewaySpec;
import io.isthmus.controller.config.Hosts;
import io.isthmus.controller.config.ServiceEntrySpec;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshEndpoint;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import io.isthmus.discovery.ServiceView;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import tools.jackson.databind.JsonNode;

/**
 * The ServiceEntries that translation routes itself, as pilot does: every entry that discovery
 * does not make a mesh service ({@code location: MESH_EXTERNAL}, or a resolution other than
 * {@code STATIC}). Such a host is the same from every cluster (its endpoints are addresses or
 * names the proxy dials directly, never through an east-west gateway), so it comes straight from
 * the merged configuration, not from the federated cluster state. Pure.
 *
 * <p>Clusters per port (and DestinationRule subset), named {@code outbound|<port>|<subset>|<host>}:
 * {@code DNS} → {@code STRICT_DNS} with the endpoints (or the host itself) inline, every resolved
 * address used; {@code DNS_ROUND_ROBIN} → {@code LOGICAL_DNS} (one address at a time);
 * {@code STATIC} → {@code EDS} with the given IPs; {@code NONE} → {@code ORIGINAL_DST}
 * (connections go where the app sent them). TLS: a {@code MESH_EXTERNAL} host gets none unless
 * its DestinationRule's {@code tls} says ({@code SIMPLE}, {@code MUTUAL}, {@code ISTIO_MUTUAL});
 * a {@code MESH_INTERNAL} one gets the mesh's mTLS ({@code ISTIO_MUTUAL}) unless {@code DISABLE}.
 */
final class ExternalServices {

    /** Envoy's and Istio's default {@code dns_refresh_rate}. */
    static final com.google.protobuf.Duration DNS_REFRESH_RATE =
            com.google.protobuf.Duration.newBuilder().setSeconds(60).build();

    enum Resolution { NONE, STATIC, DNS, DNS_ROUND_ROBIN }

    /**
     * One host of one ServiceEntry, as translation sees it.
     *
     * @param view         the host with its ports and, for DNS and STATIC, its endpoints per port
     *                     (a DNS endpoint's address may be a host name)
     * @param meshExternal {@code location: MESH_EXTERNAL}
     * @param addresses    the entry's {@code addresses}, a {@code /32} or {@code /128} as the IP
     *                     itself: the IPs are its VIPs; ranges (CIDR) get no outbound listener
     * @param subjectAltNames the entry's {@code subjectAltNames}: what a SIMPLE or MUTUAL
     *                     origination verifies when its DestinationRule names none
     */
    record External(ServiceView view, boolean meshExternal, Resolution resolution, List<String> addresses,
            List<String> subjectAltNames) {
        External {
            requireNonNull(view, "view");
            requireNonNull(resolution, "resolution");
            addresses = List.copyOf(addresses);
            subjectAltNames = List.copyOf(subjectAltNames);
        }

        /** This host seen through {@code scoped} (a Sidecar's narrowed view of it). */
        External withView(ServiceView scoped) {
            return new External(scoped, meshExternal, resolution, addresses, subjectAltNames);
        }
    }

    private ExternalServices() {}

    /** True for an entry discovery makes a mesh service (MESH_INTERNAL with STATIC resolution). */
    static boolean discovered(ServiceEntrySpec entry) {
        return "MESH_INTERNAL".equals(entry.location()) && "STATIC".equals(entry.resolution());
    }

    /**
     * The hosts of the ServiceEntries translation routes that {@code namespace} can see
     * ({@code exportTo}), skipping a host that {@code meshHosts} already holds (a Kubernetes
     * Service or a discovered entry wins) and, among entries naming one host, keeping the
     * oldest. Sorted by host.
     */
    static List<External> visibleFrom(List<ConfigEntry<ServiceEntrySpec>> entries, String namespace,
            Set<String> meshHosts) {
        List<ConfigEntry<ServiceEntrySpec>> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparing((ConfigEntry<ServiceEntrySpec> e) -> e.resource().creationTimestamp())
                .thenComparing(ConfigEntry::namespace).thenComparing(ConfigEntry::name));
        Map<String, External> byHost = new TreeMap<>();
        for (ConfigEntry<ServiceEntrySpec> entry : sorted) {
            ServiceEntrySpec spec = entry.spec();
            if (discovered(spec) || !Hosts.exported(spec.exportTo(), entry.namespace(), namespace)) {
                continue;
            }
            for (String host : spec.hosts()) {
                if (meshHosts.contains(host) || byHost.containsKey(host)) {
                    continue;
                }
                byHost.put(host, external(entry, host));
            }
        }
        return List.copyOf(byHost.values());
    }

    private static External external(ConfigEntry<ServiceEntrySpec> entry, String host) {
        ServiceEntrySpec spec = entry.spec();
        Resolution resolution = spec.resolution() == null ? Resolution.NONE : Resolution.valueOf(spec.resolution());
        List<ServicePort> ports = new ArrayList<>();
        Map<Integer, List<MeshEndpoint>> endpointsByPort = new TreeMap<>();
        for (GatewaySpec.Port p : spec.ports()) {
            int target = p.targetPort() == null ? p.number() : p.targetPort();
            String name = p.name() == null ? "" : p.name();
            // No protocol: Istio's auto-detection, as for an undeclared Kubernetes port.
            String protocol = p.protocol() == null || p.protocol().isBlank() ? OutboundListeners.AUTO_PROTOCOL
                    : p.protocol().toUpperCase(Locale.ROOT);
            ports.add(new ServicePort(name, p.number(), target, protocol));
            List<MeshEndpoint> endpoints = new ArrayList<>();
            if (resolution == Resolution.DNS || resolution == Resolution.DNS_ROUND_ROBIN || resolution == Resolution.STATIC) {
                for (JsonNode e : spec.endpoints()) {
                    int port = e.path("ports").path(name).isIntegralNumber() ? e.path("ports").path(name).asInt() : target;
                    endpoints.add(endpoint(e.path("address").asString(), port, e));
                }
                if (spec.endpoints().isEmpty() && resolution != Resolution.STATIC && !host.startsWith("*")) {
                    // No endpoints: the proxy resolves the host itself, as Envoy does for Istio.
                    endpoints.add(endpoint(host, target, null));
                }
            }
            endpointsByPort.put(p.number(), endpoints);
        }
        ServiceView view = new ServiceView(host, new ServiceKey(entry.namespace(), host), ports, endpointsByPort,
                List.of());
        return new External(view, !"MESH_INTERNAL".equals(spec.location()), resolution, vips(spec.addresses()),
                spec.subjectAltNames());
    }

    private static List<String> vips(List<String> addresses) {
        List<String> ips = new ArrayList<>();
        for (String address : addresses) {
            String ip = address.endsWith("/32") || address.endsWith("/128")
                    ? address.substring(0, address.lastIndexOf('/')) : address;
            if (!ips.contains(ip)) {
                ips.add(ip);
            }
        }
        return ips;
    }

    private static MeshEndpoint endpoint(String address, int port, JsonNode e) {
        Locality locality = Locality.UNKNOWN;
        Map<String, String> labels = Map.of();
        String network = "";
        int weight = 1;
        if (e != null) {
            if (e.path("locality").isString() && !e.path("locality").asString().isBlank()) {
                locality = Locality.parse(e.path("locality").asString());
            }
            if (e.path("labels").isObject()) {
                Map<String, String> l = new TreeMap<>();
                e.path("labels").properties().forEach(f -> l.put(f.getKey(), f.getValue().asString()));
                labels = l;
            }
            network = e.path("network").isString() ? e.path("network").asString() : "";
            weight = e.path("weight").isIntegralNumber() && e.path("weight").asInt() > 0 ? e.path("weight").asInt() : 1;
        }
        return new MeshEndpoint(address, port, locality, "", network, "", "", labels, true, false, weight);
    }

    /**
     * The cluster of one port (and subset) of {@code external}, without endpoints for
     * {@code EDS}/{@code ORIGINAL_DST}; {@code assignment} is the inline load assignment of a DNS
     * cluster. {@code tls} is the DestinationRule's setting in force for this port and subset.
     */
    static Cluster cluster(String name, String meshSni, External external, ClusterLoadAssignment assignment,
            DestinationRuleSpec.Tls tls) {
        Cluster.Builder cluster = Cluster.newBuilder()
                .setName(name)
                .setConnectTimeout(CONNECT_TIMEOUT);
        switch (external.resolution()) {
            case NONE -> cluster.setType(DiscoveryType.ORIGINAL_DST).setLbPolicy(LbPolicy.CLUSTER_PROVIDED);
            case STATIC -> cluster.setType(DiscoveryType.EDS).setLbPolicy(LbPolicy.ROUND_ROBIN)
                    .setEdsClusterConfig(EdsClusterConfig.newBuilder().setEdsConfig(ads()).setServiceName(name));
            case DNS, DNS_ROUND_ROBIN -> cluster
                    .setType(external.resolution() == Resolution.DNS ? DiscoveryType.STRICT_DNS : DiscoveryType.LOGICAL_DNS)
                    .setLbPolicy(LbPolicy.ROUND_ROBIN)
                    .setDnsRefreshRate(DNS_REFRESH_RATE)
                    .setRespectDnsTtl(true)
                    .setDnsLookupFamily(Cluster.DnsLookupFamily.V4_ONLY)
                    .setLoadAssignment(assignment);
        }
        String mode = ClusterTls.mode(tls, external.meshExternal() ? ClusterTls.DISABLE : ClusterTls.ISTIO_MUTUAL);
        // Under the mesh's mTLS (a MESH_INTERNAL entry) its subjectAltNames are who may answer, as in pilot.
        return ClusterTls.apply(cluster, mode, tls, external.view().hostname(), meshSni, external.subjectAltNames(),
                external.subjectAltNames()).build();
    }

    /** The inline load assignment of a DNS cluster: no EDS for it, the proxy resolves the names. */
    static boolean inlineEndpoints(External external) {
        return external.resolution() == Resolution.DNS || external.resolution() == Resolution.DNS_ROUND_ROBIN;
    }
}
