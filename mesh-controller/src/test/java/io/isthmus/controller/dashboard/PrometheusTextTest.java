package io.isthmus.controller.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class PrometheusTextTest {

    @Test
    void readsMicrometerOutputWithCommentsEscapesAndSpecialValues() throws Exception {
        String text = """
                # HELP istio_requests_total
                # TYPE istio_requests_total counter
                istio_requests_total{destination_cluster="east",reporter="source",response_code="200",} 12.0
                istio_requests_total{path="a\\"b\\\\c\\nd"} 3 1700000000000
                istio_request_duration_milliseconds_bucket{le="+Inf"} +Inf
                up NaN
                no_labels -Inf
                empty{} 1e3

                """;
        List<Sample> samples = PrometheusText.parse(text);
        assertThat(samples).hasSize(6);
        assertThat(samples.get(0)).isEqualTo(new Sample("istio_requests_total",
                Map.of("destination_cluster", "east", "reporter", "source", "response_code", "200"), 12.0));
        assertThat(samples.get(1).labels()).containsEntry("path", "a\"b\\c\nd");
        assertThat(samples.get(1).value()).isEqualTo(3.0);
        assertThat(samples.get(2).labels()).containsEntry("le", "+Inf");
        assertThat(samples.get(2).value()).isInfinite();
        assertThat(samples.get(3).value()).isNaN();
        assertThat(samples.get(4).value()).isEqualTo(Double.NEGATIVE_INFINITY);
        assertThat(samples.get(5)).isEqualTo(new Sample("empty", Map.of(), 1000.0));
    }

    @Test
    void windowsLineEndingsAndAnEmptyDocumentAreFine() throws Exception {
        assertThat(PrometheusText.parse("a 1\r\nb 2\r\n")).extracting(Sample::name).containsExactly("a", "b");
        assertThat(PrometheusText.parse("")).isEmpty();
    }

    @ParameterizedTest(name = "{0} → {1}")
    @CsvSource(delimiter = '|', value = {
            "<html><body>oops</body></html>          | line 1: '<html><body>oops</body></html>' does not start with a metric name",
            "istio_requests_total                      | has no value after istio_requests_total",
            "istio_requests_total{a=\"b\" 1            | (expected: ',' or '}' after a label)",
            "istio_requests_total{a=\"b} 1             | unterminated value of label a",
            "istio_requests_total{a=b} 1               | bad label at column",
            "istio_requests_total{a=\"\\x\"} 1         | bad escape \\x in label a",
            "istio_requests_total{a=\"1\",a=\"2\"} 1   | label a appears twice",
            "istio_requests_total twelve               | value 'twelve' (expected: a number, NaN, +Inf or -Inf)",
            "istio_requests_total Infinity             | value 'Infinity'",
            "istio_requests_total 0x10                 | value '0x10'",
            "istio_requests_total 1 2 3                | has trailing fields",
            "istio_requests_total 1 soon               | timestamp 'soon'",
    })
    void garbageIsRejectedWithTheLineAndWhatWasExpected(String line, String message) {
        assertThatThrownBy(() -> PrometheusText.parse("# fine\nok 1\n" + line + "\n"))
                .isInstanceOf(PrometheusText.FormatException.class)
                .hasMessageStartingWith("line 3: ")
                .hasMessageContaining(message.replace("line 1: ", ""));
    }

    @Test
    void binaryGarbageIsRejectedNotMisread() {
        assertThatThrownBy(() -> PrometheusText.parse("\u0000\u0001\u00ff\ufffd"))
                .isInstanceOf(PrometheusText.FormatException.class);
    }
}
