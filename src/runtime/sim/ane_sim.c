/* The ANE private-API simulator: the seam of ane_seam.h on top of vane, with the quirks of
 * ANE_FACTS.md as rules. Error texts imitate what the framework is reported to print, so the
 * backend's error mapping is exercised on the same strings. */
#include "runtime/sim/ane_sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/spec_list.h"
#include "core/fp16.h"
#include "mil/mil.h"
#include "runtime/ane_sig.h"
#include "runtime/vane/vane.h"
#include "plan/forms_check.h"

typedef struct sim_ctx {
    anet_ane_sim_config cfg;
    anet_backend vane;
    int vane_open;
    int opened;
    int ncompile, nload, neval, nsurf;
    char err[1024];
    char last_quirk[48];
} sim_ctx;

struct anet_ane_model {
    sim_ctx *sim;
    char *mil;
    size_t mil_len;
    uint8_t *weights; /* the "file" in the model's temporary directory */
    size_t wlen;
    anet_ane_sig sig;
    int *in_sorted, *out_sorted;
    anet_program *prog; /* vane program (constants baked from the weights at compile) */
    int compiled, loaded;
    anet_form_hit quirk; /* a form rule the program breaks that bites at eval (rule -1: none) */
};

struct anet_ane_surface {
    size_t bytes;
    unsigned char *base;
    int locked;       /* CPU locks held (read-only ones included) */
    int write_locked; /* of which for writing */
    int wrote;        /* a write lock was taken since the last fingerprint */
    uint64_t print;   /* audit_writes: the bytes' fingerprint when the CPU last let go, or the device wrote */
    int printed;      /* print is set (audit_writes may be switched on with surfaces alive) */
};

struct anet_ane_request {
    int nin, nout;
    anet_ane_surface **in, **out;
};

static const char sim_magic[] = "ane-sim";

static int set_err(sim_ctx *c, int rc, const char *fmt, ...) ANET_PRINTF(3, 4);
static int set_err(sim_ctx *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

/* Does the n-th call (1-based) fail under fault f? */
static int fault_hits(const anet_ane_sim_fault *f, int n) { return f->always || (f->at > 0 && f->at == n); }

void anet_ane_sim_config_default(anet_chip chip, anet_ane_sim_config *out) {
    memset(out, 0, sizeof *out);
    out->chip = chip;
    out->numerics = ANET_NUMERICS_FP16;
    out->rules.baked_constants = 1;
    out->rules.compile_limit = 119; /* the low end of every report, M4 included */
    out->rules.alphabetical_io = 1;
    out->rules.uniform_alloc = 1;
    /* M4 (and the strict union): Orion's ~49 KB on M4 Max. Earlier chips: the ~2 KB others
     * report; the backend's default minimum (49152) satisfies both. */
    out->rules.min_surface_bytes = (chip == ANET_CHIP_M4 || chip == ANET_CHIP_STRICT) ? 49152 : 2048;
    out->rules.packed_reads = 1;
    out->rules.reject_ops = 1;
    anet_forms_default(chip, &out->rules.forms);
    out->rules.report_layout = 1;
}

static anet_status fault_item(void *ctx, char *item) {
    anet_ane_sim_faults *out = ctx;
    char *at = strchr(item, '@');
    long count = 0;
    if (at) {
        *at = '\0';
        char *end = NULL;
        errno = 0;
        count = strtol(at + 1, &end, 10);
        if (errno || !end || *end || count < 1 || count > 100000000)
            return anet_fail(ANET_E_INVALID,
                             "ANE_TRAINER_SIM_FAULTS: '%s@%s': the count after '@' must be a "
                             "positive integer", item, at + 1);
    }
    anet_ane_sim_fault *f = NULL;
    if (strcmp(item, "compile") == 0) f = &out->compile;
    else if (strcmp(item, "load") == 0) f = &out->load;
    else if (strcmp(item, "eval") == 0) f = &out->eval;
    else if (strcmp(item, "framework") == 0 && !at) out->framework_missing = 1;
    else if (strcmp(item, "classes") == 0 && !at) out->classes_missing = 1;
    else
        return anet_fail(ANET_E_INVALID,
                         "ANE_TRAINER_SIM_FAULTS: unknown fault '%s' (known: compile[@N], "
                         "load[@N], eval[@N], framework, classes)", item);
    if (f) {
        if (at) f->at = (int)count;
        else f->always = 1;
    }
    return ANET_OK;
}

anet_status anet_ane_sim_faults_parse(const char *spec, anet_ane_sim_faults *out) {
    memset(out, 0, sizeof *out);
    return anet_spec_list_each(spec, "ANE_TRAINER_SIM_FAULTS", fault_item, out);
}

anet_status anet_ane_sim_config_env(anet_ane_sim_config *c) {
    const char *s = getenv("ANE_TRAINER_SIM_FAULTS");
    if (s && *s) {
        anet_status st = anet_ane_sim_faults_parse(s, &c->faults);
        if (st) return st;
    }
    s = getenv("ANE_TRAINER_SIM_COMPILE_LIMIT");
    if (s && *s) {
        char *end = NULL;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || !end || *end || v < 0 || v > 1000000)
            return anet_fail(ANET_E_INVALID, "ANE_TRAINER_SIM_COMPILE_LIMIT='%s': expected an "
                             "integer >= 0 (0 = unlimited)", s);
        c->rules.compile_limit = (int)v;
    }
    s = getenv("ANE_TRAINER_SIM_AUDIT_WRITES");
    if (s && *s) {
        if (strcmp(s, "0") && strcmp(s, "1"))
            return anet_fail(ANET_E_INVALID, "ANE_TRAINER_SIM_AUDIT_WRITES='%s': expected 0 or 1", s);
        c->rules.audit_writes = s[0] == '1';
    }
    return anet_forms_env(&c->rules.forms);
}

