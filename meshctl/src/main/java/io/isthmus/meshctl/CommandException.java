package io.isthmus.meshctl;

/**
 * A command failed for a reason the user can act on; the message is the one line meshctl prints
 * (it names the cluster, file or address and the reason). Exit code 1, or 2 for {@link #usage}.
 */
final class CommandException extends RuntimeException {

    private final boolean usage;

    CommandException(String message) {
        this(message, false);
    }

    private CommandException(String message, boolean usage) {
        super(message);
        this.usage = usage;
    }

    /** A usage error: a bad flag combination or input file (exit code 2). */
    static CommandException usage(String message) {
        return new CommandException(message, true);
    }

    int exitCode() {
        return usage ? Meshctl.USAGE : Meshctl.FAILED;
    }
}
