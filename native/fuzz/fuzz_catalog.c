/*
 * fuzz_catalog.c -- libFuzzer target for kernel registration (ncs_plugin.h's registrar): the
 * descriptor validation a plugin's kernels go through and the metadata JSON made from them.
 *
 * The input builds a kernel library: its name, whether it must be new (as a plugin file is),
 * and an entry point that adds 0 to 3 kernels, each with an ABI version and a descriptor made
 * from the input (struct_size, name, doc, flags, inputs, outputs and parameters with their
 * names, docs, dtype masks, ranks, dims, types and defaults; NULLs, duplicates, bad characters
 * and control bytes included), then returns OK or a status of its choice. The library goes
 * through the same registration as ncs_plugin_load after dlopen.
 *
 * Checked against an independent reading of the rules in ncs_plugin.h: add_kernel's status for
 * each kernel; the library's outcome (all or nothing: a refused kernel or a failing entry point
 * leaves no kernel behind, and the error text says why); after a success, every kernel is in
 * the catalog and its metadata is strict JSON (valid UTF-8 when the descriptor's texts were)
 * starting with its name. Kernel names come from a pool of 64, so the catalog stays small
 * however long the fuzzer runs; a library whose names are outside the pool is made to fail.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "internal.h"

#define NAME_POOL 64
#define MAX_KERNELS 3

/* Storage of one candidate kernel: the descriptor and everything it points to. Kept for good
   once registered (the catalog borrows it), freed otherwise. */
typedef struct candidate {
    ncs_kernel_desc desc;
    ncs_tensor_desc tensors[2][6];
    ncs_param_desc params[4];
    char text[64][80]; /* names and docs */
    int ntext;
    int abi_major, abi_minor;
    bool null_desc;
    bool from_pool;
} candidate;

static candidate *kept[4 * NAME_POOL]; /* registered candidates (reachable: not leaks) */
static int nkept;
static bool pool_taken[NAME_POOL];

static int dummy_prepare(ncs_ctx *ctx, int max_parts)
{
    (void)ctx;
    (void)max_parts;
    return NCS_OK;
}

static int dummy_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)ctx;
    (void)part;
    (void)nparts;
    return NCS_OK;
}

static const char *const odd_names[] = {
    "",
    "x",
    "y",
    "A_b",
    "bad name",
    "dup",
    "dup",
    "UPPER",
    "a.b",
    "\xc3\xa9",
    "x\n",
    "0123456789012345678901234567890123456789012345678901234567890123",  /* 64: longest */
    "01234567890123456789012345678901234567890123456789012345678901234", /* 65 */
};

static const char *const odd_defaults[] = {"0",   "1",   "true", "false",
                                           "nan", "inf", "-1",   "1e309",
                                           "",    "abc", " 1",   "9223372036854775808",
                                           "2.5", "0x1"};

/* A text for the descriptor: from the input (any bytes) or from a table, or NULL. */
static const char *text_of(fz_in *in, candidate *c, bool name)
{
    uint8_t b = fz_u8(in);
    if (b == 0xff)
        return NULL;
    if (b < 128 && name)
        return odd_names[b % (sizeof odd_names / sizeof odd_names[0])];
    if (c->ntext == 64)
        return "t";
    char *t = c->text[c->ntext++];
    return fz_string(in, t, sizeof c->text[0]);
}

/* ---- the rules of ncs_plugin.h, read independently --------------------------------------- */

static bool name_ok(const char *s, bool upper)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
              (upper && ch >= 'A' && ch <= 'Z')))
            return false;
    }
    return true;
}

