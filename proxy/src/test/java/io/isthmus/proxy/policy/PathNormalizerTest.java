package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Envoy's normalize_path + merge_slashes + REJECT_REQUEST for escaped slashes, as Istio configures them. */
class PathNormalizerTest {

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', nullValues = "REJECT", value = {
      "/                      | /",
      "''                     | /",
      "/admin                 | /admin",
      "/admin?x=1             | /admin",
      "/admin#frag            | /admin",
      "//admin                | /admin",
      "/a//b///c              | /a/b/c",
      "/./admin               | /admin",
      "/a/../admin            | /admin",
      "/../../admin           | /admin",
      "/a/b/..                | /a/",
      "/a/.                   | /a/",
      "/%61dmin               | /admin",
      "/%2e%2e/admin          | /admin",
      "/%2E/admin             | /admin",
      "/a%7eb%2D_             | /a~b-_",
      "/a%20b                 | /a%20b",
      "/a%3fb                 | /a%3Fb",
      "\\admin                 | /admin",
      "/a\\..\\admin            | /admin",
      "/admin%2F              | REJECT",
      "/admin%2f..            | REJECT",
      "/a%5Cb                 | REJECT",
      "/a%5cb                 | REJECT",
      "/a%zzb                 | REJECT",
      "/a%2                   | REJECT",
      "admin                  | REJECT",
      "http://h.example/x/../y?q | /y",
      "http://h.example       | /",
      "/ADMIN                 | /ADMIN",
      "/admin;x=1             | /admin;x=1"})
  void normalizesLikeEnvoyWithIstiosSettings(String target, String expected) {
    PathNormalizer.Result r = PathNormalizer.normalize(target, PathNormalizer.Options.ISTIO);
    if (expected == null) {
      assertThat(r.rejected()).as("rejected: %s", r).isTrue();
      assertThat(r.rejection()).isNotBlank();
    } else {
      assertThat(r.rejected()).as("rejection: %s", r.rejection()).isFalse();
      assertThat(r.path()).isEqualTo(expected);
    }
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "/admin;x=1        | /admin",
      "/a;v=1/b;w/c      | /a/b/c",
      "/admin/;/x        | /admin//x",
      "/plain            | /plain"})
  void matchingIgnoresPathParameters(String normalized, String expected) {
    assertThat(PathNormalizer.forMatching(normalized)).isEqualTo(expected);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {"/a//b/../c?q=%2F | /a//b/../c?q=%2F", "/x%2Fy | /x%2Fy"})
  void withoutNormalizationOnlyTheFragmentGoes(String target, String uri) {
    PathNormalizer.Result r = PathNormalizer.normalize(target, PathNormalizer.Options.NONE);
    assertThat(r.uri()).isEqualTo(uri);
  }

  @org.junit.jupiter.api.Test
  void queryIsKeptForwardedUntouched() {
    PathNormalizer.Result r = PathNormalizer.normalize("/a/./b?x=%2F&y=..", PathNormalizer.Options.ISTIO);
    assertThat(r.uri()).isEqualTo("/a/b?x=%2F&y=..");
  }
}
