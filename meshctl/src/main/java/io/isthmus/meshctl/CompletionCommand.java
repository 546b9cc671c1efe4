package io.isthmus.meshctl;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code meshctl completion bash}: a bash completion script generated from the command tree. */
@Command(name = "completion", mixinStandardHelpOptions = true,
        description = "Print a shell completion script (bash; zsh can load it with 'autoload bashcompinit; bashcompinit').",
        footerHeading = "%nExamples:%n",
        footer = {"  source <(meshctl completion bash)",
                "  meshctl completion bash > /etc/bash_completion.d/meshctl"})
final class CompletionCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "<shell>", description = "The shell: bash.")
    String shell;

    @Override
    public Integer call() {
        if (!shell.equals("bash")) {
            throw CommandException.usage("<shell>: '" + shell + "' (expected: bash)");
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(AutoComplete.bash("meshctl", spec.root().commandLine()));
        out.flush();
        return Meshctl.OK;
    }
}
