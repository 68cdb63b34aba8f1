/*
 * test_plugins.c -- plugin loading (ncs_plugin_load) with the examples of native/examples and
 * the refused plugins of tests/plugins; the library lock, its release (NCS_BEGIN/END_ALLOW_THREADS)
 * and its statistics; buffer owners and the native-memory snapshot; leaked bytes per call.
 *
 * NCS_PLUGIN_DIR (the build's plugin output directory) and NCS_TEST_PLUGIN_DIR come from CMake.
 * Test-only kernels are registered in-process as libraries "locktest" (not thread-safe) and
 * "lockfree" (thread-safe). Nothing here asserts on durations: concurrency is proven with
 * rendezvous and ordering (a call completing while another still runs), and the lock
 * statistics are checked for exact counts and for invariants (held time <= wall time).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"

#ifndef NCS_PLUGIN_DIR
#error "NCS_PLUGIN_DIR must name the directory of the example plugins"
#endif
#ifndef NCS_TEST_PLUGIN_DIR
#error "NCS_TEST_PLUGIN_DIR must name the directory of the test plugins"
#endif

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* ---- helpers ------------------------------------------------------------------------- */

static int library_index(const char *name)
{
    for (int i = 0; i < ncs_library_count(); i++) {
        if (strcmp(ncs_library_name(i), name) == 0)
            return i;
    }
    return -1;
}

static void lock_stats(const char *name, uint64_t out[NCS_LOCK_STAT_COUNT])
{
    int index = library_index(name);
    CHECK(index >= 0);
    CHECK(ncs_library_lock_stats(index, out, NCS_LOCK_STAT_COUNT) == NCS_LOCK_STAT_COUNT);
}

static int kernel_exists(const char *name)
{
    return ncs_kernel_metadata_json(name) != NULL;
}

/* Creates, binds a 1-D FP64 input of n values, sets params (key, value, ..., NULL) and
   prepares; returns the call and its part count. */
static ncs_call *prepared_fp64(const char *kernel, const double *x, int64_t n,
                               const char *const *params, int max_parts, int *nparts, int *status)
{
    ncs_call *call;
    CHECK_OK(ncs_call_create(kernel, &call));
    ncs_handle input = buffer_from(x, (size_t)n * sizeof(double));
    int64_t shape[1] = {n};
    CHECK_OK(ncs_call_set_input(call, 0, NCS_DTYPE_FP64, 1, shape, input));
    CHECK_OK(ncs_buffer_release(input)); /* the call holds its own reference */
    for (int i = 0; params != NULL && params[i] != NULL; i += 2)
        CHECK_OK(ncs_call_set_param(call, params[i], params[i + 1]));
    *status = ncs_call_prepare(call, max_parts, nparts);
    return call;
}

/* Runs an FP64 kernel on x (1-D, n values) and copies its output to y. Returns the first
   failing status; *leaked and *leaked_bytes from ncs_call_destroy. */
static int call_fp64(const char *kernel, const double *x, int64_t n, const char *const *params,
                     int max_parts, double *y, uint64_t *leaked, uint64_t *leaked_bytes)
{
    int nparts = 0, status;
    ncs_call *call = prepared_fp64(kernel, x, n, params, max_parts, &nparts, &status);
    if (status == NCS_OK) {
        CHECK(nparts >= 1 && nparts <= max_parts);
        status = run_parts_and_finish(call, nparts);
    }
    if (status == NCS_OK) {
        ncs_handle out;
        CHECK_OK(ncs_call_take_output(call, 0, &out));
        uint64_t addr, size;
        CHECK_OK(ncs_buffer_data(out, &addr, &size));
        CHECK(size == (uint64_t)n * sizeof(double));
        if (n > 0)
            memcpy(y, (void *)(uintptr_t)addr, (size_t)size);
        CHECK_OK(ncs_buffer_release(out));
    }
    ncs_call_destroy(call, leaked, leaked_bytes);
    return status;
}

/* A part run on its own thread, started when *go is set. */
typedef struct part_thread {
    ncs_call *call;
    int part;
    atomic_int *go;
    atomic_int done;
    int status;
} part_thread;

static void *run_part_thread(void *arg)
{
    part_thread *t = arg;
    while (t->go != NULL && !atomic_load(t->go))
        sched_yield();
    t->status = ncs_call_run_part(t->call, t->part);
    atomic_store(&t->done, 1);
    return NULL;
}

static char temp_root[256];

/* A fresh private directory (mode 0700) under $TMPDIR or /tmp, into temp_root. */
static void make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(temp_root, sizeof temp_root, "%s/ncs-test-plugins-XXXXXX",
             base && *base ? base : "/tmp");
    CHECK(mkdtemp(temp_root) != NULL);
    CHECK(chmod(temp_root, 0700) == 0);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "rb");
    CHECK(in != NULL);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    char block[65536];
    size_t n;
    while ((n = fread(block, 1, sizeof block, in)) > 0)
        CHECK(write(fd, block, n) == (ssize_t)n);
    CHECK(fchmod(fd, mode) == 0);
    CHECK(close(fd) == 0);
    fclose(in);
}

/* ---- the examples -------------------------------------------------------------------- */

static int builtin_kernels;

