/* The ANE backend's portable logic: see ane_backend.h for what it does and why. */
#include "runtime/ane_backend.h"
#include "runtime/ane_layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/sim/ane_sim.h"

/* ---------------------------------------------------------------- options */

void anet_ane_options_default(anet_ane_options *o) {
    o->min_surface_bytes = ANET_ANE_DEFAULT_MIN_SURFACE;
    o->compile_budget = ANET_ANE_DEFAULT_COMPILE_BUDGET;
    o->uniform_sizes = 1;
    o->alphabetical = 1;
    o->pack_inputs = 0;
    o->compile_counter = NULL;
}

static anet_status env_long(const char *var, long lo, long hi, long *out, int *set) {
    const char *s = getenv(var);
    *set = 0;
    if (!s || !*s) return ANET_OK;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || v < lo || v > hi)
        return anet_fail(ANET_E_INVALID, "environment variable %s='%s': expected an integer in [%ld, %ld]",
                         var, s, lo, hi);
    *out = v;
    *set = 1;
    return ANET_OK;
}

anet_status anet_ane_options_env(anet_ane_options *o) {
    long v;
    int set;
    anet_status st = env_long("ANE_TRAINER_MIN_SURFACE", 0, 1L << 30, &v, &set);
    if (st) return st;
    if (set) o->min_surface_bytes = (size_t)v;
    if ((st = env_long("ANE_TRAINER_COMPILE_BUDGET", 1, 1000000, &v, &set))) return st;
    if (set) o->compile_budget = (int)v;
    if ((st = env_long("ANE_TRAINER_PACK_INPUTS", 0, 1, &v, &set))) return st;
    if (set) o->pack_inputs = (int)v;
    return ANET_OK;
}

/* ---------------------------------------------------------------- pure helpers */

