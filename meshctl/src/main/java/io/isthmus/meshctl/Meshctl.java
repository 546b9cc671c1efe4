package io.isthmus.meshctl;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The Isthmus command-line tool. Exit codes: 0 success, 1 the command ran and failed (a mesh
 * that did not come up, a failed verification), 2 bad usage or a bad input file.
 */
@Command(name = "meshctl", mixinStandardHelpOptions = true, version = "meshctl 0.1.0-SNAPSHOT",
        description = "Isthmus, a multi-cluster service mesh: command-line tool.",
        subcommands = {DemoCommand.class, UpCommand.class, DownCommand.class, CreateRemoteSecretCommand.class, ProxyStatusCommand.class,
                ProxyConfigCommand.class, FederationCommand.class, RemoteClustersCommand.class, JwksStatusCommand.class,
                ApplyCommand.class, DeleteCommand.class, AnalyzeCommand.class, PrecheckCommand.class,
                ClusterCommand.class, InstallManifestCommand.class, TrustCommand.class, DashboardCommand.class,
                CompletionCommand.class, CommandLine.HelpCommand.class},
        footerHeading = "%nExit codes:%n",
        footer = {"  0  the command succeeded", "  1  the command ran and failed (unreachable controller, missing token, ...)",
                "  2  bad usage (unknown flag, bad input file)"})
public final class Meshctl implements Runnable {

    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The command tree with its handlers, ready to execute or to render help from. */
    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new Meshctl());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExitCodeExceptionMapper(e -> USAGE);
        cli.setParameterExceptionHandler((ex, a) -> {
            // kubectl's habit: the error, then where the usage is, not a page of usage burying the error.
            err.println("meshctl: " + ex.getMessage());
            err.println("Run '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help' for usage.");
            err.flush();
            return USAGE;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            err.println("meshctl: " + ex.getMessage());
            err.flush();
            return ex instanceof CommandException ce ? ce.exitCode() : FAILED;
        });
        return cli;
    }

    /** Runs meshctl with the given arguments and streams, returning the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        return commandLine(out, err).execute(args);
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code = run(out, err, args);
        out.flush();
        err.flush();
        System.exit(code);
    }
}
