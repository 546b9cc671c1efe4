package io.isthmus.controller.dashboard;

import java.time.Duration;
import java.util.Optional;
import picocli.CommandLine.Option;

/** The controller's {@code --dashboard-*} flags (a picocli mixin of {@code ControllerMain}). */
public final class DashboardFlags {

    @Option(names = "--dashboard-token", description = "Bearer token the /dashboard endpoints require;"
            + " required to serve the dashboard when --bind is not a loopback address.")
    String token;
    @Option(names = "--dashboard-scrape-interval", defaultValue = "5", description = "Seconds between scrapes"
            + " of the proxies' metrics (default ${DEFAULT-VALUE}).")
    long scrapeIntervalSeconds;
    @Option(names = "--dashboard-window", defaultValue = "60", description = "Seconds of past that rates and"
            + " p99 cover (default ${DEFAULT-VALUE}).")
    long windowSeconds;
    @Option(names = "--dashboard-peer-admin-port", defaultValue = "0", description = "Admin port of the other"
            + " primaries' controllers (default: this controller's --admin-port).")
    int peerAdminPort;

    /** @throws IllegalArgumentException naming the flag when a value is out of range */
    public DashboardOptions options() {
        DashboardOptions d = DashboardOptions.defaults();
        return new DashboardOptions(Duration.ofSeconds(scrapeIntervalSeconds), Duration.ofSeconds(windowSeconds),
                d.timeout(), Optional.ofNullable(token), d.metricsPorts(), peerAdminPort);
    }
}
