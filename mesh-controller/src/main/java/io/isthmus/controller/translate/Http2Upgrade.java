package io.isthmus.controller.translate;

import static io.isthmus.controller.translate.Protos.pack;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.controller.config.DestinationRuleSpec;
import io.isthmus.controller.config.DestinationRuleSpec.TrafficPolicy;

/**
 * A DestinationRule's {@code connectionPool.http.h2UpgradePolicy} and
 * {@code maxConcurrentStreams} on an outbound cluster, as pilot's {@code applyH2Upgrade} and
 * connection pool: {@code UPGRADE} (and not {@code useClientProtocol}) makes the cluster speak
 * HTTP/2 whatever the caller speaks ({@code explicit_http_config.http2_protocol_options}), so an
 * HTTP/1.1 client's requests cross the mesh multiplexed; {@code maxConcurrentStreams} caps the
 * streams on one HTTP/2 upstream connection ({@code http2_protocol_options.max_concurrent_streams}).
 * The most specific setting wins: the rule's policy, its port-level entry, the subset's policy,
 * the subset's port-level entry. Istio's mesh-wide {@code h2UpgradePolicy} is not read (the
 * default, {@code DO_NOT_UPGRADE}). Pure.
 */
final class Http2Upgrade {

    private Http2Upgrade() {}

    static Cluster apply(Cluster cluster, int port, TrafficPolicy rule, TrafficPolicy subset) {
        String policy = null;
        boolean clientProtocol = false;
        Integer maxStreams = null;
        for (DestinationRuleSpec.ConnectionPool pool : pools(port, rule, subset)) {
            if (pool == null || pool.http() == null) {
                continue;
            }
            var http = pool.http();
            if (http.h2UpgradePolicy() != null) {
                policy = http.h2UpgradePolicy();
            }
            if (http.useClientProtocol() != null) {
                clientProtocol = http.useClientProtocol();
            }
            if (http.maxConcurrentStreams() != null && http.maxConcurrentStreams() > 0) {
                maxStreams = http.maxConcurrentStreams();
            }
        }
        boolean upgrade = "UPGRADE".equals(policy) && !clientProtocol;
        if (!upgrade && maxStreams == null) {
            return cluster;
        }
        HttpProtocolOptions.Builder options = existing(cluster);
        Http2ProtocolOptions.Builder h2 = Http2ProtocolOptions.newBuilder();
        if (maxStreams != null) {
            h2.setMaxConcurrentStreams(UInt32Value.of(maxStreams));
        }
        if (upgrade) {
            options.setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig.newBuilder().setHttp2ProtocolOptions(h2));
        } else if (options.hasExplicitHttpConfig()) {
            if (options.getExplicitHttpConfig().hasHttp2ProtocolOptions()) {
                options.getExplicitHttpConfigBuilder().setHttp2ProtocolOptions(h2);
            }
        } else {
            // The caller's HTTP version, as before; the cap applies when that is HTTP/2.
            options.setUseDownstreamProtocolConfig(HttpProtocolOptions.UseDownstreamHttpConfig.newBuilder()
                    .setHttpProtocolOptions(Http1ProtocolOptions.getDefaultInstance())
                    .setHttp2ProtocolOptions(h2));
        }
        return cluster.toBuilder()
                .putTypedExtensionProtocolOptions(PolicyTranslator.HTTP_PROTOCOL_OPTIONS, pack(options.build()))
                .build();
    }

    private static DestinationRuleSpec.ConnectionPool[] pools(int port, TrafficPolicy rule, TrafficPolicy subset) {
        return new DestinationRuleSpec.ConnectionPool[] {
            rule == null ? null : rule.connectionPool(), portLevel(port, rule),
            subset == null ? null : subset.connectionPool(), portLevel(port, subset)};
    }

    private static DestinationRuleSpec.ConnectionPool portLevel(int port, TrafficPolicy policy) {
        if (policy == null) {
            return null;
        }
        for (DestinationRuleSpec.PortTrafficPolicy p : policy.portLevelSettings()) {
            if (p.port() != null && p.port().number() != null && p.port().number() == port) {
                return p.connectionPool();
            }
        }
        return null;
    }

    private static HttpProtocolOptions.Builder existing(Cluster cluster) {
        var any = cluster.getTypedExtensionProtocolOptionsMap().get(PolicyTranslator.HTTP_PROTOCOL_OPTIONS);
        if (any == null) {
            return HttpProtocolOptions.newBuilder();
        }
        try {
            return any.unpack(HttpProtocolOptions.class).toBuilder();
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("our own " + PolicyTranslator.HTTP_PROTOCOL_OPTIONS + " does not unpack", e);
        }
    }
}
