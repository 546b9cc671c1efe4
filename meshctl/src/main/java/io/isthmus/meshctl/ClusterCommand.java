package io.isthmus.meshctl;

import picocli.CommandLine.Command;

/** {@code meshctl cluster}: membership of clusters in the mesh. */
@Command(name = "cluster", mixinStandardHelpOptions = true,
        description = "Add clusters to the mesh.",
        subcommands = ClusterJoinCommand.class)
final class ClusterCommand implements Runnable {

    @Override
    public void run() {
        throw CommandException.usage("cluster: a subcommand is required (expected: join)");
    }
}