size_t anet_ane_surface_size(const size_t *nbytes, int n, size_t min_bytes) {
    if (n <= 0) return 0;
    size_t m = min_bytes;
    for (int i = 0; i < n; i++)
        if (nbytes[i] > m) m = nbytes[i];
    if (m > SIZE_MAX - ANET_ANE_SURFACE_ALIGN) return 0;
    m = (m + ANET_ANE_SURFACE_ALIGN - 1) / ANET_ANE_SURFACE_ALIGN * ANET_ANE_SURFACE_ALIGN;
    return m ? m : ANET_ANE_SURFACE_ALIGN;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t anet_ane_program_hash(const char *mil, size_t mil_len, const uint8_t *w, size_t wlen) {
    uint64_t h = 0xcbf29ce484222325ULL;
    uint64_t lens[2] = {mil_len, wlen};
    h = fnv(h, lens, sizeof lens);
    if (mil) h = fnv(h, mil, mil_len);
    if (w) h = fnv(h, w, wlen);
    return h;
}

/* ---------------------------------------------------------------- state and programs */

typedef struct ane_state ane_state;

struct anet_program {
    ane_state *st;
    struct anet_program *next; /* cache list */
    uint64_t hash;
    char *mil;
    size_t mil_len;
    uint8_t *w;
    size_t wlen;
    int refs;
    anet_ane_model *model;
    anet_ane_sig sig;  /* the caller's view (declaration order) */
    anet_ane_sig psig; /* the compiled program (after packing) */
    anet_ane_pack_layout pack;
    int packed;
    int *in_slot;      /* declared input -> psig input */
    int *in_order;     /* k-th surface handed to the seam -> psig input */
    int *out_order;    /* k-th output surface -> psig output */
    int *pair_in;      /* psig input -> paired output or -1 */
    int *pair_out;     /* output -> paired psig input or -1 */
    size_t *in_stride;  /* psig input -> bytes between its rows in the surface */
    size_t *out_stride; /* psig output -> the same */
    int has_layout;     /* the compiled model stated its I/O layout */
    size_t surf_bytes;
    anet_ane_surface **in_surf;  /* [psig.nin] */
    anet_ane_surface **out_surf; /* [psig.nout] */
    int parity;
    anet_ane_request *req[2];
    int lent_in;                /* the declared input lent to the caller (anet_ane_lend), -1: none */
    anet_ane_surface *lent;     /* its surface, locked for writing */
    void *lent_base;
};

struct ane_state {
    anet_ane_seam seam;
    anet_ane_options opt;
    anet_backend_config cfg;
    int compiles, cache_hits;
    int *counter; /* the budget's count: &compiles, or the caller's shared context */
    anet_program *cache;
    anet_backend_stats stats;
};

static const char *seam_text(ane_state *st) {
    const char *t = st->seam.ops->error ? st->seam.ops->error(st->seam.ctx) : "";
    return t ? t : "";
}

/* Maps a seam failure to anet_fail with the actionable sentence. */
static anet_status seam_fail(ane_state *st, anet_ane_stage stage, int rc, const char *ctx) {
    char msg[900];
    const char *fw = seam_text(st);
    if (rc == ANET_ANE_RC_EVAL && anet_ane_parse_status(fw)) rc = anet_ane_parse_status(fw);
    anet_ane_describe(stage, rc, fw, *st->counter, msg, sizeof msg);
    anet_status code = rc == ANET_ANE_RC_UNAVAILABLE ? ANET_E_UNSUPPORTED : ANET_E_BACKEND;
    return anet_fail(code, "%s: %s", ctx, msg);
}

static void program_free(ane_state *st, anet_program *p) {
    if (!p) return;
    const anet_ane_seam_ops *o = st->seam.ops;
    void *c = st->seam.ctx;
    if (p->lent) o->surface_unlock(c, p->lent, 0);
    for (int k = 0; k < 2; k++)
        if (p->req[k]) o->request_free(c, p->req[k]);
    if (p->in_surf)
        for (int i = 0; i < p->psig.nin; i++)
            if (p->in_surf[i]) o->surface_free(c, p->in_surf[i]);
    if (p->out_surf)
        for (int i = 0; i < p->psig.nout; i++)
            if (p->out_surf[i]) o->surface_free(c, p->out_surf[i]);
    if (p->model) o->model_free(c, p->model);
    free(p->in_surf);
    free(p->out_surf);
    free(p->in_slot);
    free(p->in_order);
    free(p->out_order);
    free(p->pair_in);
    free(p->pair_out);
    free(p->in_stride);
    free(p->out_stride);
    anet_ane_pack_layout_free(&p->pack);
    anet_ane_sig_free(&p->sig);
    anet_ane_sig_free(&p->psig);
    free(p->mil);
    free(p->w);
    free(p);
}

anet_status anet_ane_backend_create_seam(const anet_backend_config *cfg, const anet_ane_options *opt,
                                         anet_ane_seam seam, void **state) {
    *state = NULL;
    ane_state *st = calloc(1, sizeof *st);
    if (!st) {
        if (seam.ops && seam.ops->destroy) seam.ops->destroy(seam.ctx);
        return anet_fail(ANET_E_NOMEM, "ane backend: out of memory");
    }
    st->seam = seam;
    if (opt) st->opt = *opt;
    else anet_ane_options_default(&st->opt);
    if (cfg) st->cfg = *cfg;
    st->counter = st->opt.compile_counter ? st->opt.compile_counter : &st->compiles;
    int rc = seam.ops->open(seam.ctx);
    if (rc != 0) {
        anet_status s = seam_fail(st, ANET_ANE_STAGE_OPEN, rc, "ane backend");
        seam.ops->destroy(seam.ctx);
        free(st);
        return s;
    }
    *state = st;
    return ANET_OK;
}

static void state_destroy(void *state) {
    ane_state *st = state;
    if (!st) return;
    anet_program *p = st->cache;
    while (p) {
        anet_program *n = p->next;
        program_free(st, p);
        p = n;
    }
    if (st->seam.ops && st->seam.ops->destroy) st->seam.ops->destroy(st->seam.ctx);
    free(st);
}

void anet_ane_backend_counts(void *state, anet_ane_counts *out) {
    ane_state *st = state;
    memset(out, 0, sizeof *out);
    if (!st) return;
    out->compiles = st->compiles;
    out->context_compiles = *st->counter;
    out->cache_hits = st->cache_hits;
    out->budget = st->opt.compile_budget;
    for (anet_program *p = st->cache; p; p = p->next) out->programs++;
}

anet_ane_seam *anet_ane_backend_seam(void *state) { return state ? &((ane_state *)state)->seam : NULL; }

const anet_ane_sig *anet_ane_program_sig(const anet_program *p) { return &p->sig; }

void anet_ane_program_surface_sizes(const anet_program *p, size_t *in_bytes, size_t *out_bytes,
                                    int *nsurf_in) {
    if (in_bytes) *in_bytes = p->surf_bytes;
    if (out_bytes) *out_bytes = p->surf_bytes;
    if (nsurf_in) *nsurf_in = p->psig.nin;
}

static int find_name(const anet_ane_sig *s, int in, const char *name) {
    int n = in ? s->nin : s->nout;
    const anet_ane_tensor_sig *t = in ? s->in : s->out;
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return i;
    return -1;
}

/* Surface order and row strides: the compiled model's own layout when the seam states one,
 * else alphabetical (or declaration) order and packed rows. */
static anet_status program_layout(ane_state *st, anet_program *p) {
    const anet_ane_sig *s = &p->psig;
    if (st->opt.alphabetical) {
        anet_ane_sig_sorted(s->in, s->nin, p->in_order);
        anet_ane_sig_sorted(s->out, s->nout, p->out_order);
    } else {
        for (int i = 0; i < s->nin; i++) p->in_order[i] = i;
        for (int i = 0; i < s->nout; i++) p->out_order[i] = i;
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? s->nout : s->nin); i++) {
            size_t rows, rb;
            anet_ane_tensor_rows(k ? &s->out[i] : &s->in[i], &rows, &rb);
            (k ? p->out_stride : p->in_stride)[i] = rb;
        }
    p->has_layout = 0;
    if (!st->seam.ops->io_layout) return ANET_OK;
    anet_ane_io_layout *l = malloc(sizeof *l);
    if (!l) return anet_fail(ANET_E_NOMEM, "ane backend: out of memory reading the model's layout");
    int rc = st->seam.ops->io_layout(st->seam.ctx, p->model, l);
    anet_status r = ANET_OK;
    if (rc == 0) {
        r = anet_ane_layout_apply(l, s, p->in_order, p->out_order, p->in_stride, p->out_stride);
        p->has_layout = r == ANET_OK;
    } else if (rc != ANET_ANE_RC_UNAVAILABLE) {
        r = seam_fail(st, ANET_ANE_STAGE_LOAD, rc, "ane backend: reading the compiled model's I/O layout");
    }
    free(l);
    return r;
}

