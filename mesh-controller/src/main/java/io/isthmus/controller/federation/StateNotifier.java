package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.discovery.FederatedState;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers state changes to subscribers on one dedicated thread, coalesced: when applies come
 * faster than a listener runs, it sees the latest value, never a backlog. Each listener sees
 * strictly increasing applied indexes. The applier only publishes a reference; it never waits
 * for a listener.
 */
final class StateNotifier implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(StateNotifier.class);

    private final Supplier<FederatedState> current;
    private final ExecutorService executor;
    private final AtomicReference<FederatedState> pending = new AtomicReference<>();
    private final List<Subscriber> subscribers = new CopyOnWriteArrayList<>();

    StateNotifier(String peerId, Supplier<FederatedState> current) {
        this.current = requireNonNull(current, "current");
        this.executor = Executors.newSingleThreadExecutor(runnable -> {
            Thread thread = new Thread(runnable, "federation-notify-" + peerId);
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Called by the applier after each new value; returns at once. */
    void publish(FederatedState state) {
        if (pending.getAndSet(state) == null) {
            execute(this::drain);
        }
    }

    void subscribe(Consumer<FederatedState> listener) {
        Subscriber subscriber = new Subscriber(requireNonNull(listener, "listener"));
        subscribers.add(subscriber);
        execute(() -> subscriber.deliver(current.get()));
    }

    private void drain() {
        FederatedState state = pending.getAndSet(null);
        if (state == null) {
            return;
        }
        for (Subscriber subscriber : subscribers) {
            subscriber.deliver(state);
        }
    }

    private void execute(Runnable task) {
        try {
            executor.execute(task);
        } catch (RejectedExecutionException e) {
            log.debug("Not delivering federation state: notifier closed");
        }
    }

    @Override
    public void close() {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(5, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    /** Confined to the notifier thread. */
    private static final class Subscriber {
        private final Consumer<FederatedState> listener;
        private long lastDelivered = -1;

        Subscriber(Consumer<FederatedState> listener) {
            this.listener = listener;
        }

        void deliver(FederatedState state) {
            if (state.appliedIndex() <= lastDelivered) {
                return;
            }
            lastDelivered = state.appliedIndex();
            try {
                listener.accept(state);
            } catch (RuntimeException e) {
                log.warn("Federation state listener {} failed on applied index {}", listener, state.appliedIndex(), e);
            }
        }
    }
}