static void test_load_examples(void)
{
    builtin_kernels = ncs_kernel_count(); /* built-ins and the in-process test libraries */
    int libraries = ncs_library_count();
    CHECK(libraries == 3); /* builtin, locktest, lockfree */
    CHECK(strcmp(ncs_library_name(0), "builtin") == 0);
    CHECK(strcmp(ncs_library_name(1), "locktest") == 0);
    CHECK(ncs_library_name(3) == NULL);
    CHECK(ncs_library_name(-1) == NULL);
    char error[512];
    const char *names[] = {"smallest", "legacy", "leaky"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/lib%s.so", NCS_PLUGIN_DIR, names[i]);
        memcpy(error, "junk", 5);
        int status = ncs_plugin_load(path, error, sizeof error);
        if (status != NCS_OK)
            fprintf(stderr, "loading %s: %s\n", path, error);
        CHECK_OK(status);
        CHECK(strcmp(error, "") == 0);
        CHECK(library_index(names[i]) == libraries + i);
    }
    CHECK(ncs_kernel_count() == builtin_kernels + 3);
    CHECK(ncs_library_count() == libraries + 3);
    CHECK_CONTAINS(ncs_kernel_metadata_json("scale"),
                   "\"thread_safe\":true,\"library\":\"smallest\"");
    CHECK_CONTAINS(ncs_kernel_metadata_json("scale"),
                   "\"parameters\":[{\"name\":\"alpha\",\"type\":\"double\",\"default\":\"2\"");
    CHECK_CONTAINS(ncs_kernel_metadata_json("legacy_work"),
                   "\"thread_safe\":false,\"library\":\"legacy\"");
    CHECK_CONTAINS(ncs_kernel_metadata_json("legacy_work"),
                   "{\"name\":\"iterations\",\"type\":\"int\",\"default\":\"1000000\"");
    CHECK_CONTAINS(ncs_kernel_metadata_json("legacy_work"),
                   "{\"name\":\"release_lock\",\"type\":\"bool\",\"default\":\"false\"");
    CHECK_CONTAINS(ncs_kernel_metadata_json("leaky"), "\"thread_safe\":true,\"library\":\"leaky\"");

    /* The same library again: its name is taken (checked before dlopen). */
    char path[512];
    snprintf(path, sizeof path, "%s/libsmallest.so", NCS_PLUGIN_DIR);
    CHECK_STATUS(ncs_plugin_load(path, error, sizeof error), NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(error, "a library named 'smallest' is already registered");
    CHECK(ncs_kernel_count() == builtin_kernels + 3);
    CHECK(ncs_library_count() == libraries + 3);
}

static void test_scale(void)
{
    uint64_t seed = 7;
    const int64_t sizes[] = {0, 1, 7, 65536, 65537 * 3 + 11};
    const int part_limits[] = {1, 2, 3, 8};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        double *x = malloc((size_t)(n + 1) * sizeof *x);
        double *y = malloc((size_t)(n + 1) * sizeof *y);
        CHECK(x != NULL && y != NULL);
        for (int64_t i = 0; i < n; i++)
            x[i] = 200.0 * test_random(&seed) - 100.0;
        if (n > 3) {
            x[1] = NAN;
            x[2] = INFINITY;
        }
        for (size_t p = 0; p < sizeof part_limits / sizeof part_limits[0]; p++) {
            const char *params[] = {"alpha", "-1.5", NULL};
            uint64_t leaked = 9, leaked_bytes = 9;
            CHECK_OK(call_fp64("scale", x, n, params, part_limits[p], y, &leaked, &leaked_bytes));
            CHECK(leaked == 0 && leaked_bytes == 0);
            for (int64_t i = 0; i < n; i++) {
                double want = -1.5 * x[i];
                CHECK(y[i] == want || (isnan(want) && isnan(y[i])));
            }
        }
        /* The default alpha is 2. */
        CHECK_OK(call_fp64("scale", x, n, NULL, 4, y, NULL, NULL));
        for (int64_t i = 0; i < n; i++)
            CHECK(y[i] == 2.0 * x[i] || (isnan(x[i]) && isnan(y[i])));
        free(x);
        free(y);
    }
    ncs_call *call;
    CHECK_OK(ncs_call_create("scale", &call));
    CHECK_STATUS(ncs_call_set_param(call, "alpha", "abc"), NCS_E_INVALID_ARGUMENT);
    ncs_call_destroy(call, NULL, NULL);
    /* A thread-safe library never takes its lock. */
    uint64_t stats[NCS_LOCK_STAT_COUNT];
    lock_stats("smallest", stats);
    CHECK(stats[0] == 0 && stats[1] == 0 && stats[2] == 0);
    lock_stats("builtin", stats);
    CHECK(stats[0] == 0 && stats[1] == 0 && stats[2] == 0);
}

/* ---- refusals ------------------------------------------------------------------------ */

/* Loads `path` expecting `status` and a message containing `part`; nothing may stay. */
static void expect_refused(const char *path, int status, const char *part, int line)
{
    int kernels = ncs_kernel_count(), libraries = ncs_library_count();
    char error[512];
    int got = ncs_plugin_load(path, error, sizeof error);
    if (got != status || strstr(error, part) == NULL) {
        fprintf(stderr, "%s:%d: loading %s gave %d (%s) \"%s\", expected %d and \"%s\"\n", __FILE__,
                line, path, got, ncs_status_str(got), error, status, part);
        exit(1);
    }
    CHECK(ncs_kernel_count() == kernels);
    CHECK(ncs_library_count() == libraries);
    CHECK(!kernel_exists("test_plugin_good"));
}

#define EXPECT_REFUSED(path, status, part) expect_refused((path), (status), (part), __LINE__)

static void test_refused_plugins(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/libwrong_major.so", NCS_TEST_PLUGIN_DIR);
    EXPECT_REFUSED(path, NCS_E_UNSUPPORTED,
                   "kernel 'test_plugin_good' was built against plugin ABI 2.4, but this host "
                   "accepts 1.0 to 1.4");
    CHECK(library_index("wrong_major") < 0);
    snprintf(path, sizeof path, "%s/libnewer_minor.so", NCS_TEST_PLUGIN_DIR);
    EXPECT_REFUSED(path, NCS_E_UNSUPPORTED, "built against plugin ABI 1.99");
    snprintf(path, sizeof path, "%s/libentry_fails.so", NCS_TEST_PLUGIN_DIR);
    EXPECT_REFUSED(path, NCS_E_UNSUPPORTED,
                   "library 'entry_fails': its entry point returned 7 (unsupported)");
    snprintf(path, sizeof path, "%s/libignores_refusal.so", NCS_TEST_PLUGIN_DIR);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT,
                   "library 'ignores_refusal': kernel name 'matmul' is already taken");
    snprintf(path, sizeof path, "%s/libno_entry.so", NCS_TEST_PLUGIN_DIR);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT,
                   "does not export the entry point ncs_plugin_register");
    snprintf(path, sizeof path, "%s/libnot_there.so", NCS_TEST_PLUGIN_DIR);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "cannot open it: No such file or directory");
    EXPECT_REFUSED("/nonexistent-ncs-dir/libx.so", NCS_E_INVALID_ARGUMENT,
                   "cannot open its directory");
    EXPECT_REFUSED("", NCS_E_INVALID_ARGUMENT, "plugin path is empty");
    snprintf(path, sizeof path, "%s/", NCS_TEST_PLUGIN_DIR);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "its file name must be lib<name>.so");
    CHECK_STATUS(ncs_plugin_load(NULL, NULL, 0), NCS_E_INVALID_ARGUMENT);

    /* The message is cut to the buffer and always terminated; no buffer at all is fine. */
    snprintf(path, sizeof path, "%s/libno_entry.so", NCS_TEST_PLUGIN_DIR);
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK_STATUS(ncs_plugin_load(path, small, sizeof small), NCS_E_INVALID_ARGUMENT);
    CHECK(strlen(small) == sizeof small - 1);
    CHECK_STATUS(ncs_plugin_load(path, NULL, 0), NCS_E_INVALID_ARGUMENT);

    /* The plugins that were loaded still serve. */
    double x[2] = {1, 2}, y[2];
    CHECK_OK(call_fp64("scale", x, 2, NULL, 1, y, NULL, NULL));
    CHECK(y[0] == 2 && y[1] == 4);
}

