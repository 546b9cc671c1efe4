package io.isthmus.meshctl;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import tools.jackson.databind.JsonNode;

/**
 * {@code meshctl jwks-status}: where each controller's JWKS fetcher stands for every key source
 * RequestAuthentications name (a {@code jwksUri}, or an issuer's OpenID discovery document).
 */
@Command(name = "jwks-status", mixinStandardHelpOptions = true,
        description = {"Show the JWKS each controller fetches for RequestAuthentication rules.",
                "",
                "Source: each controller's /debug/jwks. One row per key source (a jwksUri, or an issuer's",
                "OpenID discovery URI) with the ISSUERS it serves, how many KEYS are in force (the last good",
                "keys stay through failures), the LAST SUCCESS, the NEXT REFRESH (or retry) and the LAST ERROR.",
                "A source with no keys refuses every token of its issuers until a fetch succeeds."},
        footerHeading = "%nExamples:%n",
        footer = {"  meshctl jwks-status", "  meshctl jwks-status --controller 127.101.0.1:15014"})
final class JwksStatusCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    ControllerTargets targets;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ControllerTargets.Views fetched = targets.fetchAll("/debug/jwks");
        Map<String, JsonNode> views = fetched.byController();
        Table t = new Table("CONTROLLER", "SOURCE", "ISSUERS", "KEYS", "LAST SUCCESS", "NEXT REFRESH", "LAST ERROR");
        views.forEach((controller, v) -> {
            for (JsonNode s : v.path("sources")) {
                List<String> issuers = new ArrayList<>();
                s.path("issuers").forEach(i -> issuers.add(i.asString("")));
                t.row(controller, s.path("key").asString(""),
                        issuers.isEmpty() ? "-" : String.join(",", issuers),
                        s.path("hasKeys").asBoolean(false) ? String.valueOf(s.path("keyCount").asInt(0)) : "none",
                        text(s.path("lastSuccess")), text(s.path("nextRefresh")),
                        s.path("lastError").asString("").isEmpty() ? "-" : s.path("lastError").asString(""));
            }
        });
        if (!views.isEmpty()) {
            t.print(out);
        }
        return fetched.report(err);
    }

    private static String text(JsonNode value) {
        return value.isNull() || value.isMissingNode() ? "-" : value.asString("-");
    }
}
