package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.listener.original_dst.v3.OriginalDst;
import io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import java.util.List;

/**
 * Canonical JSON of xDS resources (protobuf JSON mapping, typed {@code Any} expanded, map keys
 * sorted): the format of the golden files and of the controller's {@code config_dump}.
 */
public final class ResourcesJson {

    /** Every message type translation packs into an {@code Any}. */
    public static final JsonFormat.TypeRegistry TYPE_REGISTRY = JsonFormat.TypeRegistry.newBuilder()
            .add(HttpConnectionManager.getDescriptor())
            .add(TcpProxy.getDescriptor())
            .add(Router.getDescriptor())
            .add(UpstreamTlsContext.getDescriptor())
            .add(DownstreamTlsContext.getDescriptor())
            .add(TlsInspector.getDescriptor())
            .add(OriginalDst.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
                    .getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.getDescriptor())
            .add(io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.getDescriptor())
            .build();

    private static final JsonFormat.Printer PRINTER = JsonFormat.printer()
            .usingTypeRegistry(TYPE_REGISTRY)
            .sortingMapKeys();

    private ResourcesJson() {}

    /** One message as JSON. */
    public static String toJson(Message message) {
        requireNonNull(message, "message");
        try {
            return PRINTER.print(message);
        } catch (InvalidProtocolBufferException e) {
            // Only an Any of a type missing from TYPE_REGISTRY gets here: a bug in this module.
            throw new IllegalStateException("cannot print " + message.getDescriptorForType().getFullName()
                    + " as JSON (expected: every packed type in ResourcesJson.TYPE_REGISTRY)", e);
        }
    }

    /** {@code {"clusters": [...], "endpoints": [...], "listeners": [...], "routes": [...], "secrets": [...]}}. */
    public static String toJson(ProxyResources resources) {
        requireNonNull(resources, "resources");
        StringBuilder json = new StringBuilder("{\n");
        appendList(json, "clusters", resources.clusters(), false);
        appendList(json, "endpoints", resources.endpoints(), false);
        appendList(json, "listeners", resources.listeners(), false);
        appendList(json, "routes", resources.routes(), false);
        appendList(json, "secrets", resources.secrets(), true);
        return json.append("}\n").toString();
    }

    private static void appendList(StringBuilder json, String name, List<? extends Message> messages, boolean last) {
        json.append("  \"").append(name).append("\": [");
        for (int i = 0; i < messages.size(); i++) {
            json.append(i == 0 ? "\n" : ",\n");
            json.append(indent(toJson(messages.get(i)), "    "));
        }
        json.append(messages.isEmpty() ? "]" : "\n  ]").append(last ? "\n" : ",\n");
    }

    private static String indent(String text, String prefix) {
        return prefix + text.replace("\n", "\n" + prefix);
    }
}
