package io.isthmus.proxy.internal;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.isthmus.proxy.xds.XdsResourceType;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.util.Map;
import java.util.TreeMap;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Renders an {@link XdsSnapshot} as the {@code /config_dump} JSON: {@code versions},
 * {@code listeners}, {@code routes}, {@code clusters}, {@code endpoints}, {@code secrets},
 * each resource in protobuf's canonical JSON. Public for the gateway module only.
 */
public final class ConfigDump {

  private static final ObjectMapper MAPPER = JsonMapper.builder().build();
  private static final JsonFormat.Printer PRINTER = JsonFormat.printer()
      .omittingInsignificantWhitespace()
      .usingTypeRegistry(JsonFormat.TypeRegistry.newBuilder()
          .add(HttpConnectionManager.getDescriptor())
          .add(Router.getDescriptor())
          .add(TcpProxy.getDescriptor())
          // Istio's VirtualService faults arrive as per-route typed config.
          .add(io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault.getDescriptor())
          .add(io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors.getDescriptor())
          .add(io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.getDescriptor())
          .add(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.getDescriptor())
          .add(io.envoyproxy.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
              .getDescriptor())
          .add(io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.getDescriptor())
          // Istio's retries name previous_hosts; without these a route with retries printed as
          // "unprintable" and a cluster with protocol options likewise.
          .add(io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
              .getDescriptor())
          .add(io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3
              .PreviousPrioritiesConfig.getDescriptor())
          .add(io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.getDescriptor())
          .add(UpstreamTlsContext.getDescriptor())
          .add(DownstreamTlsContext.getDescriptor())
          .add(io.envoyproxy.envoy.extensions.filters.listener.original_dst.v3.OriginalDst
              .getDescriptor())
          .add(io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
              .getDescriptor())
          .build());

  private ConfigDump() {}

  public static ObjectNode toJson(XdsSnapshot snapshot) {
    ObjectNode root = MAPPER.createObjectNode();
    ObjectNode versions = root.putObject("versions");
    for (XdsResourceType type : XdsResourceType.values()) {
      String version = snapshot.versions().get(type);
      if (version != null) {
        versions.put(type.name().toLowerCase(java.util.Locale.ROOT), version);
      }
    }
    root.set("listeners", array(snapshot.listeners()));
    root.set("routes", array(snapshot.routes()));
    root.set("clusters", array(snapshot.clusters()));
    root.set("endpoints", array(snapshot.endpoints()));
    root.set("secrets", array(snapshot.secrets()));
    return root;
  }

  public static String render(ObjectNode node) {
    return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(node);
  }

  public static ObjectMapper mapper() {
    return MAPPER;
  }

  private static ArrayNode array(Map<String, ? extends Message> resources) {
    ArrayNode array = MAPPER.createArrayNode();
    for (Message resource : new TreeMap<>(resources).values()) {
      array.add(toNode(resource));
    }
    return array;
  }

  private static JsonNode toNode(Message message) {
    try {
      return MAPPER.readTree(PRINTER.print(message));
    } catch (InvalidProtocolBufferException e) {
      // An Any of a type we do not know: show what we can rather than nothing.
      ObjectNode fallback = MAPPER.createObjectNode();
      fallback.put("unprintable", e.getMessage());
      fallback.put("text", message.toString());
      return fallback;
    }
  }
}
