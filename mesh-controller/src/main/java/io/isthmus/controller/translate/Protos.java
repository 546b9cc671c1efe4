package io.isthmus.controller.translate;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshEndpoint;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Building blocks shared by the sidecar and router translations. */
final class Protos {

    static final String TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
    static final String HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager";
    static final String TCP_PROXY = "envoy.filters.network.tcp_proxy";
    static final String ROUTER_FILTER = "envoy.filters.http.router";
    static final String TLS_INSPECTOR = "envoy.filters.listener.tls_inspector";
    static final String ORIGINAL_DST = "envoy.filters.listener.original_dst";
    static final Duration CONNECT_TIMEOUT = Duration.newBuilder().setSeconds(10).build();
    static final String ISTIO_METADATA = "istio";

    private static final Comparator<MeshEndpoint> ENDPOINT_ORDER = Comparator
            .comparing(MeshEndpoint::address)
            .thenComparingInt(MeshEndpoint::port)
            .thenComparing(MeshEndpoint::cluster)
            .thenComparing(MeshEndpoint::workload);

    private Protos() {}

    static ConfigSource ads() {
        return ConfigSource.newBuilder()
                .setAds(AggregatedConfigSource.getDefaultInstance())
                .setResourceApiVersion(ApiVersion.V3)
                .build();
    }

    static SdsSecretConfig sds(String name) {
        return SdsSecretConfig.newBuilder().setName(name).setSdsConfig(ads()).build();
    }

    /** Envoy's {@code CidrRange} of an IP or block as Istio writes it ({@code 10.0.0.0/24}; no slash: one address). */
    static io.envoyproxy.envoy.config.core.v3.CidrRange cidrRange(String text) {
        io.isthmus.controller.config.Cidr cidr = io.isthmus.controller.config.Cidr.parse(text);
        return io.envoyproxy.envoy.config.core.v3.CidrRange.newBuilder()
                .setAddressPrefix(cidr.address())
                .setPrefixLen(com.google.protobuf.UInt32Value.of(cidr.prefixLen()))
                .build();
    }

    static Address socketAddress(String ip, int port) {
        return Address.newBuilder()
                .setSocketAddress(SocketAddress.newBuilder().setAddress(ip).setPortValue(port))
                .build();
    }

    static io.envoyproxy.envoy.config.core.v3.Locality locality(Locality locality) {
        return io.envoyproxy.envoy.config.core.v3.Locality.newBuilder()
                .setRegion(locality.region())
                .setZone(locality.zone())
                .setSubZone(locality.subzone())
                .build();
    }

    /**
     * One load assignment: endpoints grouped by locality (sorted), each group weighted by the sum
     * of its endpoints' weights, so a gateway standing for n endpoints counts n times.
     */
    static ClusterLoadAssignment loadAssignment(String clusterName, List<MeshEndpoint> endpoints) {
        Map<Locality, List<MeshEndpoint>> byLocality = new TreeMap<>();
        for (MeshEndpoint endpoint : endpoints) {
            byLocality.computeIfAbsent(endpoint.locality(), l -> new ArrayList<>()).add(endpoint);
        }
        ClusterLoadAssignment.Builder assignment = ClusterLoadAssignment.newBuilder().setClusterName(clusterName);
        byLocality.forEach((locality, group) -> {
            group.sort(ENDPOINT_ORDER);
            LocalityLbEndpoints.Builder lle = LocalityLbEndpoints.newBuilder()
                    .setLocality(locality(locality))
                    .setPriority(0);
            int total = 0;
            for (MeshEndpoint endpoint : group) {
                lle.addLbEndpoints(lbEndpoint(endpoint));
                total += endpoint.weight();
            }
            lle.setLoadBalancingWeight(UInt32Value.of(total));
            assignment.addEndpoints(lle);
        });
        return assignment.build();
    }

    private static LbEndpoint lbEndpoint(MeshEndpoint endpoint) {
        Struct istio = Struct.newBuilder()
                .putFields("cluster", string(endpoint.cluster()))
                .putFields("network", string(endpoint.network()))
                .putFields("workload", string(endpoint.workload()))
                .putFields("via_gateway", Value.newBuilder().setBoolValue(endpoint.viaGateway()).build())
                .build();
        return LbEndpoint.newBuilder()
                .setEndpoint(Endpoint.newBuilder().setAddress(socketAddress(endpoint.address(), endpoint.port())))
                .setHealthStatus(endpoint.healthy() ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY)
                .setLoadBalancingWeight(UInt32Value.of(endpoint.weight()))
                .setMetadata(Metadata.newBuilder().putFilterMetadata(ISTIO_METADATA, istio))
                .build();
    }

    private static Value string(String value) {
        return Value.newBuilder().setStringValue(value).build();
    }

    static Any pack(Message message) {
        return Any.pack(message);
    }
}
