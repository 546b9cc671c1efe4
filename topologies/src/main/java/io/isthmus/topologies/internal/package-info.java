/** Launcher internals: child processes, Kubernetes object writing, a minimal HTTP client. Not an API. */
package io.isthmus.topologies.internal;
