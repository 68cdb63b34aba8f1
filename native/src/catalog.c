/*
 * catalog.c -- the kernel registry: registrars, descriptor validation, metadata JSON.
 *
 * Kernel libraries (the built-in one included) register through an ncs_registrar. The kernels
 * a library adds are staged and become visible together when its entry point succeeds, so a
 * failing library leaves nothing behind. Entries are never removed: the strings handed out by
 * ncs_kernel_name and ncs_kernel_metadata_json live as long as the library is loaded.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t registration_lock = PTHREAD_MUTEX_INITIALIZER; /* one library at a time */
static pthread_mutex_t catalog_lock = PTHREAD_MUTEX_INITIALIZER;
static ncs_kernel_entry **entries; /* guarded by catalog_lock */
static int entry_count;            /* guarded by catalog_lock */
static int entry_capacity;         /* guarded by catalog_lock */

/* A registrar with the state of one library's registration. */
typedef struct registration {
    ncs_registrar registrar; /* first member: registrar -> registration is a cast */
    const char *library;
    ncs_kernel_entry **pending;
    int pending_count;
    int pending_capacity;
} registration;

/* ---- JSON text ------------------------------------------------------------------------- */

typedef struct json {
    char *text;
    size_t length;
    size_t capacity;
    int failed; /* an allocation failed: the text is incomplete */
} json;

static void json_raw(json *j, const char *s, size_t n)
{
    if (j->failed)
        return;
    if (j->length + n + 1 > j->capacity) {
        size_t capacity = j->capacity ? j->capacity : 256;
        while (j->length + n + 1 > capacity)
            capacity *= 2;
        char *text = realloc(j->text, capacity);
        if (text == NULL) {
            j->failed = 1;
            return;
        }
        j->text = text;
        j->capacity = capacity;
    }
    memcpy(j->text + j->length, s, n);
    j->length += n;
    j->text[j->length] = '\0';
}

static void json_lit(json *j, const char *s)
{
    json_raw(j, s, strlen(s));
}

/* A JSON string literal; NULL is written as "". */
static void json_string(json *j, const char *s)
{
    json_raw(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char escaped[8];
        switch (*p) {
        case '"': json_lit(j, "\\\""); break;
        case '\\': json_lit(j, "\\\\"); break;
        case '\b': json_lit(j, "\\b"); break;
        case '\f': json_lit(j, "\\f"); break;
        case '\n': json_lit(j, "\\n"); break;
        case '\r': json_lit(j, "\\r"); break;
        case '\t': json_lit(j, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(escaped, sizeof escaped, "\\u%04x", *p);
                json_lit(j, escaped);
            } else {
                json_raw(j, (const char *)p, 1);
            }
        }
    }
    json_raw(j, "\"", 1);
}

static void json_int(json *j, long long value)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    json_lit(j, text);
}

static void json_tensors(json *j, const ncs_tensor_desc *tensors, int n)
{
    json_lit(j, "[");
    for (int i = 0; i < n; i++) {
        const ncs_tensor_desc *t = &tensors[i];
        json_lit(j, i ? ",{\"name\":" : "{\"name\":");
        json_string(j, t->name);
        json_lit(j, ",\"doc\":");
        json_string(j, t->doc);
        json_lit(j, ",\"datatypes\":[");
        int first = 1;
        for (int d = NCS_DTYPE_INVALID + 1; ncs_dtype_valid(d); d++) {
            if (t->dtypes & NCS_DTYPE_BIT(d)) {
                json_lit(j, first ? "" : ",");
                json_string(j, ncs_dtype_name(d));
                first = 0;
            }
        }
        json_lit(j, "],\"shape\":");
        if (t->rank == NCS_RANK_ANY) {
            json_lit(j, "null");
        } else {
            json_lit(j, "[");
            for (int r = 0; r < t->rank; r++) {
                json_lit(j, r ? "," : "");
                json_int(j, t->dims[r]);
            }
            json_lit(j, "]");
        }
        json_lit(j, "}");
    }
    json_lit(j, "]");
}

