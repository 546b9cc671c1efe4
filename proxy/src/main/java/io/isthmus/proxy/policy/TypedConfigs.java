package io.isthmus.proxy.policy;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import java.util.Map;
import java.util.Optional;

/**
 * Decodes the {@code Any} configs of HTTP filters (their own and a route's
 * {@code typed_per_filter_config}) with one set of errors: a config of another type, or one that
 * does not decode, is rejected naming where it stands, so the whole resource is NACKed.
 */
final class TypedConfigs {

  private TypedConfigs() {}

  /** {@code any} as {@code type}, whose type URL is {@code typeUrl}; {@code at} names it. */
  static <T extends Message> T unpack(Any any, Class<T> type, String typeUrl, String at) {
    if (!any.getTypeUrl().equals(typeUrl)) {
      throw new IllegalArgumentException(at + ": type " + any.getTypeUrl()
          + " (expected: " + typeUrl + ")");
    }
    try {
      return any.unpack(type);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(at + ": cannot decode: " + e.getMessage(), e);
    }
  }

  /** Where filter {@code filterName}'s per-route config of {@code field} stands, for errors. */
  static String perFilterAt(String field, String filterName) {
    return field + ".typed_per_filter_config[" + filterName + "]";
  }

  /**
   * Filter {@code filterName}'s entry in {@code typedPerFilterConfig} (of {@code field}), decoded;
   * empty when the route has none.
   */
  static <T extends Message> Optional<T> perFilter(Map<String, Any> typedPerFilterConfig,
      String filterName, Class<T> type, String typeUrl, String field) {
    Any any = typedPerFilterConfig.get(filterName);
    return any == null ? Optional.empty()
        : Optional.of(unpack(any, type, typeUrl, perFilterAt(field, filterName)));
  }
}
