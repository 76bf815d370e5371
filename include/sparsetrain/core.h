/** @file
 * Status codes, error messages, version, threads, allocator.
 *
 * Conventions that hold for every function of the library (the per-function
 * comments only say where something differs):
 *
 *  - Every fallible function returns an int status: #SPT_OK (0) or one of the
 *    #spt_status codes below. On failure nothing the caller owns was changed
 *    or freed, output handles are set to NULL, and spt_last_error() describes
 *    what went wrong.
 *  - Handles are opaque. Each `spt_X_create` has an `spt_X_destroy` that
 *    accepts NULL. The caller owns what a create returns.
 *  - Buffers are plain `float*` with explicit `int64_t` shapes; layouts are
 *    stated per function. The library never keeps a pointer to a caller's
 *    buffer after the call returns unless the function says so.
 *  - Thread-safety: distinct handles may be used from distinct threads at
 *    once; one handle must not be used from two threads at once, and
 *    destroying a handle must not race with any other use of it (nor with a
 *    use of a handle that borrows it: destroy the borrower first). Functions
 *    that touch global state say so; a header states where it allows more
 *    (several threads may read one dataset, sparsetrain/data.h).
 *  - The library never exits, aborts, or prints to stdout or stderr.
 */
#ifndef SPARSETRAIN_CORE_H
#define SPARSETRAIN_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @cond INTERNAL */
/* Export macro: SPT_BUILDING marks the library's own build; SPT_STATIC a
 * static build or static use. */
#if defined(SPT_STATIC)
#define SPT_API
#elif defined(_WIN32)
#ifdef SPT_BUILDING
#define SPT_API __declspec(dllexport)
#else
#define SPT_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define SPT_API __attribute__((visibility("default")))
#else
#define SPT_API
#endif
/** @endcond */

/* Version. CMake reads these three lines; keep their form. */
/** Major version: changes break the ABI (it is the shared library's SOVERSION). */
#define SPT_VERSION_MAJOR 0
/** Minor version: additions that keep the ABI. */
#define SPT_VERSION_MINOR 1
/** Patch version: fixes only. */
#define SPT_VERSION_PATCH 0
/** The version as one number, MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 is 100);
 * spt_version_number() returns the library's. */
#define SPT_VERSION_NUMBER (SPT_VERSION_MAJOR * 10000 + SPT_VERSION_MINOR * 100 + SPT_VERSION_PATCH)
/** @cond INTERNAL */
#define SPT_VERSION_STR2(x) #x
#define SPT_VERSION_STR(x) SPT_VERSION_STR2(x)
/** @endcond */
/** The version as a string literal, "MAJOR.MINOR.PATCH"; spt_version_string()
 * returns the library's. */
#define SPT_VERSION_STRING                                                       \
    SPT_VERSION_STR(SPT_VERSION_MAJOR) "." SPT_VERSION_STR(SPT_VERSION_MINOR) "." \
    SPT_VERSION_STR(SPT_VERSION_PATCH)

/** Status codes. The values are pinned: they are part of the ABI and never
 * change meaning. New codes are only ever appended. */
typedef enum spt_status {
    SPT_OK = 0,              /**< success */
    SPT_ERR_NULL = 1,        /**< a required pointer argument was NULL */
    SPT_ERR_INVALID = 2,     /**< an argument is outside its domain (e.g. density not in (0,1]) */
    SPT_ERR_SIZE = 3,        /**< a size is negative, zero where it may not be, mismatched, or overflows */
    SPT_ERR_NOMEM = 4,       /**< an allocation failed */
    SPT_ERR_IO = 5,          /**< a file could not be opened, read, written or renamed */
    SPT_ERR_FORMAT = 6,      /**< data or a file is malformed: wrong magic, truncated, bad fields */
    SPT_ERR_VERSION = 7,     /**< a file was written by a newer format version */
    SPT_ERR_CHECKSUM = 8,    /**< a file's checksum does not match its content */
    SPT_ERR_NONFINITE = 9,   /**< NaN or Inf appeared in a loss, gradient or weight */
    SPT_ERR_STATE = 10,      /**< the call is not valid in the handle's current state */
    SPT_ERR_UNSUPPORTED = 11, /**< a valid request this build or machine cannot do */
    SPT_ERR_INTERNAL = 12,   /**< a broken invariant inside the library (a bug: please report) */
    SPT_ERR_CALLBACK = 13    /**< a caller's callback reported failure */
} spt_status;

/** Static, never-NULL English text for a status code (also for unknown codes).
 * Thread-safe.
 * @param status an #spt_status value, or any other int.
 * @return the text; "unknown status code" for values that are not codes. */
SPT_API const char *spt_status_string(int status);

/** Detail of the most recent failure on the calling thread, e.g.
 * "spt_csr_create: rows (-3) must be >= 0". Never NULL ("" before any
 * failure). The text stays valid until the next failing call on this thread.
 * Thread-safe: each thread has its own message.
 * @return the message of the calling thread. */
