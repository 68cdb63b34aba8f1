/*
 * catalog.c -- the kernel registry: registrars, descriptor validation, metadata JSON.
 *
 * Kernel libraries (the built-in one included) register through an ncs_registrar. The kernels
 * a library adds are staged and become visible together when its entry point succeeds, so a
 * failing library leaves nothing behind. Entries are never removed: the strings handed out by
 * ncs_kernel_name and ncs_kernel_metadata_json live as long as the library is loaded.
 *
 * Each registration belongs to a library record (library.c: name, lock, lock statistics).
 * Library records are never removed either; one whose registration fails is dropped before
 * anyone sees it.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "library.h"

static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t registration_lock = PTHREAD_MUTEX_INITIALIZER; /* one library at a time */
static pthread_mutex_t catalog_lock = PTHREAD_MUTEX_INITIALIZER;
static ncs_kernel_entry **entries; /* guarded by catalog_lock */
static int entry_count;            /* guarded by catalog_lock */
static int entry_capacity;         /* guarded by catalog_lock */

#define REASON_CAPACITY 320

/* A registrar with the state of one library's registration. */
typedef struct registration {
    ncs_registrar registrar; /* first member: registrar -> registration is a cast */
    const char *library;
    ncs_library *record; /* existing, or new and not yet visible (is_new) */
    int is_new;
    ncs_kernel_entry **pending;
    int pending_count;
    int pending_capacity;
    int refused;                  /* status of the first refused add_kernel; NCS_OK when none */
    char reason[REASON_CAPACITY]; /* why it was refused */
} registration;

/* ---- metadata ------------------------------------------------------------------------- */

static void json_tensors(ncs_json *j, const ncs_tensor_desc *tensors, int n)
{
    ncs_json_lit(j, "[");
    for (int i = 0; i < n; i++) {
        const ncs_tensor_desc *t = &tensors[i];
        ncs_json_lit(j, i ? ",{\"name\":" : "{\"name\":");
        ncs_json_string(j, t->name);
        ncs_json_lit(j, ",\"doc\":");
        ncs_json_string(j, t->doc);
        ncs_json_lit(j, ",\"datatypes\":[");
        int first = 1;
        for (int d = NCS_DTYPE_INVALID + 1; ncs_dtype_valid(d); d++) {
            if (t->dtypes & NCS_DTYPE_BIT(d)) {
                ncs_json_lit(j, first ? "" : ",");
                ncs_json_string(j, ncs_dtype_text(d));
                first = 0;
            }
        }
        ncs_json_lit(j, "],\"shape\":");
        if (t->rank == NCS_RANK_ANY) {
            ncs_json_lit(j, "null");
        } else {
            ncs_json_lit(j, "[");
            for (int r = 0; r < t->rank; r++) {
                ncs_json_lit(j, r ? "," : "");
                ncs_json_int(j, t->dims[r]);
            }
            ncs_json_lit(j, "]");
        }
        ncs_json_lit(j, "}");
    }
    ncs_json_lit(j, "]");
}

