package io.isthmus.controller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The controller's admin-token flags: inline, from a file (as the local launcher passes it), never both. */
class DashboardFlagsTest {

    @TempDir
    Path dir;

    private static DashboardFlags parse(String... args) {
        DashboardFlags flags = new DashboardFlags();
        new CommandLine(flags).parseArgs(args);
        return flags;
    }

    @Test
    void theTokenComesInlineUnderEitherNameOrFromAFile() throws Exception {
        assertThat(parse().options().token()).isEmpty();
        assertThat(parse("--admin-token", "s3cret").options().token()).contains("s3cret");
        assertThat(parse("--dashboard-token", "s3cret").options().token()).contains("s3cret");
        Path file = Files.writeString(dir.resolve("admin-token"), "from-file\n");
        assertThat(parse("--admin-token-file", file.toString()).options().token()).contains("from-file");
    }

    @Test
    void bothAMissingFileOrABlankTokenAreRefusedNamingTheFlag() throws Exception {
        Path file = Files.writeString(dir.resolve("admin-token"), "x");
        assertThatThrownBy(() -> parse("--admin-token", "a", "--admin-token-file", file.toString()).options())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("both given");
        assertThatThrownBy(() -> parse("--admin-token-file", dir.resolve("missing").toString()).options())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--admin-token-file: cannot read");
        Path blank = Files.writeString(dir.resolve("blank"), "  \n");
        assertThatThrownBy(() -> parse("--admin-token-file", blank.toString()).options())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--admin-token: blank");
    }
}
