package io.isthmus.proxy.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

/**
 * xDS resources from a file instead of a controller: the proxy's and the gateway's
 * {@code --static-config}. The file is one JSON object {@code {"resources": [...]}} (the shape
 * of an xDS {@code DiscoveryResponse}), each resource an Envoy v3 Cluster,
 * ClusterLoadAssignment, Listener, RouteConfiguration or Secret in protobuf's canonical JSON
 * with its {@code "@type"}, e.g. {@code "type.googleapis.com/envoy.config.cluster.v3.Cluster"}.
 *
 * <p>Every resource passes the same validation as one received over ADS; unlike ADS, one bad
 * resource rejects the whole file (there is no last good config to keep at start-up). Every
 * type counts as received, so a file without listeners is a complete (empty) listener set.
 */
public final class XdsStaticConfig {

  /** The version every type of a static snapshot carries. */
  public static final String VERSION = "static";

  private static final JsonFormat.TypeRegistry TYPES = JsonFormat.TypeRegistry.newBuilder()
      .add(DiscoveryResponse.getDescriptor())
      .add(io.envoyproxy.envoy.config.cluster.v3.Cluster.getDescriptor())
      .add(io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.getDescriptor())
      .add(io.envoyproxy.envoy.config.listener.v3.Listener.getDescriptor())
      .add(io.envoyproxy.envoy.config.route.v3.RouteConfiguration.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret.getDescriptor())
      .add(HttpConnectionManager.getDescriptor())
      .add(Router.getDescriptor())
      .add(TcpProxy.getDescriptor())
      .add(UpstreamTlsContext.getDescriptor())
      .add(DownstreamTlsContext.getDescriptor())
      .add(HttpProtocolOptions.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
          .getDescriptor())
      .add(io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3
          .PreviousPrioritiesConfig.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.getDescriptor())
      .add(io.isthmus.trust.nds.NameTable.getDescriptor())
      .build();

  private XdsStaticConfig() {}

  /**
   * Reads and validates a static configuration file.
   *
   * @throws IllegalArgumentException naming the file, the resource and the field that is wrong
   */
  public static XdsSnapshot load(Path file) {
    requireNonNull(file, "file");
    String json;
    try {
      json = Files.readString(file);
    } catch (IOException e) {
      throw new IllegalArgumentException("--static-config: cannot read " + file + ": " + e, e);
    }
    return parse(json, file.toString());
  }

  /** As {@link #load}, from text; {@code source} names it in errors. */
  public static XdsSnapshot parse(String json, String source) {
    requireNonNull(json, "json");
    requireNonNull(source, "source");
    DiscoveryResponse.Builder document = DiscoveryResponse.newBuilder();
    try {
      JsonFormat.parser().usingTypeRegistry(TYPES).merge(json, document);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(source + ": not an xDS resource list ("
          + e.getMessage() + "; expected: {\"resources\": [{\"@type\": \"type.googleapis.com/"
          + "envoy.config.cluster.v3.Cluster\", ...}, ...]})", e);
    }
    Map<XdsResourceType, Map<String, Message>> byType = new EnumMap<>(XdsResourceType.class);
    for (XdsResourceType type : XdsResourceType.values()) {
      byType.put(type, new HashMap<>());
    }
    for (int i = 0; i < document.getResourcesCount(); i++) {
      Any any = document.getResources(i);
      XdsResourceType type = XdsResourceType.fromTypeUrl(any.getTypeUrl());
      if (type == null) {
        throw new IllegalArgumentException(source + ": resources[" + i + "]: @type "
            + any.getTypeUrl() + " (expected: a Cluster, ClusterLoadAssignment, Listener,"
            + " RouteConfiguration or Secret of Envoy's v3 API, or Istio's NDS NameTable)");
      }
      Message resource;
      try {
        resource = any.unpack(type.messageClass());
        XdsValidator.validate(resource);
      } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
        throw new IllegalArgumentException(source + ": resources[" + i + "]: " + e.getMessage(), e);
      }
      String name = XdsClient.nameOf(resource);
      if (byType.get(type).putIfAbsent(name, resource) != null) {
        throw new IllegalArgumentException(source + ": resources[" + i + "]: a second "
            + type.name().toLowerCase(java.util.Locale.ROOT) + " named " + name
            + " (expected: names unique per type)");
      }
    }
    Map<XdsResourceType, String> versions = new EnumMap<>(XdsResourceType.class);
    for (XdsResourceType type : XdsResourceType.values()) {
      versions.put(type, VERSION);
    }
    return new XdsSnapshot(cast(byType.get(XdsResourceType.CLUSTER)),
        cast(byType.get(XdsResourceType.ENDPOINT)), cast(byType.get(XdsResourceType.LISTENER)),
        cast(byType.get(XdsResourceType.ROUTE)), cast(byType.get(XdsResourceType.SECRET)),
        cast(byType.get(XdsResourceType.NAME_TABLE)), versions);
  }

  /** The file {@link #load} reads, for these resources. */
  public static String render(Collection<? extends Message> resources) {
    requireNonNull(resources, "resources");
    DiscoveryResponse.Builder document = DiscoveryResponse.newBuilder();
    for (Message resource : resources) {
      document.addResources(Any.pack(resource));
    }
    try {
      return JsonFormat.printer().usingTypeRegistry(TYPES).print(document);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("cannot render a resource as JSON: " + e.getMessage(), e);
    }
  }

  @SuppressWarnings("unchecked")
  private static <T extends Message> Map<String, T> cast(Map<String, Message> resources) {
    return (Map<String, T>) (Map<String, ?>) resources;
  }
}
