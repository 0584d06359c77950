/* The MLP step programs against PyTorch (float64, tests/oracle/mlp_oracle.py run with
 * /usr/bin/python3): loss, logits and every parameter gradient for one fixed batch and
 * weights; the in-program optimizers (SGD momentum, Adam, AdamW) against torch.optim and a
 * float64 Adam written here; the hi+lo TwoSum weights against float64 over many tiny
 * updates. Programs run on the float64 reference interpreter (tests/ref_interp.h), on its
 * fp16-rounding variant, and through vane (fp32 and fp16 numerics) when vane is built in.
 * Without torch the oracle checks are skipped, or fail when CI is set. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/rng.h"
#include "plan/constraints.h"
#include "ref_interp.h"
#include "train/model.h"
#include "train/step.h"
#include "vane_run.h"

#define MAXP (2 * ANET_MLP_MAX_LAYERS)

enum { M_I64, M_I16, M_V32, M_V16, M_COUNT };
static const char *const mode_name[M_COUNT] = {"float64 interpreter", "fp16 interpreter", "vane fp32", "vane fp16"};

typedef struct feed {
    anet_step_config cfg;
    int np;
    double *x, *y;
    double *p[MAXP], *lo[MAXP], *s0[MAXP], *s1[MAXP];
    float hyper[ANET_HYPER_SLOTS];
} feed;

typedef struct result {
    double loss, finite, correct;
    double *logits;
    double *g[MAXP], *p[MAXP], *lo[MAXP], *s0[MAXP], *s1[MAXP];
} result;

static vane_ctx vane[2]; /* fp32, fp16 */

static void prog_free(anet_step_program *p) {
    vane_forget(&vane[0], p->graph);
    vane_forget(&vane[1], p->graph);
    anet_step_program_free(p);
}

static int64_t pcount(const feed *f, int i) {
    anet_param_info pi;
    anet_model_param(&f->cfg.model, i, &pi);
    return (int64_t)pi.rows * pi.cols;
}

static double *dupd(const double *s, int64_t n) {
    double *d = malloc(sizeof(double) * (size_t)n);
    memcpy(d, s, sizeof(double) * (size_t)n);
    return d;
}

static void result_free(result *r) {
    free(r->logits);
    for (int i = 0; i < MAXP; i++) {
        free(r->g[i]);
        free(r->p[i]);
        free(r->lo[i]);
        free(r->s0[i]);
        free(r->s1[i]);
    }
    memset(r, 0, sizeof *r);
}

/* Runs prog on f in the given mode; fills r (owned copies). Returns 0 on failure. */
static int run(int mode, const anet_step_program *prog, const feed *f, result *r) {
    memset(r, 0, sizeof *r);
    double *ins[4 * MAXP + 4];
    double hyper[ANET_HYPER_SLOTS];
    for (int k = 0; k < ANET_HYPER_SLOTS; k++) hyper[k] = f->hyper[k];
    for (int i = 0; i < prog->ninputs; i++) {
        const anet_io_desc *d = &prog->inputs[i];
        switch (d->role) {
        case ANET_ROLE_HYPER: ins[i] = hyper; break;
        case ANET_ROLE_X: ins[i] = f->x; break;
        case ANET_ROLE_Y_ONEHOT: ins[i] = f->y; break;
        case ANET_ROLE_PARAM: ins[i] = f->p[d->index]; break;
        case ANET_ROLE_PARAM_LO: ins[i] = f->lo[d->index]; break;
        case ANET_ROLE_OPT_STATE: ins[i] = d->slot ? f->s1[d->index] : f->s0[d->index]; break;
        default: return 0;
        }
    }
    double *outs[4 * MAXP + 4];
    int64_t nout[4 * MAXP + 4];
    ri_val *v = NULL;
    int outv[4 * MAXP + 4];
    for (int i = 0; i < prog->noutputs; i++) {
        outv[i] = prog->outputs[i].value;
        nout[i] = anet_type_elements(&prog->graph->values[outv[i]].type);
    }
    if (mode == M_I64 || mode == M_I16) {
        v = ri_run_ex(prog->graph, (const double *const *)ins, mode == M_I16);
        if (!v) return 0;
        for (int i = 0; i < prog->noutputs; i++) outs[i] = dupd(v[outv[i]].d, nout[i]);
        ri_free(prog->graph, v);
    } else {
        vane_ctx *vc = &vane[mode == M_V16];
        if (!vane_eval(vc, prog->graph, ins, prog->ninputs, outv, prog->noutputs, outs)) {
            fprintf(stderr, "%s: %s\n", mode_name[mode], anet_last_error());
            return 0;
        }
    }
    for (int i = 0; i < prog->noutputs; i++) {
        const anet_io_desc *d = &prog->outputs[i];
        switch (d->role) {
        case ANET_ROLE_LOSS: r->loss = outs[i][0]; free(outs[i]); break;
        case ANET_ROLE_FINITE: r->finite = outs[i][0]; free(outs[i]); break;
        case ANET_ROLE_CORRECT: r->correct = outs[i][0]; free(outs[i]); break;
        case ANET_ROLE_LOGITS: r->logits = outs[i]; break;
        case ANET_ROLE_GRAD: r->g[d->index] = outs[i]; break;
        case ANET_ROLE_PARAM: r->p[d->index] = outs[i]; break;
        case ANET_ROLE_PARAM_LO: r->lo[d->index] = outs[i]; break;
        case ANET_ROLE_OPT_STATE:
            if (d->slot) r->s1[d->index] = outs[i];
            else r->s0[d->index] = outs[i];
            break;
        default: free(outs[i]);
        }
    }
    /* update=cpu programs carry no FINITE flag: the trainer checks the loss and the fp16
     * gradients on the host; do the same here so every mode is held to one rule. */
    int has_flag = 0;
    for (int i = 0; i < prog->noutputs; i++) has_flag |= prog->outputs[i].role == ANET_ROLE_FINITE;
    if (!has_flag) {
        r->finite = isfinite(r->loss);
        for (int i = 0; i < f->np; i++)
            for (int64_t k = 0; r->g[i] && k < pcount(f, i); k++)
                if (!isfinite(r->g[i][k])) r->finite = 0;
    }
    return 1;
}