static void test_file_checks(void)
{
    make_temp_dir();
    char smallest[512], path[600], path2[600];
    snprintf(smallest, sizeof smallest, "%s/libsmallest.so", NCS_PLUGIN_DIR);

    /* A world-writable and a group-writable copy. */
    snprintf(path, sizeof path, "%s/libww.so", temp_root);
    copy_file(smallest, path, 0666);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "it is group- or world-writable");
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "(mode 0666)");
    CHECK(chmod(path, 0620) == 0);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "it is group- or world-writable");
    CHECK(unlink(path) == 0);

    /* A symbolic link, a directory, a file that is no shared object. */
    snprintf(path, sizeof path, "%s/liblink.so", temp_root);
    CHECK(symlink(smallest, path) == 0);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "it is a symbolic link");
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/libdir.so", temp_root);
    CHECK(mkdir(path, 0755) == 0);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "it is not a regular file");
    CHECK(rmdir(path) == 0);
    snprintf(path, sizeof path, "%s/libjunk.so", temp_root);
    FILE *junk = fopen(path, "w");
    CHECK(junk != NULL);
    fputs("not a shared object\n", junk);
    fclose(junk);
    CHECK(chmod(path, 0644) == 0);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "dlopen failed");
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/libbad.name.so", temp_root);
    copy_file(smallest, path, 0755);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "its file name must be lib<name>.so");
    CHECK(unlink(path) == 0);

    /* A good copy in a group-writable directory. */
    snprintf(path, sizeof path, "%s/libgood_copy.so", temp_root);
    copy_file(smallest, path, 0755);
    CHECK(chmod(temp_root, 0770) == 0);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "its directory");
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "is group- or world-writable (mode 0770)");
    CHECK(chmod(temp_root, 0702) == 0);
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT, "is group- or world-writable (mode 0702)");
    CHECK(chmod(temp_root, 0700) == 0);
    /* Now every check passes, but its kernel "scale" is taken: refused, closed, nothing stays. */
    EXPECT_REFUSED(path, NCS_E_INVALID_ARGUMENT,
                   "library 'good_copy': kernel name 'scale' is already taken");
    CHECK(library_index("good_copy") < 0);
    CHECK(unlink(path) == 0);

    /* A bare file name is in the current directory, not searched on the library path. */
    snprintf(path2, sizeof path2, "%s/libno_entry.so", NCS_TEST_PLUGIN_DIR);
    snprintf(path, sizeof path, "%s/libbare.so", temp_root);
    copy_file(path2, path, 0755);
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(temp_root) == 0);
    EXPECT_REFUSED("libbare.so", NCS_E_INVALID_ARGUMENT,
                   "plugin 'libbare.so' refused: it does not export");
    CHECK(chdir(cwd) == 0);
    CHECK(unlink(path) == 0);
    CHECK(rmdir(temp_root) == 0);
}

/* ---- legacy_work ------------------------------------------------------------------------ */

/* What legacy_work computes, written independently of the plugin (same IEEE operations). */
static double legacy_reference(double x, int64_t iterations)
{
    double v;
    if (isinf(x))
        v = x > 0 ? 0.9 : 0.1;
    else
        v = 0.5 + 0.4 * (x / (1.0 + fabs(x)));
    for (int64_t k = 0; k < iterations; k++)
        v = 3.9 * v * (1.0 - v);
    return v;
}

static void check_legacy(const double *x, const double *y, int64_t n, int64_t iterations)
{
    for (int64_t i = 0; i < n; i++) {
        double want = legacy_reference(x[i], iterations);
        if (!(y[i] == want || (isnan(want) && isnan(y[i])))) {
            fprintf(stderr, "legacy_work(%g, %lld) = %.17g, expected %.17g\n", x[i],
                    (long long)iterations, y[i], want);
            exit(1);
        }
    }
}

static void test_legacy_results(void)
{
    const double x[] = {0, 1, -1, 0.5, 1e300, -1e-300, INFINITY, -INFINITY, NAN, 3, 0.25};
    const int64_t n = sizeof x / sizeof x[0];
    double y[sizeof x / sizeof x[0]];
    const char *iterations[] = {"0", "1", "1000", "70000"};
    const int part_limits[] = {1, 3, 16};
    for (int release = 0; release < 2; release++) {
        for (size_t it = 0; it < sizeof iterations / sizeof iterations[0]; it++) {
            for (size_t p = 0; p < sizeof part_limits / sizeof part_limits[0]; p++) {
                const char *params[] = {"iterations", iterations[it], "release_lock",
                                        release ? "true" : "false", NULL};
                uint64_t before[NCS_LOCK_STAT_COUNT], after[NCS_LOCK_STAT_COUNT];
                lock_stats("legacy", before);
                int nparts = 0, status;
                ncs_call *call = prepared_fp64("legacy_work", x, n, params, part_limits[p], &nparts,
                                               &status);
                CHECK_OK(status);
                CHECK(nparts == (part_limits[p] < n ? part_limits[p] : n));
                CHECK_OK(run_parts_and_finish(call, nparts));
                ncs_handle out;
                CHECK_OK(ncs_call_take_output(call, 0, &out));
                memcpy(y, buffer_memory(out), sizeof y);
                CHECK_OK(ncs_buffer_release(out));
                CHECK(ncs_call_progress(call) == (uint64_t)n);
                ncs_call_destroy(call, NULL, NULL);
                check_legacy(x, y, n, strtoll(iterations[it], NULL, 10));
                /* prepare takes the lock once, each part once, and once more after a release. */
                lock_stats("legacy", after);
                CHECK(after[NCS_LOCK_STAT_ACQUISITIONS] - before[NCS_LOCK_STAT_ACQUISITIONS] ==
                      (uint64_t)(1 + nparts * (release ? 2 : 1)));
            }
        }
    }
    /* Empty and single-element inputs. */
    CHECK_OK(call_fp64("legacy_work", x, 0, NULL, 4, y, NULL, NULL));
    const char *params[] = {"iterations", "5", NULL};
    CHECK_OK(call_fp64("legacy_work", x + 3, 1, params, 4, y, NULL, NULL));
    check_legacy(x + 3, y, 1, 5);
    /* Parameter checks in prepare. */
    const char *negative[] = {"iterations", "-1", NULL};
    int nparts, status;
    ncs_call *call = prepared_fp64("legacy_work", x, n, negative, 1, &nparts, &status);
    CHECK_STATUS(status, NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call),
                   "parameter 'iterations' is -1: expected 0 to 1000000000000");
    ncs_call_destroy(call, NULL, NULL);
    /* Cancellation: before the part, and while it runs (10^12 steps would take hours). */
    const char *forever[] = {"iterations", "1000000000000", "release_lock", "true", NULL};
    call = prepared_fp64("legacy_work", x, 1, forever, 1, &nparts, &status);
    CHECK_OK(status);
    ncs_call_cancel(call);
    CHECK_STATUS(ncs_call_run_part(call, 0), NCS_E_CANCELLED);
    ncs_call_destroy(call, NULL, NULL);
    for (int release = 0; release < 2; release++) {
        forever[3] = release ? "true" : "false";
        call = prepared_fp64("legacy_work", x, 1, forever, 1, &nparts, &status);
        CHECK_OK(status);
        part_thread t = {.call = call, .part = 0};
        pthread_t thread;
        CHECK(pthread_create(&thread, NULL, run_part_thread, &t) == 0);
        sleep_ms(20);
        ncs_call_cancel(call);
        CHECK(pthread_join(thread, NULL) == 0);
        CHECK_STATUS(t.status, NCS_E_CANCELLED);
        ncs_call_destroy(call, NULL, NULL);
    }
}

