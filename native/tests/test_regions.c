/*
 * test_regions.c -- shared-memory regions through the public API: registration and its checks
 * and limits, buffers that borrow a region (zero copy, reference counts, stale handles and
 * double releases), unregistering while a buffer borrows (the name goes at once, the mapping
 * when the last buffer is freed: seen in /proc/self/maps and the counters), kernels reading a
 * region (identity, describe, sort), a client writing the region while calls run (BYTES framing
 * and sort's passes must stay in bounds: run under the sanitizers), and an object shrunk under
 * its mapping (refused, not SIGBUS).
 *
 * The test plays the client: it creates the POSIX shared-memory objects itself and unlinks them.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define OBJECT_BYTES (1u << 20)

static char key_a[64], key_b[64];

/* Creates the shared-memory object `key` of `bytes` bytes and maps it for the test (the client's
   view). */
static unsigned char *create_object(const char *key, size_t bytes)
{
    shm_unlink(key);
    int fd = shm_open(key, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)bytes) == 0);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    close(fd);
    return p;
}

static void remove_object(const char *key, unsigned char *client, size_t bytes)
{
    munmap(client, bytes);
    CHECK(shm_unlink(key) == 0);
}

/* How many lines of /proc/self/maps map the object `key` (the client's own mapping included). */
static int mappings_of(const char *key)
{
    char path[128], line[512];
    snprintf(path, sizeof path, "/dev/shm%s", key);
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        size_t length = strlen(line), want = strlen(path);
        if (length >= want && strcmp(line + length - want, path) == 0)
            n++;
    }
    fclose(f);
    return n;
}

static ncs_handle wrap(const char *name, uint64_t offset, uint64_t size)
{
    ncs_handle h = 0;
    char error[256];
    int status = ncs_buffer_wrap_region(name, offset, size, &h, error, sizeof error);
    if (status != NCS_OK)
        fprintf(stderr, "wrap %s: %s\n", name, error);
    CHECK_OK(status);
    return h;
}

