package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One level's {@code *_headers_to_add} and {@code *_headers_to_remove}. As in Envoy, removals
 * run before additions. Immutable.
 */
public record HeaderMutation(List<Add> adds, List<String> removes) {

  public static final HeaderMutation NONE = new HeaderMutation(List.of(), List.of());

  /** How an added header meets an existing one (Envoy's {@code HeaderAppendAction}). */
  public enum Action { APPEND_IF_EXISTS_OR_ADD, ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD,
    OVERWRITE_IF_EXISTS }

  public record Add(String name, String value, Action action) {
    public Add {
      requireNonNull(name, "name");
      requireNonNull(value, "value");
      requireNonNull(action, "action");
    }
  }

  public HeaderMutation {
    adds = List.copyOf(requireNonNull(adds, "adds"));
    removes = List.copyOf(requireNonNull(removes, "removes"));
  }

  public boolean isEmpty() {
    return adds.isEmpty() && removes.isEmpty();
  }

  static HeaderMutation of(List<HeaderValueOption> adds, List<String> removes, String field) {
    if (adds.isEmpty() && removes.isEmpty()) {
      return NONE;
    }
    List<Add> parsed = new ArrayList<>();
    for (int i = 0; i < adds.size(); i++) {
      HeaderValueOption option = adds.get(i);
      String name = option.getHeader().getKey().toLowerCase(Locale.ROOT);
      if (name.isEmpty() || name.startsWith(":") || name.equals("host")) {
        throw new IllegalArgumentException(field + "_to_add[" + i + "].header.key: '"
            + option.getHeader().getKey() + "' (expected: a regular header name, not empty,"
            + " a pseudo-header or host)");
      }
      Action action;
      if (option.hasAppend()) {
        action = option.getAppend().getValue() ? Action.APPEND_IF_EXISTS_OR_ADD
            : Action.OVERWRITE_IF_EXISTS_OR_ADD;
      } else {
        action = switch (option.getAppendAction()) {
          case APPEND_IF_EXISTS_OR_ADD -> Action.APPEND_IF_EXISTS_OR_ADD;
          case ADD_IF_ABSENT -> Action.ADD_IF_ABSENT;
          case OVERWRITE_IF_EXISTS_OR_ADD -> Action.OVERWRITE_IF_EXISTS_OR_ADD;
          case OVERWRITE_IF_EXISTS -> Action.OVERWRITE_IF_EXISTS;
          case UNRECOGNIZED -> throw new IllegalArgumentException(field + "_to_add[" + i
              + "].append_action: unknown value " + option.getAppendActionValue());
        };
      }
      parsed.add(new Add(name, option.getHeader().getValue(), action));
    }
    List<String> lowered = new ArrayList<>();
    for (String remove : removes) {
      String name = remove.toLowerCase(Locale.ROOT);
      if (name.isEmpty() || name.startsWith(":") || name.equals("host")) {
        throw new IllegalArgumentException(field + "_to_remove: '" + remove
            + "' (expected: a regular header name)");
      }
      lowered.add(name);
    }
    return new HeaderMutation(parsed, lowered);
  }

  public void apply(HttpHeaders headers) {
    if (adds.isEmpty() && removes.isEmpty()) {
      return;
    }
    for (String name : removes) {
      headers.remove(name);
    }
    for (Add add : adds) {
      switch (add.action()) {
        case APPEND_IF_EXISTS_OR_ADD -> headers.add(add.name(), add.value());
        case ADD_IF_ABSENT -> {
          if (!headers.contains(add.name())) {
            headers.set(add.name(), add.value());
          }
        }
        case OVERWRITE_IF_EXISTS_OR_ADD -> headers.set(add.name(), add.value());
        case OVERWRITE_IF_EXISTS -> {
          if (headers.contains(add.name())) {
            headers.set(add.name(), add.value());
          }
        }
      }
    }
  }
}
