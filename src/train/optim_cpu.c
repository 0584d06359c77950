/* CPU optimizers with torch.optim semantics over fp32 master weights. */
#include "train/optim_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/div_exact.h"


/* Bound on one parameter tensor (the IR's element bound) so sizes from specs stay sane. */
#define MAX_PARAM_ELEMS ((size_t)1 << 31)

void anet_opt_config_default(anet_opt_kind kind, anet_opt_config *out) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->lr = kind == ANET_OPT_SGD ? 0.01f : 1e-3f;
    out->momentum = kind == ANET_OPT_SGD ? 0.9f : 0.0f;
    out->beta1 = 0.9f;
    out->beta2 = 0.999f;
    out->eps = 1e-8f;
    out->weight_decay = kind == ANET_OPT_ADAMW ? 0.01f : 0.0f;
}

const char *anet_opt_kind_name(anet_opt_kind k) {
    switch (k) {
    case ANET_OPT_SGD: return "sgd";
    case ANET_OPT_ADAM: return "adam";
    case ANET_OPT_ADAMW: return "adamw";
    }
    return "?";
}

int anet_opt_kind_lookup(const char *s, anet_opt_kind *out) {
    static const anet_opt_kind kinds[] = {ANET_OPT_SGD, ANET_OPT_ADAM, ANET_OPT_ADAMW};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (s && strcmp(s, anet_opt_kind_name(kinds[i])) == 0) {
            *out = kinds[i];
            return 0;
        }
    return -1;
}

void anet_optim_cpu_free(anet_optim_cpu *o) {
    if (!o) return;
    for (int i = 0; i < o->nparams; i++) {
        if (o->w) free(o->w[i]);
        if (o->m) free(o->m[i]);
        if (o->v) free(o->v[i]);
        if (o->w16) free(o->w16[i]);
    }
    free(o->w);
    free(o->m);
    free(o->v);
    free(o->w16);
    free(o->sizes);
    memset(o, 0, sizeof *o);
}

anet_status anet_optim_cpu_init(anet_optim_cpu *o, const anet_opt_config *cfg, int nparams,
                                const size_t *sizes) {
    memset(o, 0, sizeof *o);
    if (!cfg || nparams <= 0 || nparams > 4096 || !sizes)
        return anet_fail(ANET_E_INVALID, "optimizer: bad parameter list (%d tensors)", nparams);
    /* isfinite too: an infinite lr or eps would only show up later as NaN weights. */
    if (!isfinite(cfg->lr) || !isfinite(cfg->eps) || !isfinite(cfg->weight_decay) || !isfinite(cfg->momentum) ||
        !isfinite(cfg->beta1) || !isfinite(cfg->beta2) || !(cfg->lr >= 0) || !(cfg->eps >= 0) || !(cfg->weight_decay >= 0) ||
        !(cfg->momentum >= 0 && cfg->momentum < 1) || !(cfg->beta1 >= 0 && cfg->beta1 < 1) ||
        !(cfg->beta2 >= 0 && cfg->beta2 < 1))
        return anet_fail(ANET_E_INVALID,
                         "optimizer: hyper-parameters out of range (lr %g, momentum %g, betas %g/%g, "
                         "eps %g, weight decay %g)",
                         cfg->lr, cfg->momentum, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay);
    o->cfg = *cfg;
    o->nparams = nparams;
    o->sizes = calloc((size_t)nparams, sizeof *o->sizes);
    o->w = calloc((size_t)nparams, sizeof *o->w);
    o->m = calloc((size_t)nparams, sizeof *o->m);
    o->v = calloc((size_t)nparams, sizeof *o->v);
    o->w16 = calloc((size_t)nparams, sizeof *o->w16);
    if (!o->sizes || !o->w || !o->m || !o->v || !o->w16) goto nomem;
    for (int i = 0; i < nparams; i++) {
        size_t n = sizes[i];
        if (n == 0 || n > MAX_PARAM_ELEMS) {
            anet_optim_cpu_free(o);
            return anet_fail(ANET_E_NOMEM, "optimizer: parameter %d has %zu scalars", i, n);
        }
        o->sizes[i] = n;
        o->w[i] = calloc(n, sizeof(float));
        o->m[i] = calloc(n, sizeof(float));
        o->w16[i] = calloc(n, sizeof(anet_f16));
        if (!o->w[i] || !o->m[i] || !o->w16[i]) goto nomem;
        if (cfg->kind != ANET_OPT_SGD) {
            o->v[i] = calloc(n, sizeof(float));
            if (!o->v[i]) goto nomem;
        }
    }
    return ANET_OK;
nomem:
    anet_optim_cpu_free(o);
    return anet_fail(ANET_E_NOMEM, "optimizer: out of memory");
}

