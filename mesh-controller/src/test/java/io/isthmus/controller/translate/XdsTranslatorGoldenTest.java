package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole configuration of three proxies of the demo mesh, compared byte for byte with
 * {@code src/test/resources/golden/*.json}. After an intended change, refresh with
 * {@code -Dgolden.refresh=true} and review the diff.
 */
class XdsTranslatorGoldenTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");

    static Stream<Arguments> proxies() {
        return Stream.of(
                Arguments.of("west-curl-sidecar", MeshFixture.westCurlSidecar()),
                Arguments.of("eu-helloworld-sidecar", MeshFixture.euHelloworldSidecar()),
                Arguments.of("eu-gateway", MeshFixture.euGateway()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("proxies")
    void matchesGoldenFile(String name, ProxyNode node) throws IOException {
        String actual = ResourcesJson.toJson(MeshFixture.translate(MeshFixture.state(), node));
        Path golden = GOLDEN_DIR.resolve(name + ".json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.createDirectories(GOLDEN_DIR);
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }
}