/* Sizes, slots and surfaces of a freshly compiled program. */
static anet_status program_bind(ane_state *st, anet_program *p) {
    const anet_ane_sig *s = &p->psig;
    int ni = s->nin, no = s->nout;
    size_t total = (size_t)(ni + no);
    p->in_slot = calloc((size_t)p->sig.nin + 1, sizeof(int));
    p->in_order = calloc((size_t)ni + 1, sizeof(int));
    p->out_order = calloc((size_t)no + 1, sizeof(int));
    p->pair_in = calloc((size_t)ni + 1, sizeof(int));
    p->pair_out = calloc((size_t)no + 1, sizeof(int));
    p->in_surf = calloc((size_t)ni + 1, sizeof *p->in_surf);
    p->out_surf = calloc((size_t)no + 1, sizeof *p->out_surf);
    p->in_stride = calloc((size_t)ni + 1, sizeof *p->in_stride);
    p->out_stride = calloc((size_t)no + 1, sizeof *p->out_stride);
    size_t *sizes = calloc(total + 1, sizeof *sizes);
    if (!p->in_slot || !p->in_order || !p->out_order || !p->pair_in || !p->pair_out ||
        !p->in_surf || !p->out_surf || !p->in_stride || !p->out_stride || !sizes) {
        free(sizes);
        return anet_fail(ANET_E_NOMEM, "ane backend: out of memory binding a program");
    }
    for (int i = 0; i < p->sig.nin; i++) {
        const char *name = p->sig.in[i].name;
        if (p->packed && p->pack.entry[i].group >= 0) name = p->pack.group[p->pack.entry[i].group].name;
        p->in_slot[i] = find_name(s, 1, name);
        if (p->in_slot[i] < 0) {
            free(sizes);
            return anet_fail(ANET_E_INTERNAL, "ane backend: input '%s' missing after packing", name);
        }
    }
    anet_status lst = program_layout(st, p);
    if (lst) {
        free(sizes);
        return lst;
    }
    for (int i = 0; i < ni; i++) { sizes[i] = anet_ane_tensor_need(&s->in[i], p->in_stride[i]); p->pair_in[i] = -1; }
    for (int i = 0; i < no; i++) { sizes[ni + i] = anet_ane_tensor_need(&s->out[i], p->out_stride[i]); p->pair_out[i] = -1; }
    /* One size for every surface of the program: inputs uniform, outputs uniform, and a
     * paired output can become an input without breaking either rule. */
    if (st->opt.uniform_sizes) {
        p->surf_bytes = anet_ane_surface_size(sizes, (int)total, st->opt.min_surface_bytes);
    } else {
        p->surf_bytes = 0; /* per-tensor sizes: only for demonstrating the 0x1d failure */
    }
    const anet_ane_seam_ops *o = st->seam.ops;
    for (int i = 0; i < (int)total; i++) {
        size_t b = p->surf_bytes;
        if (!b) b = anet_ane_surface_size(&sizes[i], 1, st->opt.min_surface_bytes);
        anet_ane_surface **slot = i < ni ? &p->in_surf[i] : &p->out_surf[i - ni];
        int rc = o->surface_create(st->seam.ctx, b, slot);
        if (rc) {
            free(sizes);
            return seam_fail(st, ANET_ANE_STAGE_SURFACE, rc, "ane backend: creating an I/O surface");
        }
        /* Zero it once so padding never holds stale data. */
        void *base = NULL;
        if (o->surface_lock(st->seam.ctx, *slot, 0, &base) == 0 && base) {
            memset(base, 0, b);
            o->surface_unlock(st->seam.ctx, *slot, 0);
        }
    }
    free(sizes);
    return ANET_OK;
}