static anet_upd_consts consts(const anet_opt_config *c, int64_t t, int first, float lr) {
    anet_upd_consts k;
    k.first = first;
    k.lr = lr;
    k.wd = c->weight_decay;
    k.mom = c->momentum;
    k.b1 = c->beta1;
    k.b2 = c->beta2;
    k.c1 = 1.0f - c->beta1;
    k.c2 = 1.0f - c->beta2;
    k.eps = c->eps;
    k.decoupled = c->kind == ANET_OPT_ADAMW;
    k.l2 = !k.decoupled && k.wd != 0.0f;
    /* Bias corrections in double, as torch computes them with Python floats. */
    const double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    const double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    k.step_size = (float)((double)lr / bc1);
    k.bc2_sqrt = (float)sqrt(bc2);
    k.decay = 1.0f - lr * k.wd;
    return k;
}

static void step_sgd(const anet_upd_consts *c, float *w, float *buf, const float *g, size_t n) {
    for (size_t k = 0; k < n; k++) {
        float d = g[k];
        if (c->wd != 0.0f) d += c->wd * w[k];
        if (c->mom != 0.0f) {
            /* torch: the buffer starts as a copy of the first gradient (no dampening). */
            buf[k] = c->first ? d : c->mom * buf[k] + d;
            d = buf[k];
        }
        w[k] -= c->lr * d;
    }
}

/* Adam over one block. The same IEEE operations in the same order per element on every path
 * (this file is built with -ffp-contract=off and -fno-math-errno, so sqrtf is the instruction
 * and the loop vectorises); the wider paths are the same source compiled for AVX2 / AVX-512. */
#define ADAM_LOOP(DECAY, L2)                                                            \
    for (size_t k = 0; k < n; k++) {                                                    \
        float d = g[k], wk = w[k];                                                      \
        if (DECAY) wk *= c->decay;                                                      \
        if (L2) d += c->wd * wk;                                                        \
        float mk = c->b1 * m[k] + c->c1 * d;                                            \
        float vk = c->b2 * v[k] + c->c2 * d * d;                                        \
        float denom = sqrtf(vk) / c->bc2_sqrt + c->eps;                                 \
        m[k] = mk;                                                                      \
        v[k] = vk;                                                                      \
        w[k] = wk - c->step_size * (mk / denom);                                        \
    }
#define ADAM_FN(NAME, ATTR)                                                                          \
    ATTR static void NAME(const anet_upd_consts *c, float *restrict w, float *restrict m, float *restrict v, \
                          const float *restrict g, size_t n) {                                       \
        if (c->decoupled) { ADAM_LOOP(1, 0) }                                                        \
        else if (c->l2) { ADAM_LOOP(0, 1) }                                                          \
        else { ADAM_LOOP(0, 0) }                                                                     \
    }
ADAM_FN(adam_base, )
#if defined(__x86_64__) && defined(__GNUC__)
#define ADAM_X86 1
ADAM_FN(adam_avx2, __attribute__((target("avx2"))))
ADAM_FN(adam_avx512, __attribute__((target("avx512f"))))