SPT_API const char *spt_last_error(void);

/** Forget the calling thread's last error message. Thread-safe. */
SPT_API void spt_clear_error(void);

/** Set the calling thread's last error message (what spt_last_error()
 * returns): for code that extends the library through its callbacks and
 * tables (a communicator's engine, sparsetrain/comm.h; a user method,
 * sparsetrain/user_method.h), so that its own failure reads like the
 * library's. The text is copied (truncated to 1023 bytes); NULL clears.
 * Thread-safe.
 * @param status returned unchanged, so that `return spt_set_error(...)` works.
 * @param message the text. */
SPT_API int spt_set_error(int status, const char *message);

/** Run-time version, matching the macros the library was built with.
 * @return "MAJOR.MINOR.PATCH", static text (#SPT_VERSION_STRING of the build). */
SPT_API const char *spt_version_string(void);
/** Run-time version as a number, matching the macros the library was built with.
 * @return #SPT_VERSION_NUMBER of the build. */
SPT_API int spt_version_number(void);

/** Largest thread count spt_set_num_threads() accepts. */
#define SPT_MAX_THREADS 1024

/** Set the number of threads.
 * The library's own kernels run on OpenMP with this many threads (default:
 * the number of cores). Dense products run in OpenBLAS, whose thread count
 * is set by the same call (openblas_set_num_threads). The build links the
 * OpenMP build of OpenBLAS when it is installed (Debian:
 * libopenblas-openmp-dev), so both run on one OpenMP thread pool; library
 * calls run their own regions and OpenBLAS calls one after the other, so
 * setting the count to the number of cores uses every core without
 * oversubscribing them. With the pthreads build of OpenBLAS its idle
 * workers spin next to the OpenMP ones and dense products slow down (see
 * docs/performance.md). Do not also raise OMP_NUM_THREADS /
 * OPENBLAS_NUM_THREADS above the core count.
 * At most #SPT_MAX_THREADS: the OpenMP runtime crashes when asked for tens
 * of thousands of threads, and no machine has that many cores; a larger n
 * is refused, not clamped, and the count is left as it was.
 * The count holds for library calls from every thread (a product runs on
 * the same threads, so gives the same bits, whichever thread calls it).
 * Global state: not thread-safe against concurrent library calls.
 * @param n number of threads, in [1, #SPT_MAX_THREADS]; 0 means "all cores"
 *          (the default).
 * @return #SPT_OK, or #SPT_ERR_INVALID for n < 0 or n > #SPT_MAX_THREADS
 *         (the message gives n and the allowed range). */
SPT_API int spt_set_num_threads(int n);
/** Number of threads the library's kernels use (see spt_set_num_threads()).
 * @return the thread count, >= 1. */
SPT_API int spt_get_num_threads(void);

/** Which SIMD path the kernels chose at run time on this processor:
 * "avx512", "avx2" or "generic". Static text. Thread-safe.
 * @return the name of the path. */
SPT_API const char *spt_simd_name(void);

/** Force a SIMD path no wider than `level` (0 generic, 1 avx2, 2 avx512);
 * levels the processor lacks are ignored. For tests and benchmarks.
 * Global state: not thread-safe.
 * @param level 0, 1 or 2.
 * @return #SPT_OK, or #SPT_ERR_INVALID for other values. */
SPT_API int spt_set_simd_level(int level);

/** Allocation function of the allocator hook (see spt_set_allocator()).
 * Returns `size` bytes of memory, or NULL. */
typedef void *(*spt_alloc_fn)(size_t size, void *user);
/** Release function of the allocator hook (see spt_set_allocator()).
 * Releases `ptr`, which came from the matching #spt_alloc_fn. */
typedef void (*spt_free_fn)(void *ptr, void *user);
/** Allocator hook. Every allocation of the library goes through these two
 * functions (default: malloc/free). `alloc_fn(size, user)` returns memory or
 * NULL; `free_fn(ptr, user)` releases it. Pass both NULL to restore the
 * defaults. Set it before creating any handle and do not change it while
 * handles exist (memory must be freed by the allocator that made it).
 * The library calls the two functions from its worker (OpenMP) threads too,
 * concurrently: they must be thread-safe, as malloc and free are.
 * Global state: not thread-safe.
 * @param alloc_fn allocation function, or NULL (with free_fn NULL) for malloc.
 * @param free_fn release function, or NULL (with alloc_fn NULL) for free.
 * @param user passed unchanged to both functions.
 * @return #SPT_OK, or #SPT_ERR_INVALID when only one of the functions is NULL. */
SPT_API int spt_set_allocator(spt_alloc_fn alloc_fn, spt_free_fn free_fn, void *user);

#ifdef __cplusplus
}
#endif
#endif /* SPARSETRAIN_CORE_H */