static anet_status compile_impl(void *state, const char *mil, size_t mil_len, const uint8_t *w,
                                size_t wlen, anet_program **out) {
    ane_state *st = state;
    *out = NULL;
    if (!st || !mil) return anet_fail(ANET_E_INVALID, "ane backend: no program text");
    if (!w) wlen = 0;
    uint64_t h = anet_ane_program_hash(mil, mil_len, w, wlen);
    for (anet_program *p = st->cache; p; p = p->next)
        if (p->hash == h && p->mil_len == mil_len && p->wlen == wlen &&
            memcmp(p->mil, mil, mil_len) == 0 && (!wlen || memcmp(p->w, w, wlen) == 0)) {
            p->refs++;
            st->cache_hits++;
            *out = p;
            return ANET_OK;
        }
    if (*st->counter >= st->opt.compile_budget)
        return anet_fail(ANET_E_BACKEND,
                         "ane backend: compile budget exhausted: this process already compiled %d "
                         "programs (budget %d, ANE_TRAINER_COMPILE_BUDGET); the ANE is reported to "
                         "fail after ~%d compiles per process (maderix; Orion #5). Make changing "
                         "weights program inputs instead of constants, or checkpoint and restart "
                         "with --resume",
                         *st->counter, st->opt.compile_budget, ANET_ANE_REPORTED_COMPILE_LIMIT);
    anet_program *p = calloc(1, sizeof *p);
    if (!p) return anet_fail(ANET_E_NOMEM, "ane backend: out of memory");
    p->st = st;
    p->hash = h;
    p->mil = malloc(mil_len + 1);
    p->w = wlen ? malloc(wlen) : NULL;
    if (!p->mil || (wlen && !p->w)) {
        program_free(st, p);
        return anet_fail(ANET_E_NOMEM, "ane backend: out of memory copying a program");
    }
    memcpy(p->mil, mil, mil_len);
    p->mil[mil_len] = '\0';
    p->mil_len = mil_len;
    if (wlen) memcpy(p->w, w, wlen);
    p->wlen = wlen;
    anet_status s = anet_ane_sig_parse(mil, mil_len, &p->sig);
    if (s) {
        program_free(st, p);
        return anet_fail_ctx(s, "ane backend");
    }
    const char *cmil = p->mil;
    size_t cmil_len = p->mil_len;
    char *packed_mil = NULL;
    if (st->opt.pack_inputs) {
        if ((s = anet_ane_pack_plan(&p->sig, &p->pack))) {
            program_free(st, p);
            return s;
        }
        if (p->pack.ngroups > 0) {
            if ((s = anet_ane_pack_mil(mil, mil_len, w, wlen, &p->pack, &packed_mil, &cmil_len))) {
                program_free(st, p);
                return anet_fail_ctx(s, "ane backend: packing inputs");
            }
            cmil = packed_mil;
            p->packed = 1;
        }
    }
    s = anet_ane_sig_parse(cmil, cmil_len, &p->psig);
    if (s) {
        free(packed_mil);
        program_free(st, p);
        return anet_fail_ctx(s, "ane backend (program after packing)");
    }
    const anet_ane_seam_ops *o = st->seam.ops;
    int rc = o->model_create(st->seam.ctx, cmil, cmil_len, w, wlen, &p->model);
    free(packed_mil);
    if (rc) {
        s = seam_fail(st, ANET_ANE_STAGE_CREATE, rc, "ane backend: creating the model");
        program_free(st, p);
        return s;
    }
    /* Every attempt counts: the per-process limit is on compiler invocations. */
    st->compiles++;
    if (st->counter != &st->compiles) (*st->counter)++;
    st->stats.compiles++;
    rc = o->compile(st->seam.ctx, p->model);
    if (rc) {
        s = seam_fail(st, ANET_ANE_STAGE_COMPILE, rc, "ane backend: compile");
        program_free(st, p);
        return s;
    }
    rc = o->load(st->seam.ctx, p->model);
    if (rc) {
        s = seam_fail(st, ANET_ANE_STAGE_LOAD, rc, "ane backend: load");
        program_free(st, p);
        return s;
    }
    if ((s = program_bind(st, p))) {
        program_free(st, p);
        return s;
    }
    p->refs = 1;
    p->lent_in = -1;
    p->next = st->cache;
    st->cache = p;
    *out = p;
    return ANET_OK;
}

