/* CPU optimizers against float64 formulas written here (torch.optim semantics), the lr
 * schedules against their closed forms, and the dynamic loss scaler's rules. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "core/fp16.h"
#include "train/loss_scale.h"
#include "train/optim_cpu.h"
#include "train/schedule.h"

#define NP 3
static const size_t sizes[NP] = {5, 7, 1};

/* A test-local generator so the oracle depends on nothing in the library. */
static double lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

typedef struct ref {
    double w[NP][8], m[NP][8], v[NP][8];
} ref;

static void ref_step(ref *r, const anet_opt_config *c, int t, double lr, double g[NP][8]) {
    for (int i = 0; i < NP; i++)
        for (size_t k = 0; k < sizes[i]; k++) {
            double d = g[i][k], w = r->w[i][k];
            if (c->kind == ANET_OPT_SGD) {
                d += (double)c->weight_decay * w;
                if (c->momentum != 0) {
                    r->m[i][k] = t == 1 ? d : (double)c->momentum * r->m[i][k] + d;
                    d = r->m[i][k];
                }
                r->w[i][k] = w - lr * d;
            } else {
                if (c->kind == ANET_OPT_ADAMW) w *= 1.0 - lr * (double)c->weight_decay;
                else d += (double)c->weight_decay * w;
                double b1 = c->beta1, b2 = c->beta2;
                r->m[i][k] = b1 * r->m[i][k] + (1 - b1) * d;
                r->v[i][k] = b2 * r->v[i][k] + (1 - b2) * d * d;
                double mh = r->m[i][k] / (1 - pow(b1, t)), vh = r->v[i][k] / (1 - pow(b2, t));
                r->w[i][k] = w - lr * mh / (sqrt(vh) + (double)c->eps);
            }
        }
}

/* Runs `steps` updates of the optimizer and the reference; returns the worst relative error of
 * the weights. use_f16: feed loss-scaled fp16 gradients through anet_optim_cpu_step_f16. */
static double run(const anet_opt_config *cfg, int steps, int use_f16) {
    anet_optim_cpu o;
    if (anet_optim_cpu_init(&o, cfg, NP, sizes) != ANET_OK) return 1e9;
    ref r = {0};
    uint64_t s = 42;
    for (int i = 0; i < NP; i++)
        for (size_t k = 0; k < sizes[i]; k++) o.w[i][k] = (float)(r.w[i][k] = lcg(&s));
    double worst = 0;
    const float scale = 1024.0f;
    for (int t = 1; t <= steps; t++) {
        double g[NP][8];
        float gf[NP][8];
        anet_f16 gh[NP][8];
        const float *gp[NP];
        const anet_f16 *ghp[NP];
        for (int i = 0; i < NP; i++) {
            for (size_t k = 0; k < sizes[i]; k++) {
                g[i][k] = lcg(&s) * (t % 3 == 0 ? 0.001 : 0.5);
                gf[i][k] = (float)g[i][k];
                gh[i][k] = anet_f32_to_f16((float)(g[i][k] * scale));
                /* the reference sees exactly what the optimizer can see */
                g[i][k] = use_f16 ? (double)anet_f16_to_f32(gh[i][k]) / scale : (double)gf[i][k];
            }
            gp[i] = gf[i];
            ghp[i] = gh[i];
        }
        double lr = cfg->lr * (1.0 + 0.1 * t); /* a varying lr, as a schedule gives */
        if (use_f16) anet_optim_cpu_step_f16(&o, (float)lr, ghp, 1.0f / scale);
        else anet_optim_cpu_step(&o, (float)lr, gp);
        ref_step(&r, cfg, t, (double)(float)lr, g);
        for (int i = 0; i < NP; i++)
            for (size_t k = 0; k < sizes[i]; k++) {
                double e = fabs(o.w[i][k] - r.w[i][k]) / fmax(1.0, fabs(r.w[i][k]));
                if (e > worst) worst = e;
            }
    }
    CHECK_EQ_INT(o.t, steps);
    anet_optim_cpu_free(&o);
    return worst;
}

