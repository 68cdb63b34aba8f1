package dev.ncs.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeRuntime;
import java.util.Collections;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * ncs.native.memory-limit: a request the budget cannot hold now gets 507 (retry later); one that needs
 * more than the whole budget gets 413 (it can never run here). Either way nothing stays allocated.
 */
class MemoryBudgetIntegrationTests extends IntegrationTestSupport {

    private static final long BUDGET = 1024 * 1024;

    @Autowired
    NativeRuntime runtime;

    /** libncs is process-wide, and other test contexts set their own budget: set this class's for each test. */
    @BeforeEach
    void applyTheBudget() {
        runtime.memory().setMemoryLimit(BUDGET);
    }

    /** ...and give the contexts other test classes share their budget back. */
    @AfterEach
    void restoreTheDefaultBudget() {
        runtime.memory().setMemoryLimit(4L * 1024 * 1024 * 1024);
    }

    @Test
    void aRequestTheBudgetCannotHoldNowGets507() throws Exception {
        double rejectedBefore = metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}");
        String body = matmul(150); // 180,000 bytes each for a, b and c
        try (NativeBuffer otherWork = runtime.memory().allocate(600_000, "other-work")) {
            Reply reply = post("/v2/models/matmul/infer", body);

            assertThat(reply.status()).as(reply.text()).isEqualTo(507);
            assertThat(reply.error()).contains("budget").contains(Long.toString(BUDGET));
        }
        assertThat(metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}")).isEqualTo(rejectedBefore + 1);
        assertThat(post("/v2/models/matmul/infer", body).status()).isEqualTo(200);
    }

    @Test
    void aRequestLargerThanTheWholeBudgetGets413() throws Exception {
        Reply reply = post("/v2/models/matmul/infer", matmul(300)); // 720,000 bytes each: 1.44 MB in all

        assertThat(reply.status()).as(reply.text()).isEqualTo(413);
        assertThat(reply.error()).contains("more than the whole budget").contains(Long.toString(BUDGET));
    }

    /** The inputs fit the budget, but the output with them does not: the same 413, from prepare's figures. */
    @Test
    void aRequestWhoseOutputsOverflowTheWholeBudgetGets413() throws Exception {
        double rejectedBefore = metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}");

        Reply reply = post("/v2/models/matmul/infer", matmul(210)); // a, b, c: 352,800 bytes each, 1,058,400 in all

        assertThat(reply.status()).as(reply.text()).isEqualTo(413);
        assertThat(reply.error()).contains("needs 1058400 bytes").contains("more than the whole budget of "
                + BUDGET);
        assertThat(metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}")).isEqualTo(rejectedBefore);
        assertThat(post("/v2/models/matmul/infer", matmul(150)).status()).isEqualTo(200);
    }

    private static String matmul(int n) {
        String matrix = String.join(",", Collections.nCopies(n * n, "1.0"));
        return "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[" + n + "," + n + "],\"data\":["
                + matrix + "]},{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[" + n + "," + n + "],\"data\":["
                + matrix + "]}]}";
    }
}
