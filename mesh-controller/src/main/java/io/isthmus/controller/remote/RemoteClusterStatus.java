package io.isthmus.controller.remote;

import static java.util.Objects.requireNonNull;

import java.time.Instant;

/**
 * What the controller knows of one remote cluster, as {@code meshctl remote-clusters} shows it.
 *
 * @param cluster the remote cluster's name
 * @param secret  {@code namespace/name} of the remote secret naming it
 * @param status  {@code syncing}, {@code synced}, {@code timeout} (not synced within the sync
 *                timeout; still trying) or {@code error} (refused; {@code reason} says why)
 * @param reason  empty unless something is wrong, e.g. a rotated kubeconfig that does not parse
 *                while the previous one keeps serving
 * @param server  the API server the controller watches, empty when none was started
 * @param since   when {@code status} last changed
 */
public record RemoteClusterStatus(String cluster, String secret, String status, String reason, String server,
        Instant since) {

    public static final String SYNCING = "syncing";
    public static final String SYNCED = "synced";
    public static final String TIMEOUT = "timeout";
    public static final String ERROR = "error";

    public RemoteClusterStatus {
        requireNonNull(cluster, "cluster");
        requireNonNull(secret, "secret");
        requireNonNull(status, "status");
        requireNonNull(reason, "reason");
        requireNonNull(server, "server");
        requireNonNull(since, "since");
    }
}