/* ---- data ---- */
typedef struct batch {
    int B, F, K;
    double *xs;  /* [B][F], PyTorch's layout */
    int32_t *labels;
} batch;

static void make_feed(feed *f, const char *spec, int B, anet_update_mode up, anet_opt_config opt, batch *bt,
                      uint64_t seed) {
    memset(f, 0, sizeof *f);
    CHECK(anet_model_parse(spec, &f->cfg.model) == ANET_OK);
    f->cfg.batch = B;
    f->cfg.opt = opt;
    f->cfg.update = up;
    f->cfg.dialect = ANET_MIL_IOS18;
    f->np = anet_model_nparams(&f->cfg.model);
    int F = f->cfg.model.dims[0], K = f->cfg.model.dims[f->cfg.model.nlayers];
    anet_rng rng;
    anet_rng_seed(&rng, seed);
    float *pf[MAXP];
    for (int i = 0; i < f->np; i++) pf[i] = malloc(sizeof(float) * (size_t)pcount(f, i));
    anet_model_init(&f->cfg.model, &rng, pf);
    for (int i = 0; i < f->np; i++) {
        int64_t n = pcount(f, i);
        f->p[i] = malloc(sizeof(double) * (size_t)n);
        f->lo[i] = calloc((size_t)n, sizeof(double));
        f->s0[i] = calloc((size_t)n, sizeof(double));
        f->s1[i] = calloc((size_t)n, sizeof(double));
        for (int64_t k = 0; k < n; k++) f->p[i][k] = anet_f32_round_f16(pf[i][k]);
        free(pf[i]);
    }
    bt->B = B;
    bt->F = F;
    bt->K = K;
    bt->xs = malloc(sizeof(double) * (size_t)B * (size_t)F);
    bt->labels = malloc(sizeof(int32_t) * (size_t)B);
    f->x = malloc(sizeof(double) * (size_t)B * (size_t)F);
    f->y = calloc((size_t)B * (size_t)K, sizeof(double));
    for (int b = 0; b < B; b++) {
        bt->labels[b] = (int32_t)anet_rng_below(&rng, (uint64_t)K);
        f->y[(size_t)bt->labels[b] * (size_t)B + (size_t)b] = 1;
        for (int j = 0; j < F; j++) {
            double v = anet_f32_round_f16(anet_rng_uniform(&rng));
            bt->xs[(size_t)b * F + j] = v;
            f->x[(size_t)j * B + b] = v; /* [1, F, 1, B] */
        }
    }
}

static void feed_free(feed *f, batch *bt) {
    free(f->x);
    free(f->y);
    for (int i = 0; i < f->np; i++) {
        free(f->p[i]);
        free(f->lo[i]);
        free(f->s0[i]);
        free(f->s1[i]);
    }
    free(bt->xs);
    free(bt->labels);
}

/* ---- the oracle ---- */
static int torch_state = -1; /* -1 unknown, 0 missing, 1 ok */

/* The oracle's interpreter: /usr/bin/python3 (Debian's, with torch); ANET_ORACLE_PYTHON
 * overrides it (e.g. to check the no-torch path). */
static const char *oracle_python(void) {
    const char *p = getenv("ANET_ORACLE_PYTHON");
    return p && p[0] ? p : "/usr/bin/python3";
}

static int have_torch(void) {
    if (torch_state < 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", oracle_python());
        torch_state = system(cmd) == 0;
        if (!torch_state) {
            if (getenv("CI")) CHECK_MSG(0, "PyTorch (/usr/bin/python3 with torch) is required when CI is set");
            else printf("test_step: %s with torch not found: skipping the PyTorch oracle checks (set CI to make this fail)\n", oracle_python());
        }
    }
    return torch_state;
}

