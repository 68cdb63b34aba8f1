package dev.ncs.inference;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.ArgumentMatchers.isNull;
import static org.mockito.BDDMockito.given;
import static org.mockito.BDDMockito.then;
import static org.mockito.BDDMockito.willThrow;
import static org.springframework.test.web.servlet.request.MockMvcRequestBuilders.get;
import static org.springframework.test.web.servlet.request.MockMvcRequestBuilders.post;
import static org.springframework.test.web.servlet.result.MockMvcResultMatchers.header;
import static org.springframework.test.web.servlet.result.MockMvcResultMatchers.jsonPath;
import static org.springframework.test.web.servlet.result.MockMvcResultMatchers.status;

import dev.ncs.execution.QueueFullException;
import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.UnknownKernelException;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeStatus;
import dev.ncs.system.SecurityProperties;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.webmvc.test.autoconfigure.WebMvcTest;
import org.springframework.test.context.bean.override.mockito.MockitoBean;
import org.springframework.test.web.servlet.MockMvc;

/**
 * The controller slice: routing of the protocol's paths and the one mapping of failures to
 * statuses.
 */
@WebMvcTest(InferenceController.class)
@EnableConfigurationProperties({SecurityProperties.class, LimitsProperties.class})
class InferenceControllerTests {

    @Autowired MockMvc mvc;

    @MockitoBean InferenceService inference;

    @MockitoBean KernelCatalog catalog;

    @Test
    void bothInferPathsReachTheServiceWithTheirVersion() throws Exception {
        mvc.perform(post("/v2/models/sort/infer").content("{}")).andExpect(status().isOk());
        mvc.perform(post("/v2/models/sort/versions/1/infer").content("{}"))
                .andExpect(status().isOk());

        then(inference).should().infer(eq("sort"), isNull(), any(), any());
        then(inference).should().infer(eq("sort"), eq("1"), any(), any());
    }

    @Test
    void unknownKernelsAre404WithAnErrorBody() throws Exception {
        given(catalog.get("nope", null))
                .willThrow(new UnknownKernelException("unknown kernel 'nope'"));

        mvc.perform(get("/v2/models/nope"))
                .andExpect(status().isNotFound())
                .andExpect(jsonPath("$.error").value("unknown kernel 'nope'"));
    }

    @Test
    void aFullQueueIs503WithRetryAfter() throws Exception {
        willThrow(new QueueFullException("all workers are busy", Duration.ofSeconds(2)))
                .given(inference)
                .infer(any(), any(), any(), any());

        mvc.perform(post("/v2/models/sort/infer").content("{}"))
                .andExpect(status().isServiceUnavailable())
                .andExpect(header().string("Retry-After", "2"))
                .andExpect(jsonPath("$.error").value("all workers are busy"));
    }

    @Test
    void nativeStatusesMapToTheirHttpStatuses() throws Exception {
        expect(NativeStatus.INVALID_ARGUMENT, 400);
        expect(NativeStatus.NOT_FOUND, 404);
        expect(NativeStatus.OUT_OF_MEMORY, 507);
        expect(NativeStatus.CANCELLED, 504);
        expect(NativeStatus.STALE_HANDLE, 500);
        expect(NativeStatus.INTERNAL, 500);
    }

    @Test
    void tooLargeAndUnsupportedBodiesAre413And415() throws Exception {
        willThrow(new PayloadTooLargeException("too big"))
                .given(inference)
                .infer(eq("a"), any(), any(), any());
        willThrow(new UnsupportedEncodingException("br"))
                .given(inference)
                .infer(eq("b"), any(), any(), any());

        mvc.perform(post("/v2/models/a/infer").content("{}"))
                .andExpect(status().isContentTooLarge());
        mvc.perform(post("/v2/models/b/infer").content("{}"))
                .andExpect(status().isUnsupportedMediaType());
    }

    private void expect(NativeStatus nativeStatus, int httpStatus) throws Exception {
        willThrow(new NativeException(nativeStatus, "native says " + nativeStatus))
                .given(inference)
                .infer(eq("k"), any(), any(), any());
        mvc.perform(post("/v2/models/k/infer").content("{}"))
                .andExpect(status().is(httpStatus))
                .andExpect(jsonPath("$.error").isNotEmpty());
    }
}
