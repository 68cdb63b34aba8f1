package dev.ncs.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import dev.ncs.nativelib.NativeProperties;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.DoubleStream;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * The metrics contract of docs/operations.md ("Metrics") as scraped from /actuator/prometheus on
 * the management port.
 */
class NativeMemoryMetricsIntegrationTests extends IntegrationTestSupport {

    @Autowired NativeProperties configured;

    @Test
    void everyContractMetricIsExported() throws Exception {
        post(
                "/v2/models/sort/infer",
                "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT64\",\"shape\":[3],"
                        + "\"data\":[3,1,2]}]}");
        String metrics = scrape();

        for (String name :
                new String[] {
                    "ncs_native_buffers_live",
                    "ncs_native_memory_live_bytes",
                    "ncs_native_memory_peak_bytes",
                    "ncs_native_memory_limit_bytes",
                    "ncs_native_memory_cached_bytes",
                    "ncs_native_buffer_reuses_total",
                    "ncs_native_allocations_total",
                    "ncs_native_frees_total",
                    "ncs_refcount_retains_total",
                    "ncs_refcount_releases_total",
                    "ncs_leaks_total{kernel=\"sort\",source=\"java\"}",
                    "ncs_leaks_total{kernel=\"matmul\",source=\"kernel\"}",
                    "ncs_stale_handle_uses_total",
                    "ncs_double_releases_total",
                    "ncs_kernel_seconds_count{kernel=\"sort\",outcome=\"success\"}",
                    "ncs_queue_wait_seconds_count{kernel=\"sort\"}",
                    "ncs_queue_depth",
                    "ncs_workers_busy",
                    "ncs_rejected_total{reason=\"queue_full\"}",
                    "ncs_rejected_total{reason=\"memory_budget\"}"
                }) {
            assertThat(metric(metrics, name)).as(name).isNotNaN();
        }
        assertThat(metrics).contains("ncs_kernel_seconds_bucket{");
        assertThat(metric(metrics, "ncs_native_memory_limit_bytes"))
                .isEqualTo(configured.memoryLimit().toBytes());
        assertThat(metric(metrics, "ncs_native_memory_peak_bytes")).isPositive();
    }

    @Test
    void aRequestSplitIntoPartsBalancesEveryRetainWithARelease() throws Exception {
        int n = 512;
        double[] values = new Random(1).doubles((long) n * n).toArray();
        String matrix =
                DoubleStream.of(values).mapToObj(Double::toString).collect(Collectors.joining(","));
        String body =
                "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":["
                        + n
                        + ","
                        + n
                        + "],\"data\":["
                        + matrix
                        + "]},{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":["
                        + n
                        + ","
                        + n
                        + "],\"data\":["
                        + matrix
                        + "]}]}";
        String before = scrape();

        assertThat(post("/v2/models/matmul/infer", body).status()).isEqualTo(200);

        String after = scrape();
        double allocations = delta(before, after, "ncs_native_allocations_total");
        double frees = delta(before, after, "ncs_native_frees_total");
        double retains = delta(before, after, "ncs_refcount_retains_total");
        double releases = delta(before, after, "ncs_refcount_releases_total");
        // a, b and c at least; the call retains a and b once (its parts run under the call's
        // references).
        assertThat(allocations).isGreaterThanOrEqualTo(3);
        assertThat(retains).isGreaterThanOrEqualTo(2);
        // every buffer starts with one reference: what was allocated and retained was all released
        // and freed.
        assertThat(releases).isEqualTo(allocations + retains);
        assertThat(frees).isEqualTo(allocations);
    }

    private static double delta(String before, String after, String name) {
        return metric(after, name) - metric(before, name);
    }
}
