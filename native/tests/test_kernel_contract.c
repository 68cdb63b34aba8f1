/*
 * test_kernel_contract.c -- the contract every registered kernel keeps, checked over all of them
 * from one table: a well-formed descriptor and metadata, a clean run (nothing leaked, progress
 * reported, parts within max_parts), parts that together write every byte of every output,
 * the memory budget (ncs_call_bytes_needed is the call's whole peak: a budget of exactly that runs
 * it, one byte less refuses it at prepare), cancellation before any part runs, and bad arguments
 * refused with nothing left behind.
 *
 * The table holds one small valid request per kernel and one request its prepare must refuse;
 * a registered kernel without a row fails the test, so a new kernel must add one. The per-kernel
 * test files keep only what is particular to their kernel: its numerics and its own rules.
 * Internal (links the runtime's objects): it reads the descriptors from the catalog and, to see
 * which output bytes the parts wrote, fills the outputs before the parts run (call.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "check.h"

#define MAX_INPUTS 2
#define PARTS 4 /* max_parts of every call */

typedef struct input_spec {
    int dtype;
    int rank;
    int64_t dims[3];
} input_spec;

typedef struct request {
    input_spec inputs[MAX_INPUTS];
    const char *params[8]; /* key, value, ..., NULL */
} request;

typedef struct kernel_case {
    const char *name;
    request valid;      /* runs; large enough for several parts where the kernel splits work */
    int min_parts;      /* what prepare must choose for `valid` given PARTS */
    request refused;    /* inputs the host accepts but the kernel's prepare refuses */
    const char *reason; /* a piece of the refusal's message; NULL: the host's checks leave the
                           kernel nothing to refuse */
} kernel_case;

static const kernel_case cases[] = {
    {"matmul",
     {{{NCS_DTYPE_FP32, 2, {240, 100}}, {NCS_DTYPE_FP32, 2, {100, 100}}}, {NULL}},
     2,
     {{{NCS_DTYPE_FP64, 2, {2, 3}}, {NCS_DTYPE_FP64, 2, {4, 5}}}, {NULL}},
     "has 4 rows"},
    {"describe",
     {{{NCS_DTYPE_FP64, 1, {1 << 20}}}, {"percentiles", "5,50,95", NULL}},
     2,
     {{{NCS_DTYPE_FP64, 1, {10}}}, {"percentiles", "101", NULL}},
     "percentile"},
    {"sort",
     {{{NCS_DTYPE_FP64, 1, {1 << 20}}}, {"descending", "true", NULL}},
     2,
     {{{0}}, {NULL}},
     NULL},
    {"identity", {{{NCS_DTYPE_FP64, 2, {1 << 10, 2304}}}, {NULL}}, 2, {{{0}}, {NULL}}, NULL},
    {"conv2d",
     {{{NCS_DTYPE_FP64, 2, {512, 512}}, {NCS_DTYPE_FP64, 2, {5, 5}}}, {"mode", "same", NULL}},
     2,
     {{{NCS_DTYPE_FP64, 2, {8, 8}}, {NCS_DTYPE_FP32, 2, {3, 3}}}, {NULL}},
     "same datatype"},
    {"histogram",
     {{{NCS_DTYPE_FP64, 1, {1 << 20}}}, {"bins", "16", "lo", "0", "hi", "1"}},
     2,
     {{{NCS_DTYPE_FP64, 1, {10}}}, {"bins", "0", NULL}},
     "1 <= bins"},
    {"sha256", {{{NCS_DTYPE_BYTES, 1, {16384}}}, {NULL}}, 2, {{{0}}, {NULL}}, NULL},
    {"fft",
     {{{NCS_DTYPE_FP64, 3, {64, 1024, 2}}}, {NULL}},
     2,
     {{{NCS_DTYPE_FP64, 2, {8, 3}}}, {NULL}},
     "last dimension 3"},
};

static const kernel_case *case_of(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    }
    return NULL;
}

