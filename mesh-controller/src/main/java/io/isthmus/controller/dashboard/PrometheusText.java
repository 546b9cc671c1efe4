package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict parser of the Prometheus text exposition format (version 0.0.4), enough to read
 * the proxies' {@code /stats/prometheus}: comments and {@code # TYPE}/{@code # HELP} lines are
 * skipped, label values may hold escaped {@code \\}, {@code \"} and {@code \n}, values may be
 * {@code NaN}, {@code +Inf} or {@code -Inf}, and an optional timestamp is ignored. Anything else
 * is garbage: the whole document is rejected with the line number, so a half-broken exporter is
 * shown as unknown rather than half believed. Pure and thread-safe.
 */
public final class PrometheusText {

    /** Bounds what one proxy can make the controller hold. */
    public static final int MAX_SAMPLES = 200_000;

    private PrometheusText() {
    }

    /** Thrown for a document that is not Prometheus text; the message names the line and what was expected. */
    public static final class FormatException extends Exception {
        FormatException(int line, String message) {
            super("line " + line + ": " + message);
        }
    }

    public static List<Sample> parse(String text) throws FormatException {
        requireNonNull(text, "text");
        List<Sample> samples = new ArrayList<>();
        int lineNo = 0;
        int start = 0;
        while (start <= text.length()) {
            int end = text.indexOf('\n', start);
            if (end < 0) {
                end = text.length();
            }
            lineNo++;
            String line = text.substring(start, end);
            start = end + 1;
            if (line.endsWith("\r")) {
                line = line.substring(0, line.length() - 1);
            }
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.charAt(0) == '#') {
                continue;
            }
            if (samples.size() >= MAX_SAMPLES) {
                throw new FormatException(lineNo, "more than " + MAX_SAMPLES + " samples (expected: fewer;"
                        + " is a label's cardinality unbounded?)");
            }
            samples.add(parseLine(trimmed, lineNo));
        }
        return samples;
    }

    private static Sample parseLine(String line, int lineNo) throws FormatException {
        int i = 0;
        int n = line.length();
        while (i < n && isNameChar(line.charAt(i), i == 0)) {
            i++;
        }
        if (i == 0) {
            throw new FormatException(lineNo, "'" + abbreviate(line) + "' does not start with a metric name"
                    + " (expected: [a-zA-Z_:][a-zA-Z0-9_:]*)");
        }
        String name = line.substring(0, i);
        Map<String, String> labels = new HashMap<>();
        if (i < n && line.charAt(i) == '{') {
            i = parseLabels(line, i + 1, labels, lineNo);
        }
        if (i >= n || (line.charAt(i) != ' ' && line.charAt(i) != '\t')) {
            throw new FormatException(lineNo, "'" + abbreviate(line) + "' has no value after " + name
                    + " (expected: <name>[{labels}] <value> [timestamp])");
        }
        String[] rest = line.substring(i).strip().split("[ \t]+");
        if (rest.length > 2) {
            throw new FormatException(lineNo, "'" + abbreviate(line) + "' has trailing fields"
                    + " (expected: <value> [timestamp])");
        }
        double value = parseValue(rest[0], lineNo);
        if (rest.length == 2) {
            try {
                Long.parseLong(rest[1]);
            } catch (NumberFormatException e) {
                throw new FormatException(lineNo, "timestamp '" + abbreviate(rest[1]) + "' (expected: integer milliseconds)");
            }
        }
        return new Sample(name, labels, value);
    }

    private static int parseLabels(String line, int i, Map<String, String> labels, int lineNo) throws FormatException {
        int n = line.length();
        while (true) {
            while (i < n && line.charAt(i) == ' ') {
                i++;
            }
            if (i < n && line.charAt(i) == '}') {
                return i + 1;
            }
            int nameStart = i;
            while (i < n && isLabelChar(line.charAt(i), i == nameStart)) {
                i++;
            }
            if (i == nameStart || i + 1 >= n || line.charAt(i) != '=' || line.charAt(i + 1) != '"') {
                throw new FormatException(lineNo, "bad label at column " + (i + 1) + " in '" + abbreviate(line)
                        + "' (expected: name=\"value\")");
            }
            String label = line.substring(nameStart, i);
            i += 2;
            StringBuilder value = new StringBuilder();
            boolean closed = false;
            while (i < n) {
                char c = line.charAt(i++);
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\') {
                    if (i >= n) {
                        break;
                    }
                    char e = line.charAt(i++);
                    switch (e) {
                        case 'n' -> value.append('\n');
                        case '\\' -> value.append('\\');
                        case '"' -> value.append('"');
                        default -> throw new FormatException(lineNo, "bad escape \\" + e + " in label " + label
                                + " (expected: \\\\, \\\" or \\n)");
                    }
                } else {
                    value.append(c);
                }
            }
            if (!closed) {
                throw new FormatException(lineNo, "unterminated value of label " + label + " in '"
                        + abbreviate(line) + "' (expected: a closing \")");
            }
            if (labels.put(label, value.toString()) != null) {
                throw new FormatException(lineNo, "label " + label + " appears twice (expected: once)");
            }
            while (i < n && line.charAt(i) == ' ') {
                i++;
            }
            if (i < n && line.charAt(i) == ',') {
                i++;
            } else if (i < n && line.charAt(i) == '}') {
                return i + 1;
            } else {
                throw new FormatException(lineNo, "'" + abbreviate(line) + "' column " + (i + 1)
                        + " (expected: ',' or '}' after a label)");
            }
        }
    }

    static double parseValue(String s, int lineNo) throws FormatException {
        switch (s) {
            case "NaN":
                return Double.NaN;
            case "+Inf":
            case "Inf":
                return Double.POSITIVE_INFINITY;
            case "-Inf":
                return Double.NEGATIVE_INFINITY;
            default:
                break;
        }
        // Double.parseDouble accepts "Infinity", hex floats and a trailing 'd'; Prometheus does not.
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            if (!(c >= '0' && c <= '9') && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-') {
                throw new FormatException(lineNo, "value '" + abbreviate(s) + "' (expected: a number, NaN, +Inf or -Inf)");
            }
        }
        try {
            return Double.parseDouble(s);
        } catch (NumberFormatException e) {
            throw new FormatException(lineNo, "value '" + abbreviate(s) + "' (expected: a number, NaN, +Inf or -Inf)");
        }
    }

    private static boolean isNameChar(char c, boolean first) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
    }

    private static boolean isLabelChar(char c, boolean first) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
