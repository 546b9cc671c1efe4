package io.isthmus.topologies.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SimpleHttpTest {

    @Test
    void parsesContentLengthAndChunkedBodies() throws IOException {
        var plain = SimpleHttp.parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"
                .getBytes(StandardCharsets.US_ASCII));
        assertThat(plain.status()).isEqualTo(200);
        assertThat(plain.headers()).containsEntry("x-a", "b");
        assertThat(plain.body()).isEqualTo("hello");

        var chunked = SimpleHttp.parse("HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                .concat("4\r\nnot \r\n5\r\nready\r\n0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        assertThat(chunked.status()).isEqualTo(503);
        assertThat(chunked.body()).isEqualTo("not ready");
    }

    @Test
    void anEmptyOrNonHttpAnswerIsAnError() {
        assertThatThrownBy(() -> SimpleHttp.parse(new byte[0])).hasMessageContaining("connection closed without an answer");
        assertThatThrownBy(() -> SimpleHttp.parse(new byte[] {0x15, 0x03, 0x03, 0, 2, 2, 40}))
                .hasMessageContaining("not an HTTP response");
    }
}