static void test_optimizers(void) {
    anet_opt_config c;
    anet_opt_config_default(ANET_OPT_SGD, &c);
    c.lr = 0.05f;
    c.momentum = 0.9f;
    c.weight_decay = 0.01f;
    double e = run(&c, 30, 0);
    CHECK_MSG(e < 2e-6, "sgd momentum rel err %g", e);
    c.momentum = 0;
    c.weight_decay = 0;
    e = run(&c, 30, 0);
    CHECK_MSG(e < 2e-6, "plain sgd rel err %g", e);

    anet_opt_config_default(ANET_OPT_ADAM, &c);
    CHECK(c.lr == 1e-3f);
    CHECK_NEAR(c.beta2, 0.999, 1e-7);
    e = run(&c, 40, 0);
    CHECK_MSG(e < 2e-6, "adam rel err %g", e);
    c.weight_decay = 0.05f;
    c.lr = 0.01f;
    e = run(&c, 40, 0);
    CHECK_MSG(e < 2e-6, "adam L2 rel err %g", e);
    e = run(&c, 40, 1);
    CHECK_MSG(e < 2e-6, "adam fp16 grads rel err %g", e);

    anet_opt_config_default(ANET_OPT_ADAMW, &c);
    CHECK_NEAR(c.weight_decay, 0.01, 1e-9);
    c.weight_decay = 0.1f;
    c.lr = 0.01f;
    e = run(&c, 40, 0);
    CHECK_MSG(e < 2e-6, "adamw rel err %g", e);

    /* AdamW and Adam with the same decay must differ (decoupled vs L2): guards the branch. */
    anet_opt_config a, w;
    anet_opt_config_default(ANET_OPT_ADAM, &a);
    a.weight_decay = 0.1f;
    a.lr = 0.01f;
    w = a;
    w.kind = ANET_OPT_ADAMW;
    anet_optim_cpu oa, ow;
    CHECK(anet_optim_cpu_init(&oa, &a, NP, sizes) == ANET_OK);
    CHECK(anet_optim_cpu_init(&ow, &w, NP, sizes) == ANET_OK);
    float g0[8] = {0}, g1[8] = {0}, g2[1] = {0};
    const float *gp[NP] = {g0, g1, g2};
    for (int i = 0; i < NP; i++)
        for (size_t k = 0; k < sizes[i]; k++) oa.w[i][k] = ow.w[i][k] = 1.0f;
    anet_optim_cpu_step(&oa, 0.01f, gp);
    anet_optim_cpu_step(&ow, 0.01f, gp);
    /* zero gradient: AdamW only decays, w = 1 - lr*wd; Adam's L2 gradient moves w by ~lr */
    CHECK_NEAR(ow.w[0][0], 1.0 - 0.01 * 0.1, 1e-7);
    CHECK_NEAR(oa.w[0][0], 1.0 - 0.01, 1e-5);
    /* fp16 copies are the nearest fp16 values */
    oa.w[1][3] = 0.1f;
    anet_optim_cpu_sync_f16(&oa);
    float back = anet_f16_to_f32(oa.w16[1][3]);
    CHECK(fabs(back - 0.1) <= 0.5 * 0x1p-14 + 1e-12);
    anet_optim_cpu_free(&oa);
    anet_optim_cpu_free(&ow);

    /* The vectorised and the scalar tail of the update give identical bits: elements 0 (vector
     * lanes) and 4 (scalar tail) of a 5-element tensor see the same inputs every step. */
    {
        static const size_t five[1] = {5};
        anet_opt_kind kinds[3] = {ANET_OPT_ADAM, ANET_OPT_ADAMW, ANET_OPT_SGD};
        for (int q = 0; q < 3; q++) {
            anet_opt_config c5;
            anet_opt_config_default(kinds[q], &c5);
            c5.weight_decay = 0.01f;
            anet_optim_cpu o5;
            CHECK(anet_optim_cpu_init(&o5, &c5, 1, five) == ANET_OK);
            uint64_t s5 = 9;
            for (int k = 0; k < 5; k++) o5.w[0][k] = (float)lcg(&s5);
            o5.w[0][4] = o5.w[0][0];
            int same = 1;
            for (int t = 0; t < 50; t++) {
                float g5[5];
                for (int k = 0; k < 5; k++) g5[k] = (float)(lcg(&s5) * 1e-3);
                g5[4] = g5[0];
                const float *gp5[1] = {g5};
                anet_optim_cpu_step(&o5, 1e-3f, gp5);
                if (memcmp(&o5.w[0][0], &o5.w[0][4], sizeof(float)) || memcmp(&o5.m[0][0], &o5.m[0][4], sizeof(float)))
                    same = 0;
            }
            CHECK_MSG(same, "vector and scalar paths differ for %s", anet_opt_kind_name(kinds[q]));
            anet_optim_cpu_free(&o5);
        }
    }

    /* bad hyper-parameters are refused */
    anet_optim_cpu bad;
    anet_opt_config_default(ANET_OPT_ADAM, &c);
    c.beta1 = 1.0f;
    CHECK(anet_optim_cpu_init(&bad, &c, NP, sizes) == ANET_E_INVALID);
    anet_opt_config_default(ANET_OPT_SGD, &c);
    c.lr = -1;
    CHECK(anet_optim_cpu_init(&bad, &c, NP, sizes) == ANET_E_INVALID);
    /* infinite values pass a ">= 0" test: each is refused too */
    for (int f = 0; f < 3; f++) {
        anet_opt_config_default(ANET_OPT_ADAM, &c);
        float *fp = f == 0 ? &c.lr : f == 1 ? &c.eps : &c.weight_decay;
        *fp = INFINITY;
        CHECK_MSG(anet_optim_cpu_init(&bad, &c, NP, sizes) == ANET_E_INVALID, "field %d = inf accepted", f);
    }
    anet_opt_kind k;
    CHECK(anet_opt_kind_lookup("adamw", &k) == 0 && k == ANET_OPT_ADAMW);
    CHECK(anet_opt_kind_lookup("rmsprop", &k) != 0);
}

