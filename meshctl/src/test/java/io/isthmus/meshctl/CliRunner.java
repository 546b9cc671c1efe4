package io.isthmus.meshctl;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;

/** Runs meshctl in-process, capturing stdout, stderr and the exit code. */
final class CliRunner {

    final StringWriter out = new StringWriter();
    final StringWriter err = new StringWriter();
    int code;

    static CliRunner run(String... args) {
        return runWithStdin(null, args);
    }

    static CliRunner runWithStdin(String stdin, String... args) {
        CliRunner r = new CliRunner();
        PrintWriter o = new PrintWriter(r.out, true);
        PrintWriter e = new PrintWriter(r.err, true);
        var cli = Meshctl.commandLine(o, e);
        if (stdin != null) {
            for (String name : new String[] {"apply", "delete"}) {
                ((ManifestCommand) cli.getSubcommands().get(name).getCommand()).stdin =
                        new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        r.code = cli.execute(args);
        o.flush();
        e.flush();
        return r;
    }

    String out() {
        return out.toString();
    }

    String err() {
        return err.toString();
    }
}