typedef struct prepare_thread {
    ncs_call *call;
    atomic_int started;
    int status;
    int saw_cancel;
} prepare_thread;

static atomic_int cancel_issued;

static void *run_prepare_thread(void *arg)
{
    prepare_thread *t = arg;
    int nparts;
    atomic_store(&t->started, 1);
    t->status = ncs_call_prepare(t->call, 1, &nparts);
    t->saw_cancel = atomic_load(&cancel_issued);
    return NULL;
}

/* While a legacy_work part computes with the lock released, a whole other legacy_work call
   completes; while one computes holding the lock, another call cannot even prepare. */
static void test_legacy_lock_release_overlaps(void)
{
    const double x[1] = {0.3};
    const char *forever_released[] = {"iterations", "1000000000000", "release_lock", "true", NULL};
    const char *forever_locked[] = {"iterations", "1000000000000", "release_lock", "false", NULL};
    const char *quick[] = {"iterations", "10", NULL};
    int nparts, status;
    double y[1];
    uint64_t base[NCS_LOCK_STAT_COUNT], now[NCS_LOCK_STAT_COUNT];

    /* Overlap. */
    ncs_call *a = prepared_fp64("legacy_work", x, 1, forever_released, 1, &nparts, &status);
    CHECK_OK(status);
    lock_stats("legacy", base);
    part_thread t = {.call = a, .part = 0};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, run_part_thread, &t) == 0);
    double deadline = now_seconds() + 30;
    do { /* wait until the part has taken the lock: it runs from now on */
        lock_stats("legacy", now);
        CHECK(now_seconds() < deadline);
        sched_yield();
    } while (now[NCS_LOCK_STAT_ACQUISITIONS] == base[NCS_LOCK_STAT_ACQUISITIONS]);
    CHECK_OK(call_fp64("legacy_work", x, 1, quick, 1, y, NULL, NULL)); /* needs the lock twice */
    check_legacy(x, y, 1, 10);
    CHECK(!atomic_load(&t.done)); /* the other part still runs: they overlapped */
    ncs_call_cancel(a);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_STATUS(t.status, NCS_E_CANCELLED);
    ncs_call_destroy(a, NULL, NULL);
    lock_stats("legacy", now);
    /* a's part: take + retake; the quick call: prepare + part. */
    CHECK(now[NCS_LOCK_STAT_ACQUISITIONS] - base[NCS_LOCK_STAT_ACQUISITIONS] == 4);

    /* Serialisation: b's prepare waits until a's part, holding the lock, is cancelled. */
    a = prepared_fp64("legacy_work", x, 1, forever_locked, 1, &nparts, &status);
    CHECK_OK(status);
    lock_stats("legacy", base);
    part_thread ta = {.call = a, .part = 0};
    CHECK(pthread_create(&thread, NULL, run_part_thread, &ta) == 0);
    deadline = now_seconds() + 30;
    do {
        lock_stats("legacy", now);
        CHECK(now_seconds() < deadline);
        sched_yield();
    } while (now[NCS_LOCK_STAT_ACQUISITIONS] == base[NCS_LOCK_STAT_ACQUISITIONS]);
    /* a holds the lock now and keeps it until it sees the cancellation. */
    atomic_store(&cancel_issued, 0);
    ncs_call *b;
    CHECK_OK(ncs_call_create("legacy_work", &b));
    ncs_handle input = buffer_from(x, sizeof x);
    int64_t shape[1] = {1};
    CHECK_OK(ncs_call_set_input(b, 0, NCS_DTYPE_FP64, 1, shape, input));
    CHECK_OK(ncs_buffer_release(input));
    CHECK_OK(ncs_call_set_param(b, "iterations", "10"));
    prepare_thread pb = {.call = b};
    pthread_t other;
    CHECK(pthread_create(&other, NULL, run_prepare_thread, &pb) == 0);
    while (!atomic_load(&pb.started))
        sched_yield();
    sleep_ms(20); /* let b block on the lock (if it has not, the check below proves less) */
    atomic_store(&cancel_issued, 1);
    ncs_call_cancel(a);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_STATUS(ta.status, NCS_E_CANCELLED);
    CHECK(pthread_join(other, NULL) == 0);
    CHECK_OK(pb.status);
    CHECK(pb.saw_cancel); /* b's prepare could not finish before a let go of the lock */
    CHECK_OK(run_parts_and_finish(b, 1));
    ncs_call_destroy(a, NULL, NULL);
    ncs_call_destroy(b, NULL, NULL);
    lock_stats("legacy", now);
    CHECK(now[NCS_LOCK_STAT_ACQUISITIONS] - base[NCS_LOCK_STAT_ACQUISITIONS] == 3);
}

/* Two legacy_work calls on two threads at once: with release_lock=false their computations
   serialise (the lock is held for nearly the whole wall time), with true they overlap (it is
   held only for the bookkeeping). Printed, not asserted: only exact counts and the invariant
   held <= wall are checked. */
static void test_legacy_two_threads(void)
{
    const double x[1] = {0.7};
    for (int release = 0; release < 2; release++) {
        const char *params[] = {"iterations", "2000000", "release_lock", release ? "true" : "false",
                                NULL};
        ncs_call *calls[2];
        part_thread threads[2];
        pthread_t ids[2];
        atomic_int go;
        atomic_init(&go, 0);
        for (int i = 0; i < 2; i++) {
            int nparts, status;
            calls[i] = prepared_fp64("legacy_work", x, 1, params, 1, &nparts, &status);
            CHECK_OK(status);
            threads[i] = (part_thread){.call = calls[i], .part = 0, .go = &go};
        }
        uint64_t before[NCS_LOCK_STAT_COUNT], after[NCS_LOCK_STAT_COUNT];
        for (int i = 0; i < 2; i++)
            CHECK(pthread_create(&ids[i], NULL, run_part_thread, &threads[i]) == 0);
        lock_stats("legacy", before);
        double start = now_seconds();
        atomic_store(&go, 1);
        for (int i = 0; i < 2; i++)
            CHECK(pthread_join(ids[i], NULL) == 0);
        double wall = now_seconds() - start;
        lock_stats("legacy", after);
        for (int i = 0; i < 2; i++) {
            CHECK_OK(threads[i].status);
            CHECK_OK(ncs_call_finish(calls[i]));
            ncs_handle out;
            CHECK_OK(ncs_call_take_output(calls[i], 0, &out));
            check_legacy(x, buffer_memory(out), 1, 2000000);
            CHECK_OK(ncs_buffer_release(out));
            ncs_call_destroy(calls[i], NULL, NULL);
        }
        uint64_t acquisitions = after[NCS_LOCK_STAT_ACQUISITIONS] -
                                before[NCS_LOCK_STAT_ACQUISITIONS];
        double held = 1e-9 * (double)(after[NCS_LOCK_STAT_HELD_NS] - before[NCS_LOCK_STAT_HELD_NS]);
        double waited = 1e-9 *
                        (double)(after[NCS_LOCK_STAT_WAIT_NS] - before[NCS_LOCK_STAT_WAIT_NS]);
        CHECK(acquisitions == (release ? 4u : 2u));
        CHECK(held <= wall); /* one holder at a time */
        printf("  legacy_work x2 on 2 threads, release_lock=%s: wall %.1f ms, lock held %.1f ms "
               "(%.0f%%), "
               "waited %.1f ms\n",
               release ? "true " : "false", 1e3 * wall, 1e3 * held, 100 * held / wall,
               1e3 * waited);
    }
}