/* ADAM_LOOP with sqrt(v) / sqrt(1 - beta2^t) as the exact FMA kernel of div_exact.h: the same
 * IEEE operations in the same order, the same bits (a vector with a lane outside the kernel's
 * domain divides). That takes one of the two divisions off the divider, which the square root
 * and the division by the denominator still share; the FMA ports and the divider then take
 * about equal time. Measured with bench/adam_step: an exact FMA version of the division by the
 * denominator too (rcp14, the quotient bracketed by directed-rounding FMAs, the nearer residual)
 * was slower, ~20 more FMA-port operations with its range checks against one vdivps; and this
 * loop on 256-bit vectors beat the same loop on 512-bit ones by ~5% on an AVX-512 Xeon, as the
 * compiler's avx2 loop beats its avx512 one, so it is the path on AVX-512 CPUs too. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
adam_fma_run(const anet_upd_consts *c, float *restrict w, float *restrict m, float *restrict v, const float *restrict g,
             size_t n, int decay, int l2, const anet_f16 *restrict g16, float inv_scale, anet_f16 *restrict w16) {
    const __m256 b1 = _mm256_set1_ps(c->b1), c1 = _mm256_set1_ps(c->c1), b2 = _mm256_set1_ps(c->b2),
                 c2 = _mm256_set1_ps(c->c2), eps = _mm256_set1_ps(c->eps), step = _mm256_set1_ps(c->step_size),
                 dec = _mm256_set1_ps(c->decay), wd = _mm256_set1_ps(c->wd), bc = _mm256_set1_ps(c->bc2_sqrt),
                 bc_inv = _mm256_set1_ps(1.0f / c->bc2_sqrt), unscale = _mm256_set1_ps(inv_scale);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 d = g16 ? _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(g16 + k))), unscale)
                       : _mm256_loadu_ps(g + k);
        __m256 wk = _mm256_loadu_ps(w + k);
        if (decay) wk = _mm256_mul_ps(wk, dec);
        if (l2) d = _mm256_add_ps(d, _mm256_mul_ps(wd, wk));
        const __m256 mk = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + k)), _mm256_mul_ps(c1, d));
        const __m256 vk = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + k)), _mm256_mul_ps(_mm256_mul_ps(c2, d), d));
        const __m256 s = _mm256_sqrt_ps(vk);
        const __m256 t = __builtin_expect(_mm256_movemask_ps(anet_sqrt_divc_lanes256(s)) == 0xff, 1)
                             ? anet_divc_fast256(s, bc, bc_inv)
                             : _mm256_div_ps(s, bc);
        const __m256 wn = _mm256_sub_ps(wk, _mm256_mul_ps(step, _mm256_div_ps(mk, _mm256_add_ps(t, eps))));
        _mm256_storeu_ps(m + k, mk);
        _mm256_storeu_ps(v + k, vk);
        _mm256_storeu_ps(w + k, wn);
        if (w16) _mm_storeu_si128((__m128i *)(void *)(w16 + k), _mm256_cvtps_ph(wn, _MM_FROUND_TO_NEAREST_INT));
    }
    if (k < n && g16) { /* the tail as anet_optim_cpu_apply_f16's blocks do it */
        float gt[8];
        anet_f16_to_f32_n(g16 + k, gt, n - k);
        for (size_t j = 0; j < n - k; j++) gt[j] *= inv_scale;
        adam_base(c, w + k, m + k, v + k, gt, n - k);
        anet_f32_to_f16_n(w + k, w16 + k, n - k);
    } else if (k < n) {
        adam_base(c, w + k, m + k, v + k, g + k, n - k);
    }
}

/* adam_fma_run for the configuration's weight decay (as ADAM_FN picks its ADAM_LOOP). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void adam_fma_modes(const anet_upd_consts *c, float *restrict w,
                                                                    float *restrict m, float *restrict v,
                                                                    const float *restrict g, size_t n,
                                                                    const anet_f16 *restrict g16, float inv_scale,
                                                                    anet_f16 *restrict w16) {
    if (c->decoupled) adam_fma_run(c, w, m, v, g, n, 1, 0, g16, inv_scale, w16);
    else if (c->l2) adam_fma_run(c, w, m, v, g, n, 0, 1, g16, inv_scale, w16);
    else adam_fma_run(c, w, m, v, g, n, 0, 0, g16, inv_scale, w16);
}

/* The AVX2+FMA path needs F16C too (every such CPU has it), for the one-loop fp16 update. */
static int avx2fma_runs(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !strcmp(anet_f16_path(), "f16c");
}

__attribute__((target("avx2,fma,f16c"))) static void adam_avx2fma(const anet_upd_consts *c, float *restrict w,
                                                                  float *restrict m, float *restrict v,
                                                                  const float *restrict g, size_t n) {
    if (!anet_divc_ok(c->bc2_sqrt)) adam_avx2(c, w, m, v, g, n); /* outside the kernel's domain: divide */
    else adam_fma_modes(c, w, m, v, g, n, NULL, 0, NULL);
}

/* anet_optim_cpu_apply_f16's Adam as one loop: the fp16 gradient converted and unscaled, and the
 * weights' fp16 copy written, in the update's own loop (the same conversions as fp16.c's F16C
 * path, the same bits as its block-by-block passes). 0 where it does not run. */
__attribute__((target("avx2,fma,f16c"))) static int adam_f16_one_loop(const anet_upd_consts *c, float *restrict w,
                                                                      float *restrict m, float *restrict v,
                                                                      const anet_f16 *restrict g16, float inv_scale,
                                                                      anet_f16 *restrict w16, size_t n) {
    if (!avx2fma_runs() || !anet_divc_ok(c->bc2_sqrt)) return 0;
    adam_fma_modes(c, w, m, v, NULL, n, g16, inv_scale, w16);
    return 1;
}
#endif