typedef struct oracle {
    double loss;
    double *logits;          /* [B][K] */
    double *g[MAXP], *p[MAXP]; /* gradients; params after the optimizer steps */
} oracle;

static void oracle_free(oracle *o) {
    free(o->logits);
    for (int i = 0; i < MAXP; i++) {
        free(o->g[i]);
        free(o->p[i]);
    }
}

/* Oracle jobs: every input file is written first, then one python run computes them all
 * (starting python and importing torch dominates the test's time). */
typedef struct ojob {
    char in[64], out[64];
    int opt_kind, steps;
} ojob;
static ojob jobs[8];
static int njobs, jobs_ran;

/* opt_kind -1: gradients only. The betas passed are the fp16-rounded ones the program uses. */
static int oracle_write(const feed *f, const batch *bt, int opt_kind, int steps) {
    if (njobs == 8) return -1;
    ojob *j = &jobs[njobs];
    snprintf(j->in, sizeof j->in, "/tmp/anet_oracle_in_XXXXXX");
    snprintf(j->out, sizeof j->out, "/tmp/anet_oracle_out_XXXXXX");
    int fi = mkstemp(j->in), fo = mkstemp(j->out);
    if (fi < 0 || fo < 0) return -1;
    close(fo);
    FILE *fp = fdopen(fi, "wb");
    if (!fp) return -1;
    const anet_model_spec *m = &f->cfg.model;
    int32_t hdr[ANET_MLP_MAX_LAYERS + 8], n = 0;
    hdr[n++] = m->nlayers;
    for (int i = 0; i <= m->nlayers; i++) hdr[n++] = m->dims[i];
    hdr[n++] = bt->B;
    hdr[n++] = opt_kind;
    hdr[n++] = steps;
    fwrite(hdr, sizeof(int32_t), (size_t)n, fp);
    float b1, b2;
    anet_step_betas(&f->cfg.opt, &b1, &b2);
    double hp[6] = {f->cfg.opt.lr, f->cfg.opt.kind == ANET_OPT_SGD ? b1 : f->cfg.opt.momentum, b1, b2,
                    f->cfg.opt.eps, f->cfg.opt.weight_decay};
    fwrite(hp, sizeof(double), 6, fp);
    fwrite(bt->xs, sizeof(double), (size_t)bt->B * (size_t)bt->F, fp);
    fwrite(bt->labels, sizeof(int32_t), (size_t)bt->B, fp);
    for (int i = 0; i < f->np; i++) fwrite(f->p[i], sizeof(double), (size_t)pcount(f, i), fp);
    fclose(fp);
    j->opt_kind = opt_kind;
    j->steps = steps;
    return njobs++;
}

static void oracle_run_all(void) {
    char cmd[2048];
    size_t len = (size_t)snprintf(cmd, sizeof cmd, "%s %s/tests/oracle/mlp_oracle.py", oracle_python(), ANET_SOURCE_DIR);
    for (int i = 0; i < njobs && len < sizeof cmd; i++)
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, " %s %s", jobs[i].in, jobs[i].out);
    jobs_ran = njobs > 0 && system(cmd) == 0;
    CHECK_MSG(njobs == 0 || jobs_ran, "the PyTorch oracle failed (%s)", cmd);
    for (int i = 0; i < njobs; i++) remove(jobs[i].in);
}

static int oracle_read(int job, const feed *f, const batch *bt, oracle *o) {
    memset(o, 0, sizeof *o);
    if (job < 0 || !jobs_ran) return 0;
    FILE *fp = fopen(jobs[job].out, "rb");
    int ok = fp != NULL;
    if (fp) {
        size_t nl = (size_t)bt->B * (size_t)bt->K;
        o->logits = malloc(sizeof(double) * nl);
        ok = fread(&o->loss, sizeof(double), 1, fp) == 1 && fread(o->logits, sizeof(double), nl, fp) == nl;
        for (int i = 0; ok && i < f->np; i++) {
            o->g[i] = malloc(sizeof(double) * (size_t)pcount(f, i));
            ok = fread(o->g[i], sizeof(double), (size_t)pcount(f, i), fp) == (size_t)pcount(f, i);
        }
        for (int i = 0; ok && jobs[job].opt_kind >= 0 && i < f->np; i++) {
            o->p[i] = malloc(sizeof(double) * (size_t)pcount(f, i));
            ok = fread(o->p[i], sizeof(double), (size_t)pcount(f, i), fp) == (size_t)pcount(f, i);
        }
        fclose(fp);
    }
    CHECK_MSG(ok, "reading the oracle's results %s", jobs[job].out);
    if (!ok) oracle_free(o);
    return ok;
}

static void oracle_cleanup(void) {
    for (int i = 0; i < njobs; i++) remove(jobs[i].out);
}

