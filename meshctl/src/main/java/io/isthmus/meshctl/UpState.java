package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where {@code meshctl up} leaves a background launcher for {@code meshctl down}:
 * {@code <isthmus home>/.isthmus/up/<topology>.pid} (the launcher's pid), {@code .log} (its
 * output), {@code .ready} (how to reach the mesh, written once it is ready) and {@code .base}
 * (its addressBase, to sweep network namespaces if the launcher died without removing them).
 */
record UpState(Path dir, String name) {

    UpState {
        requireNonNull(dir, "dir");
        requireNonNull(name, "name");
    }

    static UpState of(String topologyName) {
        return new UpState(directory(), topologyName);
    }

    static Path directory() {
        return DemoCommand.home().resolve(".isthmus").resolve("up");
    }

    /** Every topology {@code up} left state for, running or not, by name. */
    static List<UpState> all() throws IOException {
        List<UpState> states = new ArrayList<>();
        if (!Files.isDirectory(directory())) {
            return states;
        }
        try (Stream<Path> files = Files.list(directory())) {
            files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".pid")).sorted()
                    .forEach(n -> states.add(of(n.substring(0, n.length() - ".pid".length()))));
        }
        return states;
    }

    Path pidFile() {
        return dir.resolve(name + ".pid");
    }

    Path log() {
        return dir.resolve(name + ".log");
    }

    Path readyFile() {
        return dir.resolve(name + ".ready");
    }

    Path baseFile() {
        return dir.resolve(name + ".base");
    }

    /** The launcher process, if its pid file names a live meshctl process (not a recycled pid). */
    Optional<ProcessHandle> launcher() {
        try {
            long pid = Long.parseLong(Files.readString(pidFile()).strip());
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).filter(UpState::runsMeshctl);
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * Whether a process's command line names meshctl's main class. On Linux it is read from
     * {@code /proc/<pid>/cmdline}: {@code ProcessHandle.Info.commandLine()} stops at 4096 bytes,
     * and a launcher's class path alone is longer, so the class name after it would never be seen.
     */
    static boolean runsMeshctl(ProcessHandle h) {
        Path cmdline = Path.of("/proc", String.valueOf(h.pid()), "cmdline");
        try {
            if (Files.isReadable(cmdline)) {
                return Files.readString(cmdline, java.nio.charset.StandardCharsets.ISO_8859_1)
                        .contains(Meshctl.class.getName());
            }
        } catch (IOException e) {
            // gone meanwhile, or not readable: fall through to what the JDK can tell
        }
        return h.info().commandLine().map(c -> c.contains(Meshctl.class.getName())).orElse(true);
    }

    Optional<Integer> addressBase() {
        try {
            return Optional.of(Integer.parseInt(Files.readString(baseFile()).strip()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** Forgets this topology's state (not its log, which is appended to by the next run). */
    void clear() throws IOException {
        Files.deleteIfExists(pidFile());
        Files.deleteIfExists(readyFile());
        Files.deleteIfExists(baseFile());
    }
}
