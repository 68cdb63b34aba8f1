/*
 * test_plugin.c -- tiny plugins for test_plugins, most of which must be refused. CMake builds
 * this file several times into <build>/test-plugins, each with one of these definitions:
 *   NCS_TEST_WRONG_MAJOR      registers with ABI major NCS_PLUGIN_ABI_MAJOR + 1
 *   NCS_TEST_NEWER_MINOR      registers with ABI minor NCS_PLUGIN_ABI_MINOR + 1 (a newer plugin)
 *   NCS_TEST_ENTRY_FAILS      registers a good kernel, then its entry point fails (init failure)
 *   NCS_TEST_IGNORES_REFUSAL  registers a good kernel and a clashing one, ignores the refusal
 *   NCS_TEST_NO_ENTRY         exports no entry point
 *   NCS_TEST_OLD_HEADER       a good plugin, built against the headers of libncs 0.1.0
 *                             (tests/fixtures/abi-1.3): it must load and run
 */
#include <ncs/ncs_plugin.h>

#ifdef NCS_TEST_WRONG_MAJOR
#undef NCS_PLUGIN_ABI_MAJOR
#define NCS_PLUGIN_ABI_MAJOR 2 /* what a plugin built against a future header would pass */
#endif
#ifdef NCS_TEST_NEWER_MINOR
#undef NCS_PLUGIN_ABI_MINOR
#define NCS_PLUGIN_ABI_MINOR 99
#endif

static const ncs_tensor_desc outputs[] = {
    {"y", "", NCS_DTYPE_BIT(NCS_DTYPE_INT64), 1, {1}},
};

static int prepare(ncs_ctx *ctx, int max_parts)
{
    (void)max_parts;
    const int64_t one[1] = {1};
    return ctx->api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, one);
}

static int run(ncs_ctx *ctx, int part, int nparts)
{
    (void)part;
    (void)nparts;
    ncs_tensor_view y;
    int status = ctx->api->output(ctx, 0, &y);
    if (status == NCS_OK)
        *(int64_t *)y.data = 42;
    return status;
}

#define KERNEL(NAME)                                                                             \
    {                                                                                            \
        .struct_size = sizeof(ncs_kernel_desc), .name = NAME, .doc = "test kernel: y = [42]",    \
        .flags = NCS_KERNEL_THREAD_SAFE, .n_outputs = 1, .outputs = outputs, .prepare = prepare, \
        .run = run                                                                               \
    }

#ifdef NCS_TEST_OLD_HEADER
static const ncs_kernel_desc good = KERNEL("old_header_good");
#else
static const ncs_kernel_desc good = KERNEL("test_plugin_good");
#endif
static const ncs_kernel_desc clash = KERNEL("matmul"); /* a built-in's name */

#ifdef NCS_TEST_NO_ENTRY
NCS_PLUGIN_EXPORT int not_the_entry_point(ncs_registrar *registrar);
NCS_PLUGIN_EXPORT int not_the_entry_point(ncs_registrar *registrar)
{
    (void)clash;
    return NCS_ADD_KERNEL(registrar, &good);
}
#else
NCS_PLUGIN_EXPORT int ncs_plugin_register(ncs_registrar *registrar)
{
    int status = NCS_ADD_KERNEL(registrar, &good);
#if defined(NCS_TEST_ENTRY_FAILS)
    if (status == NCS_OK)
        status = NCS_E_UNSUPPORTED; /* e.g. "this CPU lacks the instructions I was built for" */
#elif defined(NCS_TEST_IGNORES_REFUSAL)
    (void)NCS_ADD_KERNEL(registrar, &clash);
#endif
    (void)clash;
    return status;
}
#endif
