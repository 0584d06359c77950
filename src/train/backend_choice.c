/* The trainer's backend: --backend (auto's pick included) and auto's switch to vane when its backend fails. */
#include "train/trainer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/ane_probe_report.h"
#include "runtime/backend_auto.h"

anet_status anet_backend_choose(const char *requested, const anet_backend_config *cfg,
                                anet_backend *out, char *why, size_t why_len) {
    if (!requested || strcmp(requested, "auto") == 0) {
        /* The probe + self-check selection (ANE_TRAINER_AUTO_CANDIDATE=ane-sim lets it try the
         * simulator, so auto's fallbacks can be exercised without an ANE). */
        char chosen[16], reason[700];
        anet_status st = anet_ane_select_auto("ane", cfg, out, chosen, sizeof chosen, reason, sizeof reason);
        if (st != ANET_OK) return st;
        snprintf(why, why_len, "auto: %s", reason);
        return ANET_OK;
    }
    anet_status st = anet_backend_open(requested, cfg, out);
    if (st != ANET_OK) return st;
    snprintf(why, why_len, "requested with --backend %s", requested);
    return ANET_OK;
}

/* The "fallback" metrics line: the counters at the switch, no per-epoch figures (null). */
void anet_tr_fallback_record(anet_trainer *t, anet_metrics_record *r) {
    anet_tr_fill_record(t, r, "fallback", t->epochs_done + 1);
    r->train_loss = r->epoch_seconds = r->samples_per_s = NAN;
    r->dispatches_per_step = r->bytes_per_step = r->host_us_per_step = r->state_bytes_per_step =
        r->batch_bytes_per_step = NAN;
}

/* Records that auto ended on vane: one warning line on stderr (also with --quiet: it is not
 * progress) and a "fallback" metrics line (written later by create when metrics are not open
 * yet); every later metrics line carries the reason too. */
static anet_status note_fallback(anet_trainer *t, const char *why) {
    snprintf(t->fallback, sizeof t->fallback, "%.1000s", why);
    snprintf(t->backend_why, sizeof t->backend_why, "auto: continuing on vane: %.1000s", why);
    fprintf(stderr, "ane_trainer: warning: %s; continuing on vane\n", why);
    anet_metrics_record r;
    anet_tr_fallback_record(t, &r);
    return anet_metrics_write(&t->metrics, &r);
}

int anet_auto_candidate_expected_on(int apple_arm64, const char *candidate_env) {
    return apple_arm64 || (candidate_env && strcmp(candidate_env, "ane-sim") == 0);
}

/* Under auto, vane is the expected outcome where no Neural Engine can exist (Linux, Intel
 * Macs); a candidate that should run here (Apple silicon macOS, or the simulator named by
 * ANE_TRAINER_AUTO_CANDIDATE) and did not is a fallback like one in the middle of a run. */
static int auto_candidate_expected(void) {
#if defined(__APPLE__) && (defined(__aarch64__) || defined(__arm64__))
    int apple_arm64 = 1;
#else
    int apple_arm64 = 0;
#endif
    return anet_auto_candidate_expected_on(apple_arm64, getenv("ANE_TRAINER_AUTO_CANDIDATE"));
}

