package io.isthmus.controller.remote;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.TreeMap;

/**
 * One remote secret ({@code istio/multiCluster=true}), read key by key: every data key is a
 * remote cluster's name holding its kubeconfig. A bad key does not spoil the good ones.
 *
 * @param ref      {@code namespace/name} of the Secret
 * @param clusters the keys whose kubeconfig passed {@link RemoteKubeconfig#parse}
 * @param errors   the other keys, each with why it was refused
 */
public record RemoteSecret(String ref, Map<String, RemoteKubeconfig> clusters, Map<String, String> errors) {

    /** Istio's label marking a Secret as a remote secret. */
    public static final String LABEL = "istio/multiCluster";
    /** Istio's annotation naming the cluster the secret is for. */
    public static final String CLUSTER_ANNOTATION = "networking.istio.io/cluster";

    public RemoteSecret {
        requireNonNull(ref, "ref");
        clusters = Map.copyOf(clusters);
        errors = Map.copyOf(errors);
    }

    public static RemoteSecret read(Secret secret) {
        requireNonNull(secret, "secret");
        String ref = secret.getMetadata().getNamespace() + "/" + secret.getMetadata().getName();
        Map<String, RemoteKubeconfig> clusters = new TreeMap<>();
        Map<String, String> errors = new TreeMap<>();
        Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
        Map<String, String> stringData = secret.getStringData() == null ? Map.of() : secret.getStringData();
        if (data.isEmpty() && stringData.isEmpty()) {
            errors.put("", "Secret " + ref + " has no data (expected: one key per remote cluster, holding "
                    + "its kubeconfig)");
        }
        Map<String, String> decoded = new TreeMap<>();
        data.forEach((key, value) -> {
            try {
                decoded.put(key, new String(Base64.getMimeDecoder().decode(value == null ? "" : value),
                        StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                errors.put(key, "Secret " + ref + " key '" + key + "' is not base64");
            }
        });
        decoded.putAll(stringData);
        decoded.forEach((key, yaml) -> {
            if (!validClusterName(key)) {
                errors.put(key, "Secret " + ref + " key '" + key + "' is not a valid cluster name "
                        + "(expected: lowercase letters, digits, '-' and '.', as 'meshctl create-remote-secret --name' takes)");
                return;
            }
            try {
                clusters.put(key, RemoteKubeconfig.parse(key, yaml));
            } catch (IllegalArgumentException e) {
                errors.put(key, "Secret " + ref + " key '" + key + "': " + e.getMessage());
            }
        });
        return new RemoteSecret(ref, clusters, errors);
    }

    static boolean validClusterName(String name) {
        return !name.isEmpty() && name.length() <= 253 && name.matches("[a-z0-9]([a-z0-9.-]*[a-z0-9])?");
    }
}
