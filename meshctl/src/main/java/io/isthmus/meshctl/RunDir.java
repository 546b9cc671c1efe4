package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What a local run directory ({@code meshctl demo}, {@code .isthmus/run/<name>}) says about the mesh
 * it holds: per cluster its kubeconfig, its controller's admin address and its proxies' admin
 * addresses. The addresses are read from the command line each process log starts with
 * ({@code # java ... --bind 127.101.0.1 ...}), so they are what was actually launched, not a guess
 * from the topology file.
 */
record RunDir(Path path, List<ClusterRef> clusters) {

    static final int CONTROLLER_ADMIN_PORT = 15014;
    static final int PROXY_ADMIN_PORT = 15000;

    /** One cluster of the run directory. */
    record ClusterRef(String name, Path kubeconfig, Optional<String> controllerAdmin, List<ProxyRef> proxies) {
        ClusterRef {
            requireNonNull(name, "name");
            requireNonNull(kubeconfig, "kubeconfig");
            requireNonNull(controllerAdmin, "controllerAdmin");
            proxies = List.copyOf(proxies);
        }
    }

    /** One sidecar or gateway: its pod name and namespace, and its admin {@code host:port}. */
    record ProxyRef(String cluster, String pod, String namespace, String admin, boolean gateway) {
        ProxyRef {
            requireNonNull(cluster, "cluster");
            requireNonNull(pod, "pod");
            requireNonNull(namespace, "namespace");
            requireNonNull(admin, "admin");
        }
    }

    RunDir {
        requireNonNull(path, "path");
        clusters = List.copyOf(clusters);
    }

    /** The default run directory: {@code <isthmus home>/.isthmus/run/demo}. */
    static Path defaultPath() {
        return DemoCommand.home().resolve(".isthmus").resolve("run").resolve("demo");
    }

    /**
     * Reads a run directory.
     *
     * @throws CommandException naming the directory if it is missing or holds no cluster
     */
    static RunDir open(Path dir) {
        requireNonNull(dir, "dir");
        if (!Files.isDirectory(dir)) {
            throw new CommandException(dir + ": no such run directory (start the mesh with './isthmus demo', "
                    + "or pass --run-dir <dir>)");
        }
        List<ClusterRef> clusters = new ArrayList<>();
        try (Stream<Path> children = Files.list(dir)) {
            for (Path c : children.sorted().toList()) {
                Path kubeconfig = c.resolve("kubeconfig");
                if (Files.isDirectory(c) && Files.isRegularFile(kubeconfig)) {
                    clusters.add(readCluster(c, kubeconfig));
                }
            }
        } catch (IOException e) {
            throw new CommandException(dir + ": cannot read the run directory: " + e.getMessage());
        }
        if (clusters.isEmpty()) {
            throw new CommandException(dir + ": not a run directory (expected: <cluster>/kubeconfig inside; "
                    + "is the mesh up? './isthmus demo')");
        }
        return new RunDir(dir, clusters);
    }

    Optional<ClusterRef> cluster(String name) {
        return clusters.stream().filter(c -> c.name().equals(name)).findFirst();
    }

    List<ProxyRef> proxies() {
        return clusters.stream().flatMap(c -> c.proxies().stream()).toList();
    }

    private static ClusterRef readCluster(Path dir, Path kubeconfig) throws IOException {
        String name = dir.getFileName().toString();
        Optional<String> controller = Optional.empty();
        Map<String, String> ctrl = commandLineFlags(dir.resolve("controller.log"));
        if (ctrl.containsKey("--bind")) {
            controller = Optional.of(ctrl.get("--bind") + ':'
                    + ctrl.getOrDefault("--admin-port", String.valueOf(CONTROLLER_ADMIN_PORT)));
        }
        List<ProxyRef> proxies = new ArrayList<>();
        try (Stream<Path> logs = Files.list(dir)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().endsWith(".log")).sorted().toList()) {
                Map<String, String> flags = commandLineFlags(log);
                String mainClass = flags.getOrDefault("main", "");
                boolean gateway = mainClass.endsWith("GatewayMain");
                if (!gateway && !mainClass.endsWith("ProxyMain")) {
                    continue;
                }
                String pod = flags.get("--pod-name");
                // A sidecar's admin listens on the pod's localhost; a gateway's on its own address.
                String host = gateway ? flags.get("--pod-ip") : flags.get("--localhost");
                if (pod == null || host == null) {
                    continue;
                }
                String port = flags.getOrDefault("--admin-port", String.valueOf(PROXY_ADMIN_PORT));
                proxies.add(new ProxyRef(flags.getOrDefault("--cluster", name), pod,
                        flags.getOrDefault("--namespace", "default"), host + ':' + port, gateway));
            }
        }
        return new ClusterRef(name, kubeconfig, controller, proxies);
    }

    /** The {@code --flag value} pairs of the command line a log starts with, plus {@code main}: the main class. */
    static Map<String, String> commandLineFlags(Path log) throws IOException {
        Map<String, String> flags = new HashMap<>();
        if (!Files.isRegularFile(log)) {
            return flags;
        }
        String first;
        try (BufferedReader r = Files.newBufferedReader(log, StandardCharsets.UTF_8)) {
            first = r.readLine();
        }
        if (first == null || !first.startsWith("#")) {
            return flags;
        }
        String[] words = first.substring(1).trim().split("\\s+");
        for (int i = 0; i < words.length; i++) {
            String w = words[i];
            if (w.startsWith("io.isthmus.") && !flags.containsKey("main")) {
                flags.put("main", w);
            } else if (w.startsWith("--") && i + 1 < words.length && !words[i + 1].startsWith("--")) {
                flags.put(w, words[i + 1]);
                i++;
            }
        }
        return flags;
    }
}