static int64_t element_count(const input_spec *in)
{
    int64_t count = 1;
    for (int r = 0; r < in->rank; r++)
        count *= in->dims[r];
    return count;
}

/* A buffer holding deterministic values for `in` (BYTES: elements of 0 to 200 bytes). */
static ncs_handle input_buffer(const input_spec *in, uint64_t seed)
{
    int64_t count = element_count(in);
    size_t bytes = (size_t)count * ncs_dtype_size(in->dtype);
    if (in->dtype == NCS_DTYPE_BYTES) {
        bytes = 0;
        for (int64_t i = 0; i < count; i++)
            bytes += 4 + (size_t)(i * 37 % 201);
    }
    unsigned char *data = malloc(bytes ? bytes : 1);
    CHECK(data != NULL);
    size_t at = 0;
    for (int64_t i = 0; i < count; i++) {
        double v = test_random(&seed);
        switch (in->dtype) {
        case NCS_DTYPE_FP64: ((double *)data)[i] = v; break;
        case NCS_DTYPE_FP32: ((float *)data)[i] = (float)v; break;
        case NCS_DTYPE_BYTES: {
            uint32_t length = (uint32_t)(i * 37 % 201);
            memcpy(data + at, &length, 4);
            for (uint32_t b = 0; b < length; b++)
                data[at + 4 + b] = (unsigned char)(v * 256 + b);
            at += 4 + length;
            break;
        }
        default: CHECK(!"no generator for this dtype");
        }
    }
    ncs_handle h = buffer_from(data, bytes);
    free(data);
    return h;
}

/* A call of `name` with `r`'s inputs and parameters set (the call holds the only references). */
static ncs_call *call_with(const char *name, const request *r)
{
    const ncs_kernel_entry *e = ncs_catalog_find(name);
    ncs_call *call;
    CHECK_OK(ncs_call_create(name, &call));
    for (int i = 0; i < e->desc.n_inputs; i++) {
        const input_spec *in = &r->inputs[i];
        ncs_handle h = input_buffer(in, 17 + (uint64_t)i);
        CHECK_OK(ncs_call_set_input(call, i, in->dtype, in->rank, in->dims, h));
        CHECK_OK(ncs_buffer_release(h));
    }
    for (int p = 0; r->params[p] != NULL; p += 2)
        CHECK_OK(ncs_call_set_param(call, r->params[p], r->params[p + 1]));
    return call;
}

/* Destroys `call`, which must not have leaked, and checks no buffer is left but `kept`. */
static void destroy_clean(ncs_call *call, uint64_t kept)
{
    uint64_t leaked = 99, leaked_bytes = 99;
    ncs_call_destroy(call, &leaked, &leaked_bytes);
    CHECK(leaked == 0 && leaked_bytes == 0);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == kept);
}

/* ---- every registered kernel has a row, and every row a kernel ------------------------------ */

static void test_table_covers_catalog(void)
{
    int n = ncs_kernel_count();
    CHECK(n == (int)(sizeof cases / sizeof cases[0]));
    for (int i = 0; i < n; i++) {
        const char *name = ncs_kernel_name(i);
        if (case_of(name) == NULL) {
            fprintf(stderr, "kernel '%s' has no row in test_kernel_contract.c's table\n", name);
            exit(1);
        }
    }
}

/* ---- descriptor and metadata ------------------------------------------------------------------ */

/* Whether the JSON text's brackets and quotes balance (strings skipped, escapes honoured). */
static int json_balanced(const char *json)
{
    int depth = 0, in_string = 0;
    for (const char *p = json; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '"')
                in_string = 0;
        } else if (*p == '"') {
            in_string = 1;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth < 0)
                return 0;
        }
    }
    return depth == 0 && !in_string;
}