/* The metadata document of ncs_kernel_metadata_json, or NULL when out of memory. */
static char *metadata_json(const ncs_kernel_desc *k, const char *library)
{
    json j = {0};
    json_lit(&j, "{\"name\":");
    json_string(&j, k->name);
    json_lit(&j, ",\"doc\":");
    json_string(&j, k->doc);
    json_lit(&j, (k->flags & NCS_KERNEL_THREAD_SAFE) ? ",\"thread_safe\":true" : ",\"thread_safe\":false");
    json_lit(&j, ",\"library\":");
    json_string(&j, library);
    json_lit(&j, ",\"inputs\":");
    json_tensors(&j, k->inputs, k->n_inputs);
    json_lit(&j, ",\"outputs\":");
    json_tensors(&j, k->outputs, k->n_outputs);
    json_lit(&j, ",\"parameters\":[");
    for (int i = 0; i < k->n_params; i++) {
        const ncs_param_desc *p = &k->params[i];
        json_lit(&j, i ? ",{\"name\":" : "{\"name\":");
        json_string(&j, p->name);
        json_lit(&j, ",\"type\":");
        json_string(&j, ncs_param_type_name(p->type));
        json_lit(&j, ",\"default\":");
        json_string(&j, p->default_value);
        json_lit(&j, ",\"doc\":");
        json_string(&j, p->doc);
        json_lit(&j, "}");
    }
    json_lit(&j, "]}");
    if (j.failed) {
        free(j.text);
        return NULL;
    }
    return j.text;
}

/* ---- descriptor validation ------------------------------------------------------------- */

static int name_valid(const char *name, int allow_upper)
{
    if (name == NULL)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > NCS_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 (allow_upper && c >= 'A' && c <= 'Z');
        if (!ok)
            return 0;
    }
    return 1;
}

/* `bytes_outputs`: the kernel's ABI has set_output_bytes (1.1 and later). */
static int tensor_valid(const ncs_tensor_desc *t, int is_output, int bytes_outputs)
{
    if (!name_valid(t->name, 1))
        return 0;
    if (t->dtypes == 0 || (t->dtypes & ~ncs_dtype_all_mask()) != 0)
        return 0;
    /* A BYTES output has no element size: only kernels that know set_output_bytes can size it. */
    if (is_output && !bytes_outputs && (t->dtypes & NCS_DTYPE_BIT(NCS_DTYPE_BYTES)))
        return 0;
    if (t->rank != NCS_RANK_ANY && (t->rank < 0 || t->rank > NCS_MAX_RANK))
        return 0;
    for (int r = 0; t->rank != NCS_RANK_ANY && r < t->rank; r++) {
        if (t->dims[r] < 0 && t->dims[r] != NCS_DIM_ANY)
            return 0;
    }
    return 1;
}

static int tensors_valid(const ncs_tensor_desc *tensors, int n, int min, int is_output,
                         int bytes_outputs)
{
    if (n < min || n > NCS_MAX_TENSORS || (n > 0 && tensors == NULL))
        return 0;
    for (int i = 0; i < n; i++) {
        if (!tensor_valid(&tensors[i], is_output, bytes_outputs))
            return 0;
        for (int k = 0; k < i; k++) {
            if (strcmp(tensors[k].name, tensors[i].name) == 0)
                return 0;
        }
    }
    return 1;
}

static int params_valid(const ncs_param_desc *params, int n)
{
    if (n < 0 || n > NCS_MAX_PARAMS || (n > 0 && params == NULL))
        return 0;
    for (int i = 0; i < n; i++) {
        const ncs_param_desc *p = &params[i];
        if (!name_valid(p->name, 1) || ncs_param_type_name(p->type) == NULL ||
            p->default_value == NULL || !ncs_param_text_valid(p->type, p->default_value))
            return 0;
        for (int k = 0; k < i; k++) {
            if (strcmp(params[k].name, p->name) == 0)
                return 0;
        }
    }
    return 1;
}

static int descriptor_valid(const ncs_kernel_desc *k, int abi_minor)
{
    int bytes_outputs = abi_minor >= 1;
    return k->struct_size >= sizeof(ncs_kernel_desc) && name_valid(k->name, 0) &&
           (k->flags & ~NCS_KERNEL_THREAD_SAFE) == 0 &&
           tensors_valid(k->inputs, k->n_inputs, 0, 0, bytes_outputs) &&
           tensors_valid(k->outputs, k->n_outputs, 1, 1, bytes_outputs) &&
           params_valid(k->params, k->n_params) &&
           k->prepare != NULL && k->run != NULL;
}

/* ---- the catalog ----------------------------------------------------------------------- */

static ncs_kernel_entry *find_locked(const char *name)
{
    for (int i = 0; i < entry_count; i++) {
        if (strcmp(entries[i]->desc.name, name) == 0)
            return entries[i];
    }
    return NULL;
}

static void free_entry(ncs_kernel_entry *e)
{
    if (e != NULL) {
        free(e->library);
        free(e->metadata_json);
        free(e);
    }
}

static int name_taken(const registration *r, const char *name)
{
    for (int i = 0; i < r->pending_count; i++) {
        if (strcmp(r->pending[i]->desc.name, name) == 0)
            return 1;
    }
    pthread_mutex_lock(&catalog_lock);
    int taken = find_locked(name) != NULL;
    pthread_mutex_unlock(&catalog_lock);
    return taken;
}

