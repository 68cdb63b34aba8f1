package dev.ncs.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A request's cancellation: the registered action runs once, on the cancelling thread, whatever the
 * order.
 */
class CancellationTests {

    private final Cancellation cancellation = new Cancellation();

    @Test
    void theActionRunsOnceOnTheCancellingThreadAndTheFirstReasonStays() {
        List<String> runs = new ArrayList<>();
        cancellation.onCancel(() -> runs.add(Thread.currentThread().getName()));
        assertThat(cancellation.reason()).isNull();
        assertThat(runs).isEmpty();

        cancellation.cancel("client hung up");
        cancellation.cancel("deadline");

        assertThat(runs).containsExactly(Thread.currentThread().getName());
        assertThat(cancellation.reason()).isEqualTo("client hung up");
    }

    @Test
    void anActionRegisteredAfterTheCancelRunsAtOnce() {
        cancellation.cancel("client hung up");
        AtomicInteger runs = new AtomicInteger();

        cancellation.onCancel(runs::incrementAndGet);

        assertThat(runs).hasValue(1);
    }

    @Test
    void onlyTheLatestActionRuns() {
        List<String> runs = new ArrayList<>();
        cancellation.onCancel(() -> runs.add("withdraw the queued task"));
        cancellation.onCancel(() -> runs.add("set the call's cancel flag"));

        cancellation.cancel("client hung up");

        assertThat(runs).containsExactly("set the call's cancel flag");
    }

    /**
     * The action runs outside the cancellation's lock: an action that blocks (waiting for a worker,
     * say) does not hold up another thread that asks for the reason or registers the next stage's
     * action meanwhile.
     */
    @Test
    void aBlockingActionDoesNotHoldUpOtherThreads() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch proceed = new CountDownLatch(1);
        cancellation.onCancel(() -> {
            entered.countDown();
            await(proceed);
        });
        try (ExecutorService threads = Executors.newFixedThreadPool(2)) {
            try {
                Future<?> cancelling = threads.submit(() -> cancellation.cancel("client hung up"));
                assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();

                AtomicInteger next = new AtomicInteger();
                Future<String> other =
                        threads.submit(() -> {
                            cancellation.onCancel(next::incrementAndGet);
                            return cancellation.reason();
                        });

                assertThat(other.get(10, TimeUnit.SECONDS)).isEqualTo("client hung up");
                assertThat(next).as("registered after the cancel: ran at once").hasValue(1);
                proceed.countDown();
                cancelling.get(10, TimeUnit.SECONDS);
            } finally {
                proceed.countDown(); // a failed check must not leave the action blocked
            }
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