static bool tensors_ok(const ncs_tensor_desc *t, int n, int min, bool outputs, int minor)
{
    if (n < min || n > NCS_MAX_TENSORS || (n > 0 && t == NULL))
        return false;
    uint32_t all = 0;
    for (int d = NCS_DTYPE_BOOL; d <= NCS_DTYPE_BF16; d++)
        all |= NCS_DTYPE_BIT(d);
    for (int i = 0; i < n; i++) {
        if (!name_ok(t[i].name, true) || t[i].dtypes == 0 || (t[i].dtypes & ~all))
            return false;
        if (outputs && minor < 1 && (t[i].dtypes & NCS_DTYPE_BIT(NCS_DTYPE_BYTES)))
            return false;
        if (t[i].rank != NCS_RANK_ANY && (t[i].rank < 0 || t[i].rank > NCS_MAX_RANK))
            return false;
        for (int r = 0; t[i].rank != NCS_RANK_ANY && r < t[i].rank; r++) {
            if (t[i].dims[r] < NCS_DIM_ANY)
                return false;
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(t[k].name, t[i].name) == 0)
                return false;
        }
    }
    return true;
}

static bool bool_text(const char *s)
{
    return !strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "1") || !strcmp(s, "0");
}

static bool descriptor_ok(const ncs_kernel_desc *k, int minor)
{
    if (k->struct_size < sizeof *k || !name_ok(k->name, false) ||
        (k->flags & ~NCS_KERNEL_THREAD_SAFE))
        return false;
    if (!tensors_ok(k->inputs, k->n_inputs, 0, false, minor) ||
        !tensors_ok(k->outputs, k->n_outputs, 1, true, minor))
        return false;
    if (k->n_params < 0 || k->n_params > NCS_MAX_PARAMS || (k->n_params > 0 && k->params == NULL))
        return false;
    for (int i = 0; i < k->n_params; i++) {
        const ncs_param_desc *p = &k->params[i];
        if (!name_ok(p->name, true) || p->type < NCS_PARAM_BOOL || p->type > NCS_PARAM_STRING ||
            p->default_value == NULL)
            return false;
        if (p->type == NCS_PARAM_BOOL && !bool_text(p->default_value))
            return false;
        /* numbers: the library's own parser decides (fuzz_kernels checks it through set_param) */
        if ((p->type == NCS_PARAM_INT || p->type == NCS_PARAM_DOUBLE) &&
            !ncs_param_text_valid(p->type, p->default_value))
            return false;
        for (int q = 0; q < i; q++) {
            if (strcmp(k->params[q].name, p->name) == 0)
                return false;
        }
    }
    return k->prepare != NULL && k->run != NULL;
}

/* ---- building candidates ------------------------------------------------------------------- */

static void build_tensor(fz_in *in, candidate *c, ncs_tensor_desc *t)
{
    t->name = text_of(in, c, true);
    t->doc = text_of(in, c, false);
    uint8_t b = fz_u8(in);
    if (b < 200)
        t->dtypes = (uint32_t)fz_u16(in) << 1 & 0x7ffe; /* a subset of the valid dtypes */
    else
        t->dtypes = fz_u32(in);
    b = fz_u8(in);
    t->rank = b < 230 ? (int)(b % 5) - 1 : (int)(b - 230) - 12; /* -1..3, or -12..13 */
    for (int r = 0; r < NCS_MAX_RANK; r++) {
        b = fz_u8(in);
        t->dims[r] = b < 240 ? (int64_t)(b % 7) - 1 : (b & 1 ? INT64_MIN : -2);
    }
}