/* ---- the lock with in-process kernels ------------------------------------------------- */

static atomic_int unexpected; /* outcomes inside test kernels that were not what the test wants */

#define EXPECT(cond)                                                                         \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: in a kernel: expected %s\n", __FILE__, __LINE__, #cond); \
            atomic_fetch_add(&unexpected, 1);                                                \
        }                                                                                    \
    } while (0)

static const ncs_tensor_desc any_fp64[] = {
    {.name = "x", .doc = "", .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_FP64), .rank = NCS_RANK_ANY},
};
static const ncs_tensor_desc one_int64[] = {
    {.name = "y", .doc = "", .dtypes = NCS_DTYPE_BIT(NCS_DTYPE_INT64), .rank = 1, .dims = {1}},
};
static const ncs_param_desc abuse_params[] = {
    {.name = "mode",
     .type = NCS_PARAM_STRING,
     .default_value = "check",
     .doc = "check, fail or leave_released"},
};
static const ncs_param_desc meet_params[] = {
    {.name = "release", .type = NCS_PARAM_BOOL, .default_value = "false", .doc = ""},
};

/* prepare of lock_abuse: every host buffer service is refused while the lock is released. */
static int abuse_prepare(ncs_ctx *ctx, int max_parts)
{
    (void)max_parts;
    const ncs_host_api *api = ctx->api;
    const int64_t one[1] = {1};
    ncs_tensor_view view;
    ncs_handle h;
    void *memory;
    const char *mode;
    EXPECT(api->struct_size >= sizeof(ncs_host_api));
    NCS_BEGIN_ALLOW_THREADS(ctx)
    EXPECT(api->input(ctx, 0, &view) == NCS_E_INTERNAL);
    EXPECT(api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, one) == NCS_E_INTERNAL);
    EXPECT(api->set_output_bytes(ctx, 0, 1, one, 8) == NCS_E_INTERNAL);
    EXPECT(api->set_workspace(ctx, 64) == NCS_E_INTERNAL);
    EXPECT(api->set_parts(ctx, 1) == NCS_E_INTERNAL);
    EXPECT(api->alloc(ctx, 16, &h, &memory) == NCS_E_INTERNAL);
    EXPECT(api->param_string(ctx, "mode", &mode) == NCS_OK); /* parameters stay readable */
    EXPECT(api->cancelled(ctx) == 0);
    api->progress(ctx, 5);
    EXPECT(api->release_lock(ctx) == NCS_E_INTERNAL); /* already released */
    NCS_END_ALLOW_THREADS(ctx)
    EXPECT(api->reacquire_lock(ctx) == NCS_E_INTERNAL); /* not released */
    EXPECT(api->input(ctx, 0, &view) == NCS_OK);
    EXPECT(api->set_workspace(ctx, 64) == NCS_OK);
    EXPECT(api->alloc(ctx, 16, &h, &memory) == NCS_OK);
    EXPECT(api->release(ctx, h) == NCS_OK);
    return api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, one);
}

static int abuse_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)part;
    (void)nparts;
    const ncs_host_api *api = ctx->api;
    const char *mode;
    ncs_tensor_view y, view;
    ncs_handle h, h2;
    EXPECT(api->param_string(ctx, "mode", &mode) == NCS_OK);
    EXPECT(api->output(ctx, 0, &y) == NCS_OK);
    EXPECT(api->alloc(ctx, 8, &h, NULL) == NCS_OK);
    *(int64_t *)y.data = 7;
    if (strcmp(mode, "leave_released") == 0) {
        EXPECT(api->release(ctx, h) == NCS_OK);
        return api->release_lock(ctx); /* returns with the lock released: the host copes */
    }
    int status;
    NCS_BEGIN_ALLOW_THREADS(ctx)
    EXPECT(api->output(ctx, 0, &view) == NCS_E_INTERNAL);
    EXPECT(api->workspace(ctx) == NULL);
    EXPECT(api->input(ctx, 0, &view) == NCS_E_INTERNAL);
    EXPECT(api->release(ctx, h) == NCS_E_INTERNAL);
    status = api->alloc(ctx, 8, &h2, NULL);
    EXPECT(status == NCS_E_INTERNAL);
    api->progress(ctx, 1);
    NCS_END_ALLOW_THREADS(ctx)
    EXPECT(api->workspace(ctx) != NULL);
    EXPECT(api->release(ctx, h) == NCS_OK);
    return strcmp(mode, "fail") == 0 ? status : NCS_OK;
}

static int two_parts_prepare(ncs_ctx *ctx, int max_parts)
{
    const int64_t one[1] = {1};
    int status = ctx->api->set_output(ctx, 0, NCS_DTYPE_INT64, 1, one);
    return status ? status : ctx->api->set_parts(ctx, max_parts < 2 ? 1 : 2);
}

static atomic_int meet_inside, meet_violations, meet_arrived, meet_timeouts;

/* Waits (10 s at most) until both parts arrived: proves they run at the same time. */
static void meet(void)
{
    atomic_fetch_add(&meet_arrived, 1);
    double deadline = now_seconds() + 10;
    while (atomic_load(&meet_arrived) < 2) {
        if (now_seconds() > deadline) {
            atomic_fetch_add(&meet_timeouts, 1);
            return;
        }
        sched_yield();
    }
}

/* lock_meet: with release=false, checks that no two parts are ever inside at once; with
   release=true, both parts meet while the lock is released. */
static int meet_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)part;
    (void)nparts;
    int release = 0;
    EXPECT(ctx->api->param_bool(ctx, "release", &release) == NCS_OK);
    if (!release) {
        if (atomic_fetch_add(&meet_inside, 1) != 0)
            atomic_fetch_add(&meet_violations, 1);
        double until = now_seconds() + 0.002;
        while (now_seconds() < until)
            sched_yield();
        atomic_fetch_sub(&meet_inside, 1);
        return NCS_OK;
    }
    NCS_BEGIN_ALLOW_THREADS(ctx)
    meet();
    NCS_END_ALLOW_THREADS(ctx)
    return NCS_OK;
}

