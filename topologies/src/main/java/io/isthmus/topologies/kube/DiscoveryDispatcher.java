package io.isthmus.topologies.kube;

import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;

/**
 * Answers discovery requests itself and hands everything else to the CRUD dispatcher. The mock's
 * own expectations match paths with their query string, and kubectl always appends
 * {@code ?timeout=32s}, so discovery must be answered before that matching happens.
 */
final class DiscoveryDispatcher extends Dispatcher {

    private final DiscoveryDocuments documents;
    private final Dispatcher delegate;

    DiscoveryDispatcher(DiscoveryDocuments documents, Dispatcher delegate) {
        this.documents = documents;
        this.delegate = delegate;
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
        String path = request.getPath();
        if ("GET".equalsIgnoreCase(request.getMethod()) && path != null) {
            int query = path.indexOf('?');
            String bare = query >= 0 ? path.substring(0, query) : path;
            var doc = documents.forPath(bare);
            if (doc.isPresent()) {
                return new MockResponse().setResponseCode(200)
                        .setHeader("Content-Type", "application/json")
                        .setBody(doc.get());
            }
        }
        return delegate.dispatch(request);
    }

    @Override
    public void shutdown() {
        delegate.shutdown();
    }

    @Override
    public void releaseResources() {
        delegate.releaseResources();
    }
}