static void build(fz_in *in, candidate *c)
{
    memset(c, 0, sizeof *c);
    uint8_t abi = fz_u8(in);
    static const int majors[] = {1, 1, 1, 1, 1, 1, 0, 2};
    static const int minors[] = {2, 1, 0, 2, 2, 3, -1, 2};
    c->abi_major = majors[abi % 8];
    c->abi_minor = minors[(abi >> 3) % 8];
    c->null_desc = abi == 0xff;
    ncs_kernel_desc *k = &c->desc;
    uint8_t b = fz_u8(in);
    k->struct_size = b < 240 ? (uint32_t)sizeof *k
                             : (b & 1 ? (uint32_t)sizeof *k - 8 : (uint32_t)sizeof *k + 16);
    b = fz_u8(in);
    if (b < 192) {
        char *name = c->text[c->ntext++];
        snprintf(name, sizeof c->text[0], "fz-%02d", b % NAME_POOL);
        k->name = name;
        c->from_pool = true;
    } else {
        k->name = text_of(in, c, true);
    }
    k->doc = text_of(in, c, false);
    b = fz_u8(in);
    k->flags = b < 240 ? (b & 1) : b;
    for (int side = 0; side < 2; side++) {
        b = fz_u8(in);
        int n = b < 250 ? b % 4 : (b & 1 ? -1 : NCS_MAX_TENSORS + 1);
        for (int i = 0; i < 6 && i < (n < 0 ? 0 : n); i++)
            build_tensor(in, c, &c->tensors[side][i]);
        if (side == 0) {
            k->n_inputs = n;
            k->inputs = (n == 0 && (b & 0x80)) ? NULL : c->tensors[0];
        } else {
            k->n_outputs = n;
            k->outputs = (n == 0 && (b & 0x80)) ? NULL : c->tensors[1];
        }
        if (n > 6) /* claims more than it has: only valid above the limit, which is refused */
            FZ_CHECK(n > NCS_MAX_TENSORS, "table too small");
    }
    b = fz_u8(in);
    k->n_params = b < 250 ? b % 4 : -1;
    k->params = c->params;
    for (int i = 0; i < 4; i++) {
        ncs_param_desc *p = &c->params[i];
        p->name = text_of(in, c, true);
        p->type = (int32_t)(fz_u8(in) % 6);
        uint8_t d = fz_u8(in);
        p->default_value = d == 0xff
                               ? NULL
                               : odd_defaults[d % (sizeof odd_defaults / sizeof odd_defaults[0])];
        p->doc = text_of(in, c, false);
    }
    b = fz_u8(in);
    k->prepare = b == 0xfe ? NULL : dummy_prepare;
    k->run = b == 0xfd ? NULL : dummy_run;
    k->finish = NULL;
}

/* ---- the entry point ------------------------------------------------------------------------- */

static candidate *candidates[MAX_KERNELS];
static int ncandidates;
static int add_status[MAX_KERNELS];
static int entry_status;
static bool entry_ran;