/* ||a*scale - ref|| / ||ref|| over a parameter. */
static double rel_err(const double *a, double scale, const double *ref, int64_t n) {
    double e = 0, r = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = a[k] * scale - ref[k];
        e += d * d;
        r += ref[k] * ref[k];
    }
    return r > 0 ? sqrt(e / r) : sqrt(e);
}

static int mode_available(int mode) { return mode < M_V32 || vane[mode == M_V16].ok; }

/* ---- tests ---- */
static void test_model(void) {
    anet_model_spec m;
    CHECK(anet_model_parse("mlp:784-128-10", &m) == ANET_OK);
    CHECK_EQ_INT(m.nlayers, 2);
    CHECK(strcmp(m.text, "mlp:784-128-10") == 0);
    CHECK_EQ_INT(anet_model_nparams(&m), 4);
    CHECK_EQ_INT(anet_model_param_count(&m), 784 * 128 + 128 + 128 * 10 + 10);
    anet_param_info pi;
    anet_model_param(&m, 2, &pi);
    CHECK(strcmp(pi.name, "w1") == 0 && pi.rows == 10 && pi.cols == 128);
    anet_model_param(&m, 3, &pi);
    CHECK(strcmp(pi.name, "b1") == 0 && pi.rows == 10 && pi.cols == 1);
    CHECK(anet_model_parse("mlp:0010-5", &m) == ANET_OK && strcmp(m.text, "mlp:10-5") == 0);
    const char *bad[] = {"mlp:", "mlp:784", "cnn:1-2", "mlp:784-", "mlp:784--10", "mlp:0-10", "mlp:65537-2",
                         "mlp:1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18", "mlp:3 -2", "mlp:99999999999999999999-2", "",
                         "mlp:784-16384-16384-10", "mlp:65536-4097"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(anet_model_parse(bad[i], &m) == ANET_E_INVALID, "'%s' accepted", bad[i]);
        CHECK(anet_last_error()[0] != 0);
    }
    /* The parameter cap: 4096 x (65535 + 1) = 2^28 exactly is accepted, 4096 more are not. */
    CHECK(anet_model_parse("mlp:65535-4096", &m) == ANET_OK);
    CHECK(anet_model_parse("mlp:65536-4096", &m) == ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "268439552 parameters");
    /* Init: U(-1/sqrt(in), 1/sqrt(in)), reproducible per seed. */
    CHECK(anet_model_parse("mlp:50-20-3", &m) == ANET_OK);
    float *p[4], *q[4];
    for (int i = 0; i < 4; i++) {
        anet_model_param(&m, i, &pi);
        p[i] = malloc(sizeof(float) * (size_t)(pi.rows * pi.cols));
        q[i] = malloc(sizeof(float) * (size_t)(pi.rows * pi.cols));
    }
    anet_rng r1, r2;
    anet_rng_seed(&r1, 7);
    anet_rng_seed(&r2, 7);
    anet_model_init(&m, &r1, p);
    anet_model_init(&m, &r2, q);
    for (int i = 0; i < 4; i++) {
        anet_model_param(&m, i, &pi);
        double bound = 1.0 / sqrt((double)m.dims[i / 2]), mx = 0;
        for (int k = 0; k < pi.rows * pi.cols; k++) {
            if (fabs(p[i][k]) > mx) mx = fabs(p[i][k]);
            CHECK(p[i][k] == q[i][k]);
        }
        CHECK_MSG(mx <= bound && (pi.rows * pi.cols < 50 || mx > 0.9 * bound), "param %d: max |w| %g, bound %g", i, mx, bound);
        free(p[i]);
        free(q[i]);
    }
}