/* Programs stay cached (and loaded) until the backend closes: compiling them again would
 * spend the compile budget. */
static void release_impl(void *state, anet_program *p) {
    (void)state;
    if (p && p->refs > 0) p->refs--;
}

static anet_ane_surface *cur_in(const anet_program *p, int k) {
    if (p->parity && p->pair_in[k] >= 0) return p->out_surf[p->pair_in[k]];
    return p->in_surf[k];
}
static anet_ane_surface *cur_out(const anet_program *p, int j) {
    if (p->parity && p->pair_out[j] >= 0) return p->in_surf[p->pair_out[j]];
    return p->out_surf[j];
}

anet_status anet_ane_write(void *state, anet_program *p, int i, const void *data, size_t n) {
    ane_state *st = state;
    if (!st || !p || i < 0 || i >= p->sig.nin || !data)
        return anet_fail(ANET_E_INVALID, "ane backend: write: bad input index %d", i);
    if (n != p->sig.in[i].nbytes)
        return anet_fail(ANET_E_MISMATCH, "ane backend: input '%s' takes %zu bytes, got %zu",
                         p->sig.in[i].name, p->sig.in[i].nbytes, n);
    if (p->lent_in == i)
        return anet_fail(ANET_E_INVALID, "ane backend: input '%s' is lent to the caller; give it back first",
                         p->sig.in[i].name);
    int slot = p->in_slot[i];
    anet_ane_surface *s = cur_in(p, slot);
    void *base = NULL;
    int rc = st->seam.ops->surface_lock(st->seam.ctx, s, 0, &base);
    if (rc || !base) return seam_fail(st, ANET_ANE_STAGE_SURFACE, rc ? rc : ANET_ANE_RC_NOMEM, "ane backend: locking an input surface");
    size_t rows, rb;
    anet_ane_tensor_rows(&p->psig.in[slot], &rows, &rb);
    size_t stride = p->in_stride[slot];
    if (p->packed && p->pack.entry[i].group >= 0) {
        if (stride == rb) {
            anet_ane_pack_scatter(&p->pack, i, data, base);
        } else { /* the group's rows sit at the model's stride: scatter into a packed copy */
            unsigned char *tmp = malloc(p->psig.in[slot].nbytes);
            if (!tmp) {
                st->seam.ops->surface_unlock(st->seam.ctx, s, 0);
                return anet_fail(ANET_E_NOMEM, "ane backend: out of memory writing '%s'", p->sig.in[i].name);
            }
            anet_ane_rows_copy(tmp, rb, base, stride, rows, rb);
            anet_ane_pack_scatter(&p->pack, i, data, tmp);
            anet_ane_rows_copy(base, stride, tmp, rb, rows, rb);
            free(tmp);
        }
    } else {
        anet_ane_rows_copy(base, stride, data, rb, rows, rb); /* packed unless the model says otherwise */
    }
    st->seam.ops->surface_unlock(st->seam.ctx, s, 0);
    st->stats.bytes_in += n;
    return ANET_OK;
}

/* Copies the tensor t of surface s (rows at `stride`) out to data (packed rows). */
static anet_status surface_out(ane_state *st, anet_ane_surface *s, const anet_ane_tensor_sig *t, size_t stride,
                               void *data, size_t n) {
    void *base = NULL;
    int rc = st->seam.ops->surface_lock(st->seam.ctx, s, 1, &base);
    if (rc || !base) return seam_fail(st, ANET_ANE_STAGE_SURFACE, rc ? rc : ANET_ANE_RC_NOMEM, "ane backend: locking a surface to read it");
    size_t rows, rb;
    anet_ane_tensor_rows(t, &rows, &rb);
    anet_ane_rows_copy(data, rb, base, stride, rows, rb);
    st->seam.ops->surface_unlock(st->seam.ctx, s, 1);
    st->stats.bytes_out += n;
    return ANET_OK;
}

