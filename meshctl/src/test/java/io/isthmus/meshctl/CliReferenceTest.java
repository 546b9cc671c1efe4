package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * docs/reference/cli.md is generated from the commands; this fails when it is stale.
 * Refresh: {@code ./mvnw -o -B -pl meshctl test -Dtest=CliReferenceTest -Dcli.refresh=true}.
 */
class CliReferenceTest {

    private static final Path FILE = Path.of("..", "docs", "reference", "cli.md");

    @Test
    void committedReferenceMatchesTheCommands() throws Exception {
        String rendered = CliReference.render();
        if (Boolean.getBoolean("cli.refresh")) {
            CliReference.main(new String[] {FILE.toString()});
        }
        assertThat(FILE).as("docs/reference/cli.md is missing: run with -Dcli.refresh=true").exists();
        assertThat(Files.readString(FILE))
                .as("docs/reference/cli.md is stale: run ./mvnw -o -B -pl meshctl test -Dtest=CliReferenceTest -Dcli.refresh=true")
                .isEqualTo(rendered);
    }

    @Test
    void referenceCoversEverySubcommandWithItsExamples() {
        String rendered = CliReference.render();
        for (String heading : new String[] {"## meshctl demo", "## meshctl create-remote-secret", "## meshctl proxy-status",
                "## meshctl proxy-config cluster", "## meshctl proxy-config endpoint", "## meshctl proxy-config listener",
                "## meshctl proxy-config route", "## meshctl proxy-config secret", "## meshctl federation status",
                "## meshctl remote-clusters", "## meshctl apply", "## meshctl delete", "## meshctl analyze",
                "## meshctl manifest generate", "## meshctl precheck", "## meshctl cluster join", "## meshctl completion"}) {
            assertThat(rendered).contains(heading + "\n");
        }
        assertThat(rendered).doesNotContain("## meshctl help").contains("Examples:", "meshctl proxy-status --run-dir /tmp/my-run --verbose");
    }

    @Test
    void bashCompletionKnowsTheSubcommandsAndTheirOptions() {
        CliRunner r = CliRunner.run("completion", "bash");

        assertThat(r.code).isZero();
        assertThat(r.out()).startsWith("#!/usr/bin/env bash").contains("proxy-status", "create-remote-secret",
                "--create-service-account", "proxy-config", "complete -F");
        assertThat(CliRunner.run("completion", "fish").code).isEqualTo(2);
    }

    @Test
    void everySubcommandHasHelpWithExamplesAndExits0() {
        for (String[] cmd : new String[][] {{"create-remote-secret"}, {"proxy-status"}, {"proxy-config", "cluster"},
                {"proxy-config", "endpoint"}, {"proxy-config", "listener"}, {"proxy-config", "route"},
                {"proxy-config", "secret"}, {"federation", "status"}, {"remote-clusters"}, {"apply"}, {"delete"},
                {"analyze"}, {"manifest", "generate"}, {"precheck"}, {"cluster", "join"}, {"completion"}}) {
            String[] args = java.util.Arrays.copyOf(cmd, cmd.length + 1);
            args[cmd.length] = "--help";
            CliRunner r = CliRunner.run(args);
            assertThat(r.code).as(String.join(" ", cmd)).isZero();
            assertThat(r.out()).as(String.join(" ", cmd)).contains("Usage: meshctl " + String.join(" ", cmd), "Examples:");
        }
    }
}