static int entry(ncs_registrar *registrar)
{
    entry_ran = true;
    FZ_CHECK(registrar != NULL && registrar->add_kernel != NULL && registrar->library != NULL,
             "registrar");
    for (int i = 0; i < ncandidates; i++) {
        candidate *c = candidates[i];
        add_status[i] = registrar->add_kernel(registrar, c->abi_major, c->abi_minor,
                                              c->null_desc ? NULL : &c->desc);
    }
    return entry_status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t head = fz_u8(&in);
    char library[16];
    snprintf(library, sizeof library, "fzlib%d", head % 8);
    bool exclusive = (head & 0x08) != 0;
    static const int statuses[] = {NCS_OK, NCS_OK, NCS_OK, NCS_E_UNSUPPORTED, NCS_E_INTERNAL, 42};
    entry_status = statuses[(head >> 4) % 6];
    ncandidates = fz_u8(&in) % (MAX_KERNELS + 1);
    bool all_from_pool = true;
    for (int i = 0; i < ncandidates; i++) {
        candidates[i] = malloc(sizeof(candidate));
        build(&in, candidates[i]);
        all_from_pool &= candidates[i]->from_pool;
    }
    if (!all_from_pool && entry_status == NCS_OK)
        entry_status = NCS_E_UNSUPPORTED; /* keeps the catalog bounded */

    int kernels_before = ncs_kernel_count();
    int libraries_before = ncs_library_count();
    bool library_existed = ncs_catalog_library_exists(library);
    /* Expected add_kernel statuses. */
    int want[MAX_KERNELS];
    int first_refusal = NCS_OK;
    for (int i = 0; i < ncandidates; i++) {
        candidate *c = candidates[i];
        if (c->abi_major != NCS_PLUGIN_ABI_MAJOR || c->abi_minor < 0 ||
            c->abi_minor > NCS_PLUGIN_ABI_MINOR)
            want[i] = NCS_E_UNSUPPORTED;
        else if (c->null_desc || !descriptor_ok(&c->desc, c->abi_minor))
            want[i] = NCS_E_INVALID_ARGUMENT;
        else {
            bool taken = ncs_catalog_find(c->desc.name) != NULL;
            for (int k = 0; k < i; k++)
                taken |= want[k] == NCS_OK && strcmp(candidates[k]->desc.name, c->desc.name) == 0;
            want[i] = taken ? NCS_E_INVALID_ARGUMENT : NCS_OK;
        }
        if (want[i] != NCS_OK && first_refusal == NCS_OK)
            first_refusal = want[i];
    }

    entry_ran = false;
    char error[512];
    memset(error, 'x', sizeof error);
    int status = ncs_catalog_register(library, entry, exclusive, error, sizeof error);
    FZ_CHECK(memchr(error, '\0', sizeof error) != NULL, "error text not terminated");

    int expected;
    if (exclusive && library_existed) {
        FZ_CHECK(!entry_ran, "entry point of a library whose name is taken ran");
        expected = NCS_E_INVALID_ARGUMENT;
    } else {
        FZ_CHECK(entry_ran, "entry point did not run");
        for (int i = 0; i < ncandidates; i++)
            FZ_CHECK(add_status[i] == want[i],
                     "add_kernel %d ('%s', ABI %d.%d) gave %d, expected %d", i,
                     candidates[i]->null_desc
                         ? "(NULL)"
                         : (candidates[i]->desc.name ? candidates[i]->desc.name : "(null)"),
                     candidates[i]->abi_major, candidates[i]->abi_minor, add_status[i], want[i]);
        if (entry_status != NCS_OK)
            expected = entry_status;
        else if (first_refusal != NCS_OK)
            expected = first_refusal;
        else if (exclusive && ncandidates == 0)
            expected = NCS_E_INVALID_ARGUMENT;
        else
            expected = NCS_OK;
    }
    FZ_CHECK(status == expected, "registration of %s gave %d, expected %d: %s", library, status,
             expected, error);
    if (status != NCS_OK) {
        FZ_CHECK(error[0] != '\0', "failed registration without a message");
        FZ_CHECK(ncs_kernel_count() == kernels_before, "a failed registration left kernels behind");
        FZ_CHECK(ncs_library_count() == libraries_before,
                 "a failed registration left a library behind");
        for (int i = 0; i < ncandidates; i++)
            free(candidates[i]);
        return 0;
    }
    FZ_CHECK(error[0] == '\0', "success with a message: %s", error);
    FZ_CHECK(ncs_kernel_count() == kernels_before + ncandidates, "kernel count");
    FZ_CHECK(ncs_library_count() == libraries_before + (library_existed ? 0 : 1), "library count");
    for (int i = 0; i < ncandidates; i++) {
        candidate *c = candidates[i];
        const char *json = ncs_kernel_metadata_json(c->desc.name);
        FZ_CHECK(json != NULL, "registered kernel %s not found", c->desc.name);
        FZ_CHECK(fz_json_valid(json), "metadata of %s is not JSON: %s", c->desc.name, json);
        char prefix[96];
        snprintf(prefix, sizeof prefix, "{\"name\":\"%s\"", c->desc.name);
        FZ_CHECK(strncmp(json, prefix, strlen(prefix)) == 0, "metadata starts %.40s", json);
        bool texts_utf8 = true;
        for (int t = 0; t < c->ntext; t++)
            texts_utf8 &= fz_utf8_valid((const unsigned char *)c->text[t], strlen(c->text[t]));
        if (texts_utf8)
            FZ_CHECK(fz_utf8_valid((const unsigned char *)json, strlen(json)),
                     "metadata is not UTF-8");
        int n = 0;
        sscanf(c->desc.name, "fz-%d", &n);
        FZ_CHECK(!pool_taken[n % NAME_POOL], "pool name %s registered twice", c->desc.name);
        pool_taken[n % NAME_POOL] = true;
        FZ_CHECK(nkept < (int)(sizeof kept / sizeof kept[0]), "too many kept");
        kept[nkept++] = c; /* borrowed by the catalog from now on */
    }
    return 0;
}
