/*
 * leaky.c -- a plugin that leaks on purpose, for tests and the leak dashboard only. Never put
 * it in a production plugin directory.
 *
 * Kernel "leaky" copies x to y and, in every call, allocates one scratch buffer of `leak_bytes`
 * bytes through ctx->api->alloc that it never releases. The host reclaims the buffer when the
 * call ends, counts it in NCS_STAT_KERNEL_LEAKS (ncs_leaks_total{source="kernel",kernel="leaky"}
 * on the Java side) and reports it from ncs_call_destroy (1 buffer, leak_bytes bytes). While
 * the call runs the buffer shows up in ncs_buffer_snapshot under the owner "kernel:leaky".
 */
#include <string.h>

#include <ncs/ncs_plugin.h>

static const ncs_tensor_desc inputs[] = {
    {"x", "values (any shape)", NCS_DTYPE_BIT(NCS_DTYPE_FP64), NCS_RANK_ANY, {0}},
};
static const ncs_tensor_desc outputs[] = {
    {"y", "a copy of x", NCS_DTYPE_BIT(NCS_DTYPE_FP64), NCS_RANK_ANY, {0}},
};
static const ncs_param_desc params[] = {
    {"leak_bytes", NCS_PARAM_INT, "4096", "size of the buffer leaked per call, 0 to 2^30"},
};

static int prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int64_t leak_bytes;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->param_int(ctx, "leak_bytes", &leak_bytes);
    if (status != NCS_OK)
        return status;
    if (leak_bytes < 0 || leak_bytes > (1 << 30))
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "parameter 'leak_bytes' is %lld: expected 0 to %d", (long long)leak_bytes,
                         1 << 30);
    status = api->set_output(ctx, 0, NCS_DTYPE_FP64, x.rank, x.dims);
    if (status != NCS_OK)
        return status;
    int64_t parts = x.count / (1 << 20) + 1;
    status = api->set_parts(ctx, parts < max_parts ? (int)parts : max_parts);
    if (status != NCS_OK)
        return status;
    /* The leak: one buffer per call, allocated here (prepare runs once per call) and never
       released. */
    ncs_handle scratch;
    void *memory;
    status = api->alloc(ctx, (uint64_t)leak_bytes, &scratch, &memory);
    if (status == NCS_OK && leak_bytes > 0)
        memset(memory, 0xA5, (size_t)leak_bytes);
    return status;
}

static int run(ncs_ctx *ctx, int part, int nparts)
{
    ncs_tensor_view x, y;
    int status = ctx->api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = ctx->api->output(ctx, 0, &y);
    if (status != NCS_OK)
        return status;
    if (ctx->api->cancelled(ctx))
        return NCS_E_CANCELLED;
    /* Parts of at most ~1 Mi elements (a few ms of copying) unless max_parts is small. */
    int64_t begin, end;
    ncs_part_range(x.count, part, nparts, &begin, &end);
    if (end > begin)
        memcpy((double *)y.data + begin, (const double *)x.data + begin,
               (size_t)(end - begin) * sizeof(double));
    ctx->api->progress(ctx, (uint64_t)(end - begin));
    return NCS_OK;
}

static const ncs_kernel_desc leaky = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "leaky",
    .doc = "copies x to y and leaks one scratch buffer of leak_bytes bytes per call, on purpose: "
           "for leak-detection tests and dashboards only",
    .flags = NCS_KERNEL_THREAD_SAFE,
    .n_inputs = 1,
    .inputs = inputs,
    .n_outputs = 1,
    .outputs = outputs,
    .n_params = 1,
    .params = params,
    .prepare = prepare,
    .run = run,
};

NCS_PLUGIN_EXPORT int ncs_plugin_register(ncs_registrar *registrar)
{
    return NCS_ADD_KERNEL(registrar, &leaky);
}