/* ---------------------------------------------------------------- the seam operations */

static int sim_open(void *ctx) {
    sim_ctx *c = ctx;
    if (c->cfg.faults.framework_missing)
        return set_err(c, ANET_ANE_RC_UNAVAILABLE,
                       "dlopen(/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/"
                       "AppleNeuralEngine): image not found (simulated fault 'framework')");
    if (c->cfg.faults.classes_missing)
        return set_err(c, ANET_ANE_RC_UNAVAILABLE,
                       "class _ANEInMemoryModelDescriptor not found (simulated fault 'classes')");
    if (!c->vane_open) {
        anet_backend_config vc = {c->cfg.chip, c->cfg.numerics, 0};
        /* With the rejected-ops rule off, compile for the most permissive profile. */
        if (!c->cfg.rules.reject_ops) vc.chip = ANET_CHIP_M4;
        /* vane's own ops, not the registry (which sits above this file and opens ane-sim). */
        if (anet_vane_ops.create(&vc, &c->vane.state) != ANET_OK)
            return set_err(c, ANET_ANE_RC_UNAVAILABLE, "simulator: vane could not start: %s",
                           anet_last_error());
        c->vane.ops = &anet_vane_ops;
        c->vane_open = 1;
    }
    c->opened = 1;
    c->err[0] = '\0';
    return 0;
}

static void model_release_vane(sim_ctx *c, anet_ane_model *m) {
    if (m->prog) {
        c->vane.ops->release(c->vane.state, m->prog);
        m->prog = NULL;
    }
}

static int sim_model_create(void *ctx, const char *mil, size_t mil_len, const uint8_t *w,
                            size_t wlen, anet_ane_model **out) {
    sim_ctx *c = ctx;
    *out = NULL;
    if (!c->opened) return set_err(c, ANET_ANE_RC_INVALID, "simulator: model_create before open");
    anet_ane_model *m = calloc(1, sizeof *m);
    if (!m) return set_err(c, ANET_ANE_RC_NOMEM, "simulator: out of memory");
    m->sim = c;
    m->mil = malloc(mil_len + 1);
    m->weights = wlen ? malloc(wlen) : NULL;
    if (!m->mil || (wlen && !m->weights)) {
        free(m->mil);
        free(m->weights);
        free(m);
        return set_err(c, ANET_ANE_RC_NOMEM, "simulator: out of memory");
    }
    memcpy(m->mil, mil, mil_len);
    m->mil[mil_len] = '\0';
    m->mil_len = mil_len;
    if (wlen) memcpy(m->weights, w, wlen);
    m->wlen = wlen;
    /* The real descriptor accepts any text; a bad program fails at compile. */
    *out = m;
    return 0;
}