/* The metadata document of ncs_kernel_metadata_json, or NULL when out of memory. */
static char *metadata_json(const ncs_kernel_desc *k, const char *library)
{
    ncs_json j = {0};
    ncs_json_lit(&j, "{\"name\":");
    ncs_json_string(&j, k->name);
    ncs_json_lit(&j, ",\"doc\":");
    ncs_json_string(&j, k->doc);
    ncs_json_lit(&j, (k->flags & NCS_KERNEL_THREAD_SAFE) ? ",\"thread_safe\":true"
                                                         : ",\"thread_safe\":false");
    ncs_json_lit(&j, ",\"library\":");
    ncs_json_string(&j, library);
    ncs_json_lit(&j, ",\"inputs\":");
    json_tensors(&j, k->inputs, k->n_inputs);
    ncs_json_lit(&j, ",\"outputs\":");
    json_tensors(&j, k->outputs, k->n_outputs);
    ncs_json_lit(&j, ",\"parameters\":[");
    for (int i = 0; i < k->n_params; i++) {
        const ncs_param_desc *p = &k->params[i];
        ncs_json_lit(&j, i ? ",{\"name\":" : "{\"name\":");
        ncs_json_string(&j, p->name);
        ncs_json_lit(&j, ",\"type\":");
        ncs_json_string(&j, ncs_param_type_name(p->type));
        ncs_json_lit(&j, ",\"default\":");
        ncs_json_string(&j, p->default_value);
        ncs_json_lit(&j, ",\"doc\":");
        ncs_json_string(&j, p->doc);
        ncs_json_lit(&j, "}");
    }
    ncs_json_lit(&j, "]}");
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

/* What is wrong with a descriptor, or NULL when it is valid. */
static const char *descriptor_problem(const ncs_kernel_desc *k, int abi_minor)
{
    int bytes_outputs = abi_minor >= 1;
    if (k->struct_size < sizeof(ncs_kernel_desc))
        return "struct_size is smaller than this host's ncs_kernel_desc";
    if (!name_valid(k->name, 0))
        return "the name must be 1 to 64 characters of [a-z0-9_-]";
    uint32_t known_flags = NCS_KERNEL_THREAD_SAFE |
                           (abi_minor >= 4 ? NCS_KERNEL_SHARED_INPUTS : 0u);
    if ((k->flags & ~known_flags) != 0)
        return "flags has bits this host does not know (or that its ABI version does not have)";
    if (!tensors_valid(k->inputs, k->n_inputs, 0, 0, bytes_outputs))
        return "the inputs are malformed (count, names, dtypes, rank or dims)";
    if (!tensors_valid(k->outputs, k->n_outputs, 1, 1, bytes_outputs))
        return "the outputs are malformed (at least one; names, dtypes, rank or dims; BYTES "
               "outputs need ABI 1.1)";
    if (!params_valid(k->params, k->n_params))
        return "the parameters are malformed (names, types, or defaults that do not parse)";
    if (k->prepare == NULL || k->run == NULL)
        return "prepare and run are required";
    return NULL;
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

/* Remembers the first refusal of a registration (the library then fails as a whole) and
   returns `status`. */
__attribute__((format(printf, 3, 4))) static int refuse(registration *r, int status,
                                                        const char *fmt, ...)
{
    if (r->refused == NCS_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->reason, sizeof r->reason, fmt, ap);
        va_end(ap);
        r->refused = status;
    }
    return status;
}

/* A kernel's name for messages: the descriptor's may be anything. */
static const char *shown_name(const ncs_kernel_desc *kernel)
{
    return (kernel != NULL && kernel->name != NULL) ? kernel->name : "(null)";
}

static int add_kernel(ncs_registrar *registrar, int abi_major, int abi_minor,
                      const ncs_kernel_desc *kernel)
{
    if (registrar == NULL)
        return NCS_E_INVALID_ARGUMENT;
    registration *r = (registration *)registrar;
    if (abi_major != NCS_PLUGIN_ABI_MAJOR || abi_minor < 0 || abi_minor > NCS_PLUGIN_ABI_MINOR)
        return refuse(r, NCS_E_UNSUPPORTED,
                      "kernel '%.64s' was built against plugin ABI %d.%d, but this host accepts "
                      "%d.0 to %d.%d (same major, minor at most the host's): rebuild it against "
                      "this host's ncs_plugin.h",
                      shown_name(kernel), abi_major, abi_minor, NCS_PLUGIN_ABI_MAJOR,
                      NCS_PLUGIN_ABI_MAJOR, NCS_PLUGIN_ABI_MINOR);
    if (kernel == NULL)
        return refuse(r, NCS_E_INVALID_ARGUMENT, "add_kernel was given a NULL descriptor");
    const char *problem = descriptor_problem(kernel, abi_minor);
    if (problem != NULL)
        return refuse(r, NCS_E_INVALID_ARGUMENT, "kernel '%.64s' has a malformed descriptor: %s",
                      shown_name(kernel), problem);
    if (name_taken(r, kernel->name))
        return refuse(r, NCS_E_INVALID_ARGUMENT, "kernel name '%s' is already taken", kernel->name);
    if (r->pending_count == r->pending_capacity) {
        int capacity = r->pending_capacity ? 2 * r->pending_capacity : 8;
        ncs_kernel_entry **pending = realloc(r->pending, (size_t)capacity * sizeof *pending);
        if (pending == NULL)
            return refuse(r, NCS_E_OUT_OF_MEMORY, "out of memory registering kernel '%s'",
                          kernel->name);
        r->pending = pending;
        r->pending_capacity = capacity;
    }
    ncs_kernel_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return refuse(r, NCS_E_OUT_OF_MEMORY, "out of memory registering kernel '%s'",
                      kernel->name);
    memcpy(&e->desc, kernel, sizeof e->desc);
    e->desc.struct_size = sizeof e->desc;
    e->library = r->record;
    e->metadata_json = metadata_json(kernel, r->library);
    if (e->metadata_json == NULL) {
        free_entry(e);
        return refuse(r, NCS_E_OUT_OF_MEMORY, "out of memory registering kernel '%s'",
                      kernel->name);
    }
    r->pending[r->pending_count++] = e;
    return NCS_OK;
}

/* Makes the staged kernels (and a new library record) visible. */
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
    if (r->is_new) {
        if (ncs_library_publish(r->record) != NCS_OK) {
            pthread_mutex_unlock(&catalog_lock);
            return NCS_E_OUT_OF_MEMORY;
        }
        r->is_new = 0; /* now owned by the library table */
    }
    for (int i = 0; i < r->pending_count; i++)
        entries[entry_count++] = r->pending[i];
    r->pending_count = 0;
    pthread_mutex_unlock(&catalog_lock);
    return NCS_OK;
}

