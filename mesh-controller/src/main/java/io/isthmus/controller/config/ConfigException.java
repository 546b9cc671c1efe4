package io.isthmus.controller.config;

import java.util.List;

/** A configuration object that cannot be accepted; {@link #errors()} says every reason and its fix. */
public final class ConfigException extends Exception {

    private static final long serialVersionUID = 1L;

    private final List<String> errors;

    public ConfigException(List<String> errors) {
        super(String.join("; ", errors));
        this.errors = List.copyOf(errors);
    }

    public List<String> errors() {
        return errors;
    }
}
