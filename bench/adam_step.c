/* The CPU Adam update (--update cpu) of mlp:784-128-10 (101,770 parameters), once per Adam path
 * this CPU runs (anet_adam_paths: the baseline, the compiler-vectorised AVX2 and AVX-512 loops
 * with two divisions per weight, AVX2+FMA with sqrt(v)/sqrt(1-beta2^t) as the exact FMA kernel
 * of div_exact.h), each in the trainer's former block passes (per block of 1024: fp16 gradient
 * -> fp32, unscale, Adam, fp16 copy of the weights), and the trainer's own
 * anet_optim_cpu_apply_f16 (on AVX2+FMA one loop with the conversions inside); interleaved, each
 * on its own copy of the state. Prints the best microseconds per update of each, against the
 * widest path that divides (the one the trainer used before the kernel), and checks that all
 * left the same bits. Not a test: a benchmark; one thread, no BLAS. The state (1.6 MB) stays in
 * L2 here; in the trainer the GEMMs evict it, and each update takes about twice as long.
 * Usage: adam_step [--reps 300] [--steps 100]   (--steps: Adam's t for the bias corrections) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fp16.h"
#include "train/optim_cpu.h"

enum { NT = 4, BLOCK = 1024, MAXP = 6, TURN = 4 };
static const size_t sizes[NT] = {784 * 128, 128, 128 * 10, 10};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A deterministic normal-ish value (sum of uniforms). */
static float noise(uint64_t *s) {
    double x = 0;
    for (int i = 0; i < 4; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        x += (double)(*s >> 11) / 9007199254740992.0 - 0.5;
    }
    return (float)x;
}

typedef struct state {
    float *w[NT], *m[NT], *v[NT];
    anet_f16 *w16[NT];
} state;

/* One update with path f, as anet_optim_cpu_apply_f16 does it. */
static void update(anet_adam_fn f, const anet_upd_consts *c, state *s, anet_f16 *const *grad, float inv_scale) {
    float g[BLOCK];
    for (int i = 0; i < NT; i++)
        for (size_t k0 = 0; k0 < sizes[i]; k0 += BLOCK) {
            size_t n = sizes[i] - k0 < BLOCK ? sizes[i] - k0 : BLOCK;
            anet_f16_to_f32_n(grad[i] + k0, g, n);
            for (size_t k = 0; k < n; k++) g[k] *= inv_scale;
            f(c, s->w[i] + k0, s->m[i] + k0, s->v[i] + k0, g, n);
            anet_f32_to_f16_n(s->w[i] + k0, s->w16[i] + k0, n);
        }
}

