package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code up} and {@code down} without a mesh: bad input, nothing up, and state left by a launcher that died. */
class UpDownCommandTest {

    @TempDir
    Path home;

    private String previousHome;

    @BeforeEach
    void useTempHome() {
        previousHome = System.getProperty("isthmus.home");
        System.setProperty("isthmus.home", home.toString());
    }

    @AfterEach
    void restoreHome() {
        if (previousHome == null) {
            System.clearProperty("isthmus.home");
        } else {
            System.setProperty("isthmus.home", previousHome);
        }
    }

    @Test
    void upRefusesAMissingTopologyFileAsBadUsage() {
        CliRunner r = CliRunner.run("up", home.resolve("nosuch.yaml").toString());
        assertThat(r.code).isEqualTo(Meshctl.USAGE);
        assertThat(r.err()).contains("nosuch.yaml: no such file");
    }

    @Test
    void downWithNothingUpSaysSo() {
        CliRunner r = CliRunner.run("down");
        assertThat(r.code).isEqualTo(Meshctl.OK);
        assertThat(r.out()).contains("Nothing is up.");
    }

    @Test
    void downOfAnUnknownNameListsWhatIsUp() throws Exception {
        Files.createDirectories(UpState.directory());
        Files.writeString(UpState.of("other").pidFile(), "1\n");
        CliRunner r = CliRunner.run("down", "nosuch");
        assertThat(r.code).isEqualTo(Meshctl.USAGE);
        assertThat(r.err()).contains("no topology 'nosuch'").contains("[other]");
    }

    @Test
    void downStopsALauncherWhoseCommandLineIsLongerThanWhatTheJdkReports() throws Exception {
        // A launcher's class path runs to ~27 kB; meshctl's class name comes after it.
        String classPath = "x".repeat(20_000);
        Process launcher = new ProcessBuilder("bash", "-c", "sleep 60; :", "-cp", classPath,
                Meshctl.class.getName(), "up").start();
        try {
            UpState state = UpState.of("demo");
            Files.createDirectories(state.dir());
            Files.writeString(state.pidFile(), launcher.pid() + "\n");

            assertThat(state.launcher()).as("the launcher, found by its whole command line").isPresent();
            CliRunner r = CliRunner.run("down", "demo");

            assertThat(r.code).isEqualTo(Meshctl.OK);
            assertThat(r.out()).contains("Stopping 'demo' (launcher pid " + launcher.pid() + ")");
            assertThat(launcher.waitFor(30, TimeUnit.SECONDS)).as("the launcher got SIGTERM").isTrue();
        } finally {
            launcher.destroyForcibly();
            launcher.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void downNeverSignalsAProcessThatMerelyReusedTheLaunchersPid() throws Exception {
        Process unrelated = new ProcessBuilder("sleep", "60").start();
        try {
            UpState state = UpState.of("demo");
            Files.createDirectories(state.dir());
            Files.writeString(state.pidFile(), unrelated.pid() + "\n");
            Files.writeString(state.readyFile(), "up\n");

            CliRunner r = CliRunner.run("down", "demo");

            assertThat(r.code).isEqualTo(Meshctl.OK);
            assertThat(r.out()).contains("'demo' is not running").contains("'demo' is down.");
            assertThat(unrelated.isAlive()).isTrue();
            assertThat(state.pidFile()).doesNotExist();
            assertThat(state.readyFile()).doesNotExist();
        } finally {
            unrelated.destroyForcibly();
            unrelated.waitFor(5, TimeUnit.SECONDS);
        }
    }
}