/* free_macros (thread-safe): the macros are no-ops, the host API stays usable inside them, and
   two parts run at once without releasing anything. */
static int free_run(ncs_ctx *ctx, int part, int nparts)
{
    (void)part;
    (void)nparts;
    const ncs_host_api *api = ctx->api;
    NCS_BEGIN_ALLOW_THREADS(ctx)
    ncs_handle h;
    ncs_tensor_view y;
    EXPECT(api->alloc(ctx, 8, &h, NULL) == NCS_OK);
    EXPECT(api->release(ctx, h) == NCS_OK);
    EXPECT(api->output(ctx, 0, &y) == NCS_OK);
    EXPECT(api->release_lock(ctx) == NCS_OK);
    EXPECT(api->reacquire_lock(ctx) == NCS_OK);
    EXPECT(api->reacquire_lock(ctx) == NCS_OK);
    NCS_END_ALLOW_THREADS(ctx)
    meet();
    return NCS_OK;
}

static const ncs_kernel_desc locktest_kernels[] = {
    {.struct_size = sizeof(ncs_kernel_desc),
     .name = "lock_abuse",
     .doc = "host API while released",
     .n_inputs = 1,
     .inputs = any_fp64,
     .n_outputs = 1,
     .outputs = one_int64,
     .n_params = 1,
     .params = abuse_params,
     .prepare = abuse_prepare,
     .run = abuse_run},
    {.struct_size = sizeof(ncs_kernel_desc),
     .name = "lock_meet",
     .doc = "two parts",
     .n_outputs = 1,
     .outputs = one_int64,
     .n_params = 1,
     .params = meet_params,
     .prepare = two_parts_prepare,
     .run = meet_run},
};
static const ncs_kernel_desc lockfree_kernel = {.struct_size = sizeof(ncs_kernel_desc),
                                                .name = "free_macros",
                                                .doc = "macros in a thread-safe kernel",
                                                .flags = NCS_KERNEL_THREAD_SAFE,
                                                .n_outputs = 1,
                                                .outputs = one_int64,
                                                .prepare = two_parts_prepare,
                                                .run = free_run};

static int register_locktest(ncs_registrar *registrar)
{
    for (int i = 0; i < 2; i++) {
        int status = NCS_ADD_KERNEL(registrar, &locktest_kernels[i]);
        if (status != NCS_OK)
            return status;
    }
    return NCS_OK;
}

static int register_lockfree(ncs_registrar *registrar)
{
    return NCS_ADD_KERNEL(registrar, &lockfree_kernel);
}

/* lock_abuse with `mode`, all parts on this thread. */
static int abuse_call(const char *mode, char *error, size_t error_size, int *snapshot_checked)
{
    const double x[1] = {1};
    const char *params[] = {"mode", mode, NULL};
    int nparts, status;
    ncs_call *call = prepared_fp64("lock_abuse", x, 1, params, 1, &nparts, &status);
    CHECK_OK(status);
    if (snapshot_checked != NULL) {
        char json[4096];
        CHECK_OK(ncs_buffer_snapshot(json, sizeof json, NULL));
        CHECK_CONTAINS(json,
                       "{\"owner\":\"kernel:lock_abuse/workspace\",\"count\":1,\"bytes\":64}");
        CHECK_CONTAINS(json, "{\"owner\":\"kernel:lock_abuse/output\",\"count\":1,\"bytes\":8}");
        *snapshot_checked = 1;
    }
    status = run_parts_and_finish(call, nparts);
    snprintf(error, error_size, "%s", ncs_call_error(call));
    CHECK(ncs_call_progress(call) >= 5);
    uint64_t leaked = 9;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    return status;
}

static void test_host_api_while_released(void)
{
    uint64_t before[NCS_LOCK_STAT_COUNT], after[NCS_LOCK_STAT_COUNT];
    lock_stats("locktest", before);
    char error[512];
    int checked = 0;
    CHECK_OK(abuse_call("check", error, sizeof error, &checked));
    CHECK(checked);
    CHECK(atomic_load(&unexpected) == 0);
    lock_stats("locktest", after);
    /* prepare: take, retake; the part: take, retake. */
    CHECK(after[NCS_LOCK_STAT_ACQUISITIONS] - before[NCS_LOCK_STAT_ACQUISITIONS] == 4);

    /* The refusal's message, when the kernel passes the status on. */
    CHECK_STATUS(abuse_call("fail", error, sizeof error, NULL), NCS_E_INTERNAL);
    CHECK_CONTAINS(
        error,
        "kernel 'lock_abuse' called alloc: host API called while the library lock is released");
    CHECK(atomic_load(&unexpected) == 0);

    /* A part that returns with the lock released does not leave it held, nor released twice. */
    for (int i = 0; i < 3; i++)
        CHECK_OK(abuse_call("leave_released", error, sizeof error, NULL));
    CHECK_OK(abuse_call("check", error, sizeof error, NULL));
    CHECK(atomic_load(&unexpected) == 0);
    int index = library_index("locktest");
    uint64_t one[1] = {0};
    CHECK(ncs_library_lock_stats(index, one, 1) == 1); /* fewer values than there are */
    CHECK(ncs_library_lock_stats(index, NULL, 3) == 0);
    CHECK(ncs_library_lock_stats(index, one, 0) == 0);
    CHECK(ncs_library_lock_stats(ncs_library_count(), one, 1) == 0);
    CHECK(ncs_library_lock_stats(-1, one, 1) == 0);
}

/* Runs lock_meet or free_macros with both parts on their own threads. */
static void two_part_round(const char *kernel, const char *release)
{
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create(kernel, &call));
    if (release != NULL)
        CHECK_OK(ncs_call_set_param(call, "release", release));
    CHECK_OK(ncs_call_prepare(call, 2, &nparts));
    CHECK(nparts == 2);
    atomic_int go;
    atomic_init(&go, 0);
    atomic_store(&meet_arrived, 0);
    part_thread threads[2] = {{.call = call, .part = 0, .go = &go},
                              {.call = call, .part = 1, .go = &go}};
    pthread_t ids[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&ids[i], NULL, run_part_thread, &threads[i]) == 0);
    atomic_store(&go, 1);
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_join(ids[i], NULL) == 0);
        CHECK_OK(threads[i].status);
    }
    CHECK_OK(ncs_call_finish(call));
    ncs_call_destroy(call, NULL, NULL);
}