static int add_kernel(ncs_registrar *registrar, int abi_major, int abi_minor,
                      const ncs_kernel_desc *kernel)
{
    if (registrar == NULL)
        return NCS_E_INVALID_ARGUMENT;
    if (abi_major != NCS_PLUGIN_ABI_MAJOR || abi_minor < 0 || abi_minor > NCS_PLUGIN_ABI_MINOR)
        return NCS_E_UNSUPPORTED;
    registration *r = (registration *)registrar;
    if (kernel == NULL || !descriptor_valid(kernel, abi_minor) || name_taken(r, kernel->name))
        return NCS_E_INVALID_ARGUMENT;
    if (r->pending_count == r->pending_capacity) {
        int capacity = r->pending_capacity ? 2 * r->pending_capacity : 8;
        ncs_kernel_entry **pending = realloc(r->pending, (size_t)capacity * sizeof *pending);
        if (pending == NULL)
            return NCS_E_OUT_OF_MEMORY;
        r->pending = pending;
        r->pending_capacity = capacity;
    }
    ncs_kernel_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NCS_E_OUT_OF_MEMORY;
    memcpy(&e->desc, kernel, sizeof e->desc);
    e->desc.struct_size = sizeof e->desc;
    e->library = strdup(r->library);
    e->metadata_json = metadata_json(kernel, r->library);
    if (e->library == NULL || e->metadata_json == NULL) {
        free_entry(e);
        return NCS_E_OUT_OF_MEMORY;
    }
    r->pending[r->pending_count++] = e;
    return NCS_OK;
}

/* Makes the staged kernels visible. */
static int commit(registration *r)
{
    pthread_mutex_lock(&catalog_lock);
    int needed = entry_count + r->pending_count;
    if (needed > entry_capacity) {
        int capacity = entry_capacity ? entry_capacity : 16;
        while (capacity < needed)
            capacity *= 2;
        ncs_kernel_entry **grown = realloc(entries, (size_t)capacity * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&catalog_lock);
            return NCS_E_OUT_OF_MEMORY;
        }
        entries = grown;
        entry_capacity = capacity;
    }
    for (int i = 0; i < r->pending_count; i++)
        entries[entry_count++] = r->pending[i];
    r->pending_count = 0;
    pthread_mutex_unlock(&catalog_lock);
    return NCS_OK;
}

static int register_library(const char *library, ncs_plugin_register_fn entry)
{
    pthread_mutex_lock(&registration_lock);
    registration r = {.registrar = {.add_kernel = add_kernel, .library = library},
                      .library = library};
    int status = entry(&r.registrar);
    if (status == NCS_OK)
        status = commit(&r);
    for (int i = 0; i < r.pending_count; i++)
        free_entry(r.pending[i]);
    free(r.pending);
    pthread_mutex_unlock(&registration_lock);
    return status;
}

static void register_builtins(void)
{
    /* Only a bug in a built-in descriptor fails this; the catalog then lacks the built-ins,
       which every test notices. */
    (void)register_library("builtin", ncs_builtin_register);
}

static void ensure_builtins(void)
{
    pthread_once(&builtin_once, register_builtins);
}

int ncs_catalog_register_library(const char *library, ncs_plugin_register_fn entry)
{
    if (library == NULL || entry == NULL)
        return NCS_E_INVALID_ARGUMENT;
    ensure_builtins();
    return register_library(library, entry);
}

const ncs_kernel_entry *ncs_catalog_find(const char *name)
{
    if (name == NULL)
        return NULL;
    ensure_builtins();
    pthread_mutex_lock(&catalog_lock);
    const ncs_kernel_entry *e = find_locked(name);
    pthread_mutex_unlock(&catalog_lock);
    return e;
}

NCS_API int ncs_kernel_count(void)
{
    ensure_builtins();
    pthread_mutex_lock(&catalog_lock);
    int n = entry_count;
    pthread_mutex_unlock(&catalog_lock);
    return n;
}

NCS_API const char *ncs_kernel_name(int index)
{
    ensure_builtins();
    pthread_mutex_lock(&catalog_lock);
    const char *name = (index >= 0 && index < entry_count) ? entries[index]->desc.name : NULL;
    pthread_mutex_unlock(&catalog_lock);
    return name;
}

NCS_API const char *ncs_kernel_metadata_json(const char *name)
{
    const ncs_kernel_entry *e = ncs_catalog_find(name);
    return e ? e->metadata_json : NULL;
}
