/*
 * legacy.c -- an example of a library that is NOT thread-safe, and of releasing its lock.
 *
 * Kernel "legacy_work" stands for old code with library-global state: every part updates
 * static bookkeeping (a part counter and a running checksum of the inputs), which would race if
 * two parts ran at once. So the library is registered without NCS_KERNEL_THREAD_SAFE and the
 * host holds the library lock around each of its steps. The heavy part, `iterations` steps of
 * the logistic map per element, touches only the part's own data; with release_lock=true it
 * runs between NCS_BEGIN_ALLOW_THREADS and NCS_END_ALLOW_THREADS, so other steps of the library
 * (other parts, other requests) run meanwhile -- the Py_BEGIN_ALLOW_THREADS habit.
 *
 *   y[i] = v_iterations, where v_0 = 0.5 + 0.4 * x[i] / (1 + |x[i]|) and v_{k+1} = 3.9 * v_k * (1 - v_k)
 *
 * (NaN stays NaN; +-Inf start at 0.9 / 0.1.) The work is count(x) * iterations steps, about
 * 1 ns each. Deterministic: the same x gives the same y on every host (plain IEEE arithmetic).
 */
#include <math.h>

#include <ncs/ncs_plugin.h>

static const ncs_tensor_desc inputs[] = {
    {"x", "starting values (any shape)", NCS_DTYPE_BIT(NCS_DTYPE_FP64), NCS_RANK_ANY, {0}},
};
static const ncs_tensor_desc outputs[] = {
    {"y",
     "the logistic map after `iterations` steps from each x, shape of x",
     NCS_DTYPE_BIT(NCS_DTYPE_FP64),
     NCS_RANK_ANY,
     {0}},
};
static const ncs_param_desc params[] = {
    {"iterations", NCS_PARAM_INT, "1000000", "steps of the logistic map per element, 0 to 10^12"},
    {"release_lock", NCS_PARAM_BOOL, "false",
     "release the library lock around the computation, so other calls of the library run "
     "meanwhile"},
};

#define MAX_ITERATIONS 1000000000000LL
#define POLL_STEPS 65536 /* steps between cancellation polls: well under a millisecond */

/* The library-global state that makes this library unsafe for concurrent use. Only touched
   while the host holds the library lock. */
static unsigned long long parts_run;
static double input_checksum;

static int prepare(ncs_ctx *ctx, int max_parts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x;
    int64_t iterations;
    int release;
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->param_int(ctx, "iterations", &iterations);
    if (status == NCS_OK)
        status = api->param_bool(ctx, "release_lock", &release);
    if (status != NCS_OK)
        return status;
    if (iterations < 0 || iterations > MAX_ITERATIONS)
        return api->fail(ctx, NCS_E_INVALID_ARGUMENT,
                         "parameter 'iterations' is %lld: expected 0 to %lld steps per element",
                         (long long)iterations, MAX_ITERATIONS);
    status = api->set_output(ctx, 0, NCS_DTYPE_FP64, x.rank, x.dims);
    if (status != NCS_OK)
        return status;
    /* One part per element at most: each element is a chain of dependent steps. */
    int64_t parts = x.count < max_parts ? x.count : max_parts;
    return api->set_parts(ctx, parts < 1 ? 1 : (int)parts);
}

/* The pure computation: reads x[begin..end), writes y[begin..end), nothing else. Returns
   NCS_E_CANCELLED when the call was cancelled meanwhile. */
static int compute(ncs_ctx *ctx, const double *x, double *y, int64_t begin, int64_t end,
                   int64_t iterations)
{
    for (int64_t i = begin; i < end; i++) {
        double v = isinf(x[i]) ? (x[i] > 0 ? 0.9 : 0.1) : 0.5 + 0.4 * (x[i] / (1.0 + fabs(x[i])));
        for (int64_t done = 0; done < iterations;) {
            if (ctx->api->cancelled(ctx)) /* allowed while the lock is released */
                return NCS_E_CANCELLED;
            int64_t stop = iterations - done > POLL_STEPS ? done + POLL_STEPS : iterations;
            for (; done < stop; done++)
                v = 3.9 * v * (1.0 - v);
        }
        y[i] = v;
        ctx->api->progress(ctx, 1); /* allowed while the lock is released */
    }
    return NCS_OK;
}

static int run(ncs_ctx *ctx, int part, int nparts)
{
    const ncs_host_api *api = ctx->api;
    ncs_tensor_view x, y;
    int64_t iterations;
    int release;
    /* Everything needed from the host, while the lock is held. */
    int status = api->input(ctx, 0, &x);
    if (status == NCS_OK)
        status = api->output(ctx, 0, &y);
    if (status == NCS_OK)
        status = api->param_int(ctx, "iterations", &iterations);
    if (status == NCS_OK)
        status = api->param_bool(ctx, "release_lock", &release);
    if (status != NCS_OK)
        return status;
    int64_t begin, end;
    ncs_part_range(x.count, part, nparts, &begin, &end);
    const double *in = x.data;
    double *out = y.data;

    /* Library-global bookkeeping: needs the lock. */
    parts_run++;
    for (int64_t i = begin; i < end; i++)
        input_checksum += in[i] == in[i] ? in[i] : 0.0;

    if (release) {
        NCS_BEGIN_ALLOW_THREADS(ctx)
        status = compute(ctx, in, out, begin, end, iterations);
        NCS_END_ALLOW_THREADS(ctx)
    } else {
        status = compute(ctx, in, out, begin, end, iterations);
    }
    return status;
}

static const ncs_kernel_desc legacy_work = {
    .struct_size = sizeof(ncs_kernel_desc),
    .name = "legacy_work",
    .doc =
        "stands for legacy code that is not thread-safe: updates library-global bookkeeping under "
        "the library lock, then runs `iterations` steps of the logistic map per element of x "
        "(y = v_n, v_0 = 0.5 + 0.4 * x / (1 + |x|), v_k+1 = 3.9 v_k (1 - v_k)); with "
        "release_lock=true the lock is released around that computation",
    .flags = 0, /* not thread-safe: the host serialises its steps with the library lock */
    .n_inputs = 1,
    .inputs = inputs,
    .n_outputs = 1,
    .outputs = outputs,
    .n_params = 2,
    .params = params,
    .prepare = prepare,
    .run = run,
};

NCS_PLUGIN_EXPORT int ncs_plugin_register(ncs_registrar *registrar)
{
    return NCS_ADD_KERNEL(registrar, &legacy_work);
}
