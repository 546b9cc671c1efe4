package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyType;
import io.isthmus.controller.translate.ResourceNames;
import io.isthmus.discovery.Locality;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads a {@link ProxyNode} from an xDS {@link Node}: id {@code <type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>}
 * and the metadata keys of the contract ({@code CLUSTER_ID}, {@code NETWORK}, {@code NAMESPACE},
 * {@code SERVICE_ACCOUNT}, {@code NAME}, {@code LABELS}, {@code ROUTER_MODE}, {@code GENERATOR}).
 */
public final class ProxyNodeParser {

    public static final String CLUSTER_ID = "CLUSTER_ID";
    public static final String NETWORK = "NETWORK";
    public static final String NAMESPACE = "NAMESPACE";
    public static final String SERVICE_ACCOUNT = "SERVICE_ACCOUNT";
    public static final String NAME = "NAME";
    public static final String LABELS = "LABELS";
    public static final String ROUTER_MODE = "ROUTER_MODE";
    /** {@code grpc} on a {@code sidecar~} node marks a proxyless gRPC client (Istio's convention). */
    public static final String GENERATOR = "GENERATOR";

    private ProxyNodeParser() {}

    /**
     * @throws IllegalArgumentException naming the field that is missing or malformed and what
     *                                  was expected
     */
    public static ProxyNode parse(Node node) {
        requireNonNull(node, "node");
        String id = node.getId();
        String[] parts = id.split("~", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("node id: '" + id
                    + "' (expected: <sidecar|router>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>)");
        }
        Map<String, Value> metadata = node.getMetadata().getFieldsMap();
        ProxyType type = switch (parts[0]) {
            case "sidecar" -> "grpc".equals(optionalString(metadata, GENERATOR, "")) ? ProxyType.GRPC
                    : ProxyType.SIDECAR;
            case "router" -> ProxyType.ROUTER;
            default -> throw new IllegalArgumentException("node id: '" + id + "' has proxy type '" + parts[0]
                    + "' (expected: sidecar or router)");
        };
        String ip = parts[1];
        if (ip.isEmpty()) {
            throw new IllegalArgumentException("node id: '" + id + "' has no IP (expected: <type>~<ip>~...)");
        }
        String cluster = requiredString(metadata, CLUSTER_ID, id);
        String namespace = optionalString(metadata, NAMESPACE, namespaceFromId(parts[2]));
        if (namespace.isEmpty()) {
            throw new IllegalArgumentException("node " + id + ": metadata " + NAMESPACE
                    + " is missing (expected: the proxy's namespace)");
        }
        if (type == ProxyType.ROUTER) {
            String mode = optionalString(metadata, ROUTER_MODE, "");
            if (!mode.equals(ResourceNames.SNI_DNAT)) {
                throw new IllegalArgumentException("node " + id + ": metadata " + ROUTER_MODE + " is '" + mode
                        + "' (expected: " + ResourceNames.SNI_DNAT + ")");
            }
        }
        String podName = optionalString(metadata, NAME, podFromId(parts[2], namespace));
        Locality locality;
        try {
            locality = new Locality(node.getLocality().getRegion(), node.getLocality().getZone(),
                    node.getLocality().getSubZone());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("node " + id + ": " + e.getMessage(), e);
        }
        return new ProxyNode(id, type, ip, podName, namespace,
                optionalString(metadata, SERVICE_ACCOUNT, ""), cluster,
                optionalString(metadata, NETWORK, ""), locality, labels(metadata.get(LABELS), id));
    }

    private static String requiredString(Map<String, Value> metadata, String key, String id) {
        String value = optionalString(metadata, key, "");
        if (value.isEmpty()) {
            throw new IllegalArgumentException("node " + id + ": metadata " + key
                    + " is missing (expected: a non-empty string)");
        }
        return value;
    }

    private static String optionalString(Map<String, Value> metadata, String key, String fallback) {
        Value value = metadata.get(key);
        if (value == null || value.getKindCase() == Value.KindCase.NULL_VALUE) {
            return fallback;
        }
        if (value.getKindCase() != Value.KindCase.STRING_VALUE) {
            throw new IllegalArgumentException("metadata " + key + ": " + value.getKindCase()
                    + " (expected: a string)");
        }
        return value.getStringValue();
    }

    private static Map<String, String> labels(Value value, String id) {
        if (value == null) {
            return Map.of();
        }
        if (value.getKindCase() != Value.KindCase.STRUCT_VALUE) {
            throw new IllegalArgumentException("node " + id + ": metadata " + LABELS + " is " + value.getKindCase()
                    + " (expected: a struct of strings)");
        }
        Struct struct = value.getStructValue();
        Map<String, String> labels = new TreeMap<>();
        struct.getFieldsMap().forEach((k, v) -> {
            if (v.getKindCase() != Value.KindCase.STRING_VALUE) {
                throw new IllegalArgumentException("node " + id + ": label " + k + " is " + v.getKindCase()
                        + " (expected: a string)");
            }
            labels.put(k, v.getStringValue());
        });
        return labels;
    }

    /** {@code pod.ns} → {@code ns}; only a fallback when NAMESPACE is absent. */
    private static String namespaceFromId(String podDotNamespace) {
        int dot = podDotNamespace.lastIndexOf('.');
        return dot < 0 ? "" : podDotNamespace.substring(dot + 1);
    }

    private static String podFromId(String podDotNamespace, String namespace) {
        String suffix = "." + namespace;
        return podDotNamespace.endsWith(suffix)
                ? podDotNamespace.substring(0, podDotNamespace.length() - suffix.length())
                : podDotNamespace;
    }
}
