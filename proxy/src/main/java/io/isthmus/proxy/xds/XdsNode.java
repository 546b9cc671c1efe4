package io.isthmus.proxy.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.Node;
import java.util.Map;
import java.util.TreeMap;

/**
 * Who the proxy is, as it tells the controller in the ADS {@code Node}.
 *
 * <p>The node id is {@code <type>~<podIp>~<pod>.<ns>~<ns>.svc.cluster.local}, where type is
 * {@code sidecar} or {@code router}; the controller keys its per-proxy view on these fields.
 *
 * @param type {@code sidecar} or {@code router}
 * @param locality {@code region/zone/subzone}, any part may be empty
 * @param extraMetadata further metadata string fields, e.g. {@code ROUTER_MODE}
 */
public record XdsNode(
    String type,
    String podIp,
    String podName,
    String namespace,
    String serviceAccount,
    String clusterId,
    String network,
    String locality,
    Map<String, String> labels,
    Map<String, String> extraMetadata) {

  public XdsNode {
    requireNonNull(type, "type");
    requireNonNull(podIp, "podIp");
    requireNonNull(podName, "podName");
    requireNonNull(namespace, "namespace");
    requireNonNull(serviceAccount, "serviceAccount");
    requireNonNull(clusterId, "clusterId");
    requireNonNull(network, "network");
    requireNonNull(locality, "locality");
    if (!type.equals("sidecar") && !type.equals("router")) {
      throw new IllegalArgumentException("type: " + type + " (expected: sidecar or router)");
    }
    labels = Map.copyOf(requireNonNull(labels, "labels"));
    extraMetadata = Map.copyOf(requireNonNull(extraMetadata, "extraMetadata"));
  }

  public String id() {
    return type + "~" + podIp + "~" + podName + "." + namespace + "~" + namespace
        + ".svc.cluster.local";
  }

  /** Istio's service cluster: {@code <app>.<ns>}, app from the {@code app} label. */
  public String serviceCluster() {
    String app = labels.getOrDefault("app", labels.getOrDefault("istio", serviceAccount));
    return app + "." + namespace;
  }

  public Locality localityProto() {
    String[] parts = locality.split("/", -1);
    Locality.Builder builder = Locality.newBuilder();
    if (parts.length > 0) {
      builder.setRegion(parts[0]);
    }
    if (parts.length > 1) {
      builder.setZone(parts[1]);
    }
    if (parts.length > 2) {
      builder.setSubZone(parts[2]);
    }
    return builder.build();
  }

  public Node toProto() {
    Struct.Builder labelStruct = Struct.newBuilder();
    new TreeMap<>(labels).forEach((k, v) -> labelStruct.putFields(k, string(v)));
    Struct.Builder metadata = Struct.newBuilder()
        .putFields("CLUSTER_ID", string(clusterId))
        .putFields("NETWORK", string(network))
        .putFields("NAMESPACE", string(namespace))
        .putFields("SERVICE_ACCOUNT", string(serviceAccount))
        .putFields("NAME", string(podName))
        .putFields("INSTANCE_IPS", string(podIp))
        .putFields("LABELS", Value.newBuilder().setStructValue(labelStruct).build());
    new TreeMap<>(extraMetadata).forEach((k, v) -> metadata.putFields(k, string(v)));
    return Node.newBuilder()
        .setId(id())
        .setCluster(serviceCluster())
        .setLocality(localityProto())
        .setMetadata(metadata)
        .setUserAgentName("isthmus")
        .build();
  }

  private static Value string(String s) {
    return Value.newBuilder().setStringValue(s).build();
  }
}
