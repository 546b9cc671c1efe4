package io.isthmus.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.discovery.Locality;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** The command line of contracts.md, parsed into options; bad values are refused with the flag's name. */
class ControllerMainTest {

    @Test
    void parsesTheContractCommandLine() {
        ControllerMain main = new ControllerMain();
        new CommandLine(main).parseArgs(
                "--cluster", "east", "--network", "net1", "--region", "us-east", "--zone", "us-east-1a",
                "--kubeconfig", "/run/east/kubeconfig", "--bind", "127.101.0.1",
                "--xds-port", "15010", "--secure-port", "15012", "--admin-port", "15014",
                "--raft-id", "east", "--raft-port", "15031",
                "--raft-peers", "east=127.101.0.1:15031,west=127.102.0.1:15031,eu=127.103.0.1:15031",
                "--data-dir", "/run/east/data", "--trust-domain", "cluster.local");

        ControllerOptions options = main.options();

        assertThat(options.cluster()).isEqualTo("east");
        assertThat(options.locality()).isEqualTo(new Locality("us-east", "us-east-1a", ""));
        assertThat(options.kubeconfig()).isEqualTo(Path.of("/run/east/kubeconfig"));
        assertThat(options.raftPeers()).containsOnlyKeys("east", "west", "eu");
        assertThat(options.raftPeers().get("west")).isEqualTo(new InetSocketAddress("127.102.0.1", 15031));
        assertThat(options.debounceQuiet()).isEqualTo(Duration.ofMillis(100));
        assertThat(options.debounceMax()).isEqualTo(Duration.ofSeconds(1));
        assertThat(options.trustDomainAliases()).isEmpty();
    }

    @Test
    void readsTrustDomainAliasesAndNamesABadOne() {
        String[] base = {"--cluster", "east", "--network", "net1", "--kubeconfig", "k", "--bind", "127.0.0.1", "--raft-id", "east",
            "--raft-peers", "east=127.0.0.1:15031", "--data-dir", "d"};
        ControllerMain main = new ControllerMain();
        new CommandLine(main).parseArgs(concat(base, "--trust-domain-aliases", "old.example.com,legacy.local"));
        assertThat(main.options().trustDomainAliases()).containsExactlyInAnyOrder("old.example.com", "legacy.local");

        ControllerMain bad = new ControllerMain();
        new CommandLine(bad).parseArgs(concat(base, "--trust-domain-aliases", "old.example.com,Not A Domain"));
        assertThatThrownBy(bad::options).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--trust-domain-aliases: 'Not A Domain'");
    }

    @Test
    void readsRaftTuningOverTheDefaultsAndNamesABadKeyOrValue() {
        String[] base = {"--cluster", "east", "--network", "net1", "--kubeconfig", "k", "--bind", "127.0.0.1", "--raft-id", "east",
            "--raft-peers", "east=127.0.0.1:15031", "--data-dir", "d"};
        ControllerMain defaults = new ControllerMain();
        new CommandLine(defaults).parseArgs(base);
        assertThat(defaults.options().raft().tuning()).isEqualTo(io.isthmus.controller.federation.RaftTuning.DEFAULT);

        ControllerMain main = new ControllerMain();
        new CommandLine(main).parseArgs(concat(base, "--raft-tuning",
                "appender-wait-min=3ms,flow-control-window=16MiB", "--raft-tuning", "outstanding-appends=32"));
        io.isthmus.controller.federation.RaftTuning tuning = main.options().raft().tuning();
        assertThat(tuning.appenderWaitMin()).isEqualTo(java.time.Duration.ofMillis(3));
        assertThat(tuning.flowControlWindowBytes()).isEqualTo(16L * 1024 * 1024);
        assertThat(tuning.outstandingAppends()).isEqualTo(32);
        assertThat(tuning.forceSyncNum()).isEqualTo(io.isthmus.controller.federation.RaftTuning.DEFAULT.forceSyncNum());

        // Slower links: election bounds several round trips long, next to the tuning.
        ControllerMain slow = new ControllerMain();
        new CommandLine(slow).parseArgs(concat(base, "--raft-election-timeout-min", "3s",
                "--raft-election-timeout-max", "6s", "--raft-tuning", "appender-wait-min=1ms"));
        assertThat(slow.options().raft().electionTimeoutMin()).isEqualTo(java.time.Duration.ofSeconds(3));
        assertThat(slow.options().raft().electionTimeoutMax()).isEqualTo(java.time.Duration.ofSeconds(6));
        assertThat(slow.options().raft().tuning().appenderWaitMin()).isEqualTo(java.time.Duration.ofMillis(1));

        ControllerMain unknown = new ControllerMain();
        new CommandLine(unknown).parseArgs(concat(base, "--raft-tuning", "fsync=off"));
        assertThatThrownBy(unknown::options).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("raft tuning key 'fsync'").hasMessageContaining("appender-wait-min");
        ControllerMain badValue = new ControllerMain();
        new CommandLine(badValue).parseArgs(concat(base, "--raft-tuning", "outstanding-appends=0"));
        assertThatThrownBy(badValue::options).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("outstandingAppends: 0 (expected: >= 1)");
    }

    private static String[] concat(String[] base, String... more) {
        String[] all = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "east                                | expected: <id>=<host>:<port>",
        "east=127.0.0.1                      | expected: <id>=<host>:<port>",
        "east=127.0.0.1:x                    | bad port",
        "east=127.0.0.1:1,east=127.0.0.2:1   | appears twice",
    })
    void refusesMalformedPeers(String peers, String message) {
        assertThatThrownBy(() -> ControllerOptions.parsePeers(peers))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    @Test
    void refusesARaftIdMissingFromThePeersOrAPortThatDisagrees() {
        Map<String, InetSocketAddress> peers = ControllerOptions.parsePeers("east=127.0.0.1:15031");

        assertThatThrownBy(() -> options("west", 15031, peers)).hasMessageContaining("--raft-id west");
        assertThatThrownBy(() -> options("east", 15032, peers)).hasMessageContaining("--raft-port: 15032");
    }

    @ParameterizedTest
    @CsvSource({"100ms, 100", "2s, 2000", "1m, 60000", "PT0.5S, 500"})
    void readsDurations(String text, long millis) {
        assertThat(new ControllerMain.DurationConverter().convert(text)).isEqualTo(Duration.ofMillis(millis));
    }

    private static ControllerOptions options(String raftId, int raftPort, Map<String, InetSocketAddress> peers) {
        return new ControllerOptions("east", "net1", Locality.UNKNOWN, Path.of("k"), "127.0.0.1", 0, 0, 0, raftId,
                raftPort, peers, Path.of("d"), "cluster.local", "cluster.local", Duration.ZERO, Duration.ZERO);
    }
}