static void test_schedules(void) {
    const double pi = 3.14159265358979323846;
    anet_schedule s = {ANET_SCHED_CONSTANT, 0.01, 100, 10};
    CHECK_NEAR(anet_schedule_lr(&s, 0), 0.01, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 99), 0.01, 1e-15);
    s.kind = ANET_SCHED_COSINE;
    CHECK_NEAR(anet_schedule_lr(&s, 0), 0.01, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 50), 0.005, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 100), 0.0, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 500), 0.0, 1e-15);
    for (int t = 0; t <= 100; t += 7)
        CHECK_NEAR(anet_schedule_lr(&s, t), 0.01 * 0.5 * (1 + cos(pi * t / 100.0)), 1e-15);
    s.kind = ANET_SCHED_WARMUP;
    CHECK_NEAR(anet_schedule_lr(&s, 0), 0.001, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 4), 0.005, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 9), 0.01, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 60), 0.01, 1e-15);
    s.kind = ANET_SCHED_WARMUP_COSINE;
    CHECK_NEAR(anet_schedule_lr(&s, 0), 0.001, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 10), 0.01, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 55), 0.005, 1e-15);
    CHECK_NEAR(anet_schedule_lr(&s, 100), 0.0, 1e-15);
    for (int t = 10; t <= 100; t += 9)
        CHECK_NEAR(anet_schedule_lr(&s, t), 0.01 * 0.5 * (1 + cos(pi * (t - 10) / 90.0)), 1e-15);
    anet_sched_kind k;
    CHECK(anet_sched_kind_lookup("warmup-cosine", &k) == 0 && k == ANET_SCHED_WARMUP_COSINE);
    CHECK(anet_sched_kind_lookup("linear", &k) != 0);
}