static void test_program_shape(void) {
    feed f;
    batch bt;
    anet_opt_config adam = {ANET_OPT_ADAM, 1e-3f, 0, 0.9f, 0.999f, 1e-8f, 0};
    make_feed(&f, "mlp:20-16-12-5", 8, ANET_UPDATE_ANE, adam, &bt, 1);
    anet_step_program p;
    CHECK(anet_step_build_train(&f.cfg, &p) == ANET_OK);
    CHECK(anet_graph_verify(p.graph) == ANET_OK);
    /* Declared order is alphabetical order (the ANE matches surfaces by name). */
    for (int i = 1; i < p.ninputs; i++)
        CHECK(strcmp(p.graph->values[p.graph->inputs[i - 1]].name, p.graph->values[p.graph->inputs[i]].name) < 0);
    for (int i = 1; i < p.noutputs; i++)
        CHECK(strcmp(p.graph->values[p.graph->outputs[i - 1]].name, p.graph->values[p.graph->outputs[i]].name) < 0);
    CHECK_EQ_INT(p.ninputs, 3 + 6 * 4);
    CHECK_EQ_INT(p.noutputs, 2 + 6 * 4);
    CHECK(strcmp(p.graph->values[p.graph->inputs[3]].name, "p00_w0_hi") == 0);
    CHECK(strcmp(p.graph->values[p.graph->outputs[2]].name, "u00_w0_hi") == 0);
    /* No rsqrt/gelu; no const holds a per-step number (consts are tiny: params of ops). */
    for (int o = 0; o < p.graph->nops; o++) {
        CHECK(p.graph->ops[o].kind != ANET_OP_RSQRT && p.graph->ops[o].kind != ANET_OP_GELU);
        if (p.graph->ops[o].kind == ANET_OP_CONST) CHECK(anet_type_elements(&p.graph->ops[o].val->type) <= 4);
    }
    prog_free(&p);
    /* Every program is eligible on the m4 profile (the constraint table vane enforces). */
    anet_opt_config opts[3] = {adam, {ANET_OPT_SGD, 0.1f, 0.9f, 0, 0, 0, 1e-4f}, {ANET_OPT_ADAMW, 1e-3f, 0, 0.9f, 0.999f, 1e-8f, 0.01f}};
    for (int k = 0; k < 3; k++)
        for (int up = 0; up < 2; up++)
            for (int ev = 0; ev < 2; ev++) {
                anet_step_config cfg = f.cfg;
                cfg.opt = opts[k];
                cfg.update = up ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
                anet_step_program q;
                CHECK((ev ? anet_step_build_eval(&cfg, &q) : anet_step_build_train(&cfg, &q)) == ANET_OK);
                anet_verdict vd[4];
                int nv = anet_plan_check_graph(q.graph, ANET_CHIP_M4, vd, 4);
                CHECK_MSG(nv == 0, "opt %d update %d eval %d: %d m4 violations, first: %s", k, up, ev, nv,
                          nv > 0 ? vd[0].detail : "");
                prog_free(&q);
            }
    /* The ios16 dialect (program(1.0)) runs too: same loss as float64 within fp16 error. */
    if (mode_available(M_V16)) {
        anet_step_config c16 = f.cfg;
        c16.dialect = ANET_MIL_IOS16;
        feed f16 = f;
        f16.cfg = c16;
        anet_step_hyper(&c16, 1, 1e-3f, 256, 8, f16.hyper);
        anet_step_program q;
        CHECK(anet_step_build_train(&c16, &q) == ANET_OK);
        result r64, r16;
        int ok = run(M_I64, &q, &f16, &r64) && run(M_V16, &q, &f16, &r16);
        CHECK_MSG(ok, "ios16 program did not run: %s", anet_last_error());
        if (ok) CHECK_NEAR(r16.loss, r64.loss, 1e-2 * r64.loss);
        result_free(&r64);
        result_free(&r16);
        prog_free(&q);
    }
    anet_step_config bad = f.cfg;
    bad.batch = 0;
    CHECK(anet_step_build_train(&bad, &p) == ANET_E_INVALID);
    bad = f.cfg;
    bad.model.nlayers = 0;
    CHECK(anet_step_build_eval(&bad, &p) == ANET_E_INVALID);
    feed_free(&f, &bt);
}

/* Gradients, loss, logits and CORRECT vs PyTorch in every available mode. */
static const anet_opt_config grads_opt = {ANET_OPT_SGD, 0.1f, 0, 0, 0, 0, 0};

static int prepare_grads(const char *spec, int B) {
    feed f;
    batch bt;
    make_feed(&f, spec, B, ANET_UPDATE_CPU, grads_opt, &bt, 42);
    int j = oracle_write(&f, &bt, -1, 0);
    feed_free(&f, &bt);
    return j;
}

