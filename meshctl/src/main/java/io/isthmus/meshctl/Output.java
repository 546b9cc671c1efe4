package io.isthmus.meshctl;

import java.io.PrintWriter;
import java.util.List;
import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;
import tools.jackson.dataformat.yaml.YAMLWriteFeature;

/** The {@code -o} formats shared by the commands. */
final class Output {

    private static final YAMLMapper YAML = YAMLMapper.builder()
            .disable(YAMLWriteFeature.WRITE_DOC_START_MARKER)
            .enable(YAMLWriteFeature.MINIMIZE_QUOTES)
            .enable(YAMLWriteFeature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
            .build();

    private Output() {
    }

    static void check(String format, String... allowed) {
        if (!List.of(allowed).contains(format)) {
            throw CommandException.usage("-o: '" + format + "' (expected: one of " + String.join(", ", allowed) + ")");
        }
    }

    static void print(PrintWriter out, JsonNode value, String format) {
        switch (format) {
            case "json" -> out.println(AdminClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value));
            case "yaml" -> out.print(YAML.writeValueAsString(value));
            default -> throw new IllegalArgumentException("format: " + format + " (expected: json or yaml)");
        }
        out.flush();
    }
}