static void test_loss_scale(void) {
    anet_loss_scaler s;
    anet_loss_scaler_init(&s, 32768.0f, 3);
    CHECK(s.scale == 32768.0f);
    CHECK(anet_loss_scaler_update(&s, 0) == 0);
    CHECK(s.scale == 16384.0f && s.skipped_steps == 1);
    CHECK(anet_loss_scaler_update(&s, 1) == 1);
    CHECK(anet_loss_scaler_update(&s, 1) == 1);
    CHECK(s.scale == 16384.0f);
    CHECK(anet_loss_scaler_update(&s, 1) == 1); /* third clean step in a row: grow */
    CHECK(s.scale == 32768.0f);
    for (int i = 0; i < 10; i++) anet_loss_scaler_update(&s, 1);
    CHECK(s.scale == 32768.0f); /* capped: fp16 holds no larger power of two */
    anet_loss_scaler_update(&s, 1);
    anet_loss_scaler_update(&s, 0); /* a skip resets the run of clean steps */
    anet_loss_scaler_update(&s, 1);
    anet_loss_scaler_update(&s, 1);
    CHECK(s.scale == 16384.0f && s.skipped_steps == 2);
    anet_loss_scaler_init(&s, 0, 0); /* defaults */
    CHECK(s.scale == 32768.0f && s.growth_interval == 1000);
    /* A restored run of clean steps at INT32_MAX (a checkpoint's largest accepted value, issue
     * 16 item 8): the next clean step grows the scale once and starts over, no overflow. */
    anet_loss_scaler_init(&s, 1024.0f, 1000);
    s.clean_steps = 2147483647;
    CHECK(anet_loss_scaler_update(&s, 1) == 1);
    CHECK(s.scale == 2048.0f && s.clean_steps == 0);
    for (int i = 0; i < 1000; i++) anet_loss_scaler_update(&s, 1);
    CHECK(s.scale == 4096.0f);
    anet_loss_scaler_init(&s, 1024.0f, (int64_t)ANET_LOSS_SCALE_MAX_GROWTH + 1); /* out of range: default */
    CHECK(s.growth_interval == 1000);

    anet_f16 ok[3] = {0x3c00, 0x7bff, 0x8001}, inf[2] = {0x3c00, 0x7c00}, nan[2] = {0xfe00, 0};
    CHECK(anet_f16_all_finite(ok, 3));
    CHECK(!anet_f16_all_finite(inf, 2));
    CHECK(!anet_f16_all_finite(nan, 2));
    /* Blocks of 64 and a tail: a non-finite value anywhere is found, finite extremes pass. */
    anet_f16 big[200];
    for (size_t pos = 0; pos < 200; pos += 13) {
        for (size_t k = 0; k < 200; k++) big[k] = (k & 1) ? 0x7bff : 0xfbff; /* +-65504 */
        CHECK(anet_f16_all_finite(big, 200));
        big[pos] = pos & 2 ? 0xfc00 : 0x7c01;
        CHECK(!anet_f16_all_finite(big, 200));
        CHECK(anet_f16_all_finite(big, pos));
    }
}

/* The one-pass update (fp16 gradient -> unscale -> update -> fp16 copy, block by block) gives
 * the bits of the separate passes: convert, unscale, anet_optim_cpu_step, sync. Sizes with
 * several blocks and a tail; sgd (first step and later) and adam/adamw; a few gradients zero,
 * subnormal, infinite or NaN (where the update leaves its fast kernel). On AVX2+FMA CPUs the
 * one pass is a single loop with the fp16 conversions inside (optim_cpu.c adam_f16_one_loop). */