static void check_tensor_descs(const char *json, const ncs_tensor_desc *t, int n)
{
    char text[320];
    for (int i = 0; i < n; i++) {
        CHECK(t[i].dtypes != 0 && (t[i].dtypes & ~ncs_dtype_all_mask()) == 0);
        CHECK(t[i].rank == NCS_RANK_ANY || (t[i].rank >= 0 && t[i].rank <= NCS_MAX_RANK));
        snprintf(text, sizeof text, "{\"name\":\"%s\",\"doc\":", t[i].name);
        CHECK_CONTAINS(json, text);
        size_t used = 0;
        for (int d = 1; ncs_dtype_valid(d); d++) {
            if (t[i].dtypes & NCS_DTYPE_BIT(d))
                used += (size_t)snprintf(text + used, sizeof text - used, "%s\"%s\"",
                                         used ? "," : "\"datatypes\":[", ncs_dtype_text(d));
        }
        used += (size_t)snprintf(text + used, sizeof text - used, "],\"shape\":%s",
                                 t[i].rank == NCS_RANK_ANY ? "null" : "[");
        for (int r = 0; t[i].rank != NCS_RANK_ANY && r < t[i].rank; r++)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%lld", r ? "," : "",
                                     (long long)t[i].dims[r]);
        if (t[i].rank != NCS_RANK_ANY)
            snprintf(text + used, sizeof text - used, "]");
        CHECK_CONTAINS(json, text); /* the dtypes in enum order, then the shape */
    }
}

static void test_metadata(void)
{
    for (int k = 0; k < ncs_kernel_count(); k++) {
        const char *name = ncs_kernel_name(k);
        const ncs_kernel_desc *d = &ncs_catalog_find(name)->desc;
        const char *json = ncs_kernel_metadata_json(name);
        char text[200];
        CHECK(json != NULL && json_balanced(json));
        snprintf(text, sizeof text, "{\"name\":\"%s\",\"doc\":\"", name);
        CHECK(strncmp(json, text, strlen(text)) == 0);
        CHECK(d->doc != NULL && d->doc[0] != '\0' && d->prepare != NULL && d->run != NULL);
        snprintf(text, sizeof text, "\"thread_safe\":%s,\"library\":\"builtin\"",
                 (d->flags & NCS_KERNEL_THREAD_SAFE) ? "true" : "false");
        CHECK_CONTAINS(json, text);
        CHECK(d->n_inputs <= MAX_INPUTS && d->n_outputs >= 1);
        check_tensor_descs(json, d->inputs, d->n_inputs);
        check_tensor_descs(json, d->outputs, d->n_outputs);
        for (int p = 0; p < d->n_params; p++) {
            const ncs_param_desc *param = &d->params[p];
            CHECK(ncs_param_type_name(param->type) != NULL);
            CHECK(ncs_param_text_valid(param->type, param->default_value));
            snprintf(text, sizeof text, "{\"name\":\"%s\",\"type\":\"%s\"", param->name,
                     ncs_param_type_name(param->type));
            CHECK_CONTAINS(json, text);
        }
    }
}

/* ---- a clean run, and parts that write every output byte -------------------------------------- */

typedef struct outputs {
    int n;
    unsigned char *bytes[NCS_MAX_TENSORS];
    uint64_t nbytes[NCS_MAX_TENSORS];
} outputs;

/* Runs `c`'s valid request with its outputs first filled with `fill`, the parts one after the
   other or each on its own thread; returns copies of the outputs. */