static void test_register_wrap_release_unregister(void)
{
    unsigned char *client = create_object(key_a, OBJECT_BYTES);
    for (size_t i = 0; i < OBJECT_BYTES; i++)
        client[i] = (unsigned char)(i * 7);
    uint64_t regions = stat_value(NCS_STAT_REGIONS_MAPPED),
             mapped = stat_value(NCS_STAT_MAPPED_BYTES);
    uint64_t allocations = stat_value(NCS_STAT_ALLOCATIONS), frees = stat_value(NCS_STAT_FREES);
    char error[256] = "x", expected_status[256];
    /* Offset 5000: the mapping starts at the page holding it (4096 on 4 KiB pages). */
    CHECK_OK(ncs_region_register("a", key_a, 5000, 10000, error, sizeof error));
    CHECK(error[0] == '\0');
    long page = sysconf(_SC_PAGESIZE);
    uint64_t length = 15000 - (uint64_t)(5000 / page * page);
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == regions + 1);
    CHECK(stat_value(NCS_STAT_MAPPED_BYTES) == mapped + length);
    CHECK(mappings_of(key_a) == 2); /* the client's and the region's */

    ncs_handle h = wrap("a", 100, 800);
    CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 1);
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0); /* not the budget's bytes */
    CHECK(stat_value(NCS_STAT_ALLOCATIONS) == allocations + 1);
    uint64_t addr, size;
    uint32_t refs;
    CHECK_OK(ncs_buffer_data(h, &addr, &size));
    CHECK(size == 800);
    unsigned char *bytes = (unsigned char *)(uintptr_t)addr;
    CHECK(memcmp(bytes, client + 5100, 800) == 0);
    bytes[0] ^=
        0xff; /* zero copy: the client sees the buffer's writes, and the buffer the client's */
    CHECK(client[5100] == (unsigned char)(5100 * 7 ^ 0xff));
    client[5101] = 42;
    CHECK(bytes[1] == 42);
    CHECK_OK(ncs_buffer_commit(h, 800)); /* borrowed: nothing to charge */
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0);
    CHECK_OK(ncs_buffer_retain(h));
    CHECK_OK(ncs_buffer_refcount(h, &refs));
    CHECK(refs == 2);
    CHECK_OK(ncs_buffer_release(h));

    /* Its status: what was registered and how many buffers borrow it. */
    char status[512];
    size_t needed = 0;
    CHECK_STATUS(ncs_region_status(NULL, NULL, 0, &needed), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_region_status("a", status, needed, NULL));
    snprintf(expected_status, sizeof expected_status,
             "[{\"name\":\"a\",\"key\":\"%s\",\"offset\":5000,\"byte_size\":10000,\"buffers\":1}]",
             key_a);
    CHECK(strcmp(status, expected_status) == 0);
    CHECK(needed == strlen(status) + 1);
    CHECK_STATUS(ncs_region_status("zz", status, sizeof status, NULL), NCS_E_NOT_FOUND);

    /* The snapshot shows the region as an owner: one borrowing buffer, its mapped bytes. */
    char snapshot[4096], expected[128];
    CHECK_OK(ncs_buffer_snapshot(snapshot, sizeof snapshot, NULL));
    snprintf(expected, sizeof expected, "{\"owner\":\"region:a\",\"count\":1,\"bytes\":%llu}",
             (unsigned long long)length);
    CHECK_CONTAINS(snapshot, expected);

    /* Unregister while h borrows: the name is gone at once, the mapping stays. */
    CHECK_OK(ncs_region_unregister("a"));
    CHECK_STATUS(ncs_region_unregister("a"), NCS_E_NOT_FOUND);
    ncs_handle none = 0;
    CHECK_STATUS(ncs_buffer_wrap_region("a", 0, 8, &none, error, sizeof error), NCS_E_NOT_FOUND);
    CHECK_CONTAINS(error, "no shared-memory region 'a'");
    CHECK(none == 0);
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == regions + 1);
    CHECK(mappings_of(key_a) == 2);
    CHECK(bytes[1] == 42); /* still readable */

    /* The name can be registered again meanwhile: a second mapping of its own. */
    CHECK_OK(ncs_region_register("a", key_a, 0, 4096, error, sizeof error));
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == regions + 2);
    CHECK(mappings_of(key_a) == 3);
    CHECK_OK(ncs_region_unregister("a"));
    CHECK(mappings_of(key_a) == 2);

    /* The last release unmaps. */
    CHECK_OK(ncs_buffer_release(h));
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == regions);
    CHECK(stat_value(NCS_STAT_MAPPED_BYTES) == mapped);
    CHECK(stat_value(NCS_STAT_FREES) == frees + 1);
    CHECK(mappings_of(key_a) == 1);
    uint64_t double_releases = stat_value(NCS_STAT_DOUBLE_RELEASES),
             stale = stat_value(NCS_STAT_STALE_HANDLE_USES);
    CHECK_STATUS(ncs_buffer_release(h), NCS_E_DOUBLE_RELEASE);
    CHECK_STATUS(ncs_buffer_retain(h), NCS_E_STALE_HANDLE);
    CHECK_STATUS(ncs_buffer_data(h, &addr, &size), NCS_E_STALE_HANDLE);
    CHECK(stat_value(NCS_STAT_DOUBLE_RELEASES) == double_releases + 1);
    CHECK(stat_value(NCS_STAT_STALE_HANDLE_USES) == stale + 2);

    /* Release before unregister: the registry's reference keeps the mapping. */
    CHECK_OK(ncs_region_register("a", key_a, 0, OBJECT_BYTES, error, sizeof error));
    h = wrap("a", 0, OBJECT_BYTES);
    CHECK_OK(ncs_buffer_release(h));
    CHECK(mappings_of(key_a) == 2);
    CHECK_OK(
        ncs_region_register("b", key_a, 0, 64, error, sizeof error)); /* one object, two names */
    CHECK_OK(ncs_region_status(NULL, status, sizeof status, NULL));
    snprintf(expected_status, sizeof expected_status,
             "[{\"name\":\"b\",\"key\":\"%s\",\"offset\":0,\"byte_size\":64,\"buffers\":0},"
             "{\"name\":\"a\",\"key\":\"%s\",\"offset\":0,\"byte_size\":%u,\"buffers\":0}]",
             key_a, key_a, OBJECT_BYTES);
    CHECK(strcmp(status, expected_status) == 0);
    CHECK_OK(ncs_region_unregister(NULL)); /* all of them */
    CHECK_OK(ncs_region_status(NULL, status, sizeof status, NULL));
    CHECK(strcmp(status, "[]") == 0);
    CHECK(mappings_of(key_a) == 1);
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == regions);
    CHECK_OK(ncs_buffer_snapshot(snapshot, sizeof snapshot, NULL));
    CHECK(strstr(snapshot, "region:") == NULL);
    remove_object(key_a, client, OBJECT_BYTES);
}