static void test_one_pass(void) {
    const size_t sizes[2] = {2500, 7};
    for (int kind = 0; kind < 3; kind++) {
        anet_opt_config c;
        anet_opt_config_default((anet_opt_kind)kind, &c);
        if (kind == ANET_OPT_ADAM) c.weight_decay = 0.01f;
        anet_optim_cpu a, b;
        CHECK(anet_optim_cpu_init(&a, &c, 2, sizes) == ANET_OK);
        CHECK(anet_optim_cpu_init(&b, &c, 2, sizes) == ANET_OK);
        anet_f16 *g16[2];
        float *g32[2];
        uint32_t s = 12345;
        for (int i = 0; i < 2; i++) {
            g16[i] = malloc(sizes[i] * sizeof *g16[i]);
            g32[i] = malloc(sizes[i] * sizeof *g32[i]);
            for (size_t k = 0; k < sizes[i]; k++) {
                s = s * 1664525u + 1013904223u;
                a.w[i][k] = b.w[i][k] = (float)((int)(s >> 8) % 2000 - 1000) / 1000.0f;
            }
        }
        int bad = 0;
        for (int step = 0; step < 3; step++) {
            const float inv = 1.0f / 1024.0f, lr = 0.01f * (float)(step + 1);
            for (int i = 0; i < 2; i++)
                for (size_t k = 0; k < sizes[i]; k++) {
                    s = s * 1664525u + 1013904223u;
                    g16[i][k] = anet_f32_to_f16((float)((int)(s >> 8) % 20000 - 10000) / 7.0f);
                    /* now and then zero, -0, a subnormal, inf or NaN: the update's special lanes */
                    if (k % 97 == 13) g16[i][k] = (const anet_f16[]){0, 0x8000, 0x0001, 0x83ff, 0x7c00, 0xfe00}[(k / 97 + step) % 6];
                    g32[i][k] = anet_f16_to_f32(g16[i][k]) * inv;
                }
            anet_optim_cpu_step_f16(&a, lr, (const anet_f16 *const *)g16, inv);
            anet_optim_cpu_step(&b, lr, (const float *const *)g32);
            anet_optim_cpu_sync_f16(&b);
            for (int i = 0; i < 2; i++) {
                if (memcmp(a.w[i], b.w[i], sizes[i] * sizeof(float)) != 0) bad++;
                if (memcmp(a.m[i], b.m[i], sizes[i] * sizeof(float)) != 0) bad++;
                if (a.v[i] && memcmp(a.v[i], b.v[i], sizes[i] * sizeof(float)) != 0) bad++;
                if (memcmp(a.w16[i], b.w16[i], sizes[i] * sizeof(anet_f16)) != 0) bad++;
            }
        }
        CHECK_MSG(bad == 0, "%s: one-pass update differs from separate passes in %d arrays", anet_opt_kind_name(c.kind), bad);
        CHECK(a.w[0][0] != 0.0f && a.t == 3);
        for (int i = 0; i < 2; i++) { free(g16[i]); free(g32[i]); }
        anet_optim_cpu_free(&a);
        anet_optim_cpu_free(&b);
    }
}

/* Every Adam path this CPU runs gives the baseline's bits (adam, L2 and decoupled decay), also
 * where a vector path leaves its fast kernel: moments that are zero, -0, subnormal, tiny or huge,
 * an infinite or NaN gradient, eps = 0 with v = 0 (0/0), bias corrections outside the kernel's
 * domain. */
