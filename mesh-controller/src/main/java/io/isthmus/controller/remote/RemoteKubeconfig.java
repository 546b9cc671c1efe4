package io.isthmus.controller.remote;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.AuthInfo;
import io.fabric8.kubernetes.api.model.Cluster;
import io.fabric8.kubernetes.api.model.Config;
import io.fabric8.kubernetes.api.model.NamedAuthInfo;
import io.fabric8.kubernetes.api.model.NamedCluster;
import io.fabric8.kubernetes.api.model.NamedContext;
import io.fabric8.kubernetes.client.internal.KubeConfigUtils;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A remote cluster's kubeconfig taken from a remote secret, checked before any client is built
 * from it: it parses, its current context names a cluster with an https (or http) server and a
 * user, and that user runs no program. Exec plugins and auth-provider plugins are refused, as
 * Istio refuses them by default: a kubeconfig in a Secret must not make the controller run a
 * command chosen by whoever can write that Secret.
 *
 * @param cluster  the remote cluster's name (the Secret's data key)
 * @param yaml     the kubeconfig text
 * @param server   the API server URL of the current context
 * @param sha256   hex digest of {@code yaml}, to tell a rotated kubeconfig from the same one
 */
public record RemoteKubeconfig(String cluster, String yaml, String server, String sha256) {

    public RemoteKubeconfig {
        requireNonNull(cluster, "cluster");
        requireNonNull(yaml, "yaml");
        requireNonNull(server, "server");
        requireNonNull(sha256, "sha256");
    }

    /**
     * Parses and checks a kubeconfig.
     *
     * @throws IllegalArgumentException naming what is wrong and how to fix it
     */
    public static RemoteKubeconfig parse(String cluster, String yaml) {
        requireNonNull(cluster, "cluster");
        requireNonNull(yaml, "yaml");
        if (yaml.isBlank()) {
            throw new IllegalArgumentException("kubeconfig is empty (expected: a kubeconfig as made by "
                    + "'meshctl create-remote-secret')");
        }
        Config config;
        try {
            config = KubeConfigUtils.parseConfigFromString(yaml);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("kubeconfig does not parse: " + firstLine(e), e);
        }
        if (config == null) {
            throw new IllegalArgumentException("kubeconfig does not parse: not a YAML mapping");
        }
        String contextName = config.getCurrentContext();
        if (contextName == null || contextName.isEmpty()) {
            throw new IllegalArgumentException("kubeconfig has no current-context (set one: "
                    + "'kubectl config use-context <name> --kubeconfig <file>')");
        }
        NamedContext context = config.getContexts() == null ? null : config.getContexts().stream()
                .filter(c -> contextName.equals(c.getName())).findFirst().orElse(null);
        if (context == null || context.getContext() == null) {
            throw new IllegalArgumentException("kubeconfig current-context '" + contextName
                    + "' is not among its contexts");
        }
        String clusterRef = context.getContext().getCluster();
        Cluster server = config.getClusters() == null ? null : config.getClusters().stream()
                .filter(c -> c.getName() != null && c.getName().equals(clusterRef))
                .map(NamedCluster::getCluster).findFirst().orElse(null);
        if (server == null || server.getServer() == null || server.getServer().isBlank()) {
            throw new IllegalArgumentException("kubeconfig context '" + contextName + "' names cluster '"
                    + clusterRef + "' which has no server address");
        }
        URI uri;
        try {
            uri = URI.create(server.getServer());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("kubeconfig server '" + server.getServer() + "' is not a URL", e);
        }
        if (!"https".equals(uri.getScheme()) && !"http".equals(uri.getScheme()) || uri.getHost() == null) {
            throw new IllegalArgumentException("kubeconfig server '" + server.getServer()
                    + "' is not an https:// URL with a host");
        }
        String userRef = context.getContext().getUser();
        AuthInfo user = config.getUsers() == null ? null : config.getUsers().stream()
                .filter(u -> u.getName() != null && u.getName().equals(userRef))
                .map(NamedAuthInfo::getUser).findFirst().orElse(null);
        if (user == null) {
            throw new IllegalArgumentException("kubeconfig context '" + contextName + "' names user '"
                    + userRef + "' which is not among its users");
        }
        if (user.getExec() != null) {
            throw new IllegalArgumentException("kubeconfig user '" + userRef + "' uses an exec plugin ("
                    + user.getExec().getCommand() + "), which remote secrets may not run; use a "
                    + "service-account token ('meshctl create-remote-secret' makes one)");
        }
        if (user.getAuthProvider() != null) {
            throw new IllegalArgumentException("kubeconfig user '" + userRef + "' uses an auth-provider plugin ("
                    + user.getAuthProvider().getName() + "), which remote secrets may not run; use a "
                    + "service-account token ('meshctl create-remote-secret' makes one)");
        }
        return new RemoteKubeconfig(cluster, yaml, server.getServer(), sha256(yaml));
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static String firstLine(Throwable e) {
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
