package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.isthmus.topologies.kube.ApiResource;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import java.io.ByteArrayInputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Create-or-replace and delete of parsed objects, the way {@code kubectl apply}/{@code delete} would,
 * but with plain GET/POST/PUT/DELETE so it works against the embedded API servers (which support
 * neither server-side apply nor strategic-merge patch). Replace carries the live resourceVersion,
 * so a concurrent writer gets a 409 rather than being overwritten silently.
 */
final class ResourceApplier {

    /** Kinds the embedded API servers serve, plus RBAC (which the fabric8 mock stores like any path). */
    static final List<ApiResource> KINDS = kinds();

    private ResourceApplier() {
    }

    /** One parsed document, with its position in the input for messages. */
    record Document(int index, HasMetadata object, ApiResource kind) {
        Document {
            requireNonNull(object, "object");
            requireNonNull(kind, "kind");
        }

        String describe() {
            return kind.kind().toLowerCase() + "/" + object.getMetadata().getName();
        }
    }

    /**
     * Parses multi-document YAML (or JSON) and checks every object before anything is sent: the kind
     * must be one the API servers serve, and the validator must accept it.
     *
     * @throws CommandException (usage) naming the source, the document and the problem
     */
    static List<Document> parse(KubernetesClient client, String source, String yaml, ResourceValidator validator) {
        List<HasMetadata> objects;
        try {
            objects = client.load(new ByteArrayInputStream(yaml.getBytes(java.nio.charset.StandardCharsets.UTF_8))).items();
        } catch (RuntimeException e) {
            throw CommandException.usage(source + ": not Kubernetes YAML (" + firstLine(e.getMessage()) + ")");
        }
        List<Document> docs = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        int i = 0;
        for (HasMetadata o : objects) {
            i++;
            if (o == null) {
                continue;
            }
            String where = source + ": document " + i;
            Optional<ApiResource> kind = kindOf(o);
            if (kind.isEmpty()) {
                problems.add(where + ": kind " + o.getKind() + " (" + o.getApiVersion() + ") is not served by the embedded "
                        + "API servers (expected: one of " + KINDS.stream().map(ApiResource::kind).distinct().sorted().toList() + ")");
                continue;
            }
            List<String> errors = validator.validate(o);
            if (!errors.isEmpty()) {
                String name = o.getMetadata() == null ? null : o.getMetadata().getName();
                problems.add(where + " (" + o.getKind() + (name != null ? " " + name : "") + "): " + String.join("; ", errors));
                continue;
            }
            docs.add(new Document(i, o, kind.get()));
        }
        if (!problems.isEmpty()) {
            throw CommandException.usage(String.join("\nmeshctl: ", problems));
        }
        if (docs.isEmpty()) {
            throw CommandException.usage(source + ": no objects (expected: one or more Kubernetes YAML documents)");
        }
        return docs;
    }

    static Optional<ApiResource> kindOf(HasMetadata o) {
        String apiVersion = o.getApiVersion() == null ? "" : o.getApiVersion();
        return KINDS.stream().filter(r -> r.groupVersion().equals(apiVersion) && r.kind().equals(o.getKind())).findFirst();
    }

    /** Puts the object into the namespace it names, else the given one (namespaced kinds only). */
    static void defaultNamespace(Document d, String namespace) {
        ObjectMeta meta = d.object().getMetadata();
        if (d.kind().namespaced()) {
            if (meta.getNamespace() == null || meta.getNamespace().isBlank()) {
                meta.setNamespace(namespace);
            }
        } else {
            meta.setNamespace(null);
        }
    }

    /** Creates the object, or replaces the live one; returns "created", "configured" or "unchanged". */
    static String upsert(KubernetesClient client, HasMetadata object, boolean clusterScoped) {
        if (clusterScoped) {
            object.getMetadata().setNamespace(null);
        }
        HasMetadata live = client.resource(object).get();
        if (live == null) {
            client.resource(object).create();
            return "created";
        }
        if (sameContent(client, live, object)) {
            return "unchanged";
        }
        object.getMetadata().setResourceVersion(live.getMetadata().getResourceVersion());
        client.resource(object).update();
        return "configured";
    }

    /** Deletes the object; false if it was not there. */
    static boolean delete(KubernetesClient client, HasMetadata object) {
        return !client.resource(object).delete().isEmpty();
    }

    /** Whether applying would change nothing: same labels, annotations and body (server-set fields ignored). */
    private static boolean sameContent(KubernetesClient client, HasMetadata live, HasMetadata desired) {
        Map<String, Object> a = comparable(client, live);
        Map<String, Object> b = comparable(client, desired);
        return a.equals(b);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> comparable(KubernetesClient client, HasMetadata o) {
        Map<String, Object> map = client.getKubernetesSerialization().convertValue(o, Map.class);
        Object meta = map.get("metadata");
        if (meta instanceof Map<?, ?> m) {
            Map<String, Object> kept = new java.util.HashMap<>();
            kept.put("labels", emptyIfNull(m.get("labels")));
            kept.put("annotations", emptyIfNull(m.get("annotations")));
            map.put("metadata", kept);
        }
        map.remove("status");
        return map;
    }

    private static Object emptyIfNull(Object o) {
        return Objects.requireNonNullElse(o, Map.of());
    }

    private static List<ApiResource> kinds() {
        List<ApiResource> k = new ArrayList<>(EmbeddedApiServer.RESOURCES);
        String rbac = "rbac.authorization.k8s.io";
        k.add(new ApiResource(rbac, "v1", "ClusterRole", "clusterroles", false, List.of()));
        k.add(new ApiResource(rbac, "v1", "ClusterRoleBinding", "clusterrolebindings", false, List.of()));
        k.add(new ApiResource(rbac, "v1", "Role", "roles", true, List.of()));
        k.add(new ApiResource(rbac, "v1", "RoleBinding", "rolebindings", true, List.of()));
        return List.copyOf(k);
    }

    static String firstLine(String s) {
        if (s == null) {
            return "failed";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    static String failure(KubernetesClientException e) {
        if (e.getStatus() != null && e.getStatus().getMessage() != null) {
            return e.getStatus().getMessage();
        }
        return firstLine(e.getMessage());
    }
}