static void test_adam_paths(void) {
    anet_adam_fn f[ANET_ADAM_MAX_PATHS];
    const char *nm[ANET_ADAM_MAX_PATHS];
    int np = anet_adam_paths(f, nm, ANET_ADAM_MAX_PATHS);
    CHECK(np >= 1);
    enum { N = 1037 };
    static float w0[N], m0[N], v0[N], g[N], w[ANET_ADAM_MAX_PATHS][N], m[ANET_ADAM_MAX_PATHS][N], v[ANET_ADAM_MAX_PATHS][N];
    uint32_t s = 777;
    for (int k = 0; k < N; k++) {
        s = s * 1664525u + 1013904223u;
        w0[k] = (float)((int)(s >> 8) % 20001 - 10000) / 3333.0f;
        g[k] = (float)((int)(s >> 4) % 2001 - 1000) / (k % 3 ? 7.0f : 70000.0f);
        m0[k] = g[k] * 0.1f;
        v0[k] = g[k] * g[k] * 0.01f;
    }
    /* One unusual value every 41 elements (away from element 5, checked against the formula
     * below); one NaN source per element, so its payload is the one every path propagates. */
    const float odd_g[] = {0.0f, -0.0f, 0x1p-149f, -0x1p-140f, 1e30f, -1e25f, INFINITY, NAN, 3e-39f, 1e-20f};
    const float odd_m[] = {0.0f, -0.0f, 0x1p-149f, 1e-38f, 1e-30f, 0.0f, 2e-45f, 0.0f, -0.0f, 0x1p-100f};
    const float odd_v[] = {0.0f, 0.0f, 0x1p-149f, 1e-38f, 1e36f, 0x1p-149f, 0.0f, 0.0f, 1e-45f, 0x1p-140f};
    for (int k = 41, j = 0; k < N; k += 41, j = (j + 1) % 10) {
        g[k] = odd_g[j];
        m0[k] = odd_m[j];
        v0[k] = odd_v[j];
        if (k % 3 == 0) g[k] = 0.0f; /* some with a zero gradient: v = 0, and with eps = 0, 0/0 */
    }
    for (int mode = 0; mode < 6; mode++) {
        /* 0 adam, 1 L2, 2 decoupled; 3 eps = 0; 4 and 5 bias corrections below and at the edge of
         * the kernel's domain (2^-17: every path divides; 1: beta2 = 0) */
        anet_upd_consts c = {0, mode == 1, mode == 2, 1e-3f, 0.01f, 0, 0.9f, 0.999f, 0.1f, 0.001f, mode == 3 ? 0.0f : 1e-8f,
                             0.03f, mode == 4 ? 0x1p-17f : mode == 5 ? 1.0f : 0.0447f, 0.99999f};
        for (int p = 0; p < np; p++) {
            memcpy(w[p], w0, sizeof w0);
            memcpy(m[p], m0, sizeof m0);
            memcpy(v[p], v0, sizeof v0);
            f[p](&c, w[p], m[p], v[p], g, N);
            if (p > 0)
                CHECK_MSG(!memcmp(w[p], w[0], sizeof w0) && !memcmp(m[p], m[0], sizeof m0) && !memcmp(v[p], v[0], sizeof v0),
                          "adam path %s differs from %s (mode %d)", nm[p], nm[0], mode);
        }
        if (mode > 2) continue;
        /* and the baseline is Adam: one element by the formula in double, within fp32 rounding */
        double vk = 0.999 * v0[5] + 0.001 * (double)g[5] * g[5], d = g[5];
        double wk = w0[5];
        if (mode == 2) wk *= 0.99999;
        if (mode == 1) { d += 0.01 * w0[5]; vk = 0.999 * v0[5] + 0.001 * d * d; }
        double mk = 0.9 * m0[5] + 0.1 * d;
        double want = wk - 0.03 * mk / (sqrt(vk) / 0.0447 + 1e-8);
        CHECK_NEAR(w[0][5], want, 1e-5 * fabs(want) + 1e-7);
    }
    fprintf(stderr, "adam paths:");
    for (int p = 0; p < np; p++) fprintf(stderr, " %s", nm[p]);
    fputc('\n', stderr);
}

int main(void) {
    test_one_pass();
    test_adam_paths();
    test_optimizers();
    test_schedules();
    test_loss_scale();
    TEST_MAIN_END();
}