static outputs run_valid(const kernel_case *c, unsigned char fill, int concurrent)
{
    uint64_t leaks = stat_value(NCS_STAT_KERNEL_LEAKS);
    ncs_call *call = call_with(c->name, &c->valid);
    int nparts;
    CHECK_OK(ncs_call_prepare(call, PARTS, &nparts));
    if (nparts < c->min_parts || nparts > PARTS) {
        fprintf(stderr, "kernel '%s' chose %d parts, expected %d to %d\n", c->name, nparts,
                c->min_parts, PARTS);
        exit(1);
    }
    outputs out = {.n = ncs_call_output_count(call)};
    for (int i = 0; i < out.n; i++) { /* white box: the host's view of output i */
        const ncs_tensor_view *v = &call->outputs[i].view;
        CHECK(v->data != NULL || v->nbytes == 0);
        if (v->nbytes > 0)
            memset(v->data, fill, v->nbytes);
    }
    CHECK_OK(concurrent ? run_parts_concurrently(call, nparts)
                        : run_parts_and_finish(call, nparts));
    CHECK(ncs_call_progress(call) > 0);
    CHECK(strcmp(ncs_call_error(call), "") == 0);
    for (int i = 0; i < out.n; i++) {
        ncs_handle h;
        CHECK_OK(ncs_call_output_nbytes(call, i, &out.nbytes[i]));
        CHECK_OK(ncs_call_take_output(call, i, &h));
        out.bytes[i] = malloc(out.nbytes[i] + 1);
        CHECK(out.bytes[i] != NULL);
        if (out.nbytes[i] > 0)
            memcpy(out.bytes[i], buffer_memory(h), out.nbytes[i]);
        CHECK_OK(ncs_buffer_release(h));
    }
    destroy_clean(call, 0);
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == leaks);
    return out;
}

static void free_outputs(outputs *out)
{
    for (int i = 0; i < out->n; i++)
        free(out->bytes[i]);
}

/* The same request twice, outputs filled with different bytes before the parts ran: outputs that
   come out equal were written whole by the parts (or by finish). */
static void test_runs_and_parts_cover_outputs(void)
{
    for (int k = 0; k < ncs_kernel_count(); k++) {
        const kernel_case *c = case_of(ncs_kernel_name(k));
        outputs first = run_valid(c, 0xa5, 0), second = run_valid(c, 0x5a, 1);
        CHECK(first.n == second.n);
        for (int i = 0; i < first.n; i++) {
            CHECK(first.nbytes[i] == second.nbytes[i]);
            if (memcmp(first.bytes[i], second.bytes[i], first.nbytes[i]) != 0) {
                fprintf(stderr, "kernel '%s': output %d is not written whole by its parts\n",
                        c->name, i);
                exit(1);
            }
        }
        free_outputs(&first);
        free_outputs(&second);
    }
}

/* ---- the memory budget --------------------------------------------------------------------------- */

static ncs_call *make_valid(void *arg)
{
    const kernel_case *c = arg;
    return call_with(c->name, &c->valid);
}

static void test_budget_edges(void)
{
    for (int k = 0; k < ncs_kernel_count(); k++) {
        kernel_case *c = (kernel_case *)case_of(ncs_kernel_name(k));
        ncs_call *call = make_valid(c);
        int nparts;
        CHECK_OK(ncs_call_prepare(call, PARTS, &nparts));
        uint64_t needed = ncs_call_bytes_needed(call);
        CHECK(needed > 0 &&
              stat_value(NCS_STAT_LIVE_BYTES) == needed); /* inputs, outputs, workspace */
        destroy_clean(call, 0);
        destroy_clean(run_at_budget_edge(make_valid, c, needed, PARTS, &nparts), 0);
    }
}

/* ---- cancellation before any part runs -------------------------------------------------------- */

static void test_cancel_before_run(void)
{
    for (int k = 0; k < ncs_kernel_count(); k++) {
        const kernel_case *c = case_of(ncs_kernel_name(k));
        for (int concurrent = 0; concurrent <= 1; concurrent++) {
            ncs_call *call = call_with(c->name, &c->valid);
            int nparts;
            CHECK_OK(ncs_call_prepare(call, PARTS, &nparts));
            ncs_call_cancel(call);
            if (concurrent) {
                CHECK_STATUS(run_parts_concurrently(call, nparts), NCS_E_CANCELLED);
            } else {
                for (int p = 0; p < nparts; p++)
                    CHECK_STATUS(ncs_call_run_part(call, p), NCS_E_CANCELLED);
            }
            CHECK_CONTAINS(ncs_call_error(call), "cancelled");
            CHECK(ncs_call_progress(call) == 0);
            CHECK_STATUS(ncs_call_finish(call), NCS_E_INVALID_ARGUMENT);
            destroy_clean(call, 0);
        }
    }
}