static int vane_compile(sim_ctx *c, anet_ane_model *m) {
    anet_program *p = NULL;
    if (c->vane.ops->compile(c->vane.state, m->mil, m->mil_len, m->weights, m->wlen, &p) != ANET_OK)
        return -1;
    model_release_vane(c, m);
    m->prog = p;
    return 0;
}

/* The form rules the program text decides: compile failures now, the rest at eval. */
static int check_forms(sim_ctx *c, anet_ane_model *m) {
    anet_graph *g = NULL;
    memset(&m->quirk, 0, sizeof m->quirk);
    m->quirk.rule = -1;
    if (anet_mil_parse(m->mil, m->mil_len, m->weights, m->wlen, &g) != ANET_OK)
        return set_err(c, ANET_ANE_RC_COMPILE, "ANECCompile() FAILED: %s", anet_last_error());
    anet_form_hit h;
    int hit = anet_forms_check(g, &c->cfg.rules.forms, &h);
    anet_graph_free(g);
    if (!hit) return 0;
    if (h.failure == ANET_FORM_FAIL_COMPILE || h.failure == ANET_FORM_FAIL_NONE)
        return set_err(c, ANET_ANE_RC_COMPILE, "ANECCompile() FAILED: InvalidMILProgram (simulated rule "
                       "'%s': %s)", anet_form_rules(NULL)[h.rule].id, h.detail);
    m->quirk = h;
    return 0;
}

static int sim_compile(void *ctx, anet_ane_model *m) {
    sim_ctx *c = ctx;
    int n = ++c->ncompile;
    if (fault_hits(&c->cfg.faults.compile, n))
        return set_err(c, ANET_ANE_RC_COMPILE,
                       "ANECCompile() FAILED: err=() (simulated fault 'compile' at compile %d)", n);
    if (c->cfg.rules.compile_limit > 0 && n > c->cfg.rules.compile_limit)
        return set_err(c, ANET_ANE_RC_COMPILE,
                       "ANECCompile() FAILED: err=() (simulated per-process compile limit: this "
                       "is compile %d, the limit is %d)", n, c->cfg.rules.compile_limit);
    anet_ane_sig_free(&m->sig);
    free(m->in_sorted);
    free(m->out_sorted);
    m->in_sorted = m->out_sorted = NULL;
    if (anet_ane_sig_parse(m->mil, m->mil_len, &m->sig) != ANET_OK)
        return set_err(c, ANET_ANE_RC_COMPILE, "ANECCompile() FAILED: %s", anet_last_error());
    m->in_sorted = calloc((size_t)m->sig.nin + 1, sizeof(int));
    m->out_sorted = calloc((size_t)m->sig.nout + 1, sizeof(int));
    if (!m->in_sorted || !m->out_sorted) return set_err(c, ANET_ANE_RC_NOMEM, "simulator: out of memory");
    anet_ane_sig_sorted(m->sig.in, m->sig.nin, m->in_sorted);
    anet_ane_sig_sorted(m->sig.out, m->sig.nout, m->out_sorted);
    int rc = check_forms(c, m);
    if (rc) return rc;
    if (vane_compile(c, m))
        return set_err(c, ANET_ANE_RC_COMPILE, "ANECCompile() FAILED: %s", anet_last_error());
    m->compiled = 1;
    return 0;
}

static int sim_load(void *ctx, anet_ane_model *m) {
    sim_ctx *c = ctx;
    int n = ++c->nload;
    if (!m->compiled) return set_err(c, ANET_ANE_RC_LOAD, "simulator: load of a model never compiled");
    if (fault_hits(&c->cfg.faults.load, n))
        return set_err(c, ANET_ANE_RC_LOAD,
                       "loadWithQoS:options:error: returned NO (simulated fault 'load' at load %d)", n);
    /* Without the baked-constants quirk, a reload picks up the weight file as it is now. */
    if (!c->cfg.rules.baked_constants && vane_compile(c, m))
        return set_err(c, ANET_ANE_RC_LOAD, "simulator: reload failed: %s", anet_last_error());
    m->loaded = 1;
    return 0;
}

static int sim_unload(void *ctx, anet_ane_model *m) {
    (void)ctx;
    m->loaded = 0;
    return 0;
}

