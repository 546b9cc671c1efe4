package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

/**
 * The request path as Envoy's HTTP connection manager normalizes it before authorization and
 * routing ({@code normalize_path}, {@code merge_slashes},
 * {@code path_with_escaped_slashes_action: REJECT_REQUEST}, Istio's settings): so that a path rule
 * sees the path the app will act on, whatever encoding the client chose.
 *
 * <p>Steps, in order: the fragment ({@code #...}) is dropped and the query split off; an encoded
 * slash or backslash ({@code %2F}, {@code %5C}, any case) rejects the request; percent-encoded
 * unreserved characters ({@code A-Z a-z 0-9 - . _ ~}) are decoded and other escapes upper-cased;
 * an invalid escape rejects the request; backslashes become slashes; runs of slashes merge; dot
 * segments are removed (RFC 3986 5.2.4), never above the root. Matching is case-sensitive, as in
 * Istio: {@code /ADMIN} is not {@code /admin}. Pure and thread-safe.
 */
public final class PathNormalizer {

  /** Which of the connection manager's path settings apply. */
  public record Options(boolean normalize, boolean mergeSlashes, boolean rejectEscapedSlashes) {

    /** Istio's inbound settings whenever authorization applies. */
    public static final Options ISTIO = new Options(true, true, true);
    public static final Options NONE = new Options(false, false, false);

    public boolean any() {
      return normalize || mergeSlashes || rejectEscapedSlashes;
    }
  }

  /**
   * The outcome: either the normalized path (no query) and the query (with its {@code ?}, or
   * empty), or the reason the request is refused with 400.
   */
  public record Result(String path, String query, String rejection) {

    public boolean rejected() {
      return rejection != null;
    }

    /** What to forward upstream: the normalized path and the original query. */
    public String uri() {
      return path + query;
    }

    static Result reject(String why) {
      return new Result(null, "", why);
    }
  }

  private PathNormalizer() {}

  /** Normalizes a request target (origin form {@code /p?q}, or absolute form {@code http://h/p?q}). */
  public static Result normalize(String target, Options options) {
    requireNonNull(target, "target");
    requireNonNull(options, "options");
    String uri = target;
    int hash = uri.indexOf('#');
    if (hash >= 0) {
      uri = uri.substring(0, hash);
    }
    int scheme = uri.indexOf("://");
    if (scheme > 0 && !uri.startsWith("/")) {
      int slash = uri.indexOf('/', scheme + 3);
      int q = uri.indexOf('?', scheme + 3);
      if (slash < 0 || (q >= 0 && q < slash)) {
        uri = "/" + (q >= 0 ? uri.substring(q) : "");
      } else {
        uri = uri.substring(slash);
      }
    }
    int question = uri.indexOf('?');
    String path = question >= 0 ? uri.substring(0, question) : uri;
    String query = question >= 0 ? uri.substring(question) : "";
    if (path.isEmpty()) {
      path = "/";
    }
    if (options.normalize() && path.startsWith("\\")) {
      // Browsers and servlet containers read a leading backslash as a slash, and so does Envoy.
      path = "/" + path.substring(1);
    }
    if (!path.startsWith("/")) {
      return Result.reject("path '" + abbreviate(path) + "' does not start with '/'");
    }
    if (options.rejectEscapedSlashes() && hasEscapedSlash(path)) {
      return Result.reject("path has an encoded slash or backslash (%2F or %5C)");
    }
    if (options.normalize()) {
      StringBuilder decoded = new StringBuilder(path.length());
      for (int i = 0; i < path.length(); i++) {
        char c = path.charAt(i);
        if (c != '%') {
          decoded.append(c == '\\' ? '/' : c);
          continue;
        }
        if (i + 2 >= path.length() || hex(path.charAt(i + 1)) < 0 || hex(path.charAt(i + 2)) < 0) {
          return Result.reject("path has an invalid percent-encoding at offset " + i);
        }
        char value = (char) (hex(path.charAt(i + 1)) * 16 + hex(path.charAt(i + 2)));
        if (unreserved(value)) {
          decoded.append(value);
        } else {
          decoded.append('%').append(Character.toUpperCase(path.charAt(i + 1)))
              .append(Character.toUpperCase(path.charAt(i + 2)));
        }
        i += 2;
      }
      path = decoded.toString();
    }
    if (options.mergeSlashes()) {
      path = path.replaceAll("/{2,}", "/");
    }
    if (options.normalize()) {
      path = removeDotSegments(path);
    }
    return new Result(path, query, null);
  }

  /**
   * The path a path rule is matched against: {@link #normalize}d, then without path parameters
   * ({@code /admin;x=1} → {@code /admin}). Envoy matches with them, but servlet containers
   * (Tomcat, Jetty) drop them before routing, which made {@code ;} a classic way around path
   * rules; stripping them only for matching keeps the forwarded path intact.
   */
  public static String forMatching(String normalizedPath) {
    if (normalizedPath.indexOf(';') < 0) {
      return normalizedPath;
    }
    StringBuilder out = new StringBuilder(normalizedPath.length());
    boolean inParams = false;
    for (int i = 0; i < normalizedPath.length(); i++) {
      char c = normalizedPath.charAt(i);
      if (c == '/') {
        inParams = false;
      } else if (c == ';') {
        inParams = true;
      }
      if (!inParams) {
        out.append(c);
      }
    }
    return out.toString();
  }

  private static boolean hasEscapedSlash(String path) {
    for (int i = 0; i + 2 < path.length(); i++) {
      if (path.charAt(i) == '%') {
        char a = path.charAt(i + 1);
        char b = Character.toUpperCase(path.charAt(i + 2));
        if ((a == '2' && b == 'F') || (a == '5' && b == 'C')) {
          return true;
        }
      }
    }
    return false;
  }

  private static int hex(char c) {
    return Character.digit(c, 16);
  }

  private static boolean unreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '~';
  }

  /** RFC 3986 5.2.4 on an absolute path; {@code ..} never climbs above the root. */
  static String removeDotSegments(String path) {
    String[] segments = path.split("/", -1);
    java.util.ArrayDeque<String> out = new java.util.ArrayDeque<>();
    // segments[0] is the empty string before the leading '/'.
    for (int i = 1; i < segments.length; i++) {
      String s = segments[i];
      boolean last = i == segments.length - 1;
      if (s.equals(".")) {
        if (last) {
          out.addLast("");
        }
      } else if (s.equals("..")) {
        out.pollLast();
        if (last) {
          out.addLast("");
        }
      } else {
        out.addLast(s);
      }
    }
    return "/" + String.join("/", out);
  }

  private static String abbreviate(String s) {
    return s.length() <= 64 ? s : s.substring(0, 64) + "...";
  }
}
