package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.client.informers.ExceptionHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The failure policy of the controller's own informers: keep retrying (with the informer's
 * backoff) until closed. fabric8's default gives up when the first list fails, so an API server
 * that is slow or refuses us (RBAC not bound yet) at start would leave a watch stopped for the
 * controller's whole life. Only a response that cannot be read (a server of another version) is
 * final, since asking again gets the same answer. Every failure is logged and counted in
 * {@code isthmus_informer_failures_total{informer}}.
 */
public final class InformerRetry {

    private static final Logger log = LoggerFactory.getLogger(InformerRetry.class);
    static final String FAILURES_METER = "isthmus_informer_failures";

    private InformerRetry() {}

    /** Installs the policy on {@code informer}, named {@code name} in logs and the metric. */
    public static void install(SharedIndexInformer<?> informer, String name, MeterRegistry registry) {
        requireNonNull(informer, "informer");
        requireNonNull(name, "name");
        Counter failures = Counter.builder(FAILURES_METER)
                .description("Failed lists and watches of the controller's informers (each is retried)")
                .tag("informer", name)
                .register(requireNonNull(registry, "registry"));
        informer.exceptionHandler((isStarted, t) -> {
            failures.increment();
            boolean retry = !ExceptionHandler.isDeserializationException(t);
            log.warn("{} informer failed{}: {}; {}", name, isStarted ? "" : " before its first list",
                    t.toString(), retry ? "retrying" : "giving up (the response cannot be read)");
            return retry;
        });
    }
}
