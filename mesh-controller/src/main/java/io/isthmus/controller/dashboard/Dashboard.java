package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.admin.AdminServer;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;

/**
 * The cross-cluster dashboard of one controller: starts the {@link DashboardCollector} and serves
 * {@code /dashboard} on the admin server ({@link DashboardHandler}). Closing it stops collecting;
 * the routes then serve the last documents until the admin server stops.
 */
public final class Dashboard implements AutoCloseable {

    private final DashboardCollector collector;

    private Dashboard(DashboardCollector collector) {
        this.collector = collector;
    }

    public static Dashboard start(AdminServer admin, DashboardSources sources, DashboardOptions options,
            MeterRegistry registry) {
        requireNonNull(admin, "admin");
        DashboardCollector collector = DashboardCollector.start(sources, options, registry, Clock.systemUTC());
        admin.route("/dashboard", new DashboardHandler(collector));
        return new Dashboard(collector);
    }

    public DashboardCollector collector() {
        return collector;
    }

    @Override
    public void close() {
        collector.close();
    }
}