anet_status anet_ane_read(void *state, anet_program *p, int j, void *data, size_t n) {
    ane_state *st = state;
    if (!st || !p || j < 0 || j >= p->sig.nout || !data)
        return anet_fail(ANET_E_INVALID, "ane backend: read: bad output index %d", j);
    if (n != p->sig.out[j].nbytes)
        return anet_fail(ANET_E_MISMATCH, "ane backend: output '%s' has %zu bytes, asked %zu",
                         p->sig.out[j].name, p->sig.out[j].nbytes, n);
    int k = find_name(&p->psig, 0, p->sig.out[j].name);
    if (k < 0) return anet_fail(ANET_E_INTERNAL, "ane backend: output '%s' lost", p->sig.out[j].name);
    return surface_out(st, cur_out(p, k), &p->psig.out[k], p->out_stride[k], data, n);
}

anet_status anet_ane_read_input(void *state, anet_program *p, int i, void *data, size_t n) {
    ane_state *st = state;
    if (!st || !p || i < 0 || i >= p->sig.nin || !data)
        return anet_fail(ANET_E_INVALID, "ane backend: read_input: bad input index %d", i);
    if (n != p->sig.in[i].nbytes)
        return anet_fail(ANET_E_MISMATCH, "ane backend: input '%s' has %zu bytes, asked %zu",
                         p->sig.in[i].name, p->sig.in[i].nbytes, n);
    if (p->packed && p->pack.entry[i].group >= 0)
        return anet_fail(ANET_E_UNSUPPORTED, "ane backend: input '%s' shares a packed surface; it "
                         "cannot be read back", p->sig.in[i].name);
    int slot = p->in_slot[i];
    return surface_out(st, cur_in(p, slot), &p->psig.in[slot], p->in_stride[slot], data, n);
}

static void drop_requests(ane_state *st, anet_program *p) {
    for (int k = 0; k < 2; k++)
        if (p->req[k]) {
            st->seam.ops->request_free(st->seam.ctx, p->req[k]);
            p->req[k] = NULL;
        }
}

anet_status anet_ane_lend(void *state, anet_program *p, int i, void **base, size_t *stride) {
    ane_state *st = state;
    if (!st || !p || i < 0 || i >= p->sig.nin || !base || !stride)
        return anet_fail(ANET_E_INVALID, "ane backend: lend: bad input index %d", i);
    if (p->packed && p->pack.entry[i].group >= 0)
        return anet_fail(ANET_E_UNSUPPORTED, "ane backend: input '%s' shares a packed surface; it is "
                         "written by copy", p->sig.in[i].name);
    int slot = p->in_slot[i];
    if (p->pair_in[slot] >= 0) /* its surface changes with every swap */
        return anet_fail(ANET_E_UNSUPPORTED, "ane backend: input '%s' is paired; it cannot be lent",
                         p->sig.in[i].name);
    if (p->lent_in != i) {
        if (p->lent_in >= 0)
            return anet_fail(ANET_E_INVALID, "ane backend: input '%s' is lent already",
                             p->sig.in[p->lent_in].name);
        anet_ane_surface *s = cur_in(p, slot);
        void *b = NULL;
        int rc = st->seam.ops->surface_lock(st->seam.ctx, s, 0, &b);
        if (rc || !b)
            return seam_fail(st, ANET_ANE_STAGE_SURFACE, rc ? rc : ANET_ANE_RC_NOMEM, "ane backend: locking an input surface to lend it");
        p->lent = s;
        p->lent_base = b;
        p->lent_in = i;
    }
    *base = p->lent_base;
    *stride = p->in_stride[slot];
    return ANET_OK;
}

anet_status anet_ane_give_back(void *state, anet_program *p, int i) {
    ane_state *st = state;
    if (!st || !p || i < 0 || i >= p->sig.nin || p->lent_in != i)
        return anet_fail(ANET_E_INVALID, "ane backend: give_back: input %d is not lent", i);
    int rc = st->seam.ops->surface_unlock(st->seam.ctx, p->lent, 0);
    p->lent = NULL;
    p->lent_base = NULL;
    p->lent_in = -1;
    if (rc) return seam_fail(st, ANET_ANE_STAGE_SURFACE, rc, "ane backend: unlocking a lent input surface");
    st->stats.bytes_in += p->sig.in[i].nbytes; /* what the caller wrote there crosses like a write */
    return ANET_OK;
}

