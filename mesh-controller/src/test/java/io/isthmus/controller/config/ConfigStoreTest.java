package io.isthmus.controller.config;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.RepeatedTest;

/** What the store hands the federation when informers of different kinds call in at once. */
class ConfigStoreTest {

    private static ConfigResource resource(String kind, String name) {
        String yaml = kind.equals("DestinationRule")
                ? "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: " + name + "}\n"
                        + "spec: {host: helloworld, subsets: [{name: v1, labels: {version: v1}}]}"
                : "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " + name + "}\n"
                        + "spec: {hosts: [helloworld], http: [{route: [{destination: {host: helloworld, subset: v1}}]}]}";
        return Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z").get(0);
    }

    /**
     * The DestinationRule's list is delivered slowly; the VirtualService's, computed after it,
     * must still arrive last, or the federation is left with a list that lacks the VirtualService
     * (the LocalityFailoverE2ETest symptom: one of two objects created together never applied).
     */
    @RepeatedTest(20)
    void theLastListDeliveredHoldsEveryObject() throws Exception {
        AtomicReference<List<ConfigResource>> last = new AtomicReference<>();
        CountDownLatch firstListComputed = new CountDownLatch(1);
        ConfigStore store = new ConfigStore("east", new SimpleMeterRegistry(), list -> {
            if (list.size() == 1) {
                firstListComputed.countDown();
                try {
                    Thread.sleep(20); // a slow hand-off: the other thread gets to run meanwhile
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            last.set(list);
        });
        store.markSynced();

        Thread rule = new Thread(() -> store.upsert(resource("DestinationRule", "helloworld")));
        rule.start();
        firstListComputed.await();
        Thread service = new Thread(() -> store.upsert(resource("VirtualService", "helloworld")));
        service.start();
        rule.join();
        service.join();

        assertThat(last.get()).extracting(ConfigResource::kind)
                .containsExactlyInAnyOrder("DestinationRule", "VirtualService");
    }
}