/* ---- bad arguments ----------------------------------------------------------------------------- */

/* A valid dtype the descriptor does not accept, or NCS_DTYPE_INVALID when it accepts them all. */
static int foreign_dtype(uint32_t mask)
{
    for (int d = 1; ncs_dtype_valid(d); d++) {
        if (!(mask & NCS_DTYPE_BIT(d)))
            return d;
    }
    return NCS_DTYPE_INVALID;
}

static void test_bad_arguments(void)
{
    for (int k = 0; k < ncs_kernel_count(); k++) {
        const kernel_case *c = case_of(ncs_kernel_name(k));
        const ncs_kernel_desc *d = &ncs_catalog_find(c->name)->desc;
        ncs_handle any;
        CHECK_OK(ncs_buffer_alloc(1024, &any));
        ncs_call *call;
        CHECK_OK(ncs_call_create(c->name, &call));
        const int64_t dims[NCS_MAX_RANK + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        for (int i = 0; i < d->n_inputs; i++) {
            const ncs_tensor_desc *t = &d->inputs[i];
            int rank = t->rank == NCS_RANK_ANY ? 1 : t->rank;
            int dtype = foreign_dtype(t->dtypes);
            if (dtype != NCS_DTYPE_INVALID) {
                CHECK_STATUS(ncs_call_set_input(call, i, dtype, rank, dims, any),
                             NCS_E_INVALID_ARGUMENT);
                CHECK_CONTAINS(ncs_call_error(call), t->name);
            }
            int good = foreign_dtype(~t->dtypes);
            if (t->rank != NCS_RANK_ANY) {
                CHECK_STATUS(ncs_call_set_input(call, i, good, t->rank + 1, dims, any),
                             NCS_E_INVALID_ARGUMENT);
                CHECK_CONTAINS(ncs_call_error(call), "rank");
            }
            CHECK_STATUS(ncs_call_set_input(call, i, good, NCS_MAX_RANK + 1, dims, any),
                         NCS_E_INVALID_ARGUMENT);
        }
        CHECK_STATUS(ncs_call_set_input(call, d->n_inputs, NCS_DTYPE_FP64, 1, dims, any),
                     NCS_E_INVALID_ARGUMENT);
        CHECK_STATUS(ncs_call_set_param(call, "no_such_parameter", "1"), NCS_E_INVALID_ARGUMENT);
        for (int p = 0; p < d->n_params; p++) {
            if (d->params[p].type != NCS_PARAM_STRING)
                CHECK_STATUS(ncs_call_set_param(call, d->params[p].name, "not a value"),
                             NCS_E_INVALID_ARGUMENT);
        }
        int nparts;
        if (d->n_inputs > 0) { /* no input set yet */
            CHECK_STATUS(ncs_call_prepare(call, PARTS, &nparts), NCS_E_INVALID_ARGUMENT);
            CHECK_CONTAINS(ncs_call_error(call), "is not set");
        }
        destroy_clean(call, 1);
        CHECK_OK(ncs_buffer_release(any));

        if (c->reason != NULL) { /* the kernel's own check, in prepare */
            call = call_with(c->name, &c->refused);
            CHECK_STATUS(ncs_call_prepare(call, PARTS, &nparts), NCS_E_INVALID_ARGUMENT);
            CHECK(ncs_call_error(call)[0] != '\0');
            CHECK_CONTAINS(ncs_call_error(call), c->reason);
            CHECK(ncs_call_bytes_needed(call) == 0 ||
                  stat_value(NCS_STAT_LIVE_BUFFERS) <= (uint64_t)d->n_inputs);
            destroy_clean(call, 0);
        }
    }
}

int main(void)
{
    RUN_TEST(test_table_covers_catalog);
    RUN_TEST(test_metadata);
    RUN_TEST(test_runs_and_parts_cover_outputs);
    RUN_TEST(test_budget_edges);
    RUN_TEST(test_cancel_before_run);
    RUN_TEST(test_bad_arguments);
    return 0;
}