static void test_register_refusals(void)
{
    unsigned char *client = create_object(key_a, 8192);
    char error[256], long_name[NCS_REGION_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    uint64_t regions = stat_value(NCS_STAT_REGIONS_MAPPED);

    CHECK_STATUS(ncs_region_register("", key_a, 0, 1, error, sizeof error), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_region_register(long_name, key_a, 0, 1, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_region_register("a\n", key_a, 0, 1, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_region_register(NULL, key_a, 0, 1, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_region_register("a", "no-slash", 0, 1, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_region_register("a", "/a/b", 0, 1, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_region_register("a", "/", 0, 1, error, sizeof error), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_region_register("a", "/ncs-test-no-such-object", 0, 1, error, sizeof error),
                 NCS_E_NOT_FOUND);
    CHECK_CONTAINS(error, "cannot open shared-memory object");
    CHECK_STATUS(ncs_region_register("a", key_a, 0, 0, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(error, "byte_size must be at least 1");
    CHECK_STATUS(ncs_region_register("a", key_a, UINT64_MAX, 2, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(error, "overflows");
    CHECK_STATUS(ncs_region_register("a", key_a, 4096, 4097, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(error, "passes the end of");
    CHECK_STATUS(ncs_region_register("a", key_a, 8192, 1, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == regions); /* nothing mapped by a refusal */

    /* The whole object, and a name registered twice. */
    CHECK_OK(ncs_region_register("a", key_a, 0, 8192, error, sizeof error));
    CHECK_STATUS(ncs_region_register("a", key_a, 0, 8, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(error, "registered already");

    /* Tensor ranges against the region. */
    ncs_handle h = 7;
    CHECK_STATUS(ncs_buffer_wrap_region("a", 8000, 193, &h, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(error, "passes the end of region 'a'");
    CHECK_STATUS(ncs_buffer_wrap_region("a", UINT64_MAX, 2, &h, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_wrap_region("a", 8193, 0, &h, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_wrap_region(NULL, 0, 1, &h, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_wrap_region("a", 0, 1, NULL, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK(h == 7);
    ncs_handle edge = wrap("a", 8000, 192); /* ends exactly at the region's end */
    ncs_handle empty = wrap("a", 8192, 0);
    uint64_t addr, size;
    CHECK_OK(ncs_buffer_data(empty, &addr, &size));
    CHECK(addr == 0 && size == 0);
    CHECK_OK(ncs_buffer_release(edge));
    CHECK_OK(ncs_buffer_release(empty));

    /* Limits: mapped regions, then mapped bytes (unregistered but borrowed regions count). */
    ncs_set_region_limits(regions + 1, 0);
    CHECK_STATUS(ncs_region_register("b", key_a, 0, 8, error, sizeof error), NCS_E_OUT_OF_MEMORY);
    CHECK_CONTAINS(error, "the most allowed");
    ncs_handle borrower = wrap("a", 0, 8);
    CHECK_OK(ncs_region_unregister("a"));
    CHECK_STATUS(ncs_region_register("b", key_a, 0, 8, error, sizeof error), NCS_E_OUT_OF_MEMORY);
    CHECK_OK(ncs_buffer_release(borrower));
    CHECK_OK(ncs_region_register("b", key_a, 0, 8, error, sizeof error));
    CHECK_OK(ncs_region_unregister("b"));
    ncs_set_region_limits(0, stat_value(NCS_STAT_MAPPED_BYTES) + 4096);
    CHECK_OK(ncs_region_register("a", key_a, 0, 4096, error, sizeof error));
    CHECK_STATUS(ncs_region_register("b", key_a, 4095, 2, error, sizeof error),
                 NCS_E_OUT_OF_MEMORY);
    CHECK_CONTAINS(error, "mapped bytes");
    ncs_set_region_limits(0, 0);
    CHECK_OK(ncs_region_register("b", key_a, 4095, 2, error, sizeof error));
    CHECK_OK(ncs_region_unregister(NULL));
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == regions);
    remove_object(key_a, client, 8192);
}

/* Runs `call` as up to two concurrent parts; on success takes output `index` into *out. */
static int run_call(ncs_call *call, int index, ncs_handle *out, char *message, size_t size)
{
    int nparts;
    int status = prepare_and_run(call, 2, 1, &nparts, message, size);
    if (status != NCS_OK)
        return status;
    if (out != NULL)
        CHECK_OK(ncs_call_take_output(call, index, out));
    uint64_t leaked = 1;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    return NCS_OK;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_kernels_read_a_region(void)
{
    enum { N = 1 << 17 };
    size_t bytes = N * sizeof(double);
    unsigned char *client = create_object(key_a, bytes + 64);
    double *x = (double *)(client + 64);
    uint64_t state = 7;
    double sum = 0;
    for (int i = 0; i < N; i++) {
        x[i] = test_random(&state) * 1000 - 500;
        sum += x[i];
    }
    char error[256];
    CHECK_OK(ncs_region_register("in", key_a, 64, bytes, error, sizeof error));
    ncs_handle in = wrap("in", 0, bytes);
    int64_t shape[1] = {N};
    uint64_t live = stat_value(NCS_STAT_LIVE_BYTES);

    /* identity: the output is the region's bytes; the call's need counts no region bytes. */
    ncs_call *call;
    CHECK_OK(ncs_call_create("identity", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, in));
    int nparts;
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    CHECK(ncs_call_bytes_needed(call) == bytes); /* its output only */
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == live + bytes);
    CHECK_OK(run_parts_and_finish(call, nparts));
    ncs_handle y;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    ncs_call_destroy(call, NULL, NULL);
    CHECK(memcmp(buffer_memory(y), x, bytes) == 0);
    CHECK_OK(ncs_buffer_release(y));

    /* describe: count, mean, min, max against the client's data. */
    char message[512];
    ncs_handle out[5];
    CHECK_OK(ncs_call_create("describe", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, in));
    int status = ncs_call_prepare(call, 2, &nparts);
    CHECK_OK(status);
    CHECK_OK(run_parts_concurrently(call, nparts));
    for (int i = 0; i < 5; i++)
        CHECK_OK(ncs_call_take_output(call, i, &out[i]));
    ncs_call_destroy(call, NULL, NULL);
    double lo = x[0], hi = x[0];
    for (int i = 1; i < N; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    CHECK(*(int64_t *)buffer_memory(out[0]) == N);
    double mean = *(double *)buffer_memory(out[1]);
    CHECK(mean > sum / N - 1e-9 && mean < sum / N + 1e-9);
    CHECK(*(double *)buffer_memory(out[3]) == lo && *(double *)buffer_memory(out[4]) == hi);
    for (int i = 0; i < 5; i++)
        CHECK_OK(ncs_buffer_release(out[i]));

    /* sort (no NCS_KERNEL_SHARED_INPUTS) binds a private copy: against qsort of the same values. */
    CHECK_OK(ncs_call_create("sort", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, in));
    char snapshot[4096], expected_owner[96];
    CHECK_OK(ncs_buffer_snapshot(snapshot, sizeof snapshot, NULL));
    snprintf(expected_owner, sizeof expected_owner,
             "{\"owner\":\"kernel:sort/input\",\"count\":1,\"bytes\":%zu}", bytes);
    CHECK_CONTAINS(snapshot, expected_owner);
    CHECK_OK(run_call(call, 0, &y, message, sizeof message));
    double *expected = malloc(bytes);
    CHECK(expected != NULL);
    memcpy(expected, x, bytes);
    qsort(expected, N, sizeof(double), compare_doubles);
    CHECK(memcmp(buffer_memory(y), expected, bytes) == 0);
    free(expected);
    CHECK_OK(ncs_buffer_release(y));

    /* A running call keeps the region mapped after unregister and the client's release. */
    CHECK_OK(ncs_call_create("identity", &call));
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, in));
    CHECK_OK(ncs_buffer_release(in));
    CHECK_OK(ncs_region_unregister("in"));
    CHECK(mappings_of(key_a) == 2);
    CHECK_OK(run_call(call, 0, &y, message, sizeof message));
    CHECK(mappings_of(key_a) == 1); /* the call's reference was the last */
    CHECK(memcmp(buffer_memory(y), x, bytes) == 0);
    CHECK_OK(ncs_buffer_release(y));
    remove_object(key_a, client, bytes + 64);
}

/* BYTES elements "s0", "s1", ... serialized into out; returns the size. */
static size_t bytes_tensor(unsigned char *out, int n)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        char text[16];
        uint32_t length = (uint32_t)snprintf(text, sizeof text, "s%d", i);
        memcpy(out + at, &length, 4);
        memcpy(out + at + 4, text, length);
        at += 4 + length;
    }
    return at;
}

typedef struct scribbler {
    unsigned char *bytes;
    size_t size;
    atomic_int stop;
} scribbler;

/* The hostile client: rewrites random bytes of the region (lengths included) until stopped. */
static void *scribble(void *arg)
{
    scribbler *s = arg;
    uint64_t state = 99;
    while (!atomic_load(&s->stop)) {
        size_t at = (size_t)(test_random(&state) * (double)s->size);
        unsigned char value = (unsigned char)(test_random(&state) * 256);
        if (value < 16) /* sometimes a huge length, sometimes a small one */
            value = 0xff;
        __atomic_store_n(&s->bytes[at], value, __ATOMIC_RELAXED);
        struct timespec pause = {0, 20 * 1000}; /* 20 us: some calls run clean, some are raced */
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void test_a_client_writing_during_calls(void)
{
    enum { STRINGS = 2000, N = 1 << 17, ROUNDS = 40 };
    size_t bytes = N * sizeof(double);
    unsigned char *client = create_object(key_b, bytes);
    char error[256], message[512];
    CHECK_OK(ncs_region_register("hostile", key_b, 0, bytes, error, sizeof error));
    scribbler s = {client, 0, 0};
    pthread_t writer;
    int ok = 0, refused = 0;

    /* BYTES: the framing is checked and read on a private copy, whatever the client writes. */
    size_t serialized = bytes_tensor(client, STRINGS);
    s.size = serialized;
    CHECK(pthread_create(&writer, NULL, scribble, &s) == 0);
    int64_t shape[1] = {STRINGS};
    for (int round = 0; round < ROUNDS; round++) {
        bytes_tensor(client, STRINGS); /* well-formed again, to be raced anew */
        ncs_handle in = wrap("hostile", 0, serialized), y = 0;
        ncs_call *call;
        CHECK_OK(ncs_call_create("identity", &call));
        int status = ncs_call_set_input(call, 0, NCS_DTYPE_BYTES, 1, shape, in);
        CHECK_OK(ncs_buffer_release(in));
        if (status == NCS_OK)
            status = run_call(call, 0, &y, message, sizeof message);
        else
            ncs_call_destroy(call, NULL, NULL);
        CHECK(status == NCS_OK || status == NCS_E_INVALID_ARGUMENT);
        if (status == NCS_OK) {
            ok++;
            CHECK_OK(ncs_buffer_release(y));
        } else {
            refused++;
        }
    }
    atomic_store(&s.stop, 1);
    CHECK(pthread_join(writer, NULL) == 0);
    printf("  BYTES under a writer: %d calls ran, %d refused\n", ok, refused);

    /* sort reads x twice, and its parts must agree on how its keys split: it does not tolerate a
       changing input (no NCS_KERNEL_SHARED_INPUTS), so it sorts a private copy, whatever the
       client writes meanwhile. (Read in place, this test overflowed sort's buckets.) */
    double *x = (double *)client;
    uint64_t state = 3;
    for (int i = 0; i < N; i++)
        x[i] = test_random(&state);
    s.size = bytes;
    atomic_store(&s.stop, 0);
    CHECK(pthread_create(&writer, NULL, scribble, &s) == 0);
    int64_t n[1] = {N};
    for (int round = 0; round < ROUNDS; round++) {
        ncs_handle in = wrap("hostile", 0, bytes), y = 0;
        ncs_call *call;
        CHECK_OK(ncs_call_create("sort", &call));
        CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, n, in));
        CHECK_OK(ncs_buffer_release(in));
        CHECK_OK(run_call(call, 0, &y, message, sizeof message));
        const uint64_t *keys = buffer_memory(
            y); /* ascending, NaNs last: check the non-NaN prefix */
        for (int i = 1; i < N && ((const double *)keys)[i] == ((const double *)keys)[i]; i++)
            CHECK(((const double *)keys)[i - 1] <= ((const double *)keys)[i]);
        CHECK_OK(ncs_buffer_release(y));
    }
    /* describe reads x in place (NCS_KERNEL_SHARED_INPUTS), percentiles included: the numbers
       are unspecified while the client writes, but every call completes in bounds. */
    for (int round = 0; round < ROUNDS; round++) {
        ncs_handle in = wrap("hostile", 0, bytes);
        ncs_call *call;
        CHECK_OK(ncs_call_create("describe", &call));
        CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, n, in));
        CHECK_OK(ncs_buffer_release(in));
        CHECK_OK(ncs_call_set_param(call, "percentiles", "0,5,50,95,100"));
        CHECK_OK(run_call(call, 0, NULL, message, sizeof message));
    }
    atomic_store(&s.stop, 1);
    CHECK(pthread_join(writer, NULL) == 0);
    CHECK_OK(ncs_region_unregister("hostile"));
    CHECK(mappings_of(key_b) == 1);
    remove_object(key_b, client, bytes);
}

static void test_a_shrunk_object_is_refused(void)
{
    size_t bytes = 64 * 1024;
    unsigned char *client = create_object(key_a, bytes);
    char error[256];
    CHECK_OK(ncs_region_register("shrinks", key_a, 0, bytes, error, sizeof error));
    ncs_handle before = wrap("shrinks", 0, 4096); /* borrowed before the shrink */
    int fd = shm_open(key_a, O_RDWR, 0);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 4096) == 0);
    ncs_handle h = 0;
    CHECK_STATUS(ncs_buffer_wrap_region("shrinks", 0, 8, &h, error, sizeof error),
                 NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(error, "shrank to 4096 bytes");
    CHECK(h == 0);
    CHECK(*(volatile unsigned char *)buffer_memory(before) == 0); /* still inside the object */
    /* Grown back, the region serves again. */
    CHECK(ftruncate(fd, (off_t)bytes) == 0);
    close(fd);
    h = wrap("shrinks", bytes - 8, 8);
    CHECK_OK(ncs_buffer_release(h));
    CHECK_OK(ncs_buffer_release(before));
    CHECK_OK(ncs_region_unregister("shrinks"));
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == 0 && stat_value(NCS_STAT_MAPPED_BYTES) == 0);
    remove_object(key_a, client, bytes);
}

int main(void)
{
    snprintf(key_a, sizeof key_a, "/ncs-test-%ld-a", (long)getpid());
    snprintf(key_b, sizeof key_b, "/ncs-test-%ld-b", (long)getpid());
    RUN_TEST(test_register_wrap_release_unregister);
    RUN_TEST(test_register_refusals);
    RUN_TEST(test_kernels_read_a_region);
    RUN_TEST(test_a_client_writing_during_calls);
    RUN_TEST(test_a_shrunk_object_is_refused);
    CHECK(stat_value(NCS_STAT_REGIONS_MAPPED) == 0);
    return 0;
}
