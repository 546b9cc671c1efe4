package io.isthmus.meshctl;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine;

/**
 * Renders {@code docs/reference/cli.md} from the command tree, so the reference cannot drift from the
 * code: {@code CliReferenceTest} fails when the committed file differs from what this renders.
 * Regenerate with {@code -Dcli.refresh=true} on that test, or run this class's main with the path.
 */
final class CliReference {

    static final int WIDTH = 110;

    private CliReference() {
    }

    static String render() {
        CommandLine root = Meshctl.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
        StringBuilder md = new StringBuilder();
        md.append("# meshctl command reference\n\n");
        md.append("<!-- Generated from the picocli commands by io.isthmus.meshctl.CliReference; do not edit. -->\n");
        md.append("<!-- Refresh: ./mvnw -o -B -pl meshctl test -Dtest=CliReferenceTest -Dcli.refresh=true -->\n\n");
        md.append("`./isthmus <command>` runs meshctl. Exit codes: 0 success, 1 the command ran and failed, 2 bad usage.\n\n");
        append(md, root);
        return md.toString();
    }

    private static void append(StringBuilder md, CommandLine cmd) {
        CommandLine.Model.CommandSpec spec = cmd.getCommandSpec();
        if (spec.userObject() instanceof CommandLine.HelpCommand) {
            return;
        }
        spec.usageMessage().width(WIDTH);
        spec.usageMessage().autoWidth(false);
        md.append("## ").append(spec.qualifiedName()).append("\n\n```text\n");
        md.append(cmd.getUsageMessage(CommandLine.Help.Ansi.OFF).stripTrailing()).append("\n```\n\n");
        for (CommandLine sub : cmd.getSubcommands().values().stream().distinct().toList()) {
            append(md, sub);
        }
    }

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args.length > 0 ? args[0] : "docs/reference/cli.md");
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, render());
    }
}
