package io.isthmus.controller;

import io.isthmus.controller.federation.FederationCommand;
import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.PublishClusterState;
import io.isthmus.controller.federation.PublishMeshConfig;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.controller.federation.PublishTrustRoots;
import io.isthmus.controller.federation.UpdateEndpoints;
import io.isthmus.controller.federation.RegisterCluster;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets this cluster into the federation and keeps its exported state there: registers the
 * cluster and its trust root once a leader exists, then publishes each new {@link ClusterState}.
 * The latest state wins (intermediate ones are skipped); failures retry with exponential backoff.
 * One private thread does all of it, so commands go out in order; what is pending at once (the
 * registration, the state or its endpoint delta, roots, mesh configuration) is submitted together
 * through the node's group commit ({@link FederationNode#submitCoalesced}), so it shares one log
 * entry with itself and with other publishers' commands, and commits or fails as a whole.
 */
final class FederationPublisher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(FederationPublisher.class);
    private static final Duration MIN_BACKOFF = Duration.ofMillis(200);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(2);
    private static final Duration SUBMIT_TIMEOUT = Duration.ofSeconds(15);

    private final FederationNode federation;
    private final ClusterInfo info;
    private final ScheduledExecutorService executor;

    // Confined to the executor.
    private volatile boolean registered;
    private ClusterState latest;
    private ClusterState published;
    private List<ConfigResource> latestConfig;
    private List<ConfigResource> publishedConfig;
    private List<String> latestRoots;
    private List<String> publishedRoots;
    private boolean scheduled;
    private Duration backoff = MIN_BACKOFF;
    private String lastRetryReason = "";

    FederationPublisher(FederationNode federation, ClusterInfo info, List<String> rootsPem) {
        this.federation = federation;
        this.info = info;
        this.latestRoots = List.copyOf(rootsPem);
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "federation-publisher");
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        this.executor = ex;
    }

    /** Starts registering; call once. */
    void start() {
        executor.execute(this::schedule);
    }

    /** Publishes {@code state} (or a later one) as soon as the federation takes it. */
    void offer(ClusterState state) {
        executor.execute(() -> {
            latest = state;
            schedule();
        });
    }

    /** Publishes this cluster's accepted Istio configuration (or a later one) as soon as the federation takes it. */
    void offerMeshConfig(List<ConfigResource> resources) {
        executor.execute(() -> {
            latestConfig = resources;
            schedule();
        });
    }

    /**
     * Publishes the roots this cluster trusts (its {@code cacerts} root-cert.pem, several during a
     * root rotation) as its contribution to the mesh trust bundle, replacing the previous ones.
     */
    void offerTrustRoots(List<String> rootsPem) {
        List<String> roots = List.copyOf(rootsPem);
        executor.execute(() -> {
            latestRoots = roots;
            schedule();
        });
    }

    private void schedule() {
        if (!scheduled) {
            scheduled = true;
            executor.execute(this::run);
        }
    }

    private void run() {
        scheduled = false;
        try {
            if (!federation.hasLeader()) {
                retry("no federation leader yet");
                return;
            }
            // Everything pending leaves at once through the node's group commit, usually as one
            // log entry, together with what other publishers of this controller have queued.
            List<FederationCommand> commands = new ArrayList<>();
            List<Runnable> onCommitted = new ArrayList<>();
            if (!registered) {
                FederatedState state = federation.state();
                if (!info.equals(state.clusters().get(info.name()))) {
                    commands.add(new RegisterCluster(info));
                    onCommitted.add(() -> log.info("registered cluster {} (network {}, controller {})",
                            info.name(), info.network(), info.controllerAddress()));
                }
                onCommitted.add(() -> registered = true);
            }
            ClusterState next = latest;
            if (next != null && !next.equals(published)) {
                // Endpoint churn travels as a delta; anything else, or the first state, as a whole.
                UpdateEndpoints delta = published == null ? null : UpdateEndpoints.between(published, next);
                commands.add(delta != null ? delta : new PublishClusterState(next));
                onCommitted.add(() -> {
                    published = next;
                    if (delta != null) {
                        log.info("published endpoint delta of {}: {} upserted, {} removed", info.name(),
                                delta.upserted().size(), delta.removed().size());
                    } else {
                        log.info("published cluster state of {}: {} services, {} endpoints, {} gateways",
                                info.name(), next.services().size(), next.endpoints().size(), next.gateways().size());
                    }
                });
            }
            List<String> nextRoots = latestRoots;
            if (!nextRoots.equals(publishedRoots)) {
                commands.add(new PublishTrustRoots(info.name(), nextRoots));
                onCommitted.add(() -> {
                    publishedRoots = nextRoots;
                    log.info("published the {} trust root(s) of {}", nextRoots.size(), info.name());
                });
            }
            List<ConfigResource> nextConfig = latestConfig;
            if (nextConfig != null && !nextConfig.equals(publishedConfig)) {
                commands.add(new PublishMeshConfig(info.name(), nextConfig));
                onCommitted.add(() -> {
                    publishedConfig = nextConfig;
                    log.info("published the mesh configuration of {}: {} objects", info.name(), nextConfig.size());
                });
            }
            List<CompletableFuture<Long>> submitted = new ArrayList<>(commands.size());
            commands.forEach(command -> submitted.add(federation.submitCoalesced(command)));
            long deadline = System.nanoTime() + SUBMIT_TIMEOUT.toNanos();
            long index = 0;
            for (CompletableFuture<Long> future : submitted) {
                index = Math.max(index, future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
            }
            if (!commands.isEmpty()) {
                log.info("federation: {} command(s) of {} committed by log index {}", commands.size(), info.name(),
                        index);
            }
            onCommitted.forEach(Runnable::run);
            backoff = MIN_BACKOFF;
            lastRetryReason = "";
            if ((latest != null && !latest.equals(published))
                    || (latestConfig != null && !latestConfig.equals(publishedConfig))
                    || !latestRoots.equals(publishedRoots)) {
                // A newer state arrived while this one was being committed.
                schedule();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            // The replicated state may not be what we last published (unknown outcome, removal,
            // or another command of the same batch refused): the next attempt sends the whole
            // state, never a delta against a guessed base.
            published = null;
            retry(describe(e));
        }
    }

    private void retry(String why) {
        // Once per distinct reason at INFO: waiting for an election would otherwise log every retry.
        if (!why.equals(lastRetryReason)) {
            log.info("federation: {}; retrying with backoff up to {} ms", why, MAX_BACKOFF.toMillis());
            lastRetryReason = why;
        } else {
            log.debug("federation: {}; retrying in {} ms", why, backoff.toMillis());
        }
        scheduled = true;
        executor.schedule(this::run, backoff.toMillis(), TimeUnit.MILLISECONDS);
        backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
    }

    private static String describe(Throwable e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        return cause.getClass().getSimpleName() + ": " + cause.getMessage();
    }

    /** True once the cluster and its root are registered. */
    boolean registered() {
        return registered;
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