__attribute__((format(printf, 3, 4))) static void set_error(char *error, size_t error_size,
                                                            const char *fmt, ...)
{
    if (error == NULL || error_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, error_size, fmt, ap);
    va_end(ap);
}

static int register_library(const char *library, ncs_plugin_register_fn entry, int exclusive,
                            char *error, size_t error_size)
{
    set_error(error, error_size, "%s", "");
    pthread_mutex_lock(&registration_lock);
    registration r = {.registrar = {.add_kernel = add_kernel, .library = library},
                      .library = library};
    r.record = ncs_library_find(library);
    int status = NCS_OK;
    if (r.record != NULL && exclusive) {
        status = NCS_E_INVALID_ARGUMENT;
        set_error(error, error_size, "a library named '%s' is already registered", library);
    } else if (r.record == NULL) {
        r.record = ncs_library_new(library);
        r.is_new = 1;
        if (r.record == NULL) {
            status = NCS_E_OUT_OF_MEMORY;
            set_error(error, error_size, "out of memory registering library '%s'", library);
        }
    }
    if (status == NCS_OK) {
        status = entry(&r.registrar);
        if (status != NCS_OK) {
            if (r.refused == status)
                set_error(error, error_size, "library '%s': %s", library, r.reason);
            else if (r.refused != NCS_OK)
                set_error(error, error_size,
                          "library '%s': its entry point returned %d (%s) after a refusal: %s",
                          library, status, ncs_status_str(status), r.reason);
            else
                set_error(error, error_size, "library '%s': its entry point returned %d (%s)",
                          library, status, ncs_status_str(status));
        } else if (r.refused != NCS_OK) {
            /* All or nothing, even when the entry point ignored the refusal. */
            status = r.refused;
            set_error(error, error_size, "library '%s': %s", library, r.reason);
        } else if (exclusive && r.pending_count == 0) {
            status = NCS_E_INVALID_ARGUMENT;
            set_error(error, error_size, "library '%s' registered no kernel", library);
        } else {
            status = commit(&r);
            if (status != NCS_OK)
                set_error(error, error_size, "out of memory registering library '%s'", library);
        }
    }
    for (int i = 0; i < r.pending_count; i++)
        free_entry(r.pending[i]);
    free(r.pending);
    if (r.is_new)
        ncs_library_free(r.record);
    pthread_mutex_unlock(&registration_lock);
    return status;
}

static void register_builtins(void)
{
    /* Only a bug in a built-in descriptor fails this; the catalog then lacks the built-ins,
       which every test notices. */
    (void)register_library("builtin", ncs_builtin_register, 1, NULL, 0);
}

static void ensure_builtins(void)
{
    pthread_once(&builtin_once, register_builtins);
}

int ncs_catalog_register(const char *library, ncs_plugin_register_fn entry, int exclusive,
                         char *error, size_t error_size)
{
    if (library == NULL || entry == NULL) {
        set_error(error, error_size, "%s", "library name and entry point must not be NULL");
        return NCS_E_INVALID_ARGUMENT;
    }
    ensure_builtins();
    return register_library(library, entry, exclusive, error, error_size);
}

int ncs_catalog_register_library(const char *library, ncs_plugin_register_fn entry)
{
    return ncs_catalog_register(library, entry, 0, NULL, 0);
}

int ncs_catalog_library_exists(const char *name)
{
    if (name == NULL)
        return 0;
    ensure_builtins();
    return ncs_library_find(name) != NULL;
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

/* The public view of the library table (library.c), once the built-ins are registered. */

NCS_API int ncs_library_count(void)
{
    ensure_builtins();
    return ncs_library_published();
}

NCS_API const char *ncs_library_name(int index)
{
    ensure_builtins();
    const ncs_library *library = ncs_library_at(index);
    return library ? library->name : NULL;
}

NCS_API int ncs_library_lock_stats(int index, uint64_t *out, int n)
{
    if (out == NULL || n < 1)
        return 0;
    ensure_builtins();
    return ncs_library_read_lock_stats(ncs_library_at(index), out, n);
}
