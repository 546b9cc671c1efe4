package io.isthmus.topologies;

/**
 * The local mesh could not be brought up (an address in use, a component that died or did not
 * become ready in time). The message says which component and includes the end of its log;
 * nothing is left running when this is thrown from {@link LocalMesh#start}.
 */
public final class LocalMeshException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public LocalMeshException(String message) {
        super(message);
    }

    public LocalMeshException(String message, Throwable cause) {
        super(message, cause);
    }
}