static void test_grads(const char *spec, int B, int job) {
    feed f;
    batch bt;
    make_feed(&f, spec, B, ANET_UPDATE_CPU, grads_opt, &bt, 42);
    const double S = 512;
    anet_step_hyper(&f.cfg, 1, 0.1f, (float)S, B, f.hyper);
    anet_step_program tp, ep;
    CHECK(anet_step_build_train(&f.cfg, &tp) == ANET_OK);
    CHECK(anet_step_build_eval(&f.cfg, &ep) == ANET_OK);
    oracle o;
    int have = have_torch() && oracle_read(job, &f, &bt, &o);
    /* float64: the hyper tensor is float (1/B rounded) */
    static const double tol[M_COUNT] = {1e-6, 1e-2, 1e-5, 1e-2};
    for (int mode = 0; have && mode < M_COUNT; mode++) {
        if (!mode_available(mode)) continue;
        result r, e;
        int ok = run(mode, &tp, &f, &r);
        CHECK_MSG(ok, "%s %s: train program did not run", spec, mode_name[mode]);
        if (ok) {
            CHECK_MSG(fabs(r.loss - o.loss) <= tol[mode] * fabs(o.loss), "%s %s: loss %.9g, torch %.9g", spec,
                      mode_name[mode], r.loss, o.loss);
            CHECK_EQ_INT(r.finite, 1);
            double worst = 0;
            for (int i = 0; i < f.np; i++) {
                double err = rel_err(r.g[i], 1.0 / S, o.g[i], pcount(&f, i));
                worst = fmax(worst, err);
                CHECK_MSG(err <= tol[mode], "%s %s: gradient of param %d: relative error %.3g > %.3g", spec,
                          mode_name[mode], i, err, tol[mode]);
            }
            printf("test_step: %s batch %d, %s: loss %.6f (torch %.6f), worst gradient error %.2g (tolerance %.0e)\n",
                   spec, B, mode_name[mode], r.loss, o.loss, worst, tol[mode]);
        }
        result_free(&r);
        ok = run(mode, &ep, &f, &e);
        CHECK_MSG(ok, "%s %s: eval program did not run", spec, mode_name[mode]);
        if (ok) {
            double err = 0, nrm = 0;
            int correct = 0;
            for (int b = 0; b < B; b++) {
                int best = 0;
                for (int k = 0; k < bt.K; k++) {
                    double ref = o.logits[(size_t)b * bt.K + k], got = e.logits[(size_t)k * B + b];
                    err += (ref - got) * (ref - got);
                    nrm += ref * ref;
                    if (ref > o.logits[(size_t)b * bt.K + best]) best = k;
                }
                correct += best == bt.labels[b];
            }
            CHECK_MSG(sqrt(err / nrm) <= tol[mode], "%s %s: logits relative error %.3g", spec, mode_name[mode], sqrt(err / nrm));
            if (mode == M_I64) CHECK_EQ_INT(e.correct, correct);
            else CHECK(fabs(e.correct - correct) <= 1); /* a near-tie may flip in fp16 */
        }
        result_free(&e);
    }
    if (have) oracle_free(&o);
    /* FINITE: an inf in the batch poisons the loss and every gradient. */
    f.x[3] = INFINITY;
    for (int mode = 0; mode < M_COUNT; mode++) {
        if (!mode_available(mode)) continue;
        result r;
        if (run(mode, &tp, &f, &r)) CHECK_MSG(r.finite == 0, "%s %s: FINITE = %g with an inf input", spec, mode_name[mode], r.finite);
        result_free(&r);
    }
    prog_free(&tp);
    prog_free(&ep);
    feed_free(&f, &bt);
}

/* Feeds a program's outputs back as the next step's inputs (the trainer's ping-pong). In
 * vane's fp32 mode TwoSum cannot split hi+lo into fp16 parts (nothing rounds), so the test
 * re-splits the weight before it crosses the fp16 input surfaces again. */
static void take_outputs(feed *f, result *r, int resplit) {
    for (int i = 0; i < f->np; i++) {
        int64_t n = pcount(f, i);
        if (r->p[i]) memcpy(f->p[i], r->p[i], sizeof(double) * (size_t)n);
        if (r->lo[i]) memcpy(f->lo[i], r->lo[i], sizeof(double) * (size_t)n);
        for (int64_t k = 0; resplit && r->lo[i] && k < n; k++) {
            double w = f->p[i][k] + f->lo[i][k];
            f->p[i][k] = anet_f32_round_f16((float)w);
            f->lo[i][k] = anet_f32_round_f16((float)(w - f->p[i][k]));
        }
        if (r->s0[i]) memcpy(f->s0[i], r->s0[i], sizeof(double) * (size_t)n);
        if (r->s1[i]) memcpy(f->s1[i], r->s1[i], sizeof(double) * (size_t)n);
    }
}

/* In-program optimizer: `steps` steps on one batch vs torch.optim; step 1 of Adam also vs a
 * float64 Adam written here from PyTorch's gradients. */
enum { OPT_STEPS = 3, OPT_B = 6 };

static int prepare_optimizer(anet_opt_config opt) {
    feed f;
    batch bt;
    make_feed(&f, "mlp:20-16-12-5", OPT_B, ANET_UPDATE_ANE, opt, &bt, 5);
    int j = oracle_write(&f, &bt, (int)opt.kind, OPT_STEPS);
    feed_free(&f, &bt);
    return j;
}