anet_status anet_ane_run(void *state, anet_program *p) {
    ane_state *st = state;
    if (!st || !p) return anet_fail(ANET_E_INVALID, "ane backend: run: no program");
    if (p->lent_in >= 0)
        return anet_fail(ANET_E_INVALID, "ane backend: run while input '%s' is lent to the caller (its "
                         "surface is locked for the CPU)", p->sig.in[p->lent_in].name);
    if (!p->req[p->parity]) {
        int ni = p->psig.nin, no = p->psig.nout;
        anet_ane_surface **in = calloc((size_t)ni + 1, sizeof *in);
        anet_ane_surface **out = calloc((size_t)no + 1, sizeof *out);
        if (!in || !out) {
            free(in);
            free(out);
            return anet_fail(ANET_E_NOMEM, "ane backend: out of memory building a request");
        }
        for (int k = 0; k < ni; k++) in[k] = cur_in(p, p->in_order[k]);
        for (int k = 0; k < no; k++) out[k] = cur_out(p, p->out_order[k]);
        int rc = st->seam.ops->request_create(st->seam.ctx, in, ni, out, no, &p->req[p->parity]);
        free(in);
        free(out);
        if (rc) return seam_fail(st, ANET_ANE_STAGE_REQUEST, rc, "ane backend: building the request");
    }
    int rc = st->seam.ops->evaluate(st->seam.ctx, p->model, p->req[p->parity]);
    st->stats.dispatches++;
    if (rc) return seam_fail(st, ANET_ANE_STAGE_EVAL, rc, "ane backend: evaluate");
    return ANET_OK;
}

anet_status anet_ane_pair(void *state, anet_program *p, int in_index, int out_index) {
    ane_state *st = state;
    if (!st || !p || in_index < 0 || in_index >= p->sig.nin || out_index < 0 ||
        out_index >= p->sig.nout)
        return anet_fail(ANET_E_INVALID, "ane backend: pair: bad index (%d, %d)", in_index, out_index);
    const anet_ane_tensor_sig *a = &p->sig.in[in_index], *b = &p->sig.out[out_index];
    if (!anet_type_equal(&a->type, &b->type) && !(a->type.dtype == b->type.dtype && a->nbytes == b->nbytes))
        return anet_fail(ANET_E_MISMATCH, "ane backend: cannot pair input '%s' with output '%s': "
                         "their types differ", a->name, b->name);
    if (p->packed && p->pack.entry[in_index].group >= 0)
        return anet_fail(ANET_E_UNSUPPORTED, "ane backend: input '%s' is packed with others into "
                         "one surface and cannot be paired; disable packing "
                         "(ANE_TRAINER_PACK_INPUTS=0)", a->name);
    if (!p->surf_bytes)
        return anet_fail(ANET_E_UNSUPPORTED, "ane backend: pairing needs uniform surface sizes");
    int slot = p->in_slot[in_index];
    int k = find_name(&p->psig, 0, b->name);
    if (k < 0 || p->pair_in[slot] >= 0 || p->pair_out[k] >= 0)
        return anet_fail(ANET_E_INVALID, "ane backend: input '%s' or output '%s' is already paired",
                         a->name, b->name);
    if (p->in_stride[slot] != p->out_stride[k])
        return anet_fail(ANET_E_MISMATCH, "ane backend: cannot pair input '%s' with output '%s': the "
                         "compiled model lays their rows out at different strides", a->name, b->name);
    if (p->parity)
        return anet_fail(ANET_E_INVALID, "ane backend: pair surfaces before the first swap");
    p->pair_in[slot] = k;
    p->pair_out[k] = slot;
    drop_requests(st, p);
    return ANET_OK;
}

anet_status anet_ane_swap(void *state, anet_program *p) {
    if (!state || !p) return anet_fail(ANET_E_INVALID, "ane backend: swap: no program");
    p->parity ^= 1; /* the requests of both parities stay built */
    return ANET_OK;
}

anet_status anet_ane_reload(void *state, anet_program *p) {
    ane_state *st = state;
    if (!st || !p) return anet_fail(ANET_E_INVALID, "ane backend: reload: no program");
    int rc = st->seam.ops->unload(st->seam.ctx, p->model);
    if (rc) return seam_fail(st, ANET_ANE_STAGE_UNLOAD, rc, "ane backend: unload");
    rc = st->seam.ops->load(st->seam.ctx, p->model);
    if (rc) return seam_fail(st, ANET_ANE_STAGE_LOAD, rc, "ane backend: load");
    return ANET_OK;
}

anet_ane_model *anet_ane_program_model(anet_program *p) { return p ? p->model : NULL; }

static anet_status eval_impl(void *state, anet_program *p, const anet_io *in, int nin, anet_io *out,
                             int nout) {
    if (!state || !p) return anet_fail(ANET_E_INVALID, "ane backend: eval: no program");
    if (nin != p->sig.nin || nout != p->sig.nout)
        return anet_fail(ANET_E_MISMATCH, "ane backend: the program takes %d inputs and %d outputs, "
                         "got %d and %d", p->sig.nin, p->sig.nout, nin, nout);
    anet_status s;
    for (int i = 0; i < nin; i++)
        if ((s = anet_ane_write(state, p, i, in[i].data, in[i].nbytes))) return s;
    if ((s = anet_ane_run(state, p))) return s;
    for (int j = 0; j < nout; j++)
        if ((s = anet_ane_read(state, p, j, out[j].data, out[j].nbytes))) return s;
    return ANET_OK;
}