/* Opens the backend for --backend `requested` and notes whether auto picked it. */
anet_status anet_tr_open_backend(anet_trainer *t, const char *requested) {
    /* vane runs the plain form unless the device form is asked for (train/step_forms.c): not a
     * chip's program, so not checked against its profile; a device backend ignores host_form. */
    anet_backend_config bc = {t->o.chip, t->o.numerics, !t->o.device_form};
    anet_forms_default(t->o.chip, &t->forms);
    anet_status st = anet_forms_env(&t->forms);
    if (st != ANET_OK) return st;
    st = anet_backend_choose(requested, &bc, &t->backend, t->backend_why, sizeof t->backend_why);
    if (st != ANET_OK) return st;
    t->backend_open = 1;
    t->forms.host_backend = strcmp(t->backend.ops->name, "vane") == 0 && !t->o.device_form;
    t->auto_pick = !requested || strcmp(requested, "auto") == 0;
    if (t->auto_pick && strcmp(t->backend.ops->name, "vane") != 0) {
        /* What `ane_trainer selftest` measured on this chip and OS decides the program forms. */
        char note[1400];
        if ((st = anet_probe_report_apply_auto(t->backend.ops->name, t->o.chip, &t->forms, note, sizeof note)))
            return st;
        size_t n = strlen(t->backend_why);
        if (note[0]) snprintf(t->backend_why + n, sizeof t->backend_why - n, "; %s", note);
    }
    if (t->auto_pick && strcmp(t->backend.ops->name, "vane") == 0 && auto_candidate_expected()) {
        const char *w = t->backend_why, *pfx = "auto: vane: ";
        if (strncmp(w, pfx, strlen(pfx)) == 0) w += strlen(pfx);
        char why[900];
        snprintf(why, sizeof why, "%.890s", w);
        return note_fallback(t, why);
    }
    return ANET_OK;
}

/* The backend's counters plus those of a backend left behind by a fallback. */
void anet_tr_backend_stats(const anet_trainer *t, anet_backend_stats *out) {
    memset(out, 0, sizeof *out);
    if (t->backend_open && t->backend.ops->stats) t->backend.ops->stats(t->backend.state, out);
    out->compiles += t->stats_base.compiles;
    out->dispatches += t->stats_base.dispatches;
    out->bytes_in += t->stats_base.bytes_in;
    out->bytes_out += t->stats_base.bytes_out;
}

int anet_tr_can_fall_back(const anet_trainer *t) {
    return t->auto_pick && t->backend_open && strcmp(t->backend.ops->name, "vane") != 0;
}

/* auto's backend failed `where` (compile, load or eval; its message is the current error):
 * continue on vane with the same chip and numerics, the built programs compiled there once.
 * Nothing of the training state lives in the failed backend: the fp32 master weights
 * (update=cpu) and update=ane's ping-pong buffers are host memory, and a failed run writes
 * only outputs, so the caller retries the failed call with identical inputs. */
anet_status anet_tr_fall_back(anet_trainer *t, const char *where) {
    char msg[700], why[900];
    snprintf(msg, sizeof msg, "%s", anet_last_error());
    const char *from = t->backend.ops->name;
    anet_backend_config bc = {t->o.chip, t->o.numerics, 0};
    anet_backend v;
    anet_status st = anet_backend_open("vane", &bc, &v);
    if (st != ANET_OK) {
        char verr[300];
        snprintf(verr, sizeof verr, "%s", anet_last_error());
        return anet_fail(st, "%s failed %s (%s), and vane did not open to continue on: %s", from, where, msg, verr);
    }
    snprintf(why, sizeof why, "%s failed %s (%s)", from, where, msg);
    /* update=ane's state in the failed backend's surfaces: its inputs still hold the state
     * before the failed step (a run writes only the other set). */
    if ((st = anet_tr_state_pull(t)) != ANET_OK) {
        char perr[300];
        snprintf(perr, sizeof perr, "%s", anet_last_error());
        anet_backend_close(&v);
        return anet_fail(st, "%s, and its training state could not be read back to continue on vane: %s", why, perr);
    }
    anet_step_resident_free(&t->res);
    t->state_host_ok = 1;
    anet_backend_stats old;
    anet_tr_backend_stats(t, &old);
    prog_rt *ps[2] = {&t->train, &t->eval};
    for (int k = 0; k < 2; k++)
        if (ps[k]->exe) {
            t->backend.ops->release(t->backend.state, ps[k]->exe);
            ps[k]->exe = NULL;
        }
    anet_backend_close(&t->backend);
    t->backend = v;
    t->stats_base = old;
    /* Only programs that were built and prepared (anet_eval_checkpoint builds no train program;
     * a fallback while lowering leaves the rest to the caller). */
    for (int k = 0; k < 2; k++)
        if (ps[k]->sp.graph && ps[k]->in && (st = anet_tr_prog_compile(t, ps[k])) != ANET_OK)
            return anet_fail_ctx(st, "continuing on vane after %s", why);
    return note_fallback(t, why);
}
