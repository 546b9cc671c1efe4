package io.isthmus.topologies.internal;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A child JVM whose output goes to a log file. */
public final class ChildProcess {

    private final String name;
    private final Process process;
    private final Path log;

    private ChildProcess(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    /** Starts {@code command}, appending stdout and stderr to {@code log}. */
    public static ChildProcess start(String name, List<String> command, Path log, Path workingDirectory)
            throws IOException {
        requireNonNull(name, "name");
        Files.createDirectories(log.getParent());
        ProcessBuilder pb = new ProcessBuilder(command)
                .directory(workingDirectory.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.PIPE);
        return new ChildProcess(name, pb.start(), log);
    }

    public String name() {
        return name;
    }

    public Process process() {
        return process;
    }

    public Path log() {
        return log;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Asks the process to stop (SIGTERM, so its shutdown hooks run). */
    public void terminate() {
        process.destroy();
    }

    /** Waits for the process to exit, then kills it (and its descendants) if it has not. */
    public void awaitOrKill(Duration grace) {
        try {
            if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** The last {@code lines} lines of the log, for error messages. */
    public String logTail(int lines) {
        return tail(log, lines);
    }

    /** The last lines of a text file (reads at most the last 64 KiB). */
    public static String tail(Path file, int lines) {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            long length = f.length();
            long start = Math.max(0, length - 64 * 1024);
            byte[] buf = new byte[(int) (length - start)];
            f.seek(start);
            f.readFully(buf);
            String[] all = new String(buf, StandardCharsets.UTF_8).split("\n");
            List<String> last = new ArrayList<>();
            for (int i = Math.max(0, all.length - lines); i < all.length; i++) {
                last.add("    | " + all[i]);
            }
            return last.isEmpty() ? "    | (empty log)" : String.join("\n", last);
        } catch (IOException e) {
            return "    | (no log: " + e.getMessage() + ")";
        }
    }
}