static void test_lock_serialises_and_releases(void)
{
    uint64_t before[NCS_LOCK_STAT_COUNT], after[NCS_LOCK_STAT_COUNT];
    lock_stats("locktest", before);
    for (int round = 0; round < 10; round++)
        two_part_round("lock_meet", "false");
    CHECK(atomic_load(&meet_violations) == 0); /* never two parts inside at once */
    lock_stats("locktest", after);
    CHECK(after[NCS_LOCK_STAT_ACQUISITIONS] - before[NCS_LOCK_STAT_ACQUISITIONS] == 10 * 3);
    for (int round = 0; round < 10; round++)
        two_part_round("lock_meet", "true");
    CHECK(atomic_load(&meet_timeouts) == 0); /* both parts were inside the released block at once */
    CHECK(atomic_load(&unexpected) == 0);
}

static void test_macros_thread_safe_noop(void)
{
    for (int round = 0; round < 5; round++)
        two_part_round("free_macros", NULL);
    CHECK(atomic_load(&meet_timeouts) == 0); /* thread-safe parts run at once */
    CHECK(atomic_load(&unexpected) == 0);
    uint64_t stats[NCS_LOCK_STAT_COUNT];
    lock_stats("lockfree", stats);
    CHECK(stats[0] == 0 && stats[1] == 0 && stats[2] == 0);
}

/* ---- leaky, owners, the snapshot ----------------------------------------------------------- */

static void snapshot(char *json, size_t size)
{
    size_t needed = 0;
    CHECK_OK(ncs_buffer_snapshot(json, size, &needed));
    CHECK(needed == strlen(json) + 1);
}

static void test_leaky(void)
{
    uint64_t leaks = stat_value(NCS_STAT_KERNEL_LEAKS);
    double x[5] = {1, 2, 3, 4, 5}, y[5];
    for (int i = 0; i < 4; i++) {
        uint64_t leaked = 0, leaked_bytes = 0;
        CHECK_OK(call_fp64("leaky", x, 5, NULL, 2, y, &leaked, &leaked_bytes));
        CHECK(leaked == 1 && leaked_bytes == 4096);
        CHECK(memcmp(x, y, sizeof x) == 0);
        CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 0); /* reclaimed */
    }
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == leaks + 4);

    /* While the call lives, the snapshot shows the leak under the kernel's name. */
    const char *params[] = {"leak_bytes", "100", NULL};
    int nparts, status;
    ncs_call *call = prepared_fp64("leaky", x, 5, params, 1, &nparts, &status);
    CHECK_OK(status);
    CHECK_OK(run_parts_and_finish(call, nparts));
    char json[1024];
    snapshot(json, sizeof json);
    CHECK(strcmp(json, "[{\"owner\":\"kernel:leaky\",\"count\":1,\"bytes\":100},"
                       "{\"owner\":\"host\",\"count\":1,\"bytes\":40},"
                       "{\"owner\":\"kernel:leaky/output\",\"count\":1,\"bytes\":40}]") == 0);
    ncs_handle out;
    CHECK_OK(ncs_call_take_output(call, 0, &out));
    uint64_t leaked = 0, leaked_bytes = 0;
    ncs_call_destroy(call, &leaked, &leaked_bytes);
    CHECK(leaked == 1 && leaked_bytes == 100);
    snapshot(json, sizeof json);
    CHECK(strcmp(json, "[{\"owner\":\"kernel:leaky/output\",\"count\":1,\"bytes\":40}]") == 0);
    CHECK_OK(ncs_buffer_set_owner(out, "request:17"));
    snapshot(json, sizeof json);
    CHECK(strcmp(json, "[{\"owner\":\"request:17\",\"count\":1,\"bytes\":40}]") == 0);
    CHECK_OK(ncs_buffer_release(out));
    CHECK(stat_value(NCS_STAT_KERNEL_LEAKS) == leaks + 5);

    const char *bad[] = {"leak_bytes", "-1", NULL};
    call = prepared_fp64("leaky", x, 5, bad, 1, &nparts, &status);
    CHECK_STATUS(status, NCS_E_INVALID_ARGUMENT);
    CHECK_CONTAINS(ncs_call_error(call), "parameter 'leak_bytes' is -1");
    ncs_call_destroy(call, &leaked, &leaked_bytes);
    CHECK(leaked == 0 && leaked_bytes == 0);
    ncs_call_destroy(NULL, &leaked, &leaked_bytes); /* accepted, does nothing */
}

static void test_snapshot_and_owners(void)
{
    char json[2048];
    size_t needed = 0;
    snapshot(json, sizeof json);
    CHECK(strcmp(json, "[]") == 0);
    CHECK_STATUS(ncs_buffer_snapshot(NULL, 0, &needed), NCS_E_INVALID_ARGUMENT);
    CHECK(needed == 3);

    ncs_handle a, b, c, d;
    CHECK_OK(ncs_buffer_alloc(100, &a));
    CHECK_OK(ncs_buffer_alloc(100, &b));
    CHECK_OK(ncs_buffer_alloc(1000, &c));
    CHECK_OK(ncs_buffer_alloc(5, &d));
    CHECK_OK(ncs_buffer_set_owner(a, "request:1"));
    CHECK_OK(ncs_buffer_set_owner(b, "request:1"));
    CHECK_OK(ncs_buffer_set_owner(c, "plugin"));
    uint32_t refcount = 0;
    CHECK_OK(ncs_buffer_refcount(a, &refcount));
    CHECK(refcount == 1); /* setting the owner holds no reference afterwards */
    const char *expected = "[{\"owner\":\"plugin\",\"count\":1,\"bytes\":1000},"
                           "{\"owner\":\"request:1\",\"count\":2,\"bytes\":200},"
                           "{\"owner\":\"host\",\"count\":1,\"bytes\":5}]";
    snapshot(json, sizeof json);
    CHECK(strcmp(json, expected) == 0);
    /* Too small: nothing written, the size needed reported. */
    char small[32];
    memset(small, 'z', sizeof small);
    CHECK_STATUS(ncs_buffer_snapshot(small, sizeof small, &needed), NCS_E_INVALID_ARGUMENT);
    CHECK(needed == strlen(expected) + 1);
    CHECK(small[0] == 'z' && small[sizeof small - 1] == 'z');
    char *exact = malloc(needed);
    CHECK(exact != NULL);
    CHECK_OK(ncs_buffer_snapshot(exact, needed, NULL));
    CHECK(strcmp(exact, expected) == 0);
    free(exact);

    /* Frees show. */
    CHECK_OK(ncs_buffer_release(b));
    CHECK_OK(ncs_buffer_release(c));
    snapshot(json, sizeof json);
    CHECK(strcmp(json, "[{\"owner\":\"request:1\",\"count\":1,\"bytes\":100},"
                       "{\"owner\":\"host\",\"count\":1,\"bytes\":5}]") == 0);

    /* Escaping (json.c, as in the kernel metadata), truncation (at a UTF-8 boundary), an empty
       owner. */
    CHECK_OK(ncs_buffer_set_owner(a, "q\"b\\s\nt\x01\x7f"));
    snapshot(json, sizeof json);
    CHECK_CONTAINS(json, "{\"owner\":\"q\\\"b\\\\s\\nt\\u0001\\u007f\",\"count\":1,\"bytes\":100}");
    char owner[128], want[128];
    memset(owner, 'o', 100);
    owner[100] = '\0';
    CHECK_OK(ncs_buffer_set_owner(a, owner));
    snprintf(want, sizeof want, "{\"owner\":\"%.63s\",\"count\":1", owner);
    snapshot(json, sizeof json);
    CHECK_CONTAINS(json, want);
    memset(owner, 'a', 62);
    memcpy(owner + 62, "\xc3\xa9!", 4); /* "é" would straddle the limit: dropped whole */
    CHECK_OK(ncs_buffer_set_owner(a, owner));
    snprintf(want, sizeof want, "{\"owner\":\"%.62s\",\"count\":1", owner);
    snapshot(json, sizeof json);
    CHECK_CONTAINS(json, want);
    memset(owner, 'a', 61);
    memcpy(owner + 61, "\xc3\xa9!", 4); /* ends exactly at the limit: kept */
    CHECK_OK(ncs_buffer_set_owner(a, owner));
    snprintf(want, sizeof want, "{\"owner\":\"%.63s\",\"count\":1", owner);
    snapshot(json, sizeof json);
    CHECK_CONTAINS(json, want);
    CHECK_OK(ncs_buffer_set_owner(d, ""));
    snapshot(json, sizeof json);
    CHECK_CONTAINS(json, "{\"owner\":\"\",\"count\":1,\"bytes\":5}");

    /* Refusals: a stale handle (counted), handle 0, NULL. */
    uint64_t stale = stat_value(NCS_STAT_STALE_HANDLE_USES);
    CHECK_STATUS(ncs_buffer_set_owner(b, "x"), NCS_E_STALE_HANDLE);
    CHECK(stat_value(NCS_STAT_STALE_HANDLE_USES) == stale + 1);
    CHECK_STATUS(ncs_buffer_set_owner(0, "x"), NCS_E_INVALID_ARGUMENT);
    CHECK_STATUS(ncs_buffer_set_owner(a, NULL), NCS_E_INVALID_ARGUMENT);
    CHECK_OK(ncs_buffer_release(a));
    CHECK_OK(ncs_buffer_release(d));
    snapshot(json, sizeof json);
    CHECK(strcmp(json, "[]") == 0);
}

