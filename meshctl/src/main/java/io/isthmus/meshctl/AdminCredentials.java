package io.isthmus.meshctl;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * The credential meshctl presents to a controller's admin port, which wants one when it is bound
 * beyond loopback: the controller's {@code --admin-token} or a service-account token of
 * istio-system for audience {@code isthmus-admin}. First found wins: the {@code --token} flag,
 * the {@value #ENV} environment variable, the file {@value #RUN_DIR_FILE} in the run directory.
 */
final class AdminCredentials {

    static final String ENV = "ISTHMUS_ADMIN_TOKEN";
    static final String RUN_DIR_FILE = "admin-token";
    static final String HINT = "pass --token <the controller's --admin-token> or set " + ENV;

    private AdminCredentials() {
    }

    static Optional<String> resolve(String flag, Path runDir) {
        return resolve(flag, runDir, System.getenv());
    }

    static Optional<String> resolve(String flag, Path runDir, Map<String, String> env) {
        if (flag != null && !flag.isBlank()) {
            return Optional.of(flag.strip());
        }
        String fromEnv = env.get(ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Optional.of(fromEnv.strip());
        }
        if (runDir != null) {
            Path file = runDir.resolve(RUN_DIR_FILE);
            if (Files.isRegularFile(file)) {
                try {
                    String token = Files.readString(file).strip();
                    return token.isEmpty() ? Optional.empty() : Optional.of(token);
                } catch (IOException e) {
                    throw new CommandException(file + ": cannot read the admin token (" + e.getMessage() + ")");
                }
            }
        }
        return Optional.empty();
    }
}
