package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/** Reads the JSON admin pages of controllers ({@code :15014}) and proxies ({@code :15000}). */
final class AdminClient {

    static final ObjectMapper JSON = JsonMapper.builder().build();

    private final HttpClient http;
    private final Duration timeout;
    private final Optional<String> token;

    AdminClient(Duration timeout) {
        this(timeout, Optional.empty());
    }

    /** @param token sent as {@code Authorization: Bearer} (see {@link AdminCredentials}) */
    AdminClient(Duration timeout, Optional<String> token) {
        this.timeout = requireNonNull(timeout, "timeout");
        this.token = requireNonNull(token, "token");
        this.http = HttpClient.newBuilder().connectTimeout(timeout).version(HttpClient.Version.HTTP_1_1).build();
    }

    /**
     * GETs {@code http://<hostPort><path>} and parses it as JSON.
     *
     * @throws CommandException naming the URL and why (unreachable, non-200, not JSON)
     */
    JsonNode get(String hostPort, String path) {
        String url = "http://" + hostPort + path;
        HttpResponse<String> response;
        try {
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(timeout).GET();
            token.ifPresent(t -> request.header("Authorization", "Bearer " + t));
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new CommandException(url + ": unreachable (" + describe(e) + "); is the mesh up?");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommandException(url + ": interrupted");
        }
        if (response.statusCode() == 401) {
            throw new CommandException(url + ": HTTP 401: " + firstLine(response.body())
                    + (token.isEmpty() ? " (" + AdminCredentials.HINT + ")" : ""));
        }
        if (response.statusCode() != 200) {
            throw new CommandException(url + ": HTTP " + response.statusCode() + ": " + firstLine(response.body()));
        }
        try {
            return JSON.readTree(response.body());
        } catch (JacksonException e) {
            throw new CommandException(url + ": not JSON (" + e.getOriginalMessage() + ")");
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    private static String firstLine(String body) {
        String s = body == null ? "" : body.strip();
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
