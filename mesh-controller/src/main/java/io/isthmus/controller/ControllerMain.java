package io.isthmus.controller;

import io.isthmus.discovery.Locality;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * The controller process: {@code java io.isthmus.controller.ControllerMain --cluster east ...}
 * (flags as in {@code docs/design/contracts.md}). Exits 1 with a one-line error when startup
 * fails, 2 on bad flags; stops cleanly on SIGTERM.
 */
@Command(name = "isthmus-controller", mixinStandardHelpOptions = true,
        description = "The Isthmus control plane for one cluster: discovery, federation, xDS, CA.")
public final class ControllerMain implements Callable<Integer> {

    @Option(names = "--cluster", required = true, description = "This cluster's name.")
    String cluster;
    @Option(names = "--network", required = true, description = "This cluster's network.")
    String network;
    @Option(names = "--region", defaultValue = "", description = "Locality region.")
    String region;
    @Option(names = "--zone", defaultValue = "", description = "Locality zone.")
    String zone;
    @Option(names = "--subzone", defaultValue = "", description = "Locality subzone.")
    String subzone;
    @Option(names = "--kubeconfig", required = true, description = "Kubeconfig of this cluster's API server.")
    Path kubeconfig;
    @Option(names = "--bind", required = true, description = "IP to bind every port to.")
    String bind;
    @Option(names = "--xds-port", defaultValue = "15010", description = "Plaintext ADS port (default ${DEFAULT-VALUE}).")
    int xdsPort;
    @Option(names = "--secure-port", defaultValue = "15012", description = "TLS ADS + CSR port (default ${DEFAULT-VALUE}).")
    int securePort;
    @Option(names = "--admin-port", defaultValue = "15014", description = "Admin HTTP port (default ${DEFAULT-VALUE}).")
    int adminPort;
    @Option(names = "--webhook-port", defaultValue = "15017",
            description = "HTTPS port of the validating admission webhook, POST /validate (default ${DEFAULT-VALUE}).")
    int webhookPort;
    @Option(names = "--raft-id", required = true, description = "This peer's id in --raft-peers.")
    String raftId;
    @Option(names = "--raft-port", defaultValue = "15031", description = "This peer's Raft port (default ${DEFAULT-VALUE}).")
    int raftPort;
    @Option(names = "--raft-peers", required = true, description = "id=host:port,... of every federation peer.")
    String raftPeers;
    @Option(names = "--data-dir", required = true, description = "Where the Raft log is kept (<dir>/raft).")
    Path dataDir;
    @Option(names = "--trust-domain", defaultValue = "cluster.local", description = "SPIFFE trust domain.")
    String trustDomain;
    @Option(names = "--trust-domain-aliases", defaultValue = "", description = "Comma-separated trust domains whose "
            + "SPIFFE identities are accepted besides --trust-domain (Istio's meshConfig trustDomainAliases).")
    String trustDomainAliases;
    @Option(names = "--domain-suffix", defaultValue = "cluster.local", description = "Service host suffix.")
    String domainSuffix;
    @Option(names = "--debounce-quiet", defaultValue = "100ms", converter = DurationConverter.class,
            description = "xDS push quiet period (default ${DEFAULT-VALUE}).")
    Duration debounceQuiet;
    @Option(names = "--debounce-max", defaultValue = "1s", converter = DurationConverter.class,
            description = "xDS push maximum delay (default ${DEFAULT-VALUE}).")
    Duration debounceMax;
    @CommandLine.Mixin
    io.isthmus.controller.dashboard.DashboardFlags dashboard = new io.isthmus.controller.dashboard.DashboardFlags();

    @Option(names = "--raft-join", description = "Join an existing federation instead of founding one: wait for a "
            + "member to add this peer (POST /federation/members, meshctl cluster join).")
    boolean raftJoin;
    @Option(names = "--raft-election-timeout-min", defaultValue = "1s", converter = DurationConverter.class,
            description = "Raft election timeout, lower bound (default ${DEFAULT-VALUE}); raise for slow links.")
    Duration raftElectionTimeoutMin;
    @Option(names = "--raft-election-timeout-max", defaultValue = "2s", converter = DurationConverter.class,
            description = "Raft election timeout, upper bound (default ${DEFAULT-VALUE}).")
    Duration raftElectionTimeoutMax;
    @Option(names = "--raft-tls", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Mutual TLS between Raft peers with the controllers' mesh identity (default ${DEFAULT-VALUE}).")
    boolean raftTls;
    @Option(names = "--raft-tuning", split = ",", paramLabel = "KEY=VALUE",
            description = "Ratis batching and log settings, e.g. appender-wait-min=0ms,outstanding-appends=128 "
                    + "(keys: appender-wait-min, force-sync-num, outstanding-appends, flow-control-window, "
                    + "client-outstanding-requests, unsafe-flush, async-flush, log-format, log-metadata, prompt-commit; defaults, the "
                    + "durability trade-off of unsafe-flush and the log-format upgrade rule in "
                    + "docs/design/federation.md).")
    java.util.Map<String, String> raftTuning = new java.util.LinkedHashMap<>();

    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new ControllerMain());
        int code = cli.execute(args);
        if (code != 0) {
            System.exit(code);
        }
    }

    @Override
    public Integer call() throws InterruptedException {
        ControllerOptions options;
        io.isthmus.controller.dashboard.DashboardOptions dashboardOptions;
        try {
            options = options();
            dashboardOptions = dashboard.options();
        } catch (IllegalArgumentException e) {
            System.err.println("isthmus-controller: " + e.getMessage());
            return 2;
        }
        Controller controller;
        try {
            controller = Controller.start(options, dashboardOptions);
        } catch (IllegalStateException e) {
            System.err.println("isthmus-controller: cannot start: " + e.getMessage());
            // Library threads (Ratis, Vert.x, gRPC) may still be alive: exit explicitly.
            System.exit(1);
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            controller.close();
            stopped.countDown();
        }, "controller-shutdown"));
        stopped.await();
        return 0;
    }

    ControllerOptions options() {
        return new ControllerOptions(cluster, network, new Locality(region, zone, subzone), kubeconfig, bind,
                xdsPort, securePort, adminPort, raftId, raftPort, ControllerOptions.parsePeers(raftPeers), dataDir,
                trustDomain, domainSuffix, debounceQuiet, debounceMax,
                new RaftSettings(raftJoin, raftElectionTimeoutMin, raftElectionTimeoutMax, raftTls,
                        io.isthmus.controller.federation.RaftTuning.DEFAULT.withOverrides(raftTuning)),
                io.isthmus.trust.TrustBundle.parseAliases(trustDomainAliases), webhookPort);
    }

    /** {@code 100ms}, {@code 2s}, {@code 1m} or ISO-8601 ({@code PT1S}). */
    static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            String v = value.trim();
            try {
                if (v.endsWith("ms")) {
                    return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
                }
                if (v.endsWith("s")) {
                    return Duration.ofSeconds(Long.parseLong(v.substring(0, v.length() - 1)));
                }
                if (v.endsWith("m")) {
                    return Duration.ofMinutes(Long.parseLong(v.substring(0, v.length() - 1)));
                }
                return Duration.parse(v);
            } catch (RuntimeException e) {
                throw new CommandLine.TypeConversionException("duration: '" + value
                        + "' (expected: e.g. 100ms, 2s, 1m or PT1S)");
            }
        }
    }
}
