package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every VirtualService, DestinationRule, Gateway and ServiceEntry in Istio's own samples
 * ({@code ../shared/istio-corpus/samples}, read at run time) is accepted.
 */
class IstioCorpusTest {

    /** The corpus beside the repository: found from the module dir or the repository root. */
    static Path corpus() {
        Path dir = Path.of("").toAbsolutePath();
        for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
            Path candidate = dir.resolveSibling("shared").resolve("istio-corpus").resolve("samples");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
            candidate = dir.resolve("shared").resolve("istio-corpus").resolve("samples");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    static Stream<Arguments> objects() throws IOException {
        Path root = corpus();
        if (root == null) {
            return Stream.of(Arguments.of("corpus absent", null));
        }
        List<Arguments> out = new ArrayList<>();
        List<Path> files;
        try (Stream<Path> walk = Files.walk(root)) {
            files = walk.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        }
        for (Path file : files) {
            String text = Files.readString(file);
            if (!text.contains("networking.istio.io")) {
                continue;
            }
            for (ConfigResource r : Yaml.resources(text, "default", "")) {
                out.add(Arguments.of(root.relativize(file) + " " + r.describe(), r));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("objects")
    void accepted(String name, ConfigResource resource) throws ConfigException {
        assumeTrue(resource != null, "../shared/istio-corpus is absent beside the repository; nothing to check");
        ConfigParser.Parsed parsed = ConfigParser.parse(resource);
        assertThat(parsed.spec()).isNotNull();
    }

    @org.junit.jupiter.api.Test
    void corpusHoldsEveryKind() throws IOException {
        assumeTrue(corpus() != null, "../shared/istio-corpus is absent beside the repository");
        List<String> kinds = objects().map(a -> ((ConfigResource) a.get()[1]).kind()).distinct().sorted().toList();
        assertThat(kinds).containsExactly("DestinationRule", "Gateway", "ServiceEntry", "VirtualService");
    }
}