static void test_optimizer(anet_opt_config opt, const char *what, int job) {
    const int steps = OPT_STEPS, B = OPT_B;
    feed f;
    batch bt;
    oracle o;
    make_feed(&f, "mlp:20-16-12-5", B, ANET_UPDATE_ANE, opt, &bt, 5);
    int have = have_torch() && oracle_read(job, &f, &bt, &o);
    feed_free(&f, &bt);
    for (int mode = 0; have && mode < M_COUNT; mode++) {
        if (!mode_available(mode) || mode == M_I16) continue;
        make_feed(&f, "mlp:20-16-12-5", B, ANET_UPDATE_ANE, opt, &bt, 5);
        anet_step_program p;
        CHECK(anet_step_build_train(&f.cfg, &p) == ANET_OK);
        double *w0[MAXP];
        for (int i = 0; i < f.np; i++) w0[i] = dupd(f.p[i], pcount(&f, i));
        const float S = 1024;
        for (int t = 1; t <= steps; t++) {
            anet_step_hyper(&f.cfg, t, opt.lr, S, B, f.hyper);
            if (mode != M_I64) /* surfaces are fp16 */
                for (int k = 0; k < ANET_HYPER_SLOTS; k++) f.hyper[k] = anet_f32_round_f16(f.hyper[k]);
            result r;
            int ok = run(mode, &p, &f, &r);
            CHECK_MSG(ok, "%s %s: program did not run", what, mode_name[mode]);
            if (!ok) break;
            CHECK_EQ_INT(r.finite, 1);
            if (t == 1 && opt.kind != ANET_OPT_SGD) {
                /* Adam step 1 by hand from PyTorch's gradients: m = (1-b1) g, v = (1-b2) g^2,
                 * w -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) (+ AdamW's lr*wd*w). */
                float b1, b2;
                anet_step_betas(&opt, &b1, &b2);
                for (int i = 0; i < f.np; i++) {
                    int64_t n = pcount(&f, i);
                    double *ref = malloc(sizeof(double) * (size_t)n), *got = malloc(sizeof(double) * (size_t)n);
                    for (int64_t k = 0; k < n; k++) {
                        double g = o.g[i][k] + (opt.kind == ANET_OPT_ADAM ? opt.weight_decay * w0[i][k] : 0);
                        double m = (1 - b1) * g, v = (1 - b2) * g * g;
                        double d = opt.lr / (1 - b1) * m / (sqrt(v) / sqrt(1 - b2) + opt.eps);
                        if (opt.kind == ANET_OPT_ADAMW) d += opt.lr * opt.weight_decay * w0[i][k];
                        ref[k] = -d;
                        got[k] = r.p[i][k] + r.lo[i][k] - w0[i][k];
                    }
                    double err = rel_err(got, 1, ref, n);
                    /* vane: the hyper scalars (lr) are fp16, off by up to 2^-12 */
                    CHECK_MSG(err <= (mode == M_V16 ? 2e-2 : mode == M_V32 ? 5e-4 : 1e-5),
                              "%s %s: step-1 update of param %d vs float64 Adam: relative error %.3g", what,
                              mode_name[mode], i, err);
                    free(ref);
                    free(got);
                }
            }
            take_outputs(&f, &r, mode == M_V32);
            result_free(&r);
        }
        for (int i = 0; i < f.np; i++) {
            int64_t n = pcount(&f, i);
            double *got = malloc(sizeof(double) * (size_t)n), *ref = malloc(sizeof(double) * (size_t)n);
            for (int64_t k = 0; k < n; k++) {
                got[k] = f.p[i][k] + f.lo[i][k] - w0[i][k];
                ref[k] = o.p[i][k] - w0[i][k];
            }
            double err = rel_err(got, 1, ref, n);
            /* relative to the total change of the weights over the steps; vane fp32 still
             * has fp16 hyper scalars and fp16 state surfaces between steps */
            CHECK_MSG(err <= (mode == M_V16 ? 3e-2 : mode == M_V32 ? 2e-3 : 1e-5), "%s %s: param %d after %d steps vs torch.optim: relative error %.3g",
                      what, mode_name[mode], i, steps, err);
            free(got);
            free(ref);
            free(w0[i]);
        }
        prog_free(&p);
        feed_free(&f, &bt);
    }
    if (have) oracle_free(&o);
}

/* update=ane FINITE also covers the gradient in optimizer-state units: with S = 1 < K a
 * finite fp16 gradient above 64 overflows K*g; the step must be flagged, not applied. */
static void test_finite_state(void) {
    anet_opt_config adam = {ANET_OPT_ADAM, 1e-3f, 0, 0.9f, 0.999f, 1e-8f, 0};
    for (int up = 0; up < 2; up++) {
        feed f;
        batch bt;
        make_feed(&f, "mlp:20-16-12-5", 8, up ? ANET_UPDATE_ANE : ANET_UPDATE_CPU, adam, &bt, 3);
        for (int k = 0; k < 20 * 8; k++) f.x[k] = 1000; /* large activations: |dL/dw| >> 64 */
        anet_step_hyper(&f.cfg, 1, 1e-3f, 1, 8, f.hyper);
        anet_step_program p;
        CHECK(anet_step_build_train(&f.cfg, &p) == ANET_OK);
        int modes[2] = {M_I16, M_V16};
        for (int mi = 0; mi < 2; mi++) {
            if (!mode_available(modes[mi])) continue;
            result r;
            if (!run(modes[mi], &p, &f, &r)) {
                CHECK_MSG(0, "%s: program did not run", mode_name[modes[mi]]);
                continue;
            }
            double gmax = 0;
            for (int i = 0; !up && i < f.np; i++)
                for (int64_t k = 0; k < pcount(&f, i); k++) gmax = fmax(gmax, fabs(r.g[i][k]));
            if (!up) CHECK_MSG(r.finite == 1 && gmax > 64 && gmax < 65504, "%s: gradients finite (max %g)", mode_name[modes[mi]], gmax);
            else CHECK_MSG(r.finite == 0, "%s: K*g overflow not flagged", mode_name[modes[mi]]);
            result_free(&r);
        }
        prog_free(&p);
        feed_free(&f, &bt);
    }
}

