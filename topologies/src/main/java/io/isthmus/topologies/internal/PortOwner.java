package io.isthmus.topologies.internal;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Best-effort answer to "who is listening on this address and port?" from Linux's /proc, so a
 * preflight failure can name the process (for example a demo still running from another shell).
 * Returns empty wherever /proc is missing or unreadable.
 */
public final class PortOwner {

    private PortOwner() {}

    /** A description such as {@code pid 1234: java ... io.isthmus.controller.ControllerMain}, if knowable. */
    public static Optional<String> describe(String ipv4, int port) {
        try {
            Optional<String> inode = listeningInode(ipv4, port);
            if (inode.isEmpty()) {
                return Optional.empty();
            }
            String target = "socket:[" + inode.get() + "]";
            try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString()
                    .chars().allMatch(Character::isDigit))) {
                for (Path proc : procs) {
                    if (holdsSocket(proc, target)) {
                        return Optional.of("pid " + proc.getFileName() + ": " + commandLine(proc));
                    }
                }
            }
            return Optional.of("a socket of another user or namespace (inode " + inode.get() + ")");
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static Optional<String> listeningInode(String ipv4, int port) throws IOException {
        String hexPort = String.format(Locale.ROOT, "%04X", port);
        Optional<String> v4 = listeningInode(Path.of("/proc/net/tcp"), hexAddress(ipv4) + ':' + hexPort,
                "00000000:" + hexPort);
        // Java listens on IPv6 sockets by default; an IPv4 address then shows as ::ffff:a.b.c.d.
        return v4.isPresent() ? v4 : listeningInode(Path.of("/proc/net/tcp6"),
                "0000000000000000FFFF0000" + hexAddress(ipv4) + ':' + hexPort, "0".repeat(32) + ':' + hexPort);
    }

    private static Optional<String> listeningInode(Path table, String wanted, String any) throws IOException {
        if (!Files.isReadable(table)) {
            return Optional.empty();
        }
        List<String> lines = Files.readAllLines(table);
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.trim().split("\\s+");
            // f[1] local address, f[3] state (0A = LISTEN), f[9] inode
            if (f.length > 9 && f[3].equals("0A") && (f[1].equals(wanted) || f[1].equals(any))) {
                return Optional.of(f[9]);
            }
        }
        return Optional.empty();
    }

    /** /proc/net/tcp prints the address as a little-endian 32-bit hex number. */
    private static String hexAddress(String ipv4) {
        String[] o = ipv4.split("\\.");
        StringBuilder sb = new StringBuilder();
        for (int i = 3; i >= 0; i--) {
            sb.append(String.format(Locale.ROOT, "%02X", Integer.parseInt(o[i])));
        }
        return sb.toString();
    }

    private static boolean holdsSocket(Path proc, String target) {
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).toString().equals(target)) {
                        return true;
                    }
                } catch (IOException ignored) {
                    // the descriptor closed while we looked
                }
            }
        } catch (IOException | SecurityException ignored) {
            // not our process or gone
        }
        return false;
    }

    private static String commandLine(Path proc) throws IOException {
        String cmd = new String(Files.readAllBytes(proc.resolve("cmdline"))).replace('\0', ' ').trim();
        // Class paths make command lines unreadable; keep the main class and its arguments.
        cmd = cmd.replaceAll("-cp \\S+ ", "-cp ... ").replaceAll("-classpath \\S+ ", "-classpath ... ");
        return cmd.length() > 300 ? cmd.substring(0, 300) + "..." : cmd;
    }
}
