package io.isthmus.discovery.kube;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ExceptionHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.HttpURLConnection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The failure policy of every informer the mesh runs: keep retrying, with the informer's backoff
 * (1 s doubling to 32 s), until it is stopped.
 *
 * <p>fabric8's default gives up for good when an informer's first list fails. On a busy host the
 * first lists of a controller's dozens of informers can time out, or the API server can refuse
 * them until the controller's RBAC binding exists; a watch stopped then would leave the
 * controller blind to that kind for its whole life. Only a response that cannot be read (a server
 * of another version) is final, since asking again gets the same answer.
 *
 * <p>An <em>optional</em> kind (a CRD that may not be installed: Istio's kinds, the multi-cluster
 * services API) answers 404 while it is not served. Its informer keeps asking (so a CRD installed
 * later is watched from then on) but reports itself settled at once, so the first state of a
 * cluster without that CRD does not wait for it. Any other failure before the first list holds
 * the kind unsettled until a list succeeds: a first state without objects that exist would make
 * the mesh withdraw them.
 *
 * <p>Every failure except "not served" is logged and counted in
 * {@code isthmus_informer_failures_total{informer}}; "not served" is logged once.
 */
public final class InformerRetry {

    /** Micrometer name of the failure counter (Prometheus: {@code isthmus_informer_failures_total}). */
    public static final String FAILURES_METER = "isthmus_informer_failures";

    private static final Logger log = LoggerFactory.getLogger(InformerRetry.class);

    private InformerRetry() {}

    /**
     * Installs the policy on the informer of a kind every API server serves; call before
     * starting it. {@code name} names it in logs and the metric.
     */
    public static void install(SharedIndexInformer<?> informer, String name, MeterRegistry registry) {
        installPolicy(informer, name, registry, null);
    }

    /**
     * Installs the policy on the informer of an optional kind and starts it. The future completes
     * once the informer has listed its kind, or once the API server has said it does not serve
     * the kind; it never completes exceptionally.
     */
    public static CompletableFuture<Void> startOptional(
            SharedIndexInformer<?> informer, String name, MeterRegistry registry) {
        CompletableFuture<Void> settled = new CompletableFuture<>();
        installPolicy(informer, name, registry, settled);
        informer.start().whenComplete((ok, error) -> settled.complete(null));
        return settled;
    }

    private static void installPolicy(SharedIndexInformer<?> informer, String name, MeterRegistry registry,
            CompletableFuture<Void> settledWhenNotServed) {
        requireNonNull(informer, "informer");
        requireNonNull(name, "name");
        Counter failures = Counter.builder(FAILURES_METER)
                .description("Failed lists and watches of the mesh's informers (each is retried)")
                .tag("informer", name)
                .register(requireNonNull(registry, "registry"));
        AtomicBoolean reportedNotServed = new AtomicBoolean();
        informer.exceptionHandler((isStarted, t) -> {
            if (settledWhenNotServed != null && !isStarted && isNotFound(t)) {
                if (!reportedNotServed.getAndSet(true)) {
                    log.info("{}: the API server does not serve this kind; watching for it to appear", name);
                }
                settledWhenNotServed.complete(null);
                return true;
            }
            failures.increment();
            boolean retry = !ExceptionHandler.isDeserializationException(t);
            log.warn("{} informer failed{}: {}; {}", name, isStarted ? "" : " before its first list",
                    t.toString(), retry ? "retrying" : "giving up (the response cannot be read)");
            return retry;
        });
    }

    private static boolean isNotFound(Throwable t) {
        for (Throwable cause = t; cause != null; cause = cause.getCause()) {
            if (cause instanceof KubernetesClientException e && e.getCode() == HttpURLConnection.HTTP_NOT_FOUND) {
                return true;
            }
        }
        return false;
    }
}
