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
import java.util.List;
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
 * One private thread does all of it, so commands go out in order.
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
            if (!registered) {
                register();
            }
            ClusterState next = latest;
            if (next != null && !next.equals(published)) {
                // Endpoint churn travels as a delta; anything else, or the first state, as a whole.
                UpdateEndpoints delta = published == null ? null : UpdateEndpoints.between(published, next);
                long index = submit(delta != null ? delta : new PublishClusterState(next));
                published = next;
                if (delta != null) {
                    log.info("published endpoint delta of {} at index {}: {} upserted, {} removed", info.name(), index,
                            delta.upserted().size(), delta.removed().size());
                } else {
                    log.info("published cluster state of {} at index {}: {} services, {} endpoints, {} gateways",
                            info.name(), index, next.services().size(), next.endpoints().size(),
                            next.gateways().size());
                }
            }
            List<String> nextRoots = latestRoots;
            if (!nextRoots.equals(publishedRoots)) {
                long index = submit(new PublishTrustRoots(info.name(), nextRoots));
                publishedRoots = nextRoots;
                log.info("published the {} trust root(s) of {} at index {}", nextRoots.size(), info.name(), index);
            }
            List<ConfigResource> nextConfig = latestConfig;
            if (nextConfig != null && !nextConfig.equals(publishedConfig)) {
                long index = submit(new PublishMeshConfig(info.name(), nextConfig));
                publishedConfig = nextConfig;
                log.info("published the mesh configuration of {} at index {}: {} objects",
                        info.name(), index, nextConfig.size());
            }
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
            // The replicated state may not be what we last published (unknown outcome, removal):
            // the next attempt sends the whole state, never a delta against a guessed base.
            published = null;
            retry(describe(e));
        }
    }

    private void register() throws InterruptedException, ExecutionException, TimeoutException {
        FederatedState state = federation.state();
        if (!info.equals(state.clusters().get(info.name()))) {
            long index = submit(new RegisterCluster(info));
            log.info("registered cluster {} (network {}, controller {}) at index {}",
                    info.name(), info.network(), info.controllerAddress(), index);
        }
        registered = true;
    }

    private long submit(FederationCommand command)
            throws InterruptedException, ExecutionException, TimeoutException {
        return federation.submit(command).get(SUBMIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
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
