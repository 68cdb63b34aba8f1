/*
 * test_catalog.c -- the built-in catalog, metadata JSON, and descriptor validation through the
 * internal library registrar (ncs_catalog_register_library), as a plugin would register.
 */
#include "check.h"
#include "internal.h"

static int noop_prepare(ncs_ctx *ctx, int max_parts)
{
    (void)ctx;
    (void)max_parts;
    return NCS_OK;
}

static int noop_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)ctx;
    (void)part;
    (void)nparts;
    return NCS_OK;
}

static const ncs_tensor_desc good_inputs[] = {
    {.name = "x",
     .doc = "in",
     .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64),
     .rank = 2,
     .dims = {3, NCS_DIM_ANY}},
};
static const ncs_tensor_desc good_outputs[] = {
    {.name = "y", .doc = "out", .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_INT32), .rank = NCS_RANK_ANY},
};
static const ncs_param_desc good_params[] = {
    {.name = "k", .type = NCS_PARAM_INT, .default_value = "3", .doc = "count"},
};

/* A valid descriptor; each case copies it and breaks one thing. */
static ncs_kernel_desc good_kernel(const char *name)
{
    ncs_kernel_desc k = {
        .struct_size = sizeof(ncs_kernel_desc),
        .name = name,
        .doc = "quote \" backslash \\ newline \n tab \t bell \x01 end",
        .flags = 0,
        .n_inputs = 1,
        .inputs = good_inputs,
        .n_outputs = 1,
        .outputs = good_outputs,
        .n_params = 1,
        .params = good_params,
        .prepare = noop_prepare,
        .run = noop_run,
    };
    return k;
}

/* What the test plugin's entry point registers. */
static const ncs_kernel_desc *plugin_kernels[2];
static int plugin_abi_major = NCS_PLUGIN_ABI_MAJOR;
static int plugin_abi_minor = NCS_PLUGIN_ABI_MINOR;

static int plugin_entry(ncs_registrar *registrar)
{
    for (int i = 0; i < 2 && plugin_kernels[i] != NULL; i++) {
        int status = registrar->add_kernel(registrar, plugin_abi_major, plugin_abi_minor,
                                           plugin_kernels[i]);
        if (status != NCS_OK)
            return status;
    }
    return NCS_OK;
}

static int register_one(const ncs_kernel_desc *k)
{
    plugin_kernels[0] = k;
    plugin_kernels[1] = NULL;
    return ncs_catalog_register_library("testlib", plugin_entry);
}

static int builtin_count;

