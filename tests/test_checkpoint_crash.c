/* Crash during checkpointing (issue 19): a writer process trains a run and
 * saves a checkpoint over the same file after every step (three times, so
 * that most of its time is spent saving); the test kills it with SIGKILL at
 * random moments, then checks that the file always loads and holds exactly
 * the state of the uninterrupted run at its step, and starts the next
 * writer, which resumes from that file. A last writer runs to the end of the
 * run, and its final checkpoint must equal the uninterrupted run's end bit
 * for bit, after all those kills and resumes.
 *
 * The writer is this executable started again with "--writer DIR" (a fresh
 * process image: the OpenMP runtime does not survive fork()). Before every
 * save it writes one byte to its stdout, a pipe to the test, which uses
 * those bytes to aim the kills at the saves. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "test_checkpoint_util.h"

enum { KILLS = 24, TOTAL = 40, SAVES_PER_STEP = 3 };

extern char **environ;

static char g_dir[64];
static char g_self[4096];

/* ---- the writer process ------------------------------------------------------------ */

static int writer_main(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    ck_run r;
    ck_run_init(&r, RUN_RIGL_MLP); /* the data and batcher; the run itself comes from the file */
    spt_trainer_destroy(r.t);
    spt_model_destroy(r.m);
    r.t = NULL;
    r.m = NULL;
    if (spt_trainer_load(path, &r.m, &r.t, r.b) != SPT_OK) {
        fprintf(stderr, "writer: %s\n", spt_last_error());
        return 3;
    }
    int64_t step = 0;
    spt_trainer_get_step(r.t, &step);
    for (; step < TOTAL; step++) {
        int64_t B = 0;
        if (spt_batcher_next(r.b, r.x, r.feat * CK_BATCH, r.y, CK_BATCH, &B) == SPT_OK && B == 0)
            spt_batcher_next(r.b, r.x, r.feat * CK_BATCH, r.y, CK_BATCH, &B);
        if (B == 0 || spt_trainer_step(r.t, r.x, r.y, B, NULL, NULL) != SPT_OK) {
            fprintf(stderr, "writer: step %lld: %s\n", (long long)step, spt_last_error());
            return 3;
        }
        for (int s = 0; s < SAVES_PER_STEP; s++) {
            if (write(STDOUT_FILENO, "S", 1) != 1) return 3;
            if (spt_trainer_save(r.t, r.b, path) != SPT_OK) {
                fprintf(stderr, "writer: save: %s\n", spt_last_error());
                return 3;
            }
        }
    }
    ck_run_free(&r);
    return 0;
}

