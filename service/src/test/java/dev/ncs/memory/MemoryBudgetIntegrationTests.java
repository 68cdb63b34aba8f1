package dev.ncs.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.nativelib.NativeRuntime;
import java.util.Collections;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.TestPropertySource;

/** A request that would exceed ncs.native.memory-limit gets 507 and leaves nothing allocated. */
@TestPropertySource(properties = "ncs.native.memory-limit=1MB")
class MemoryBudgetIntegrationTests extends IntegrationTestSupport {

    @Autowired
    NativeRuntime runtime;

    @Test
    void aRequestBeyondTheBudgetGets507() throws Exception {
        int n = 300; // a and b are 720,000 bytes each: the second does not fit in 1 MiB
        String matrix = String.join(",", Collections.nCopies(n * n, "1.0"));
        String body = "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[" + n + "," + n + "],\"data\":["
                + matrix + "]},{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[" + n + "," + n + "],\"data\":["
                + matrix + "]}]}";
        double rejectedBefore = metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}");

        Reply reply = post("/v2/models/matmul/infer", body);

        assertThat(reply.status()).isEqualTo(507);
        assertThat(reply.error()).contains("budget").contains("1048576");
        assertThat(metric(scrape(), "ncs_rejected_total{reason=\"memory_budget\"}")).isEqualTo(rejectedBefore + 1);
        assertThat(metric(scrape(), "ncs_kernel_seconds_count{kernel=\"matmul\",outcome=\"out_of_memory\"}"))
                .isEqualTo(1);
    }

    @Test
    void aRequestWithinTheBudgetStillRuns() throws Exception {
        Reply reply = post("/v2/models/sort/infer",
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[3],\"data\":[3,1,2]}]}");

        assertThat(reply.status()).isEqualTo(200);
    }

    /** libncs is process-wide, and other test contexts set their own budget: set this class's for each test. */
    @BeforeEach
    void applyTheBudget() {
        runtime.setMemoryLimit(1024 * 1024);
    }

    /** ...and give the contexts other test classes share their budget back. */
    @AfterEach
    void restoreTheDefaultBudget() {
        runtime.setMemoryLimit(4L * 1024 * 1024 * 1024);
    }
}