/* hi+lo with TwoSum under fp16 rounding: 400 SGD steps far below half an ulp of the weights
 * must add up like float64, where a plain fp16 weight would not move at all. */
static int sgd_steps(int mode, int steps, double *delta0, double *first) {
    anet_opt_config sgd = {ANET_OPT_SGD, 2e-5f, 0, 0, 0, 0, 0};
    feed f;
    batch bt;
    make_feed(&f, "mlp:4-3", 4, ANET_UPDATE_ANE, sgd, &bt, 9);
    anet_step_program p;
    int ok = anet_step_build_train(&f.cfg, &p) == ANET_OK;
    double w0[12];
    memcpy(w0, f.p[0], sizeof w0);
    anet_step_hyper(&f.cfg, 1, sgd.lr, 256, 4, f.hyper);
    for (int k = 0; k < ANET_HYPER_SLOTS; k++) f.hyper[k] = anet_f32_round_f16(f.hyper[k]);
    for (int t = 0; ok && t < steps; t++) {
        result r;
        ok = run(mode, &p, &f, &r);
        if (!ok) break;
        if (t == 0 && first)
            for (int k = 0; k < 12; k++) first[k] = r.p[0][k] + r.lo[0][k] - w0[k];
        take_outputs(&f, &r, 0);
        result_free(&r);
    }
    for (int k = 0; k < 12; k++) delta0[k] = f.p[0][k] + f.lo[0][k] - w0[k];
    /* plain fp16 (no lo part): w - delta rounds back to w on every step for most weights */
    if (first) {
        int lost = 0;
        for (int k = 0; k < 12; k++) lost += anet_f32_round_f16((float)(w0[k] + first[k])) == (float)w0[k];
        CHECK_MSG(lost >= 9, "only %d of 12 updates are below half an fp16 ulp", lost);
    }
    prog_free(&p);
    feed_free(&f, &bt);
    return ok;
}

static void test_twosum(void) {
    const int steps = 400;
    double ref[12], first[12], maxref = 0;
    CHECK(sgd_steps(M_I64, steps, ref, first));
    for (int k = 0; k < 12; k++) maxref = fmax(maxref, fabs(ref[k]));
    CHECK_MSG(maxref > 1e-3, "the test's updates add up to too little (%g)", maxref);
    int modes[2] = {M_I16, M_V16};
    for (int mi = 0; mi < 2; mi++) {
        if (!mode_available(modes[mi])) continue;
        double got[12], err = 0;
        CHECK_MSG(sgd_steps(modes[mi], steps, got, NULL), "%s: program did not run", mode_name[modes[mi]]);
        for (int k = 0; k < 12; k++) err = fmax(err, fabs(got[k] - ref[k]));
        CHECK_MSG(err <= 0.02 * maxref, "%s: accumulated change of w0 off by %.3g (largest change %.3g)",
                  mode_name[modes[mi]], err, maxref);
    }
}

int main(void) {
    vane_open(&vane[0], ANET_NUMERICS_FP32);
    vane_open(&vane[1], ANET_NUMERICS_FP16);
    if (!vane[0].ok) printf("test_step: vane backend not available (%s): interpreter checks only\n", vane[0].why);
    test_model();
    test_program_shape();
    anet_opt_config adam = {ANET_OPT_ADAM, 1e-2f, 0, 0.9f, 0.999f, 1e-8f, 0};
    anet_opt_config adamw = {ANET_OPT_ADAMW, 1e-2f, 0, 0.9f, 0.999f, 1e-8f, 0.05f};
    anet_opt_config sgdm = {ANET_OPT_SGD, 0.1f, 0.9f, 0, 0, 0, 1e-3f};
    int jobs_[5] = {-1, -1, -1, -1, -1};
    if (have_torch()) {
        jobs_[0] = prepare_grads("mlp:784-128-10", 32);
        jobs_[1] = prepare_grads("mlp:20-16-12-5", 8);
        jobs_[2] = prepare_optimizer(adam);
        jobs_[3] = prepare_optimizer(adamw);
        jobs_[4] = prepare_optimizer(sgdm);
        oracle_run_all();
    }
    test_grads("mlp:784-128-10", 32, jobs_[0]);
    test_grads("mlp:20-16-12-5", 8, jobs_[1]);
    test_optimizer(adam, "adam", jobs_[2]);
    test_optimizer(adamw, "adamw", jobs_[3]);
    test_optimizer(sgdm, "sgd momentum", jobs_[4]);
    oracle_cleanup();
    test_twosum();
    test_finite_state();
    vane_close(&vane[0]);
    vane_close(&vane[1]);
    TEST_MAIN_END();
}
