/* Running the probe ladder: one process per probe with a timeout, the dialect the ladder
 * found working, and the rule settings the results imply (see ane_probes.h). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "runtime/ane_probes.h"

static double mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void set(anet_probe_result *r, anet_probe_outcome o, const char *fmt, long v) {
    r->outcome = o;
    r->max_err = -1;
    snprintf(r->error, sizeof r->error, fmt, v);
}

void anet_probe_isolate(anet_probe_fn fn, void *arg, int timeout_ms, anet_probe_result *r) {
    int probe = r->probe;
    memset(r, 0, sizeof *r);
    r->probe = probe;
    int fd[2];
    if (pipe(fd) != 0) {
        set(r, ANET_PROBE_ERROR, "could not create a pipe (errno %ld)", errno);
        return;
    }
    fflush(NULL); /* the child must not write the parent's buffered output again */
    double t0 = mono_ms();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        set(r, ANET_PROBE_ERROR, "could not start a process for the probe (errno %ld)", errno);
        return;
    }
    if (pid == 0) {
        /* The child: run, send the result, leave without atexit handlers or flushing. */
        close(fd[0]);
        anet_probe_result cr;
        memset(&cr, 0, sizeof cr);
        cr.probe = probe;
        fn(arg, &cr);
        const char *p = (const char *)&cr;
        size_t left = sizeof cr;
        while (left) {
            ssize_t w = write(fd[1], p, left);
            if (w <= 0) break;
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fd[1]);
    anet_probe_result got;
    size_t have = 0;
    int timed_out = 0;
    while (have < sizeof got) {
        int wait_ms = timeout_ms - (int)(mono_ms() - t0);
        if (wait_ms <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {fd[0], POLLIN, 0};
        int pr = poll(&pf, 1, wait_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) {
            timed_out = 1;
            break;
        }
        ssize_t n = read(fd[0], (char *)&got + have, sizeof got - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* the child closed the pipe: it exited or died */
        have += (size_t)n;
    }
    close(fd[0]);
    if (timed_out) kill(pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    double ms = mono_ms() - t0;
    if (timed_out) {
        set(r, ANET_PROBE_TIMEOUT, "no answer after %ld ms: the probe was stopped (a hang)", timeout_ms);
    } else if (have == sizeof got) {
        *r = got;
        r->probe = probe;
    } else if (WIFSIGNALED(ws)) {
        set(r, ANET_PROBE_CRASH, "the probe's process died with signal %ld", WTERMSIG(ws));
    } else {
        set(r, ANET_PROBE_CRASH, "the probe's process exited (status %ld) without a result",
            WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    }
    r->ms = ms;
}

typedef struct child_arg {
    const anet_probe_ladder_config *c;
    anet_mil_dialect dialect;
} child_arg;

/* In the child: a backend of its own (a fresh process, as a fresh ANE client). */
static void run_child(void *arg, anet_probe_result *r) {
    child_arg *a = arg;
    anet_backend b = {0};
    int probe = r->probe;
    if (anet_backend_open(a->c->backend, &a->c->cfg, &b)) {
        memset(r, 0, sizeof *r);
        r->probe = probe;
        r->max_err = -1;
        r->outcome = ANET_PROBE_ERROR;
        snprintf(r->error, sizeof r->error, "%s", anet_last_error());
        return;
    }
    anet_probe_run(probe, &b, a->dialect, a->c->seed, r);
    anet_backend_close(&b);
}

void anet_probe_ladder(const anet_probe_ladder_config *c, anet_probe_result *results, anet_mil_dialect *dialect,
                       anet_probe_progress progress, void *ctx) {
    int n = anet_probes_count();
    /* Until the dialect probes have run: the chip's own (ios16 before M4). */
    anet_mil_dialect d = c->cfg.chip < ANET_CHIP_M4 ? ANET_MIL_IOS16 : ANET_MIL_IOS18;
    int i18 = anet_probe_find("dialect_ios18"), i16 = anet_probe_find("dialect_ios16");
    anet_backend shared = {0};
    int shared_ok = 0;
    if (!c->isolate) shared_ok = anet_backend_open(c->backend, &c->cfg, &shared) == ANET_OK;
    char open_err[480] = "";
    if (!c->isolate && !shared_ok) snprintf(open_err, sizeof open_err, "%s", anet_last_error());
    for (int i = 0; i < n; i++) {
        anet_probe_result *r = &results[i];
        memset(r, 0, sizeof *r);
        r->probe = i;
        if (c->isolate) {
            child_arg a = {c, d};
            anet_probe_isolate(run_child, &a, c->timeout_ms, r);
        } else if (shared_ok) {
            anet_probe_run(i, &shared, d, c->seed, r);
        } else {
            r->outcome = ANET_PROBE_ERROR;
            r->max_err = -1;
            snprintf(r->error, sizeof r->error, "%s", open_err);
        }
        if (i == i16 || i == i18) {
            /* Both dialect probes are done once the later one is: prefer ios18 (the newer
             * dialect) when it runs, else ios16 when that does. */
            int other = i == i16 ? i18 : i16;
            if (other < i) {
                if (results[i18].outcome == ANET_PROBE_PASSED) d = ANET_MIL_IOS18;
                else if (results[i16].outcome == ANET_PROBE_PASSED) d = ANET_MIL_IOS16;
            }
        }
        if (progress) progress(ctx, r);
    }
    if (shared_ok) anet_backend_close(&shared);
    *dialect = d;
}

/* ---------------------------------------------------------------- implied settings */

static void add_evidence(char *buf, size_t len, const char *id, const anet_probe_result *r) {
    size_t n = strlen(buf);
    if (n + 2 >= len) return;
    snprintf(buf + n, len - n, "%s%s %s", n ? "; " : "", id, anet_probe_outcome_name(r->outcome));
}

int anet_probe_implied(const anet_probe_result *res, int n, anet_probe_setting *out, int max) {
    int count = 0;
    for (int i = 0; i < n && count < max; i++) {
        const anet_probe_info *pi = anet_probe_get(res[i].probe);
        if (!pi) continue;
        int seen = 0;
        for (int k = 0; k < count && !seen; k++) seen = !strcmp(out[k].rule, pi->rule);
        if (seen) continue;
        anet_probe_setting *s = &out[count++];
        memset(s, 0, sizeof *s);
        s->rule = pi->rule;
        int ran = 0, errored = 0, trig_fail = 0, ctrl_fail = 0;
        int max_inputs = 0, inputs_gap = 0;
        for (int j = 0; j < n; j++) {
            const anet_probe_info *pj = anet_probe_get(res[j].probe);
            if (!pj || strcmp(pj->rule, pi->rule)) continue;
            int ok = res[j].outcome == ANET_PROBE_PASSED;
            if (!ok) add_evidence(s->evidence, sizeof s->evidence, pj->id, &res[j]);
            /* An error is ours (no backend, out of memory), not the device's: it decides nothing,
             * and a rule with a probe that did not run is undecided. */
            if (res[j].outcome == ANET_PROBE_ERROR) {
                errored++;
                continue;
            }
            ran++;
            if (!strcmp(pi->rule, "max-inputs")) {
                int k = atoi(pj->id + strlen("inputs_"));
                if (ok && !inputs_gap && k == max_inputs + 1) max_inputs = k;
                else if (!ok) inputs_gap = 1;
            }
            if (!ok && pj->trigger) trig_fail++;
            if (!ok && !pj->trigger) ctrl_fail++;
        }
        if (errored || !ran) {
            snprintf(s->value, sizeof s->value, "unknown");
        } else if (!strcmp(pi->rule, "max-inputs")) {
            snprintf(s->value, sizeof s->value, "%d", max_inputs);
        } else if (!strcmp(pi->rule, "row-layout")) {
            /* Two ways of writing the same rows: the one that reads back right is the device's. */
            int ip = anet_probe_find("rows_packed"), is = anet_probe_find("rows_strided64");
            int pk = ip >= 0 && ip < n && res[ip].outcome == ANET_PROBE_PASSED;
            int st = is >= 0 && is < n && res[is].outcome == ANET_PROBE_PASSED;
            snprintf(s->value, sizeof s->value, "%s", pk && !st ? "packed" : st && !pk ? "strided64" : "unknown");
        } else if (!strcmp(pi->rule, "conv1x1-runtime-weights")) {
            /* An optional faster form: on means the planner may use it (its probe passed). */
            snprintf(s->value, sizeof s->value, "%s", !ran ? "unknown" : trig_fail ? "off" : "on");
        } else if (!strcmp(pi->rule, "dialect-ios16")) {
            /* on: the chip needs ios16 (ios18 failed, ios16 ran). */
            snprintf(s->value, sizeof s->value, "%s", !trig_fail ? "off" : !ctrl_fail ? "on" : "unknown");
        } else {
            snprintf(s->value, sizeof s->value, "%s", !ran || ctrl_fail ? "unknown" : trig_fail ? "on" : "off");
        }
        if (!s->evidence[0]) snprintf(s->evidence, sizeof s->evidence, "all %d probe(s) passed", ran);
    }
    return count;
}
