package dev.ncs.execution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.TestPropertySource;

/** With one worker and no queue, a second request in flight is refused with 503 and Retry-After. */
@TestPropertySource(properties = {"ncs.workers.threads=1", "ncs.workers.queue-capacity=0"})
class QueueFullIntegrationTests extends IntegrationTestSupport {

    private static final String SORT =
            "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],"
                    + "\"data\":[2,1]}]}";

    @Autowired NativeExecutor executor;

    @Test
    void aFullQueueAnswers503WithRetryAfterAndRecoversWhenWorkFinishes() throws Exception {
        double rejectedBefore = metric(scrape(), "ncs_rejected_total{reason=\"queue_full\"}");
        try (NativeExecutor.Admission inFlight = executor.admit("sort")) {
            assertThat(metric(scrape(), "ncs_queue_depth")).isZero();
            inFlight.queued();
            assertThat(metric(scrape(), "ncs_queue_depth")).isEqualTo(1);

            Reply refused = post("/v2/models/sort/infer", SORT);

            assertThat(refused.status()).isEqualTo(503);
            assertThat(refused.retryAfter()).isEqualTo("1");
            assertThat(refused.error()).contains("busy");
        }
        assertThat(metric(scrape(), "ncs_rejected_total{reason=\"queue_full\"}"))
                .isEqualTo(rejectedBefore + 1);
        assertThat(metric(scrape(), "ncs_queue_depth")).isZero();
        assertThat(post("/v2/models/sort/infer", SORT).status()).isEqualTo(200);
    }
}