static void sim_model_free(void *ctx, anet_ane_model *m) {
    sim_ctx *c = ctx;
    if (!m) return;
    model_release_vane(c, m);
    anet_ane_sig_free(&m->sig);
    free(m->in_sorted);
    free(m->out_sorted);
    free(m->mil);
    free(m->weights);
    free(m);
}

/* A fingerprint of a surface's bytes (audit_writes): words mixed with their position, so a
 * changed or moved value changes it. */
static uint64_t surface_print(const anet_ane_surface *s) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ s->bytes, w;
    size_t n = s->bytes / 8, i;
    for (i = 0; i < n; i++) {
        memcpy(&w, s->base + i * 8, 8);
        h = (h ^ (w + i)) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    for (i = n * 8; i < s->bytes; i++) h = (h ^ s->base[i]) * 0x100000001B3ull;
    return h;
}

/* audit_writes: has the CPU changed s since it last let go of it (or the device wrote it)? */
static int audit_unlocked_write(sim_ctx *c, const anet_ane_surface *s, const char *when) {
    if (!c->cfg.rules.audit_writes || !s->printed || surface_print(s) == s->print) return 0;
    return set_err(c, ANET_ANE_RC_INVALID, "%s: the CPU wrote a surface of %zu bytes without holding a write "
                   "lock (after IOSurfaceUnlock, or never locked; simulated audit)", when, s->bytes);
}

static int sim_surface_create(void *ctx, size_t bytes, anet_ane_surface **out) {
    sim_ctx *c = ctx;
    *out = NULL;
    if (bytes == 0 || bytes > ((size_t)1 << 32))
        return set_err(c, ANET_ANE_RC_NOMEM, "IOSurfaceCreate: refused a surface of %zu bytes", bytes);
    anet_ane_surface *s = calloc(1, sizeof *s);
    if (!s) return set_err(c, ANET_ANE_RC_NOMEM, "IOSurfaceCreate: out of memory");
    s->base = calloc(1, bytes);
    if (!s->base) {
        free(s);
        return set_err(c, ANET_ANE_RC_NOMEM, "IOSurfaceCreate: out of memory");
    }
    s->bytes = bytes;
    if (c->cfg.rules.audit_writes) {
        s->print = surface_print(s);
        s->printed = 1;
    }
    c->nsurf++;
    *out = s;
    return 0;
}

static int sim_surface_lock(void *ctx, anet_ane_surface *s, int read_only, void **base) {
    sim_ctx *c = ctx;
    *base = NULL;
    if (!s->locked) {
        int rc = audit_unlocked_write(c, s, "IOSurfaceLock");
        if (rc) return rc;
    }
    s->locked++;
    if (!read_only) {
        s->write_locked++;
        s->wrote = 1;
    }
    *base = s->base;
    return 0;
}

static int sim_surface_unlock(void *ctx, anet_ane_surface *s, int read_only) {
    sim_ctx *c = ctx;
    if (s->locked <= 0) return set_err(c, ANET_ANE_RC_INVALID, "IOSurfaceUnlock: not locked");
    if (read_only ? s->locked - s->write_locked <= 0 : s->write_locked <= 0)
        return set_err(c, ANET_ANE_RC_INVALID, "IOSurfaceUnlock: the options (%s) differ from the lock's",
                       read_only ? "read-only" : "read-write");
    s->locked--;
    if (!read_only) s->write_locked--;
    if (s->locked || !c->cfg.rules.audit_writes) return 0;
    uint64_t now = surface_print(s);
    int bad = s->printed && now != s->print && !s->wrote;
    s->print = now;
    s->printed = 1;
    s->wrote = 0;
    if (bad)
        return set_err(c, ANET_ANE_RC_INVALID, "IOSurfaceUnlock: the CPU wrote a surface of %zu bytes "
                       "under a read-only lock (simulated audit)", s->bytes);
    return 0;
}

static size_t sim_surface_size(void *ctx, const anet_ane_surface *s) {
    (void)ctx;
    return s->bytes;
}

static void sim_surface_free(void *ctx, anet_ane_surface *s) {
    sim_ctx *c = ctx;
    if (!s) return;
    free(s->base);
    free(s);
    c->nsurf--;
}

