package io.isthmus.proxy.internal;

/**
 * What the relay tells an upstream cluster's runtime and asks it for: circuit-breaker slots
 * (connections, pending requests, retries) and the result of each attempt, for outlier
 * detection and least-request balancing. Called on the downstream channel's event loop;
 * implementations must not block.
 */
interface RelayHooks {

  /** An attempt result that is not an HTTP status. */
  int CONNECT_FAILURE = -1;
  int RESET = -2;
  int TIMEOUT = -3;

  RelayHooks NONE = new RelayHooks() {};

  default boolean tryAcquireConnection() {
    return true;
  }

  default void connectionClosed() {}

  default boolean tryAcquirePending() {
    return true;
  }

  default void pendingDone() {}

  default boolean tryAcquireRetry() {
    return true;
  }

  default void retryDone() {}

  /** The exchange is over, whichever way it ended; called exactly once per forward. */
  default void exchangeDone() {}

  default void attemptStarted(UpstreamEndpoint endpoint) {}

  /** {@code result} is an HTTP status or one of the negative constants above. */
  default void attemptEnded(UpstreamEndpoint endpoint, int result) {}

  /** Where retry back-off jitter comes from (a cluster runtime's injected, seedable source). */
  default java.util.random.RandomGenerator random() {
    return java.util.concurrent.ThreadLocalRandom.current();
  }
}