static void test_builtins(void)
{
    builtin_count = ncs_kernel_count();
    CHECK(builtin_count >= 4);
    const char *expected[] = {"matmul", "describe", "sort", "identity"};
    for (int i = 0; i < 4; i++) {
        int found = 0;
        for (int k = 0; k < ncs_kernel_count(); k++)
            found |= strcmp(ncs_kernel_name(k), expected[i]) == 0;
        CHECK(found);
    }
    CHECK(ncs_kernel_name(-1) == NULL);
    CHECK(ncs_kernel_name(builtin_count) == NULL);
    CHECK(ncs_kernel_metadata_json("nope") == NULL);
    CHECK(ncs_kernel_metadata_json(NULL) == NULL);

    const char *matmul = ncs_kernel_metadata_json("matmul");
    CHECK_CONTAINS(matmul, "{\"name\":\"matmul\",\"doc\":\"");
    CHECK_CONTAINS(matmul, "\"thread_safe\":true,\"library\":\"builtin\"");
    CHECK_CONTAINS(matmul, "\"inputs\":[{\"name\":\"a\"");
    CHECK_CONTAINS(matmul, "\"datatypes\":[\"FP32\",\"FP64\"],\"shape\":[-1,-1]}");
    CHECK_CONTAINS(matmul, "\"outputs\":[{\"name\":\"c\"");
    CHECK_CONTAINS(matmul, "\"parameters\":[]}");

    const char *describe = ncs_kernel_metadata_json("describe");
    CHECK_CONTAINS(describe, "{\"name\":\"x\"");
    CHECK_CONTAINS(describe, "\"shape\":null");
    CHECK_CONTAINS(describe, "{\"name\":\"count\"");
    CHECK_CONTAINS(describe, "\"datatypes\":[\"INT64\"],\"shape\":[1]");
    CHECK_CONTAINS(describe, "{\"name\":\"std\"");

    const char *sort = ncs_kernel_metadata_json("sort");
    CHECK_CONTAINS(sort, "\"datatypes\":[\"INT32\",\"INT64\",\"FP32\",\"FP64\"]");
    CHECK_CONTAINS(sort, "{\"name\":\"sorted\"");
    CHECK_CONTAINS(sort, "\"parameters\":[{\"name\":\"descending\",\"type\":\"bool\",\"default\":"
                         "\"false\",\"doc\":");

    const char *identity = ncs_kernel_metadata_json("identity");
    CHECK_CONTAINS(identity,
                   "{\"name\":\"identity\",\"doc\":\"returns its input unchanged: for testing "
                   "clients, encodings and the transport (like Triton's identity model)\"");
    CHECK_CONTAINS(identity, "\"thread_safe\":true,\"library\":\"builtin\"");
    const char *every_dtype =
        "\"datatypes\":[\"BOOL\",\"UINT8\",\"UINT16\",\"UINT32\",\"UINT64\",\"INT8\","
        "\"INT16\",\"INT32\",\"INT64\",\"FP16\",\"FP32\",\"FP64\",\"BYTES\",\"BF16\"],"
        "\"shape\":null}";
    CHECK_CONTAINS(identity, every_dtype);
    CHECK_CONTAINS(strstr(identity, "\"outputs\":[{\"name\":\"y\""), every_dtype);
    CHECK_CONTAINS(identity, "\"parameters\":[]}");
}

static void test_register_and_escape(void)
{
    ncs_kernel_desc k = good_kernel("test_ok");
    CHECK_OK(register_one(&k));
    CHECK(ncs_kernel_count() == builtin_count + 1);
    const char *json = ncs_kernel_metadata_json("test_ok");
    CHECK_CONTAINS(json,
                   "\"doc\":\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0001 end\"");
    CHECK_CONTAINS(json, "\"thread_safe\":false,\"library\":\"testlib\"");
    CHECK_CONTAINS(json, "\"shape\":[3,-1]");
    CHECK_CONTAINS(json,
                   "{\"name\":\"y\",\"doc\":\"out\",\"datatypes\":[\"INT32\"],\"shape\":null}");
    CHECK_CONTAINS(json, "{\"name\":\"k\",\"type\":\"int\",\"default\":\"3\",\"doc\":\"count\"}");
    CHECK(ncs_catalog_find("test_ok") != NULL);
    /* The same name again, and a built-in's name, are taken. */
    CHECK_STATUS(register_one(&k), NCS_E_INVALID_ARGUMENT);
    ncs_kernel_desc clash = good_kernel("matmul");
    CHECK_STATUS(register_one(&clash), NCS_E_INVALID_ARGUMENT);
    CHECK(ncs_kernel_count() == builtin_count + 1);
}