static int sim_request_create(void *ctx, anet_ane_surface *const *in, int nin,
                              anet_ane_surface *const *out, int nout, anet_ane_request **req) {
    sim_ctx *c = ctx;
    *req = NULL;
    if (nin < 0 || nout < 1 || nin > 4096 || nout > 4096)
        return set_err(c, ANET_ANE_RC_INVALID, "_ANERequest: bad surface counts %d/%d", nin, nout);
    anet_ane_request *r = calloc(1, sizeof *r);
    if (!r) return set_err(c, ANET_ANE_RC_NOMEM, "_ANERequest: out of memory");
    r->in = calloc((size_t)nin + 1, sizeof *r->in);
    r->out = calloc((size_t)nout + 1, sizeof *r->out);
    if (!r->in || !r->out) {
        free(r->in);
        free(r->out);
        free(r);
        return set_err(c, ANET_ANE_RC_NOMEM, "_ANERequest: out of memory");
    }
    for (int i = 0; i < nin; i++) r->in[i] = in[i];
    for (int i = 0; i < nout; i++) r->out[i] = out[i];
    r->nin = nin;
    r->nout = nout;
    *req = r;
    return 0;
}

static void sim_request_free(void *ctx, anet_ane_request *r) {
    (void)ctx;
    if (!r) return;
    free(r->in);
    free(r->out);
    free(r);
}

static int status_0x1d(sim_ctx *c, const char *why) {
    return set_err(c, ANET_ANE_STATUS_PROGRAM_INFERENCE,
                   "ANEProgramProcessRequestDirect() Failed with status=0x1d : Program Inference "
                   "error (simulated: %s)", why);
}

/* Rows of a tensor as the device lays them out: W = the last axis, one row per other index. */
static void tensor_rows(const anet_ane_tensor_sig *t, size_t *rows, size_t *packed_row) {
    const anet_type *ty = &t->type;
    int64_t w = ty->rank > 0 ? ty->dims[ty->rank - 1] : 1;
    if (w < 1) w = 1;
    size_t es = anet_dtype_size(ty->dtype);
    *packed_row = (size_t)w * (es ? es : 1);
    *rows = *packed_row ? t->nbytes / *packed_row : 0;
}

/* Bytes between rows under the row-layout quirk (packed, or 64-byte aligned). */
static size_t row_stride(const sim_ctx *c, size_t packed_row) {
    if (!c->cfg.rules.forms.on[ANET_FORM_ROW_LAYOUT]) return packed_row;
    return (packed_row + ANET_FORM_STRIDE_ALIGN - 1) / ANET_FORM_STRIDE_ALIGN * ANET_FORM_STRIDE_ALIGN;
}

/* The bytes a tensor occupies in a surface under the row layout. */
static size_t laid_out_bytes(const sim_ctx *c, const anet_ane_tensor_sig *t) {
    size_t rows, prow;
    tensor_rows(t, &rows, &prow);
    size_t need = rows ? (rows - 1) * row_stride(c, prow) + prow : t->nbytes;
    if (c->cfg.rules.forms.on[ANET_FORM_SURFACE_SIZE_STRIDED]) {
        size_t strided = rows * ((prow + ANET_FORM_STRIDE_ALIGN - 1) / ANET_FORM_STRIDE_ALIGN * ANET_FORM_STRIDE_ALIGN);
        if (strided > need) need = strided;
    }
    return need;
}

/* The surface-size rules of one side of a request. */
static int check_side(sim_ctx *c, anet_ane_surface *const *s, int n, const anet_ane_tensor_sig *t,
                      const int *order, const char *side) {
    char why[512];
    for (int k = 0; k < n; k++) {
        const anet_ane_tensor_sig *ts = &t[order[k]];
        if (c->cfg.rules.min_surface_bytes && s[k]->bytes < c->cfg.rules.min_surface_bytes) {
            snprintf(why, sizeof why, "%s surface %d has %zu bytes, below the minimum %zu", side, k,
                     s[k]->bytes, c->cfg.rules.min_surface_bytes);
            return status_0x1d(c, why);
        }
        if (c->cfg.rules.uniform_alloc && n > 1 && s[k]->bytes != s[0]->bytes) {
            snprintf(why, sizeof why, "%s surfaces have unequal allocation sizes (%zu and %zu bytes)",
                     side, s[0]->bytes, s[k]->bytes);
            return status_0x1d(c, why);
        }
        size_t need = laid_out_bytes(c, ts);
        if (s[k]->bytes < need) {
            snprintf(why, sizeof why, "%s surface %d has %zu bytes but '%s' needs %zu%s", side, k,
                     s[k]->bytes, ts->name, need,
                     c->cfg.rules.forms.on[ANET_FORM_SURFACE_SIZE_STRIDED] ? " (surface-size-strided)" : "");
            if (c->cfg.rules.packed_reads) return status_0x1d(c, why);
            return set_err(c, ANET_ANE_RC_INVALID, "simulator: %s", why);
        }
    }
    return 0;
}

