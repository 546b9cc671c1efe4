package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.Base64;
import java.util.Optional;

/**
 * Who a workload is, as sidecars tell each other in Istio's HTTP metadata exchange: the
 * client's sidecar sends its own in the request header {@value #HEADER}, the server's sidecar
 * answers with its own in the response, and each side strips the header before the app sees
 * it. The value is Istio's: a base64 {@code google.protobuf.Struct} with {@code NAME},
 * {@code NAMESPACE}, {@code CLUSTER_ID}, {@code WORKLOAD_NAME} and {@code LABELS}
 * ({@code app}, {@code version}), so Envoy-based sidecars can read ours and we theirs.
 *
 * <p>The principal never travels in the header: it is the verified SPIFFE ID of the mTLS
 * peer, which a header could forge.
 */
public record PeerMetadata(String pod, String namespace, String cluster, String workload,
    String app, String version) {

  public static final String HEADER = "x-envoy-peer-metadata";
  public static final String ID_HEADER = "x-envoy-peer-metadata-id";
  /** Larger values are refused rather than decoded: a peer cannot make us parse megabytes. */
  static final int MAX_HEADER_CHARS = 8192;

  public static final PeerMetadata UNKNOWN =
      new PeerMetadata("unknown", "unknown", "unknown", "unknown", "unknown", "unknown");

  public PeerMetadata {
    pod = orUnknown(pod);
    namespace = orUnknown(namespace);
    cluster = orUnknown(cluster);
    workload = orUnknown(workload);
    app = orUnknown(app);
    version = orUnknown(version);
  }

  /** Istio's workload name from a pod name: a Deployment's pod minus its generated suffixes. */
  public static String workloadOfPod(String pod) {
    requireNonNull(pod, "pod");
    // <deployment>-<pod-template-hash 8..10>-<5 random>, or a bare <name>-<5 random>.
    String name = pod.replaceFirst("-[a-z0-9]{5}$", "");
    if (!name.equals(pod)) {
      name = name.replaceFirst("-[a-z0-9]{8,10}$", "");
    }
    return name;
  }

  /** The header value: base64 of the Struct. */
  public String encode() {
    Struct labels = Struct.newBuilder()
        .putFields("app", string(app))
        .putFields("version", string(version))
        .build();
    Struct struct = Struct.newBuilder()
        .putFields("NAME", string(pod))
        .putFields("NAMESPACE", string(namespace))
        .putFields("CLUSTER_ID", string(cluster))
        .putFields("WORKLOAD_NAME", string(workload))
        .putFields("LABELS", Value.newBuilder().setStructValue(labels).build())
        .build();
    return Base64.getEncoder().encodeToString(struct.toByteArray());
  }

  /**
   * Decodes a header value; empty when it is not base64 of a Struct or too long (the caller
   * counts that and carries on with {@link #UNKNOWN}).
   */
  public static Optional<PeerMetadata> decode(String header) {
    if (header == null || header.isEmpty() || header.length() > MAX_HEADER_CHARS) {
      return Optional.empty();
    }
    try {
      Struct struct = Struct.parseFrom(Base64.getDecoder().decode(header.trim()));
      Struct labels = struct.getFieldsOrDefault("LABELS", Value.getDefaultInstance())
          .getStructValue();
      String workload = field(struct, "WORKLOAD_NAME");
      String pod = field(struct, "NAME");
      return Optional.of(new PeerMetadata(pod, field(struct, "NAMESPACE"),
          field(struct, "CLUSTER_ID"),
          workload.isEmpty() && !pod.isEmpty() ? workloadOfPod(pod) : workload,
          field(labels, "app"), field(labels, "version")));
    } catch (IllegalArgumentException | InvalidProtocolBufferException e) {
      return Optional.empty();
    }
  }

  /** Envoy's node id form Istio puts in {@value #ID_HEADER}. */
  public String id(String podIp) {
    return "sidecar~" + podIp + "~" + pod + "." + namespace + "~" + namespace
        + ".svc.cluster.local";
  }

  private static String field(Struct struct, String key) {
    return struct.getFieldsOrDefault(key, Value.getDefaultInstance()).getStringValue();
  }

  private static Value string(String s) {
    return Value.newBuilder().setStringValue(s).build();
  }

  private static String orUnknown(String s) {
    return s == null || s.isBlank() ? "unknown" : s;
  }
}