/* ---- the test ------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Start a writer over g_dir; *out_fd reads its save marks. */
static pid_t start_writer(int *out_fd) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO), 0);
    assert_int_equal(posix_spawn_file_actions_addclose(&fa, fds[0]), 0);
    char *argv[] = {g_self, "--writer", g_dir, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, g_self, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

/* Read one save mark; false at end of file (the writer ended). */
static bool next_mark(int fd) {
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    return n == 1;
}

/* The reference run advanced to `step` (it only moves forward). */
static void reference_to(ck_run *ref, int64_t step) {
    int64_t at;
    assert_status(spt_trainer_get_step(ref->t, &at), SPT_OK);
    assert_true(at <= step);
    ck_train(ref->t, ref->b, ref->x, ref->y, ref->feat, (int)(step - at), NULL);
}

/* The file loads, and equals the uninterrupted run at its step (model,
 * optimizer, method state, counters, random states, batcher position). */
static int64_t check_file(const char *path, ck_run *ref) {
    spt_model *m = NULL;
    spt_trainer *t = NULL;
    spt_batcher *b = ck_batcher(ref->ds);
    int rc = spt_trainer_load(path, &m, &t, b);
    if (rc != SPT_OK) fail_msg("after a kill the checkpoint does not load: %s", spt_last_error());
    int64_t step;
    assert_status(spt_trainer_get_step(t, &step), SPT_OK);
    reference_to(ref, step);
    ck_assert_same_trainer(ref->t, t);
    int64_t e1, p1, e2, p2;
    assert_status(spt_batcher_get_state(ref->b, &e1, &p1, NULL), SPT_OK);
    assert_status(spt_batcher_get_state(b, &e2, &p2, NULL), SPT_OK);
    assert_true(e1 == e2 && p1 == p2);
    spt_trainer_destroy(t);
    spt_model_destroy(m);
    spt_batcher_destroy(b);
    return step;
}

static void test_kill_during_checkpoint(void **state) {
    (void)state;
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/run.ckpt", g_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* Step 0: the file the first writer resumes from. */
    ck_run ref;
    ck_run_init(&ref, RUN_RIGL_MLP);
    assert_status(spt_trainer_save(ref.t, ref.b, path), SPT_OK);
    ck_run_free(&ref);
    ck_run_init(&ref, RUN_RIGL_MLP);

    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    spti_rng rng;
    spti_rng_seed(&rng, seed);
    int stale_tmp = 0, ended = 0;
    int64_t last = 0;
    double gap = 0.002; /* running estimate of the time between save marks */
    const double t_start = now_s();
    for (int k = 0; k < KILLS; k++) {
        int fd;
        pid_t pid = start_writer(&fd);
        /* A random number of saves in, then a random moment inside the next
         * one or the step after it. */
        const int marks = 1 + (int)spti_rng_below(&rng, 4);
        bool alive = true;
        double t_prev = now_s();
        for (int i = 0; i < marks && alive; i++) {
            alive = next_mark(fd);
            const double t_now = now_s();
            if (i > 0) gap = 0.8 * gap + 0.2 * (t_now - t_prev);
            t_prev = t_now;
        }
        if (alive) sleep_s(spti_rng_uniform(&rng) * 1.5 * gap);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        close(fd);
        if (WIFEXITED(status)) {
            if (WEXITSTATUS(status) != 0) fail_msg("writer failed (exit %d), seed %llu", WEXITSTATUS(status),
                                                   (unsigned long long)seed);
            ended++;
        } else {
            assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }
        stale_tmp += access(tmp, F_OK) == 0; /* killed between creating the temporary file and the rename */
        const int64_t step = check_file(path, &ref);
        assert_true(step >= last);
        last = step;
        if (step == TOTAL) break;
    }
    /* The last writer runs to the end of the run. */
    int fd;
    pid_t pid = start_writer(&fd);
    while (next_mark(fd)) {
    }
    close(fd);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* A writer that saved removed any temporary file; one that started from
     * the run's last step saved nothing, and a kill inside a later save of
     * that same step may have left one. */
    if (last < TOTAL) assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(check_file(path, &ref), TOTAL);
    printf("# %d kills (seed %llu), %d of them left a half-written temporary file, %d writers ended first; "
           "the file always loaded and the run ended bit for bit (%.1f s)\n",
           KILLS, (unsigned long long)seed, stale_tmp, ended, now_s() - t_start);
    /* The kills did land inside saves (else this tests nothing). */
    assert_true(stale_tmp >= 1);
    ck_run_free(&ref);
    remove(path);
    remove(tmp);
}

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/spt_crash_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/run.ckpt", g_dir);
    remove(path);
    snprintf(path, sizeof path, "%s/run.ckpt.tmp", g_dir);
    remove(path);
    return rmdir(g_dir);
}

int main(int argc, char **argv) {
    /* The writer and the test run the same kernels on one thread (a resumed
     * run is bit-exact at the same thread count). */
    if (spt_set_num_threads(1) != SPT_OK) return 1;
    if (argc == 3 && strcmp(argv[1], "--writer") == 0) return writer_main(argv[2]);
    ssize_t n = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (n <= 0) {
        fprintf(stderr, "cannot find this executable\n");
        return 1;
    }
    g_self[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