/* Buffers allocated, renamed and freed on two threads while snapshots are taken. */
typedef struct churn {
    int id;
    atomic_int *stop;
    ncs_handle shared; /* renamed by the other thread while this one frees it */
} churn;

static void *churn_thread(void *arg)
{
    churn *c = arg;
    char owner[32];
    for (int i = 0; !atomic_load(c->stop) || i < 200; i++) {
        ncs_handle h;
        CHECK_OK(ncs_buffer_alloc((uint64_t)(64 + i % 7), &h));
        snprintf(owner, sizeof owner, "churn:%d:%d", c->id, i % 3);
        CHECK_OK(ncs_buffer_set_owner(h, owner));
        int status = ncs_buffer_set_owner(c->shared, "renamed"); /* the other's, maybe freed */
        CHECK(status == NCS_OK || status == NCS_E_STALE_HANDLE);
        CHECK_OK(ncs_buffer_release(h));
        if (i >= 100000)
            break;
    }
    return NULL;
}

static void test_snapshot_concurrent(void)
{
    atomic_int stop;
    atomic_init(&stop, 0);
    ncs_handle shared0, shared1;
    CHECK_OK(ncs_buffer_alloc(8, &shared0));
    CHECK_OK(ncs_buffer_alloc(8, &shared1));
    churn churns[2] = {{.id = 0, .stop = &stop, .shared = shared1},
                       {.id = 1, .stop = &stop, .shared = shared0}};
    pthread_t ids[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&ids[i], NULL, churn_thread, &churns[i]) == 0);
    char json[8192];
    for (int i = 0; i < 300; i++) {
        size_t needed = 0;
        CHECK_OK(ncs_buffer_snapshot(json, sizeof json, &needed));
        size_t length = strlen(json);
        CHECK(needed == length + 1 && json[0] == '[' && json[length - 1] == ']');
        if (i == 150) { /* free the shared buffers while they are being renamed */
            CHECK_OK(ncs_buffer_release(shared0));
            CHECK_OK(ncs_buffer_release(shared1));
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(ids[i], NULL) == 0);
    snapshot(json, sizeof json);
    CHECK(strcmp(json, "[]") == 0);
}

/* A plugin built against the headers of libncs 0.1.0 (ABI 1.3, tests/fixtures/abi-1.3), before
   ncs_plugin.h stopped including ncs.h: it loads and runs on this host. */
static void test_old_header_plugin(void)
{
    char path[512], error[512];
    snprintf(path, sizeof path, "%s/libold_header.so", NCS_TEST_PLUGIN_DIR);
    int status = ncs_plugin_load(path, error, sizeof error);
    if (status != NCS_OK)
        fprintf(stderr, "loading %s: %s\n", path, error);
    CHECK_OK(status);
    CHECK(library_index("old_header") >= 0);
    CHECK_CONTAINS(ncs_kernel_metadata_json("old_header_good"), "\"library\":\"old_header\"");
    ncs_call *call;
    int nparts;
    CHECK_OK(ncs_call_create("old_header_good", &call));
    CHECK_OK(ncs_call_prepare(call, 4, &nparts));
    for (int p = 0; p < nparts; p++)
        CHECK_OK(ncs_call_run_part(call, p));
    CHECK_OK(ncs_call_finish(call));
    ncs_handle y;
    uint64_t addr, size, leaked = 1;
    CHECK_OK(ncs_call_take_output(call, 0, &y));
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    CHECK_OK(ncs_buffer_data(y, &addr, &size));
    CHECK(size == 8 && *(const int64_t *)(uintptr_t)addr == 42);
    CHECK_OK(ncs_buffer_release(y));
}

int main(void)
{
    CHECK_OK(ncs_catalog_register_library("locktest", register_locktest));
    CHECK_OK(ncs_catalog_register_library("lockfree", register_lockfree));
    RUN_TEST(test_load_examples);
    RUN_TEST(test_scale);
    RUN_TEST(test_refused_plugins);
    RUN_TEST(test_file_checks);
    RUN_TEST(test_legacy_results);
    RUN_TEST(test_legacy_lock_release_overlaps);
    RUN_TEST(test_legacy_two_threads);
    RUN_TEST(test_host_api_while_released);
    RUN_TEST(test_lock_serialises_and_releases);
    RUN_TEST(test_macros_thread_safe_noop);
    RUN_TEST(test_leaky);
    RUN_TEST(test_snapshot_and_owners);
    RUN_TEST(test_snapshot_concurrent);
    RUN_TEST(test_old_header_plugin);
    return 0;
}