int anet_adam_paths(anet_adam_fn *out, const char **names, int max) {
    int n = 0;
    if (n < max) { out[n] = adam_base; names[n++] = "base"; }
#ifdef ADAM_X86
    __builtin_cpu_init();
    if (n < max && __builtin_cpu_supports("avx2")) { out[n] = adam_avx2; names[n++] = "avx2"; }
    if (n < max && __builtin_cpu_supports("avx512f")) { out[n] = adam_avx512; names[n++] = "avx512"; }
    if (n < max && avx2fma_runs()) {
        out[n] = adam_avx2fma; /* the fastest where it runs: see adam_fma_run */
        names[n++] = "avx2fma";
    }
#endif
    return n;
}

static void step_adam(const anet_upd_consts *c, float *w, float *m, float *v, const float *g, size_t n) {
    /* The last path (the fastest); the choice is a pure function of the CPU, so every caller agrees. */
    anet_adam_fn f[ANET_ADAM_MAX_PATHS];
    const char *nm[ANET_ADAM_MAX_PATHS];
    f[anet_adam_paths(f, nm, ANET_ADAM_MAX_PATHS) - 1](c, w, m, v, g, n);
}

static void step_block(const anet_optim_cpu *o, const anet_upd_consts *c, int i, size_t k0, const float *g, size_t n) {
    if (o->cfg.kind == ANET_OPT_SGD) step_sgd(c, o->w[i] + k0, o->m[i] + k0, g, n);
    else step_adam(c, o->w[i] + k0, o->m[i] + k0, o->v[i] + k0, g, n);
}

void anet_optim_cpu_step(anet_optim_cpu *o, float lr, const float *const *grads) {
    int first = o->t == 0;
    o->t++;
    anet_upd_consts c = consts(&o->cfg, o->t, first, lr);
    for (int i = 0; i < o->nparams; i++)
        if (grads[i]) step_block(o, &c, i, 0, grads[i], o->sizes[i]);
}

/* Elements per block of the one-pass update: the unscaled gradients stay in L1. */
#define UPD_BLOCK 1024

void anet_optim_cpu_begin(anet_optim_cpu *o, float lr) {
    o->first = o->t == 0;
    o->t++;
    o->lr_now = lr;
}

void anet_optim_cpu_apply_f16(anet_optim_cpu *o, int i, const anet_f16 *grad, float inv_scale) {
    anet_upd_consts c = consts(&o->cfg, o->t, o->first, o->lr_now);
#ifdef ADAM_X86
    if (o->cfg.kind != ANET_OPT_SGD && adam_f16_one_loop(&c, o->w[i], o->m[i], o->v[i], grad, inv_scale, o->w16[i], o->sizes[i]))
        return;
#endif
    float g[UPD_BLOCK];
    /* One pass per block: fp16 gradient -> fp32, unscale, update, fp16 copy of the weights. */
    for (size_t k0 = 0; k0 < o->sizes[i]; k0 += UPD_BLOCK) {
        size_t n = o->sizes[i] - k0 < UPD_BLOCK ? o->sizes[i] - k0 : UPD_BLOCK;
        anet_f16_to_f32_n(grad + k0, g, n);
        for (size_t k = 0; k < n; k++) g[k] *= inv_scale;
        step_block(o, &c, i, k0, g, n);
        anet_f32_to_f16_n(o->w[i] + k0, o->w16[i] + k0, n);
    }
}

void anet_optim_cpu_step_f16(anet_optim_cpu *o, float lr, const anet_f16 *const *grads,
                             float inv_scale) {
    anet_optim_cpu_begin(o, lr);
    for (int i = 0; i < o->nparams; i++) anet_optim_cpu_apply_f16(o, i, grads[i], inv_scale);
}

void anet_optim_cpu_sync_f16(anet_optim_cpu *o) {
    for (int i = 0; i < o->nparams; i++) anet_f32_to_f16_n(o->w[i], o->w16[i], o->sizes[i]);
}

int anet_f16_all_finite(const anet_f16 *x, size_t n) {
    /* Exponent all ones = inf or NaN. A branch-free OR of 16-bit "exponent == 0x7c00" masks,
     * 64 values per block (the compare and OR vectorise on SSE2; this runs over every gradient
     * every step), with one early exit per block. */
    size_t k = 0;
    for (; k + 64 <= n; k += 64) {
        uint16_t bad = 0;
        for (size_t j = 0; j < 64; j++) bad |= (uint16_t)((x[k + j] & 0x7c00u) == 0x7c00u ? 0xffffu : 0u);
        if (bad) return 0;
    }
    for (; k < n; k++)
        if ((x[k] & 0x7c00u) == 0x7c00u) return 0;
    return 1;
}
