/* One training step program on vane: the fused, liveness-packed plan against op-by-op execution
 * in one buffer per value (the plan before fusion), and on CPUs with AVX512-FP16 the fused plan
 * with its chains kept in fp32 arithmetic (ANET_VANE_NO_H16), interleaved in one process; prints
 * the best microseconds per eval of each, the ratios and each plan's arena. Not a test: a
 * benchmark.
 * Usage: vane_step [--model 784-128-10] [--batch 128] [--update cpu|ane] [--evals 200]
 *                  [--plan plain|fused|fp32]   (time one plan only, for a profiler)
 *                  [--form m4|none]       (the chip's program form, as the trainer runs it; default m4) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/fp16.h"
#include "runtime/backend.h"
#include "runtime/vane/plan.h"
#include "runtime/vane/vane.h"
#include "plan/forms.h"
#include "train/model.h"
#include "train/step.h"
#include "train/step_forms.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *model = "784-128-10", *update = "ane", *form = "m4";
    int batch = 128, evals = 200, only = -1; /* --plan plain|fused|fp32: time one plan only (for profiling) */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--update")) update = argv[i + 1];
        else if (!strcmp(argv[i], "--evals")) evals = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--plan")) only = !strcmp(argv[i + 1], "fused") ? 1 : !strcmp(argv[i + 1], "fp32") ? 2 : 0;
        else if (!strcmp(argv[i], "--form")) form = argv[i + 1];
        else { fprintf(stderr, "usage: vane_step [--model A-..-Z] [--batch B] [--update cpu|ane] [--evals N] [--plan plain|fused|fp32] [--form m4|none]\n"); return 2; }
    }
    char spec[128];
    snprintf(spec, sizeof spec, "mlp:%s", model);
    anet_step_config cfg;
    memset(&cfg, 0, sizeof cfg);
    anet_step_program sp;
    anet_backend be;
    anet_backend_config bc = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    if (anet_model_parse(spec, &cfg.model) != ANET_OK || batch < 1 || evals < 1) {
        fprintf(stderr, "vane_step: %s\n", anet_last_error());
        return 2;
    }
    cfg.batch = batch;
    cfg.opt = (anet_opt_config){ANET_OPT_ADAM, 1e-3f, 0.0f, 0.9f, 0.999f, 1e-8f, 0.0f};
    cfg.update = strcmp(update, "ane") == 0 ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
    /* The trainer's program: padded to the chip's form, then lowered (its I/O as device tensors). */
    int lower = strcmp(form, "none") != 0;
    anet_forms forms;
    anet_step_forms sf;
    anet_model_spec user = cfg.model;
    memset(&sf, 0, sizeof sf);
    if (lower) {
        anet_forms_default(ANET_CHIP_M4, &forms);
        anet_step_forms_config(&forms, &cfg);
    }
    if (anet_step_build_train(&cfg, &sp) != ANET_OK || (lower && anet_step_forms_lower(&sf, &sp, &forms, &user, batch) != ANET_OK) ||
        anet_backend_open("vane", &bc, &be) != ANET_OK) {
        fprintf(stderr, "vane_step: %s\n", anet_last_error());
        return 1;
    }
    const unsigned flags[3] = {ANET_VANE_NO_FUSE | ANET_VANE_NO_REUSE, 0, ANET_VANE_NO_H16};
    anet_program *p[3];
    int nplans = anet_vane_h16_cpu() ? 3 : 2; /* without the set, the fp32 chains are the fused plan */
    if (only == 2 && nplans < 3) {
        printf("(no native fp16 arithmetic on this CPU: the fused plan's chains are fp32; timing it)\n");
        only = 1;
    }
    for (int k = 0; k < nplans; k++)
        if (anet_vane_compile_graph_opts(be.state, sp.graph, flags[k], &p[k]) != ANET_OK) {
            fprintf(stderr, "vane_step: %s\n", anet_last_error());
            return 1;
        }
    /* Inputs: small fp16 values (a plausible step; the timing does not depend on them). */
    anet_io in[256], out[256];
    if (p[0]->nin > 256 || p[0]->nout > 256) return 1;
    for (int i = 0; i < p[0]->nin; i++) {
        size_t n = p[0]->in[i].nbytes;
        in[i] = (anet_io){malloc(n), n};
        anet_f16 *h = in[i].data;
        for (size_t j = 0; j < n / 2; j++) h[j] = anet_f32_to_f16((float)((j * 37) % 101) / 1000.0f);
    }
    for (int i = 0; i < p[0]->nout; i++) out[i] = (anet_io){malloc(p[0]->out[i].nbytes), p[0]->out[i].nbytes};
    double best[3] = {1e30, 1e30, 1e30};
    for (int r = 0; r < evals; r++)
        for (int k = 0; k < nplans; k++) {
            if (only >= 0 && k != only) continue;
            double t0 = now();
            if (be.ops->eval(be.state, p[k], in, p[k]->nin, out, p[k]->nout) != ANET_OK) {
                fprintf(stderr, "vane_step: %s\n", anet_last_error());
                return 1;
            }
            double t = now() - t0;
            if (t < best[k]) best[k] = t;
        }
    int fused = 0;
    for (int u = 0; u < p[1]->nunits; u++) fused += p[1]->units[u].fused && p[1]->units[u].count > 1;
    printf("vane train step mlp:%s batch %d update=%s form %s (%d steps; fused: %d units, %d chains), kernels %s\n", model,
           batch, update, form, p[0]->nsteps, p[1]->nunits, fused, p[1]->k->name);
    /* With --plan, only that plan was timed: print it alone, no ratios. */
    if (only < 0 || only == 0)
        printf("  op-by-op, one buffer per value: %8.1f us/eval   arena %7.1f MiB\n", best[0] * 1e6,
               (double)p[0]->arena_floats * 4 / 1048576.0);
    if (only < 0 || only == 1)
        printf("  fused, buffers reused:          %8.1f us/eval   arena %7.1f MiB\n", best[1] * 1e6,
               (double)p[1]->arena_floats * 4 / 1048576.0);
    if (nplans == 3 && (only < 0 || only == 2))
        printf("  fused, chains in fp32 arithmetic: %7.1f us/eval%s", best[2] * 1e6, only < 0 ? "" : "\n");
    if (nplans == 3 && only < 0) printf(" (native fp16 chains %.2fx faster)\n", best[2] / best[1]);
    if (only < 0)
        printf("  speedup %.2fx, arena %.2fx smaller\n", best[0] / best[1],
               (double)p[0]->arena_floats / (double)p[1]->arena_floats);
    for (int i = 0; i < p[0]->nin; i++) free(in[i].data);
    for (int i = 0; i < p[0]->nout; i++) free(out[i].data);
    for (int k = 0; k < nplans; k++) be.ops->release(be.state, p[k]);
    anet_backend_close(&be);
    anet_step_forms_free(&sf);
    anet_step_program_free(&sp);
    return 0;
}
