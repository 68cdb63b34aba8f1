/*
 * check.h -- the C tests' assertion helpers. A failed check prints where and what, and exits
 * with status 1.
 */
#ifndef NCS_TEST_CHECK_H
#define NCS_TEST_CHECK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncs/ncs.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* Checks that `expr` returns status `expected`. */
#define CHECK_STATUS(expr, expected)                                                              \
    do {                                                                                          \
        int check_got_ = (expr);                                                                  \
        int check_want_ = (expected);                                                             \
        if (check_got_ != check_want_) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", __FILE__, __LINE__, \
                    #expr, check_got_, ncs_status_str(check_got_), check_want_,                   \
                    ncs_status_str(check_want_));                                                 \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, NCS_OK)

/* Checks that `text` contains `part`. */
#define CHECK_CONTAINS(text, part)                                                         \
    do {                                                                                   \
        const char *check_text_ = (text);                                                  \
        if (check_text_ == NULL || strstr(check_text_, (part)) == NULL) {                  \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                    check_text_ ? check_text_ : "(null)", (part));                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static inline uint64_t stat_value(int which)
{
    uint64_t values[NCS_STAT_COUNT];
    CHECK(ncs_stats_read(values, NCS_STAT_COUNT) == NCS_STAT_COUNT);
    return values[which];
}

/* Runs one test function and checks it left no buffer alive and nothing cached. */
#define RUN_TEST(test)                                 \
    do {                                               \
        test();                                        \
        CHECK(stat_value(NCS_STAT_LIVE_BUFFERS) == 0); \
        CHECK(stat_value(NCS_STAT_LIVE_BYTES) == 0);   \
        CHECK(stat_value(NCS_STAT_CACHED_BYTES) == 0); \
        printf("ok %s\n", #test);                      \
    } while (0)

/* A new buffer (refcount 1) holding a copy of `bytes` bytes of `src`. */
static inline ncs_handle buffer_from(const void *src, size_t bytes)
{
    ncs_handle h;
    uint64_t addr, size;
    CHECK_OK(ncs_buffer_alloc(bytes, &h));
    CHECK_OK(ncs_buffer_data(h, &addr, &size));
    CHECK(size == bytes);
    if (bytes > 0)
        memcpy((void *)(uintptr_t)addr, src, bytes);
    return h;
}

/* The memory of a live buffer. */
static inline void *buffer_memory(ncs_handle h)
{
    uint64_t addr, size;
    CHECK_OK(ncs_buffer_data(h, &addr, &size));
    return (void *)(uintptr_t)addr;
}

/* Runs a call's parts one after the other (prepare already done), then finish. */
static inline int run_parts_and_finish(ncs_call *call, int nparts)
{
    for (int p = 0; p < nparts; p++) {
        int status = ncs_call_run_part(call, p);
        if (status != NCS_OK)
            return status;
    }
    return ncs_call_finish(call);
}

/* pthread start routine for job = {call, (void *)(intptr_t)part}: runs that part, returns its status. */
static inline void *run_part_job(void *arg)
{
    void **job = arg;
    return (void *)(intptr_t)ncs_call_run_part(job[0], (int)(intptr_t)job[1]);
}

/* Runs every part on its own thread at once (prepare already done), then finish. Returns the first
   failing part's status, else finish's. */
static inline int run_parts_concurrently(ncs_call *call, int nparts)
{
    pthread_t threads[64];
    void *jobs[64][2];
    CHECK(nparts <= 64);
    for (int p = 0; p < nparts; p++) {
        jobs[p][0] = call;
        jobs[p][1] = (void *)(intptr_t)p;
        CHECK(pthread_create(&threads[p], NULL, run_part_job, jobs[p]) == 0);
    }
    int status = NCS_OK;
    for (int p = 0; p < nparts; p++) {
        void *result;
        CHECK(pthread_join(threads[p], &result) == 0);
        if ((int)(intptr_t)result != NCS_OK && status == NCS_OK)
            status = (int)(intptr_t)result;
    }
    return status != NCS_OK ? status : ncs_call_finish(call);
}

/* Prepares `call` as one part, runs it on a thread and cancels the call once the part reported
   progress: the part must stop with NCS_E_CANCELLED. Destroys the call (nothing may leak) and
   returns the progress the part had reported. */
static inline uint64_t cancel_once_progressing(ncs_call *call)
{
    int nparts;
    CHECK_OK(ncs_call_prepare(call, 1, &nparts));
    void *job[2] = {call, (void *)(intptr_t)0};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, run_part_job, job) == 0);
    while (ncs_call_progress(call) == 0)
        ;
    ncs_call_cancel(call);
    void *ret;
    CHECK(pthread_join(thread, &ret) == 0);
    CHECK_STATUS((int)(intptr_t)ret, NCS_E_CANCELLED);
    uint64_t progress = ncs_call_progress(call), leaked = 1;
    ncs_call_destroy(call, &leaked, NULL);
    CHECK(leaked == 0);
    return progress;
}

/* Prepares `call` with at most `max_parts` parts (*nparts: how many), runs them (each on its own
   thread when `concurrent`) and finish. On a failure, copies ncs_call_error to message[0..size),
   destroys the call and returns the failing status; else NCS_OK, the outputs ready to take. */
static inline int prepare_and_run(ncs_call *call, int max_parts, int concurrent, int *nparts,
                                  char *message, size_t size)
{
    int status = ncs_call_prepare(call, max_parts, nparts);
    if (status == NCS_OK) {
        CHECK(*nparts >= 1 && *nparts <= max_parts);
        status = concurrent ? run_parts_concurrently(call, *nparts)
                            : run_parts_and_finish(call, *nparts);
    }
    if (status != NCS_OK) {
        snprintf(message, size, "%s", ncs_call_error(call));
        ncs_call_destroy(call, NULL, NULL);
    }
    return status;
}

/* The memory budget's edge for calls whose whole peak is `needed` bytes; make(arg) returns such a
   call with its inputs and parameters set. Under a budget of needed - 1, prepare refuses it with
   NCS_E_OUT_OF_MEMORY (yet reports ncs_call_bytes_needed == needed); under exactly `needed` it
   prepares (at most max_parts parts, *nparts says how many), all its parts run at once and it
   holds exactly `needed` live bytes. Returns that call, finished: the caller takes what it checks
   and destroys it. The budget is unlimited again on return. */
static inline ncs_call *run_at_budget_edge(ncs_call *(*make)(void *), void *arg, uint64_t needed,
                                           int max_parts, int *nparts)
{
    ncs_set_memory_limit(needed - 1);
    ncs_call *call = make(arg);
    CHECK_STATUS(ncs_call_prepare(call, max_parts, nparts), NCS_E_OUT_OF_MEMORY);
    CHECK(ncs_call_bytes_needed(call) == needed);
    ncs_call_destroy(call, NULL, NULL);
    ncs_set_memory_limit(needed);
    call = make(arg);
    CHECK_OK(ncs_call_prepare(call, max_parts, nparts));
    CHECK(ncs_call_bytes_needed(call) == needed);
    CHECK_OK(run_parts_concurrently(call, *nparts));
    CHECK(stat_value(NCS_STAT_LIVE_BYTES) == needed);
    ncs_set_memory_limit(0);
    return call;
}

/* Deterministic pseudo-random numbers (xorshift64*), uniform in [0, 1). */
static inline double test_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (double)((*state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

#endif /* NCS_TEST_CHECK_H */