static void test_abi_check(void)
{
    ncs_kernel_desc k = good_kernel("test_abi");
    plugin_abi_major = NCS_PLUGIN_ABI_MAJOR + 1;
    CHECK_STATUS(register_one(&k), NCS_E_UNSUPPORTED);
    plugin_abi_major = NCS_PLUGIN_ABI_MAJOR - 1;
    CHECK_STATUS(register_one(&k), NCS_E_UNSUPPORTED);
    plugin_abi_major = NCS_PLUGIN_ABI_MAJOR;
    plugin_abi_minor = NCS_PLUGIN_ABI_MINOR + 1; /* a newer plugin than this host */
    CHECK_STATUS(register_one(&k), NCS_E_UNSUPPORTED);
    plugin_abi_minor = -1;
    CHECK_STATUS(register_one(&k), NCS_E_UNSUPPORTED);
    CHECK(ncs_catalog_find("test_abi") == NULL);

    /* An older plugin (1.0) is accepted, but may not declare BYTES outputs: 1.0 has no
       set_output_bytes. 1.1 may. */
    CHECK(NCS_PLUGIN_ABI_MAJOR == 1 && NCS_PLUGIN_ABI_MINOR >= 1);
    plugin_abi_minor = 0;
    CHECK_OK(register_one(&k));
    CHECK(ncs_catalog_find("test_abi") != NULL);
    ncs_tensor_desc bytes_out[1] = {
        {.name = "y", .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_BYTES), .rank = 1, .dims = {NCS_DIM_ANY}},
    };
    ncs_kernel_desc b = good_kernel("test_abi_bytes");
    b.outputs = bytes_out;
    CHECK_STATUS(register_one(&b), NCS_E_INVALID_ARGUMENT);
    CHECK(ncs_catalog_find("test_abi_bytes") == NULL);
    plugin_abi_minor = 1;
    CHECK_OK(register_one(&b));
    CHECK_CONTAINS(
        ncs_kernel_metadata_json("test_abi_bytes"),
        "\"outputs\":[{\"name\":\"y\",\"doc\":\"\",\"datatypes\":[\"BYTES\"],\"shape\":[-1]}]");

    /* NCS_KERNEL_SHARED_INPUTS is a flag of ABI 1.4: an older plugin cannot have it. */
    ncs_kernel_desc shared = good_kernel("test_abi_shared");
    shared.flags = NCS_KERNEL_SHARED_INPUTS;
    plugin_abi_minor = 3;
    CHECK_STATUS(register_one(&shared), NCS_E_INVALID_ARGUMENT);
    CHECK(ncs_catalog_find("test_abi_shared") == NULL);
    plugin_abi_minor = 4;
    CHECK_OK(register_one(&shared));
    CHECK(ncs_catalog_find("test_abi_shared") != NULL);
    plugin_abi_minor = NCS_PLUGIN_ABI_MINOR;
}

static void expect_rejected(const ncs_kernel_desc *k, int line)
{
    int status = register_one(k);
    if (status != NCS_E_INVALID_ARGUMENT) {
        fprintf(stderr, "%s:%d: descriptor accepted (status %d)\n", __FILE__, line, status);
        exit(1);
    }
}

#define REJECT(k) expect_rejected(&(k), __LINE__)

