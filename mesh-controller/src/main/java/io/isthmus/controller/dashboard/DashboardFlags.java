package io.isthmus.controller.dashboard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import picocli.CommandLine.Option;

/** The controller's {@code --dashboard-*} flags (a picocli mixin of {@code ControllerMain}). */
public final class DashboardFlags {

    @Option(names = {"--admin-token", "--dashboard-token"}, description = "Bearer token that opens the admin"
            + " port's /debug, /federation and /dashboard pages when --bind is not a loopback address (a"
            + " service-account token of istio-system for audience isthmus-admin also does); the controllers"
            + " send it when they ask each other. Give every controller the same one.")
    String token;
    @Option(names = "--admin-token-file", description = "File holding the --admin-token (keeps it off the command line).")
    Path tokenFile;
    @Option(names = "--dashboard-scrape-interval", defaultValue = "5", description = "Seconds between scrapes"
            + " of the proxies' metrics (default ${DEFAULT-VALUE}).")
    long scrapeIntervalSeconds;
    @Option(names = "--dashboard-window", defaultValue = "60", description = "Seconds of past that rates and"
            + " p99 cover (default ${DEFAULT-VALUE}).")
    long windowSeconds;
    @Option(names = "--dashboard-peer-admin-port", defaultValue = "0", description = "Admin port of the other"
            + " primaries' controllers (default: this controller's --admin-port).")
    int peerAdminPort;

    /** @throws IllegalArgumentException naming the flag when a value is out of range or the token file unreadable */
    public DashboardOptions options() {
        DashboardOptions d = DashboardOptions.defaults();
        return new DashboardOptions(Duration.ofSeconds(scrapeIntervalSeconds), Duration.ofSeconds(windowSeconds),
                d.timeout(), token(), d.metricsPorts(), peerAdminPort);
    }

    private Optional<String> token() {
        if (tokenFile == null) {
            return Optional.ofNullable(token);
        }
        if (token != null) {
            throw new IllegalArgumentException("--admin-token and --admin-token-file: both given (expected: one)");
        }
        try {
            return Optional.of(Files.readString(tokenFile).strip());
        } catch (IOException e) {
            throw new IllegalArgumentException("--admin-token-file: cannot read " + tokenFile + ": " + e.getMessage());
        }
    }
}