int main(int argc, char **argv) {
    int reps = 300, steps = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: adam_step [--reps N] [--steps T]\n"); return 2; }
    }
    if (reps < 1 || steps < 1) { fprintf(stderr, "usage: adam_step [--reps N] [--steps T]\n"); return 2; }
    anet_adam_fn f[MAXP];
    const char *nm[MAXP];
    const int np = anet_adam_paths(f, nm, MAXP);
    /* Gradients as a loss-scaled fp16 backward gives them: mostly small, some exact zeros (input
     * pixels that are 0 in the whole batch), a few large. */
    const float scale = 32768.0f, inv_scale = 1.0f / scale;
    anet_f16 *grad[NT];
    state st[MAXP];
    uint64_t seed = 17;
    size_t total = 0;
    for (int i = 0; i < NT; i++) {
        total += sizes[i];
        grad[i] = malloc(sizes[i] * sizeof *grad[i]);
        for (size_t k = 0; k < sizes[i]; k++) {
            float x = noise(&seed) * 1e-3f * (k % 97 == 0 ? 100.0f : 1.0f);
            grad[i][k] = anet_f32_to_f16((k * 7) % 13 == 0 ? 0.0f : x * scale);
        }
        for (int p = 0; p < np; p++) {
            st[p].w[i] = malloc(sizes[i] * sizeof(float));
            st[p].m[i] = malloc(sizes[i] * sizeof(float));
            st[p].v[i] = malloc(sizes[i] * sizeof(float));
            st[p].w16[i] = malloc(sizes[i] * sizeof(anet_f16));
            if (!grad[i] || !st[p].w[i] || !st[p].m[i] || !st[p].v[i] || !st[p].w16[i]) { fprintf(stderr, "adam_step: out of memory\n"); return 1; }
        }
        for (size_t k = 0; k < sizes[i]; k++) {
            float w0 = noise(&seed) * 0.1f, g0 = (float)anet_f16_to_f32(grad[i][k]) * inv_scale;
            for (int p = 0; p < np; p++) {
                st[p].w[i][k] = w0;
                st[p].m[i][k] = g0 * 0.5f; /* moments of a run under way */
                st[p].v[i][k] = g0 * g0 * 0.05f;
            }
        }
    }
    /* Adam's constants at step t (as anet_optim_cpu computes them), lr 1e-3, default betas. */
    const double bc1 = 1.0 - pow((double)0.9f, steps), bc2 = 1.0 - pow((double)0.999f, steps);
    anet_upd_consts c = {0};
    c.lr = 1e-3f;
    c.b1 = 0.9f;
    c.b2 = 0.999f;
    c.c1 = 1.0f - c.b1;
    c.c2 = 1.0f - c.b2;
    c.eps = 1e-8f;
    c.step_size = (float)((double)c.lr / bc1);
    c.bc2_sqrt = (float)sqrt(bc2);
    c.decay = 1.0f;
    /* And the trainer's own anet_optim_cpu_apply_f16 (its choice of path, and where the CPU has
     * it, the conversions in the update's loop), from the same state, at the same t. */
    anet_opt_config cfg;
    anet_opt_config_default(ANET_OPT_ADAM, &cfg);
    anet_optim_cpu o;
    if (anet_optim_cpu_init(&o, &cfg, NT, sizes) != ANET_OK) { fprintf(stderr, "adam_step: out of memory\n"); return 1; }
    for (int i = 0; i < NT; i++) {
        memcpy(o.w[i], st[0].w[i], sizes[i] * sizeof(float));
        memcpy(o.m[i], st[0].m[i], sizes[i] * sizeof(float));
        memcpy(o.v[i], st[0].v[i], sizes[i] * sizeof(float));
    }
    double best[MAXP + 1];
    for (int p = 0; p <= np; p++) best[p] = 1e30;
    /* Interleaved in turns of a few updates per path: the first of a turn brings the path's state
     * back into L2, the best of the others is the update's own cost. */
    for (int r = 0; r < reps; r++) {
        for (int p = 0; p < np; p++)
            for (int j = 0; j < TURN; j++) {
                double t0 = now();
                update(f[p], &c, &st[p], grad, inv_scale);
                double dt = now() - t0;
                if (dt < best[p]) best[p] = dt;
            }
        for (int j = 0; j < TURN; j++) {
            o.t = steps - 1; /* every update at t = steps, as the paths' constants */
            double t0 = now();
            anet_optim_cpu_begin(&o, cfg.lr);
            for (int i = 0; i < NT; i++) anet_optim_cpu_apply_f16(&o, i, grad[i], inv_scale);
            double dt = now() - t0;
            if (dt < best[np]) best[np] = dt;
        }
    }
    int same = 1;
    for (int i = 0; i < NT; i++)
        if (memcmp(o.w[i], st[0].w[i], sizes[i] * sizeof(float)) || memcmp(o.m[i], st[0].m[i], sizes[i] * sizeof(float)) ||
            memcmp(o.v[i], st[0].v[i], sizes[i] * sizeof(float)) || memcmp(o.w16[i], st[0].w16[i], sizes[i] * sizeof(anet_f16)))
            same = 0;
    for (int p = 1; p < np; p++)
        for (int i = 0; i < NT; i++)
            if (memcmp(st[p].w[i], st[0].w[i], sizes[i] * sizeof(float)) || memcmp(st[p].m[i], st[0].m[i], sizes[i] * sizeof(float)) ||
                memcmp(st[p].v[i], st[0].v[i], sizes[i] * sizeof(float)) || memcmp(st[p].w16[i], st[0].w16[i], sizes[i] * sizeof(anet_f16)))
                same = 0;
    /* The reference: the widest path that divides (the one before the FMA kernels). */
    int ref = np - 1;
    for (int p = 0; p < np; p++)
        if (!strstr(nm[p], "fma")) ref = p;
    printf("adam update, %zu parameters, t=%d, best of %d updates (one pass as the trainer runs it; one thread, no BLAS):\n", total, steps, reps * TURN);
    for (int p = 0; p < np; p++)
        printf("  %-10s %8.1f us  %.3fx vs %s\n", nm[p], best[p] * 1e6, best[ref] / best[p], nm[ref]);
    printf("  %-10s %8.1f us  %.3fx vs %s  (anet_optim_cpu_apply_f16: the %s path", "trainer", best[np] * 1e6,
           best[ref] / best[np], nm[ref], nm[np - 1]);
    printf("%s)\n", strcmp(nm[np - 1], "avx2fma") ? "" : ", fp16 conversions in its loop");
    printf("bits: %s after %d updates per path\n", same ? "identical on every path" : "PATHS DIFFER", reps * TURN);
    anet_optim_cpu_free(&o);
    for (int i = 0; i < NT; i++) {
        free(grad[i]);
        for (int p = 0; p < np; p++) { free(st[p].w[i]); free(st[p].m[i]); free(st[p].v[i]); free(st[p].w16[i]); }
    }
    return same ? 0 : 1;
}