static void test_descriptor_validation(void)
{
    int before = ncs_kernel_count();
    ncs_kernel_desc k;

    k = good_kernel("test_bad");
    k.struct_size = sizeof(ncs_kernel_desc) - 8;
    REJECT(k);
    char too_long[NCS_MAX_NAME + 2];
    memset(too_long, 'a', NCS_MAX_NAME + 1);
    too_long[NCS_MAX_NAME + 1] = '\0';
    const char *bad_names[] = {NULL, "", "Upper", "has space", "dot.name", "x/y", too_long};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        k = good_kernel(bad_names[i]);
        REJECT(k);
    }
    k = good_kernel("test_bad");
    k.flags = 0x80;
    REJECT(k);
    k = good_kernel("test_bad");
    k.prepare = NULL;
    REJECT(k);
    k = good_kernel("test_bad");
    k.run = NULL;
    REJECT(k);
    k = good_kernel("test_bad");
    k.n_inputs = -1;
    REJECT(k);
    k = good_kernel("test_bad");
    k.n_inputs = NCS_MAX_TENSORS + 1;
    REJECT(k);
    k = good_kernel("test_bad");
    k.inputs = NULL;
    REJECT(k);
    k = good_kernel("test_bad");
    k.n_outputs = 0;
    REJECT(k);
    k = good_kernel("test_bad");
    k.n_params = -2;
    REJECT(k);

    ncs_tensor_desc t[2];
    const struct {
        uint32_t dtypes;
        int32_t rank;
        int64_t dim0;
        const char *name;
    } bad_tensors[] = {
        {0, 1, 1, "x"},                                /* no dtype */
        {1u << 15, 1, 1, "x"},                         /* not a dtype */
        {NCS_DTYPE_BIT(NCS_DTYPE_INVALID), 1, 1, "x"}, /* the invalid dtype */
        {NCS_DTYPE_BIT(NCS_DTYPE_FP64), NCS_MAX_RANK + 1, 1, "x"},
        {NCS_DTYPE_BIT(NCS_DTYPE_FP64), -2, 1, "x"},
        {NCS_DTYPE_BIT(NCS_DTYPE_FP64), 1, -5, "x"},
        {NCS_DTYPE_BIT(NCS_DTYPE_FP64), 1, 1, NULL},
        {NCS_DTYPE_BIT(NCS_DTYPE_FP64), 1, 1, "bad name"},
    };
    for (size_t i = 0; i < sizeof bad_tensors / sizeof bad_tensors[0]; i++) {
        memset(t, 0, sizeof t);
        t[0].name = bad_tensors[i].name;
        t[0].dtypes = bad_tensors[i].dtypes;
        t[0].rank = bad_tensors[i].rank;
        t[0].dims[0] = bad_tensors[i].dim0;
        k = good_kernel("test_bad");
        k.inputs = t;
        REJECT(k);
        k = good_kernel("test_bad");
        k.outputs = t;
        REJECT(k);
    }
    /* BYTES outputs need ABI 1.1: see test_abi_check. */
    /* Two inputs with one name. */
    t[0] = good_inputs[0];
    t[1] = good_inputs[0];
    k = good_kernel("test_bad");
    k.inputs = t;
    k.n_inputs = 2;
    REJECT(k);

    ncs_param_desc p[2];
    const ncs_param_desc bad_params[] = {
        {.name = "k", .type = 9, .default_value = "1"},
        {.name = "k", .type = NCS_PARAM_BOOL, .default_value = "maybe"},
        {.name = "k", .type = NCS_PARAM_INT, .default_value = "1.5"},
        {.name = "k", .type = NCS_PARAM_DOUBLE, .default_value = "x"},
        {.name = "k", .type = NCS_PARAM_STRING, .default_value = NULL},
        {.name = NULL, .type = NCS_PARAM_STRING, .default_value = "s"},
    };
    for (size_t i = 0; i < sizeof bad_params / sizeof bad_params[0]; i++) {
        p[0] = bad_params[i];
        k = good_kernel("test_bad");
        k.params = p;
        REJECT(k);
    }
    p[0] = good_params[0];
    p[1] = good_params[0];
    k = good_kernel("test_bad");
    k.params = p;
    k.n_params = 2;
    REJECT(k);

    CHECK(ncs_kernel_count() == before);
    CHECK(ncs_catalog_find("test_bad") == NULL);
    CHECK_STATUS(ncs_catalog_register_library(NULL, plugin_entry), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_catalog_register_library("x", NULL), NCS_E_INVALID_ARGUMENT);
}

/* A library whose entry point fails keeps none of its kernels, even those it added first. */
static void test_failed_library_leaves_nothing(void)
{
    int before = ncs_kernel_count();
    ncs_kernel_desc first = good_kernel("test_partial");
    ncs_kernel_desc second = good_kernel("test_partial_bad");
    second.run = NULL;
    plugin_kernels[0] = &first;
    plugin_kernels[1] = &second;
    CHECK_STATUS(ncs_catalog_register_library("partial", plugin_entry), NCS_E_INVALID_ARGUMENT);
    CHECK(ncs_kernel_count() == before);
    CHECK(ncs_catalog_find("test_partial") == NULL);
    /* Both good: both land. */
    ncs_kernel_desc third = good_kernel("test_pair_b");
    first.name = "test_pair_a";
    plugin_kernels[1] = &third;
    CHECK_OK(ncs_catalog_register_library("pair", plugin_entry));
    CHECK(ncs_kernel_count() == before + 2);
    CHECK_CONTAINS(ncs_kernel_metadata_json("test_pair_b"), "\"library\":\"pair\"");
}

int main(void)
{
    RUN_TEST(test_builtins);
    RUN_TEST(test_register_and_escape);
    RUN_TEST(test_abi_check);
    RUN_TEST(test_descriptor_validation);
    RUN_TEST(test_failed_library_leaves_nothing);
    return 0;
}