/* io-size-order: request order ascends in size for inputs, descends for outputs. */
static int size_order_broken(anet_ane_surface *const *s, int n, int ascending) {
    for (int k = 1; k < n; k++)
        if (ascending ? s[k]->bytes < s[k - 1]->bytes : s[k]->bytes > s[k - 1]->bytes) return 1;
    return 0;
}

static void quirk_outputs(anet_ane_request *r, const anet_ane_model *m, const int *oo, int wrong) {
    for (int k = 0; k < r->nout; k++) {
        if (!wrong) {
            memset(r->out[k]->base, 0, r->out[k]->bytes);
            continue;
        }
        /* Wrong values: every fp16 element is off by one (a deterministic, visible error). */
        const anet_ane_tensor_sig *t = &m->sig.out[oo[k]];
        if (t->type.dtype != ANET_DT_FP16) continue;
        uint16_t *p = (uint16_t *)r->out[k]->base;
        size_t n = r->out[k]->bytes / 2;
        for (size_t i = 0; i < n; i++) p[i] = anet_f32_to_f16(anet_f16_to_f32(p[i]) + 1.0f);
    }
}

/* Moves a tensor between a surface (rows at `stride`) and a packed buffer. */
static void copy_rows(unsigned char *packed, unsigned char *surf, size_t rows, size_t prow, size_t stride,
                      int to_surface) {
    for (size_t i = 0; i < rows; i++) {
        if (to_surface) memcpy(surf + i * stride, packed + i * prow, prow);
        else memcpy(packed + i * prow, surf + i * stride, prow);
    }
}