static void stats_impl(void *state, anet_backend_stats *out) {
    ane_state *st = state;
    if (st) *out = st->stats;
    else memset(out, 0, sizeof *out);
}

/* ---------------------------------------------------------------- the two backends */

#if !defined(__APPLE__)
anet_status anet_ane_darwin_seam_create(anet_ane_seam *out) {
    memset(out, 0, sizeof *out);
    return anet_fail(ANET_E_UNSUPPORTED,
                     "the ane backend needs macOS on Apple Silicon (AppleNeuralEngine.framework); "
                     "this build is for another system - use --backend vane, or ane-sim to run "
                     "the ane backend's logic against its simulator");
}

void anet_ane_darwin_chip(char *buf, size_t len) {
    if (buf && len) buf[0] = '\0';
}
#endif

static anet_status ane_probe(char *why, size_t len) {
    anet_ane_seam seam;
    anet_status s = anet_ane_darwin_seam_create(&seam);
    if (s == ANET_OK) {
        int rc = seam.ops->open(seam.ctx);
        if (rc) {
            char msg[700];
            anet_ane_describe(ANET_ANE_STAGE_OPEN, rc, seam.ops->error(seam.ctx), 0, msg, sizeof msg);
            s = anet_fail(ANET_E_UNSUPPORTED, "ane: %s", msg);
        }
        seam.ops->destroy(seam.ctx);
    }
    if (s && why && len) snprintf(why, len, "%s", anet_last_error());
    else if (why && len) why[0] = '\0';
    return s;
}

static anet_status ane_create(const anet_backend_config *cfg, void **state) {
    anet_ane_options o;
    anet_ane_options_default(&o);
    anet_status s = anet_ane_options_env(&o);
    if (s) return s;
    anet_ane_seam seam;
    if ((s = anet_ane_darwin_seam_create(&seam))) return s;
    return anet_ane_backend_create_seam(cfg, &o, seam, state);
}

static anet_status sim_seam_from_env(const anet_backend_config *cfg, anet_ane_seam *seam) {
    anet_ane_sim_config sc;
    anet_ane_sim_config_default(cfg ? cfg->chip : ANET_CHIP_M1, &sc);
    if (cfg) sc.numerics = cfg->numerics;
    anet_status s = anet_ane_sim_config_env(&sc);
    if (s) return s;
    return anet_ane_sim_seam_create(&sc, seam);
}

static anet_status sim_probe(char *why, size_t len) {
    anet_ane_seam seam;
    anet_status s = sim_seam_from_env(NULL, &seam);
    if (s == ANET_OK) {
        int rc = seam.ops->open(seam.ctx);
        if (rc) {
            char msg[700];
            anet_ane_describe(ANET_ANE_STAGE_OPEN, rc, seam.ops->error(seam.ctx), 0, msg, sizeof msg);
            s = anet_fail(ANET_E_UNSUPPORTED, "ane-sim: %s", msg);
        }
        seam.ops->destroy(seam.ctx);
    }
    if (s && why && len) snprintf(why, len, "%s", anet_last_error());
    else if (why && len) why[0] = '\0';
    return s;
}

static anet_status sim_create(const anet_backend_config *cfg, void **state) {
    anet_ane_options o;
    anet_ane_options_default(&o);
    anet_status s = anet_ane_options_env(&o);
    if (s) return s;
    anet_ane_seam seam;
    if ((s = sim_seam_from_env(cfg, &seam))) return s;
    return anet_ane_backend_create_seam(cfg, &o, seam, state);
}

static const anet_backend_resident_ops resident_ops = {
    anet_ane_write, anet_ane_read, anet_ane_read_input, anet_ane_run, anet_ane_pair, anet_ane_swap,
    anet_ane_lend,  anet_ane_give_back,
};
static const anet_backend_ops ane_ops = {
    "ane", ane_probe, ane_create, state_destroy, compile_impl, eval_impl, release_impl, stats_impl, &resident_ops,
};
static const anet_backend_ops sim_ops = {
    "ane-sim", sim_probe, sim_create, state_destroy, compile_impl, eval_impl, release_impl, stats_impl, &resident_ops,
};

const anet_backend_ops *anet_ane_backend_ops(void) { return &ane_ops; }
const anet_backend_ops *anet_ane_sim_backend_ops(void) { return &sim_ops; }
