/* smallest.c -- the smallest NCS plugin: kernel "scale", y = alpha * x for FP64 of any shape.
 * Build: cc -O2 -fPIC -shared -I<ncs>/native/include -o libsmallest.so smallest.c */
#include <ncs/ncs_plugin.h>

static const ncs_tensor_desc x = {"x", "values", NCS_DTYPE_BIT(NCS_DTYPE_FP64), NCS_RANK_ANY, {0}};
static const ncs_tensor_desc y = {
    "y", "alpha * x, shape of x", NCS_DTYPE_BIT(NCS_DTYPE_FP64), NCS_RANK_ANY, {0}};
static const ncs_param_desc alpha = {"alpha", NCS_PARAM_DOUBLE, "2", "the factor"};

static int prepare(ncs_ctx *ctx, int max_parts)
{
    ncs_tensor_view in;
    int status = ctx->api->input(ctx, 0, &in); /* dtype and rank already checked by the host */
    if (status == NCS_OK)
        status = ctx->api->set_output(ctx, 0, NCS_DTYPE_FP64, in.rank, in.dims);
    int64_t parts = status == NCS_OK ? in.count / 65536 + 1 : 1; /* ~64 Ki elements per part */
    return status ? status : ctx->api->set_parts(ctx, parts < max_parts ? (int)parts : max_parts);
}

static int run(ncs_ctx *ctx, int part, int nparts)
{
    ncs_tensor_view in, out;
    double a;
    ctx->api->input(ctx, 0, &in);
    ctx->api->output(ctx, 0, &out);
    ctx->api->param_double(ctx, "alpha", &a);
    int64_t begin, end;
    ncs_part_range(in.count, part, nparts, &begin, &end);
    for (int64_t i = begin; i < end;) {
        if (ctx->api->cancelled(ctx))
            return NCS_E_CANCELLED;
        int64_t stop = end - i > (1 << 20) ? i + (1 << 20) : end; /* ~1 ms between polls */
        ctx->api->progress(ctx, (uint64_t)(stop - i));
        for (; i < stop; i++)
            ((double *)out.data)[i] = a * ((const double *)in.data)[i];
    }
    return NCS_OK;
}

static const ncs_kernel_desc scale = {sizeof(ncs_kernel_desc),
                                      "scale",
                                      "y = alpha * x (FP64, any shape)",
                                      NCS_KERNEL_THREAD_SAFE,
                                      1,
                                      &x,
                                      1,
                                      &y,
                                      1,
                                      &alpha,
                                      prepare,
                                      run,
                                      NULL};

NCS_PLUGIN_EXPORT int ncs_plugin_register(ncs_registrar *registrar)
{
    return NCS_ADD_KERNEL(registrar, &scale);
}