static int sim_evaluate(void *ctx, anet_ane_model *m, anet_ane_request *r) {
    sim_ctx *c = ctx;
    int n = ++c->neval;
    c->last_quirk[0] = '\0';
    if (fault_hits(&c->cfg.faults.eval, n))
        return set_err(c, ANET_ANE_RC_EVAL,
                       "evaluateWithQoS:options:request:error: returned NO (simulated fault 'eval' "
                       "at evaluation %d)", n);
    if (!m || !m->loaded || !m->prog)
        return set_err(c, ANET_ANE_RC_EVAL, "evaluateWithQoS: the model is not loaded");
    if (r->nin != m->sig.nin || r->nout != m->sig.nout)
        return set_err(c, ANET_ANE_RC_EVAL, "evaluateWithQoS: the request has %d inputs and %d "
                       "outputs, the program %d and %d", r->nin, r->nout, m->sig.nin, m->sig.nout);
    const char *qid = m->quirk.rule >= 0 ? anet_form_rules(NULL)[m->quirk.rule].id : "";
    if (m->quirk.rule >= 0 && m->quirk.failure == ANET_FORM_FAIL_STATUS_1D) {
        char why[400];
        snprintf(why, sizeof why, "rule '%s': %s", qid, m->quirk.detail);
        return status_0x1d(c, why);
    }
    if (m->quirk.rule >= 0 && m->quirk.failure == ANET_FORM_FAIL_HANG)
        return set_err(c, ANET_ANE_RC_EVAL, "evaluateWithQoS: no answer within the timeout; the request "
                       "was abandoned (simulated hang, rule '%s': %s)", qid, m->quirk.detail);
    int identity_in[ANET_ANE_SIG_MAX_IO], identity_out[ANET_ANE_SIG_MAX_IO];
    for (int i = 0; i < ANET_ANE_SIG_MAX_IO; i++) identity_in[i] = identity_out[i] = i;
    const int *oi = c->cfg.rules.alphabetical_io ? m->in_sorted : identity_in;
    const int *oo = c->cfg.rules.alphabetical_io ? m->out_sorted : identity_out;
    int rc = check_side(c, r->in, r->nin, m->sig.in, oi, "input");
    if (!rc) rc = check_side(c, r->out, r->nout, m->sig.out, oo, "output");
    for (int k = 0; !rc && k < r->nin + r->nout; k++) {
        anet_ane_surface *sf = k < r->nin ? r->in[k] : r->out[k - r->nin];
        if (sf->locked)
            rc = set_err(c, ANET_ANE_RC_INVALID, "evaluateWithQoS: %s surface %d is locked by the CPU "
                         "(IOSurfaceLock without IOSurfaceUnlock): the device would race the CPU's "
                         "writes", k < r->nin ? "input" : "output", k < r->nin ? k : k - r->nin);
        else if (k < r->nin)
            rc = audit_unlocked_write(c, sf, "evaluateWithQoS");
    }
    if (rc) return rc;
    int zeros = 0, wrong = 0;
    if (c->cfg.rules.forms.on[ANET_FORM_IO_SIZE_ORDER] &&
        (size_order_broken(r->in, r->nin, 1) || size_order_broken(r->out, r->nout, 0))) {
        zeros = 1;
        snprintf(c->last_quirk, sizeof c->last_quirk, "%s", anet_form_rules(NULL)[ANET_FORM_IO_SIZE_ORDER].id);
    }
    if (m->quirk.rule >= 0) {
        zeros |= m->quirk.failure == ANET_FORM_FAIL_ZEROS;
        wrong = m->quirk.failure == ANET_FORM_FAIL_WRONG;
        snprintf(c->last_quirk, sizeof c->last_quirk, "%s", qid);
    }
    anet_io *in = calloc((size_t)r->nin + 1, sizeof *in);
    anet_io *out = calloc((size_t)r->nout + 1, sizeof *out);
    unsigned char **tmp = calloc((size_t)(r->nin + r->nout) + 1, sizeof *tmp);
    int bad = !in || !out || !tmp;
    /* Surface k feeds the k-th name in the matching order; rows are read at the row layout's
     * stride (packed: the tensor as it is from byte 0). */
    for (int k = 0; !bad && k < r->nin + r->nout; k++) {
        int is_in = k < r->nin, j = is_in ? k : k - r->nin;
        const anet_ane_tensor_sig *t = is_in ? &m->sig.in[oi[j]] : &m->sig.out[oo[j]];
        anet_ane_surface *sf = is_in ? r->in[j] : r->out[j];
        anet_io *io = is_in ? &in[oi[j]] : &out[oo[j]];
        size_t rows, prow;
        tensor_rows(t, &rows, &prow);
        size_t stride = row_stride(c, prow);
        io->nbytes = t->nbytes;
        if (stride == prow || rows <= 1) {
            io->data = sf->base;
            continue;
        }
        if (!(tmp[k] = malloc(t->nbytes))) {
            bad = 1;
            break;
        }
        if (is_in) copy_rows(tmp[k], sf->base, rows, prow, stride, 0);
        io->data = tmp[k];
    }
    anet_status st = ANET_OK;
    if (!bad) st = c->vane.ops->eval(c->vane.state, m->prog, in, r->nin, out, r->nout);
    for (int j = 0; !bad && st == ANET_OK && j < r->nout; j++) {
        int k = r->nin + j;
        if (!tmp[k]) continue;
        size_t rows, prow;
        tensor_rows(&m->sig.out[oo[j]], &rows, &prow);
        copy_rows(tmp[k], r->out[j]->base, rows, prow, row_stride(c, prow), 1);
    }
    for (int k = 0; tmp && k < r->nin + r->nout; k++) free(tmp[k]);
    free(tmp);
    free(in);
    free(out);
    if (bad) return set_err(c, ANET_ANE_RC_NOMEM, "simulator: out of memory");
    if (st) return set_err(c, ANET_ANE_RC_EVAL, "simulator: vane: %s", anet_last_error());
    if (zeros || wrong) quirk_outputs(r, m, oo, !zeros);
    for (int j = 0; c->cfg.rules.audit_writes && j < r->nout; j++) {
        r->out[j]->print = surface_print(r->out[j]);
        r->out[j]->printed = 1;
    }
    return 0;
}

/* The model's own I/O list, as modelAttributes states it: the surface order and, per tensor,
 * channels/height/width and the row stride of the simulated row layout. */
static int sim_io_layout(void *ctx, anet_ane_model *m, anet_ane_io_layout *out) {
    sim_ctx *c = ctx;
    if (!m || !m->compiled) return set_err(c, ANET_ANE_RC_INVALID, "simulator: io_layout of a model never compiled");
    if (!c->cfg.rules.report_layout)
        return set_err(c, ANET_ANE_RC_UNAVAILABLE, "modelAttributes has no NetworkStatusList (simulated)");
    if (m->sig.nin > ANET_ANE_IO_MAX || m->sig.nout > ANET_ANE_IO_MAX)
        return set_err(c, ANET_ANE_RC_UNAVAILABLE, "simulator: more than %d inputs or outputs", ANET_ANE_IO_MAX);
    memset(out, 0, sizeof *out);
    out->ninputs = m->sig.nin;
    out->noutputs = m->sig.nout;
    for (int k = 0; k < m->sig.nin + m->sig.nout; k++) {
        int is_in = k < m->sig.nin, j = is_in ? k : k - m->sig.nin;
        int idx = c->cfg.rules.alphabetical_io ? (is_in ? m->in_sorted[j] : m->out_sorted[j]) : j;
        const anet_ane_tensor_sig *t = is_in ? &m->sig.in[idx] : &m->sig.out[idx];
        anet_ane_io_entry *e = is_in ? &out->inputs[j] : &out->outputs[j];
        const anet_type *ty = &t->type;
        snprintf(e->symbol, sizeof e->symbol, "%.63s", t->name);
        int r = ty->rank;
        e->width = r > 0 ? ty->dims[r - 1] : 1;
        e->height = r > 1 ? ty->dims[r - 2] : 1;
        e->channels = 1;
        for (int a = 0; a < r - 2; a++) e->channels *= ty->dims[a];
        size_t rows, prow;
        tensor_rows(t, &rows, &prow);
        e->row_stride = (int64_t)row_stride(c, prow);
        e->plane_stride = e->row_stride * e->height;
        e->batch_stride = e->plane_stride * e->channels;
    }
    return 0;
}

static const char *sim_error(void *ctx) { return ((sim_ctx *)ctx)->err; }

static void sim_destroy(void *ctx) {
    sim_ctx *c = ctx;
    if (!c) return;
    if (c->vane_open) c->vane.ops->destroy(c->vane.state);
    free(c);
}

static const anet_ane_seam_ops sim_ops = {
    sim_magic,          sim_open,           sim_model_create, sim_compile,       sim_load,
    sim_unload,         sim_model_free,     sim_surface_create, sim_surface_lock, sim_surface_unlock,
    sim_surface_size,   sim_surface_free,   sim_request_create, sim_request_free, sim_evaluate,
    sim_error,          sim_destroy,        sim_io_layout,
};

anet_status anet_ane_sim_seam_create(const anet_ane_sim_config *cfg, anet_ane_seam *out) {
    memset(out, 0, sizeof *out);
    sim_ctx *c = calloc(1, sizeof *c);
    if (!c) return anet_fail(ANET_E_NOMEM, "ane-sim: out of memory");
    if (cfg) c->cfg = *cfg;
    else anet_ane_sim_config_default(ANET_CHIP_M1, &c->cfg);
    out->ops = &sim_ops;
    out->ctx = c;
    return ANET_OK;
}

int anet_ane_sim_is_sim(const anet_ane_seam *seam) { return seam && seam->ops == &sim_ops; }

void anet_ane_sim_counts_get(const anet_ane_seam *seam, anet_ane_sim_counts *out) {
    memset(out, 0, sizeof *out);
    if (!anet_ane_sim_is_sim(seam)) return;
    const sim_ctx *c = seam->ctx;
    out->compiles = c->ncompile;
    out->loads = c->nload;
    out->evals = c->neval;
    out->surfaces = c->nsurf;
}

uint8_t *anet_ane_sim_model_weights(anet_ane_model *m, size_t *len) {
    if (len) *len = m ? m->wlen : 0;
    return m ? m->weights : NULL;
}

const char *anet_ane_sim_last_quirk(const anet_ane_seam *seam) {
    return anet_ane_sim_is_sim(seam) ? ((const sim_ctx *)seam->ctx)->last_quirk : "";
}

void anet_ane_sim_set_rules(anet_ane_seam *seam, const anet_ane_sim_rules *rules) {
    if (anet_ane_sim_is_sim(seam)) ((sim_ctx *)seam->ctx)->cfg.rules = *rules;
}
