/* The ANE backend's portable logic against a recording mock of the private-API seam (no
 * vane involved): surface sizing, alphabetical I/O mapping, ping-pong pairs, the compile
 * cache and budget, packing layout, MIL signature reading and error mapping. The mock
 * matches surfaces to names alphabetically, as the ANE is reported to (Orion #3, #13), and
 * its "program" copies input X to output o_X and computes X_next = X + 1 on raw uint16 bits,
 * so every expected value below is computed here independently of the backend. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_sig.h"
#include "runtime/sim/ane_sim.h"

/* ---------------------------------------------------------------- the mock seam */

typedef struct mock {
    int compiles, loads, evals, surfaces, requests;
    int fail_compile;
    size_t last_in_sizes[16], last_out_sizes[16];
    int last_nin, last_nout;
    void *last_in_base[16], *last_out_base[16];
    char err[256];
    /* io_layout: rc to return (0: fill from `layout`), and whether eval copies whole surfaces
     * (a strided layout moves the rows of a tensor apart). */
    int layout_rc;
    const anet_ane_io_layout *layout;
    int copy_surfaces;
} mock;

struct anet_ane_model {
    anet_ane_sig sig;
    int loaded;
};
struct anet_ane_surface {
    size_t bytes;
    unsigned char *base;
};
struct anet_ane_request {
    int nin, nout;
    anet_ane_surface *in[16], *out[16];
};

static int m_open(void *ctx) { (void)ctx; return 0; }
static int m_create(void *ctx, const char *mil, size_t len, const uint8_t *w, size_t wl, anet_ane_model **out) {
    (void)ctx; (void)w; (void)wl;
    anet_ane_model *m = calloc(1, sizeof *m);
    if (anet_ane_sig_parse(mil, len, &m->sig) != ANET_OK) { free(m); return ANET_ANE_RC_COMPILE; }
    *out = m;
    return 0;
}
static int m_compile(void *ctx, anet_ane_model *m) {
    mock *k = ctx;
    (void)m;
    k->compiles++;
    if (k->fail_compile) {
        snprintf(k->err, sizeof k->err, "ANECCompile() FAILED: err=()");
        return ANET_ANE_RC_COMPILE;
    }
    return 0;
}
static int m_load(void *ctx, anet_ane_model *m) { ((mock *)ctx)->loads++; m->loaded = 1; return 0; }
static int m_unload(void *ctx, anet_ane_model *m) { (void)ctx; m->loaded = 0; return 0; }
static void m_free(void *ctx, anet_ane_model *m) { (void)ctx; anet_ane_sig_free(&m->sig); free(m); }
static int m_surf(void *ctx, size_t bytes, anet_ane_surface **out) {
    ((mock *)ctx)->surfaces++;
    anet_ane_surface *s = calloc(1, sizeof *s);
    s->bytes = bytes;
    s->base = calloc(1, bytes);
    *out = s;
    return 0;
}
static int m_lock(void *ctx, anet_ane_surface *s, int ro, void **base) { (void)ctx; (void)ro; *base = s->base; return 0; }
static int m_unlock(void *ctx, anet_ane_surface *s, int ro) { (void)ctx; (void)s; (void)ro; return 0; }
static size_t m_size(void *ctx, const anet_ane_surface *s) { (void)ctx; return s->bytes; }
static void m_sfree(void *ctx, anet_ane_surface *s) { ((mock *)ctx)->surfaces--; free(s->base); free(s); }
static int m_req(void *ctx, anet_ane_surface *const *in, int nin, anet_ane_surface *const *out, int nout,
                 anet_ane_request **r) {
    ((mock *)ctx)->requests++;
    anet_ane_request *q = calloc(1, sizeof *q);
    q->nin = nin;
    q->nout = nout;
    for (int i = 0; i < nin; i++) q->in[i] = in[i];
    for (int i = 0; i < nout; i++) q->out[i] = out[i];
    *r = q;
    return 0;
}
static void m_rfree(void *ctx, anet_ane_request *r) { (void)ctx; free(r); }

/* The k-th surface is the k-th name in byte order. */
static int kth_sorted(const anet_ane_tensor_sig *t, int n, int k) {
    int order[16];
    anet_ane_sig_sorted(t, n, order);
    return order[k];
}

static int m_eval(void *ctx, anet_ane_model *m, anet_ane_request *r) {
    mock *k = ctx;
    k->evals++;
    k->last_nin = r->nin;
    k->last_nout = r->nout;
    for (int i = 0; i < r->nin; i++) { k->last_in_sizes[i] = r->in[i]->bytes; k->last_in_base[i] = r->in[i]->base; }
    for (int i = 0; i < r->nout; i++) { k->last_out_sizes[i] = r->out[i]->bytes; k->last_out_base[i] = r->out[i]->base; }
    for (int ko = 0; ko < r->nout; ko++) {
        const anet_ane_tensor_sig *o = &m->sig.out[kth_sorted(m->sig.out, m->sig.nout, ko)];
        char src[128];
        int plus_one = 0;
        if (strncmp(o->name, "o_", 2) == 0) {
            snprintf(src, sizeof src, "%s", o->name + 2);
        } else {
            size_t n = strlen(o->name);
            snprintf(src, sizeof src, "%.*s", (int)(n - 5), o->name); /* "X_next" */
            plus_one = 1;
        }
        int found = -1;
        for (int ki = 0; ki < r->nin; ki++)
            if (strcmp(m->sig.in[kth_sorted(m->sig.in, m->sig.nin, ki)].name, src) == 0) found = ki;
        if (found < 0) return ANET_ANE_RC_EVAL;
        if (k->copy_surfaces) {
            memcpy(r->out[ko]->base, r->in[found]->base, r->out[ko]->bytes);
            continue;
        }
        const uint16_t *a = (const uint16_t *)r->in[found]->base;
        uint16_t *b = (uint16_t *)r->out[ko]->base;
        for (size_t e = 0; e < o->nbytes / 2; e++) b[e] = (uint16_t)(a[e] + plus_one);
    }
    return 0;
}
static const char *m_error(void *ctx) { return ((mock *)ctx)->err; }
static void m_destroy(void *ctx) { (void)ctx; }

static int m_layout(void *ctx, anet_ane_model *m, anet_ane_io_layout *out) {
    mock *k = ctx;
    (void)m;
    if (k->layout_rc) return k->layout_rc;
    *out = *k->layout;
    return 0;
}

static const anet_ane_seam_ops mock_ops = {
    "mock", m_open, m_create, m_compile, m_load, m_unload, m_free, m_surf, m_lock, m_unlock,
    m_size, m_sfree, m_req, m_rfree, m_eval, m_error, m_destroy, NULL,
};
/* The same seam with io_layout (the compiled model's own I/O list). */
static const anet_ane_seam_ops mock_layout_ops = {
    "mock-layout", m_open, m_create, m_compile, m_load, m_unload, m_free, m_surf, m_lock, m_unlock,
    m_size, m_sfree, m_req, m_rfree, m_eval, m_error, m_destroy, m_layout,
};

static const char *ORDER_MIL =
    "program(1.3)\n"
    "[buildInfo = dict<string, string>({{\"coremlc-version\", \"3505.4.1\"}})]\n"
    "{\n"
    "    func main<ios18>(tensor<fp16, [1, 4, 1, 8]> zeta, tensor<fp16, [1, 2, 1, 3]> alpha, "
    "tensor<fp16, [1, 4, 1, 2]> mid) {\n"
    "        tensor<fp16, [1, 4, 1, 8]> o_zeta = identity(x = zeta)[name = string(\"o_zeta\")];\n"
    "        tensor<fp16, [1, 2, 1, 3]> o_alpha = identity(x = alpha)[name = string(\"o_alpha\")];\n"
    "        tensor<fp16, [1, 4, 1, 2]> o_mid = identity(x = mid)[name = string(\"o_mid\")];\n"
    "    } -> (o_zeta, o_mid, o_alpha);\n"
    "}\n";

static const char *PP_MIL =
    "program(1.3)\n{\n"
    "    func main<ios18>(tensor<fp16, [1, 4, 1, 8]> x, tensor<fp16, [1, 4, 1, 8]> w) {\n"
    "        tensor<fp16, [1, 4, 1, 8]> w_next = add(x = w, y = x)[name = string(\"w_next\")];\n"
    "        tensor<fp16, [1, 4, 1, 8]> o_x = identity(x = x)[name = string(\"o_x\")];\n"
    "    } -> (w_next, o_x);\n"
    "}\n";

static void *mock_backend(mock *k, const anet_ane_options *o) {
    memset(k, 0, sizeof *k);
    anet_ane_seam seam = {&mock_ops, k};
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    void *st = NULL;
    anet_status s = anet_ane_backend_create_seam(&cfg, o, seam, &st);
    CHECK_EQ_INT(s, ANET_OK);
    return st;
}

static void layout_entry(anet_ane_io_entry *e, const char *sym, int64_t c, int64_t w, int64_t stride) {
    memset(e, 0, sizeof *e);
    snprintf(e->symbol, sizeof e->symbol, "%s", sym);
    e->channels = c;
    e->height = 1;
    e->width = w;
    e->row_stride = stride;
    e->plane_stride = stride;
    e->batch_stride = stride * c;
}

/* ---------------------------------------------------------------- tests */

/* The compiled model's layout: surfaces in its order, rows at its stride; a model that lists a
 * tensor otherwise than the planner declared it is one error naming the tensor; a seam with no
 * layout (UNAVAILABLE) falls back to the backend's rules. */
static void test_io_layout(void) {
    static anet_ane_io_layout l;
    memset(&l, 0, sizeof l);
    l.ninputs = l.noutputs = 3;
    /* Alphabetical order (what the mock's eval matches by), rows every 64 bytes. */
    layout_entry(&l.inputs[0], "alpha", 2, 3, 64);
    layout_entry(&l.inputs[1], "mid", 4, 2, 64);
    layout_entry(&l.inputs[2], "zeta", 4, 8, 64);
    layout_entry(&l.outputs[0], "o_alpha", 2, 3, 64);
    layout_entry(&l.outputs[1], "o_mid", 4, 2, 64);
    layout_entry(&l.outputs[2], "o_zeta", 4, 8, 64);
    const anet_backend_ops *ops = anet_ane_sim_backend_ops();
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    uint16_t zeta[32], alpha[6], mid[8], oz[32], oa[6], om[8];
    for (int i = 0; i < 32; i++) zeta[i] = (uint16_t)(100 + i);
    for (int i = 0; i < 6; i++) alpha[i] = (uint16_t)(200 + i);
    for (int i = 0; i < 8; i++) mid[i] = (uint16_t)(300 + i);
    anet_io in[3] = {{zeta, sizeof zeta}, {alpha, sizeof alpha}, {mid, sizeof mid}};
    anet_io out[3] = {{oz, sizeof oz}, {om, sizeof om}, {oa, sizeof oa}};
    for (int variant = 0; variant < 4; variant++) {
        mock k;
        memset(&k, 0, sizeof k);
        k.layout = &l;
        k.copy_surfaces = 1;
        if (variant == 3) k.layout_rc = ANET_ANE_RC_UNAVAILABLE;
        anet_ane_io_layout bad = l;
        if (variant == 1) bad.inputs[2].width = 9;                       /* zeta laid out otherwise */
        if (variant == 2) snprintf(bad.outputs[1].symbol, sizeof bad.outputs[1].symbol, "nope");
        if (variant == 1 || variant == 2) k.layout = &bad;
        anet_ane_seam seam = {&mock_layout_ops, &k};
        void *st = NULL;
        CHECK_EQ_INT(anet_ane_backend_create_seam(&cfg, NULL, seam, &st), ANET_OK);
        anet_program *p = NULL;
        anet_status s = ops->compile(st, ORDER_MIL, strlen(ORDER_MIL), NULL, 0, &p);
        if (variant == 1) {
            CHECK_EQ_INT(s, ANET_E_MISMATCH);
            CHECK_STR_CONTAINS(anet_last_error(), "input 'zeta'");
        } else if (variant == 2) {
            CHECK_EQ_INT(s, ANET_E_MISMATCH);
            CHECK_STR_CONTAINS(anet_last_error(), "'nope'");
        } else {
            CHECK_EQ_INT(s, ANET_OK);
            memset(oz, 0, sizeof oz);
            CHECK_EQ_INT(ops->eval(st, p, in, 3, out, 3), ANET_OK);
            CHECK(memcmp(oz, zeta, sizeof zeta) == 0 && memcmp(oa, alpha, sizeof alpha) == 0 &&
                  memcmp(om, mid, sizeof mid) == 0);
            /* zeta is the third surface in the model's order; its rows sit 64 (layout) or 16
             * (packed fallback) bytes apart. */
            const uint16_t *zs = k.last_in_base[2];
            size_t stride = variant == 0 ? 64 : 16;
            for (int r = 0; r < 4; r++) CHECK_EQ_INT(zs[r * stride / 2], 100 + 8 * r);
        }
        ops->destroy(st);
    }
}


static void test_surface_size(void) {
    size_t a[3] = {100, 3000, 64};
    CHECK_EQ_INT(anet_ane_surface_size(a, 3, 0), 3008); /* round up to 64 */
    CHECK_EQ_INT(anet_ane_surface_size(a, 3, 49152), 49152);
    size_t big[1] = {100000};
    CHECK_EQ_INT(anet_ane_surface_size(big, 1, 49152), 100032);
    CHECK_EQ_INT(anet_ane_surface_size(a, 0, 49152), 0);
    size_t huge[1] = {SIZE_MAX - 3};
    CHECK_EQ_INT(anet_ane_surface_size(huge, 1, 0), 0);
    anet_ane_options o;
    anet_ane_options_default(&o);
    CHECK_EQ_INT(o.min_surface_bytes, 49152);
    CHECK_EQ_INT(o.compile_budget, 100);
}

static void test_options_env(void) {
    anet_ane_options o;
    anet_ane_options_default(&o);
    setenv("ANE_TRAINER_COMPILE_BUDGET", "7", 1);
    setenv("ANE_TRAINER_MIN_SURFACE", "4096", 1);
    CHECK_EQ_INT(anet_ane_options_env(&o), ANET_OK);
    CHECK_EQ_INT(o.compile_budget, 7);
    CHECK_EQ_INT(o.min_surface_bytes, 4096);
    setenv("ANE_TRAINER_COMPILE_BUDGET", "lots", 1);
    CHECK_EQ_INT(anet_ane_options_env(&o), ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "ANE_TRAINER_COMPILE_BUDGET");
    unsetenv("ANE_TRAINER_COMPILE_BUDGET");
    unsetenv("ANE_TRAINER_MIN_SURFACE");
}

static void test_sig(void) {
    anet_ane_sig s;
    CHECK_EQ_INT(anet_ane_sig_parse(ORDER_MIL, strlen(ORDER_MIL), &s), ANET_OK);
    CHECK_EQ_INT(s.nin, 3);
    CHECK_EQ_INT(s.nout, 3);
    if (s.nin == 3 && s.nout == 3) {
        CHECK(strcmp(s.in[0].name, "zeta") == 0 && strcmp(s.in[1].name, "alpha") == 0);
        CHECK_EQ_INT(s.in[0].nbytes, 1 * 4 * 1 * 8 * 2);
        CHECK_EQ_INT(s.in[1].type.dims[1], 2);
        CHECK(strcmp(s.out[1].name, "o_mid") == 0);
        CHECK_EQ_INT(s.out[1].nbytes, 4 * 2 * 2);
        int order[3];
        anet_ane_sig_sorted(s.in, 3, order);
        CHECK(order[0] == 1 && order[1] == 2 && order[2] == 0); /* alpha, mid, zeta */
        anet_ane_sig_sorted(s.out, 3, order);
        CHECK(order[0] == 2 && order[1] == 1 && order[2] == 0);
    }
    anet_ane_sig_free(&s);
    /* The older dialect with tensor<string, []> and scalar types. */
    const char *old =
        "program(1.0)\n[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{\"a\", \"b\"}})]\n"
        "{\n    func main<ios16>(tensor<fp32, [1, 3]> x) {\n"
        "        tensor<string, []> k = const()[name = tensor<string, []>(\"k; }\"), val = tensor<string, []>(\"x\")];\n"
        "        tensor<fp32, [1, 3]> y = relu(x = x)[name = tensor<string, []>(\"y\")];\n"
        "    } -> (y);\n}\n";
    CHECK_EQ_INT(anet_ane_sig_parse(old, strlen(old), &s), ANET_OK);
    CHECK(s.nin == 1 && s.nout == 1 && s.out[0].nbytes == 12);
    anet_ane_sig_free(&s);
    /* Malformed and hostile texts fail cleanly. */
    const char *bad[] = {
        "", "func", "program(1.3) { func main<ios18>(tensor<fp16, [1, 2]> x) { } }",
        "func main(tensor<fp16, [1, 0]> x) { } -> (x);",
        "func main(tensor<fp16, [99999999999999999999]> x) { } -> (x);",
        "func main(tensor<fp16, [1, 2, 3, 4, 5, 6]> x) { } -> (x);",
        "func main(tensor<fp16, [2]> x) { } -> (nope);",
        "func main(tensor<fp16, [2]> x) { tensor<fp16, [2]> y = relu(x = x)[name = string(\"y\")];",
        "func main(tensor<bogus, [2]> x) { } -> (x);",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        anet_status st = anet_ane_sig_parse(bad[i], strlen(bad[i]), &s);
        CHECK_MSG(st == ANET_E_FORMAT, "case %zu gave %d", i, (int)st);
        CHECK_STR_CONTAINS(anet_last_error(), "MIL signature");
    }
}

/* Mutated and truncated programs never crash the reader (run under ASan in CI). */
static void test_sig_mutations(void) {
    size_t n = strlen(ORDER_MIL);
    char *buf = malloc(n + 1);
    uint64_t s = 12345;
    int parsed = 0, rejected = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(buf, ORDER_MIL, n + 1);
        size_t len = n;
        int edits = 1 + it % 4;
        for (int e = 0; e < edits; e++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(s >> 33) % len;
            static const char alphabet[] = "(){}[]<>,;=\"0123456789 -_abcxyz\n";
            buf[pos] = alphabet[(s >> 20) % (sizeof alphabet - 1)];
        }
        if (it % 3 == 0) len = (size_t)(s >> 40) % (n + 1); /* truncated, not NUL-terminated there */
        anet_ane_sig sig;
        anet_status st = anet_ane_sig_parse(buf, len, &sig);
        if (st == ANET_OK) {
            parsed++;
            CHECK(sig.nin >= 0 && sig.nout >= 1 && sig.nin <= ANET_ANE_SIG_MAX_IO);
            anet_ane_sig_free(&sig);
        } else {
            rejected++;
            CHECK(sig.in == NULL && sig.out == NULL);
        }
    }
    CHECK(parsed > 0 && rejected > 0);
    free(buf);
}

static void test_hash(void) {
    const uint8_t w1[4] = {1, 2, 3, 4}, w2[4] = {1, 2, 3, 5};
    uint64_t a = anet_ane_program_hash("abc", 3, w1, 4);
    CHECK(a == anet_ane_program_hash("abc", 3, w1, 4));
    CHECK(a != anet_ane_program_hash("abd", 3, w1, 4));
    CHECK(a != anet_ane_program_hash("abc", 3, w2, 4));
    CHECK(anet_ane_program_hash("ab", 2, NULL, 0) != anet_ane_program_hash("a", 1, (const uint8_t *)"b", 1));
}

static void test_describe(void) {
    char buf[1024];
    anet_ane_describe(ANET_ANE_STAGE_EVAL, 0x1d, "ANEProgramProcessRequestDirect() Failed with status=0x1d", 3, buf, sizeof buf);
    CHECK_STR_CONTAINS(buf, "0x1d");
    CHECK_STR_CONTAINS(buf, "minimum size");
    CHECK_STR_CONTAINS(buf, "ANE_TRAINER_MIN_SURFACE");
    CHECK_STR_CONTAINS(buf, "unequal allocation sizes");
    CHECK_STR_CONTAINS(buf, "[framework: ANEProgramProcessRequestDirect");
    anet_ane_describe(ANET_ANE_STAGE_COMPILE, ANET_ANE_RC_COMPILE, "ANECCompile() FAILED", 119, buf, sizeof buf);
    CHECK_STR_CONTAINS(buf, "restart the process");
    CHECK_STR_CONTAINS(buf, "--resume");
    anet_ane_describe(ANET_ANE_STAGE_COMPILE, ANET_ANE_RC_COMPILE, "", 2, buf, sizeof buf);
    CHECK_STR_CONTAINS(buf, "ane_trainer check");
    anet_ane_describe(ANET_ANE_STAGE_OPEN, ANET_ANE_RC_UNAVAILABLE, "dlopen failed", 0, buf, sizeof buf);
    CHECK_STR_CONTAINS(buf, "--backend vane");
    anet_ane_describe(ANET_ANE_STAGE_LOAD, ANET_ANE_RC_LOAD, "", 0, buf, sizeof buf);
    CHECK_STR_CONTAINS(buf, "could not be loaded");
    anet_ane_describe(ANET_ANE_STAGE_EVAL, 0x7, "", 0, buf, sizeof buf);
    CHECK_STR_CONTAINS(buf, "status 0x7");
    CHECK_STR_CONTAINS(buf, "selftest");
    CHECK_EQ_INT(anet_ane_parse_status("... Failed with status=0x1d : Program Inference error"), 0x1d);
    CHECK_EQ_INT(anet_ane_parse_status("status 0x2A"), 0x2a);
    CHECK_EQ_INT(anet_ane_parse_status("no status here"), 0);
    CHECK_EQ_INT(anet_ane_parse_status("status=zz"), 0);
}

static void test_faults_parse(void) {
    anet_ane_sim_faults f;
    CHECK_EQ_INT(anet_ane_sim_faults_parse("eval@5,compile", &f), ANET_OK);
    CHECK(f.eval.at == 5 && !f.eval.always && f.compile.always && !f.load.always && !f.load.at);
    CHECK_EQ_INT(anet_ane_sim_faults_parse(" load@2 , framework,classes", &f), ANET_OK);
    CHECK(f.load.at == 2 && f.framework_missing && f.classes_missing);
    CHECK_EQ_INT(anet_ane_sim_faults_parse("eval@0", &f), ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "positive integer");
    CHECK_EQ_INT(anet_ane_sim_faults_parse("explode", &f), ANET_E_INVALID);
    CHECK_STR_CONTAINS(anet_last_error(), "unknown fault 'explode'");
    CHECK_EQ_INT(anet_ane_sim_faults_parse("framework@3", &f), ANET_E_INVALID);
}

/* Packing layout against index arithmetic written here. */
static void test_pack_layout(void) {
    const char *mil =
        "func main(tensor<fp16, [1, 4, 1, 3]> a, tensor<fp32, [1, 4, 1, 2]> f, tensor<fp16, [1, 8, 1, 2]> b,"
        " tensor<fp16, [1, 4, 1, 5]> c, tensor<fp16, [1, 8, 1, 1]> d, tensor<fp16, [1, 2, 1, 7]> e) {\n"
        "  tensor<fp16, [1, 4, 1, 3]> y = relu(x = a)[name = string(\"y\")];\n} -> (y);";
    anet_ane_sig s;
    CHECK_EQ_INT(anet_ane_sig_parse(mil, strlen(mil), &s), ANET_OK);
    anet_ane_pack_layout l;
    CHECK_EQ_INT(anet_ane_pack_plan(&s, &l), ANET_OK);
    CHECK_EQ_INT(l.ngroups, 2);
    /* a and c (C=4) pack; b and d (C=8) pack; f (fp32) and e (alone) do not. */
    CHECK(l.entry[0].group == 0 && l.entry[0].offset == 0 && l.entry[0].width == 3);
    CHECK(l.entry[3].group == 0 && l.entry[3].offset == 3 && l.entry[3].width == 5);
    CHECK(l.entry[2].group == 1 && l.entry[2].offset == 0);
    CHECK(l.entry[4].group == 1 && l.entry[4].offset == 2);
    CHECK(l.entry[1].group == -1 && l.entry[5].group == -1);
    CHECK(l.group[0].channels == 4 && l.group[0].width == 8 && l.group[0].members == 2);
    CHECK(l.group[1].channels == 8 && l.group[1].width == 3);
    CHECK_STR_CONTAINS(l.group[0].name, "anet_pack_c4_");
    /* Scatter c ([4][5]) into the group surface [4][8]: element (ch, j) lands at ch*8 + 3 + j. */
    uint16_t src[20], surf[32], back[20];
    for (int i = 0; i < 20; i++) src[i] = (uint16_t)(1000 + i);
    memset(surf, 0, sizeof surf);
    anet_ane_pack_scatter(&l, 3, src, surf);
    int ok = 1;
    for (int ch = 0; ch < 4; ch++)
        for (int j = 0; j < 5; j++) ok &= surf[ch * 8 + 3 + j] == src[ch * 5 + j];
    for (int ch = 0; ch < 4; ch++)
        for (int j = 0; j < 3; j++) ok &= surf[ch * 8 + j] == 0;
    CHECK(ok);
    anet_ane_pack_gather(&l, 3, surf, back);
    CHECK(memcmp(back, src, sizeof src) == 0);
    anet_ane_pack_layout_free(&l);
    anet_ane_sig_free(&s);
    /* A group never grows past the W axis limit. */
    const char *wide = "func main(tensor<fp16, [1, 2, 1, 10000]> a, tensor<fp16, [1, 2, 1, 10000]> b,"
                       " tensor<fp16, [1, 2, 1, 10000]> c) {\n} -> (a);";
    CHECK_EQ_INT(anet_ane_sig_parse(wide, strlen(wide), &s), ANET_OK);
    CHECK_EQ_INT(anet_ane_pack_plan(&s, &l), ANET_OK);
    CHECK_EQ_INT(l.ngroups, 0); /* a+b would be 20000 > 16384: three groups of one */
    anet_ane_pack_layout_free(&l);
    anet_ane_sig_free(&s);
}

/* Inputs and outputs reach the right names although the seam matches them alphabetically;
 * all surfaces share one size >= the minimum. */
static void test_ordering_and_sizes(void) {
    mock k;
    anet_ane_options o;
    anet_ane_options_default(&o);
    void *st = mock_backend(&k, &o);
    const anet_backend_ops *ops = anet_ane_sim_backend_ops();
    anet_program *p = NULL;
    CHECK_EQ_INT(ops->compile(st, ORDER_MIL, strlen(ORDER_MIL), NULL, 0, &p), ANET_OK);
    if (!p) { ops->destroy(st); return; }
    uint16_t zeta[32], alpha[6], mid[8];
    for (int i = 0; i < 32; i++) zeta[i] = (uint16_t)(100 + i);
    for (int i = 0; i < 6; i++) alpha[i] = (uint16_t)(200 + i);
    for (int i = 0; i < 8; i++) mid[i] = (uint16_t)(300 + i);
    uint16_t oz[32], oa[6], om[8];
    anet_io in[3] = {{zeta, sizeof zeta}, {alpha, sizeof alpha}, {mid, sizeof mid}};
    anet_io out[3] = {{oz, sizeof oz}, {om, sizeof om}, {oa, sizeof oa}};
    CHECK_EQ_INT(ops->eval(st, p, in, 3, out, 3), ANET_OK);
    CHECK(memcmp(oz, zeta, sizeof zeta) == 0);
    CHECK(memcmp(oa, alpha, sizeof alpha) == 0);
    CHECK(memcmp(om, mid, sizeof mid) == 0);
    CHECK_EQ_INT(k.last_nin, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(k.last_in_sizes[i], 49152);
        CHECK_EQ_INT(k.last_out_sizes[i], 49152);
    }
    /* Wrong sizes are refused with the tensor's name. */
    anet_io badin[3] = {{zeta, 10}, {alpha, sizeof alpha}, {mid, sizeof mid}};
    CHECK_EQ_INT(ops->eval(st, p, badin, 3, out, 3), ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "'zeta'");
    CHECK_EQ_INT(ops->eval(st, p, in, 2, out, 3), ANET_E_MISMATCH);
    ops->release(st, p);
    ops->destroy(st);

    /* Declaration order (alphabetical off) hands the wrong data to the names: the bug the
     * mapping exists to avoid. */
    anet_ane_options_default(&o);
    o.alphabetical = 0;
    o.min_surface_bytes = 0;
    st = mock_backend(&k, &o);
    CHECK_EQ_INT(ops->compile(st, ORDER_MIL, strlen(ORDER_MIL), NULL, 0, &p), ANET_OK);
    memset(oz, 0, sizeof oz);
    CHECK_EQ_INT(ops->eval(st, p, in, 3, out, 3), ANET_OK);
    CHECK(memcmp(oz, zeta, sizeof zeta) != 0);
    size_t ib = 0, ob = 0;
    anet_ane_program_surface_sizes(p, &ib, &ob, NULL);
    CHECK_EQ_INT(ib, 256); /* no minimum: [1,4,1,8] needs 4 rows x 64 bytes (surface-size-strided) */
    ops->destroy(st);
}

/* Ping-pong: the output surface of step t is the input surface of step t+1, no copies. */
static void test_pingpong(void) {
    mock k;
    void *st = mock_backend(&k, NULL);
    const anet_backend_ops *ops = anet_ane_sim_backend_ops();
    anet_program *p = NULL;
    CHECK_EQ_INT(ops->compile(st, PP_MIL, strlen(PP_MIL), NULL, 0, &p), ANET_OK);
    if (!p) { ops->destroy(st); return; }
    CHECK_EQ_INT(anet_ane_pair(st, p, 5, 0), ANET_E_INVALID); /* no input 5 */
    CHECK_EQ_INT(anet_ane_pair(st, p, 1, 0), ANET_OK); /* w <-> w_next */
    CHECK_EQ_INT(anet_ane_pair(st, p, 1, 0), ANET_E_INVALID); /* already paired */
    uint16_t w0[32], x[32], got[32];
    for (int i = 0; i < 32; i++) { w0[i] = (uint16_t)(10 * i); x[i] = 0; }
    CHECK_EQ_INT(anet_ane_write(st, p, 1, w0, sizeof w0), ANET_OK);
    CHECK_EQ_INT(anet_ane_write(st, p, 0, x, sizeof x), ANET_OK);
    anet_backend_stats s0;
    ops->stats(st, &s0);
    void *prev_out = NULL;
    int same_surface = 1;
    const int steps = 7;
    for (int t = 0; t < steps; t++) {
        CHECK_EQ_INT(anet_ane_run(st, p), ANET_OK);
        /* Surfaces are handed over alphabetically: inputs (w, x), outputs (o_x, w_next). */
        if (prev_out && k.last_in_base[0] != prev_out) same_surface = 0;
        prev_out = k.last_out_base[1];
        if (t + 1 < steps) CHECK_EQ_INT(anet_ane_swap(st, p), ANET_OK);
    }
    CHECK(same_surface);
    CHECK_EQ_INT(anet_ane_read(st, p, 0, got, sizeof got), ANET_OK);
    int ok = 1;
    for (int i = 0; i < 32; i++) ok &= got[i] == (uint16_t)(10 * i + steps);
    CHECK_MSG(ok, "w after %d steps: got[1] = %u, want %u", steps, got[1], 10 + steps);
    anet_backend_stats s1;
    ops->stats(st, &s1);
    CHECK_EQ_INT(s1.bytes_in, s0.bytes_in); /* nothing copied in between steps */
    CHECK_EQ_INT(s1.dispatches - s0.dispatches, steps);
    CHECK_EQ_INT(k.requests, 2); /* one request per parity, built once */
    /* The pair survives another write of the batch only. */
    CHECK_EQ_INT(anet_ane_write(st, p, 0, x, sizeof x), ANET_OK);
    ops->destroy(st);
}

static void test_budget_and_cache(void) {
    mock k;
    anet_ane_options o;
    anet_ane_options_default(&o);
    o.compile_budget = 3;
    void *st = mock_backend(&k, &o);
    const anet_backend_ops *ops = anet_ane_sim_backend_ops();
    char mil[4][600];
    anet_program *p[4] = {0};
    for (int i = 0; i < 4; i++) {
        snprintf(mil[i], sizeof mil[i], "// variant %d\n%s", i, PP_MIL);
        anet_status s = ops->compile(st, mil[i], strlen(mil[i]), NULL, 0, &p[i]);
        if (i < 3) CHECK_EQ_INT(s, ANET_OK);
        else {
            CHECK_EQ_INT(s, ANET_E_BACKEND);
            CHECK_STR_CONTAINS(anet_last_error(), "compile budget exhausted");
            CHECK_STR_CONTAINS(anet_last_error(), "ANE_TRAINER_COMPILE_BUDGET");
            CHECK_STR_CONTAINS(anet_last_error(), "~119");
        }
    }
    CHECK_EQ_INT(k.compiles, 3);
    /* The same text again is a cache hit: same program, no compile. */
    anet_program *again = NULL;
    const uint8_t w[3] = {1, 2, 3};
    CHECK_EQ_INT(ops->compile(st, mil[0], strlen(mil[0]), NULL, 0, &again), ANET_OK);
    CHECK(again == p[0]);
    CHECK_EQ_INT(k.compiles, 3);
    /* Other weights are another program (and over budget here). */
    CHECK_EQ_INT(ops->compile(st, mil[0], strlen(mil[0]), w, 3, &again), ANET_E_BACKEND);
    anet_ane_counts c;
    anet_ane_backend_counts(st, &c);
    CHECK(c.compiles == 3 && c.cache_hits == 1 && c.budget == 3 && c.programs == 3);
    anet_backend_stats bs;
    ops->stats(st, &bs);
    CHECK_EQ_INT(bs.compiles, 3);
    ops->destroy(st);
    CHECK_EQ_INT(k.surfaces, 0); /* everything freed */

    /* A compile the framework rejects maps to a sentence and counts against the budget. */
    st = mock_backend(&k, NULL);
    k.fail_compile = 1;
    anet_program *q = NULL;
    CHECK_EQ_INT(ops->compile(st, PP_MIL, strlen(PP_MIL), NULL, 0, &q), ANET_E_BACKEND);
    CHECK_STR_CONTAINS(anet_last_error(), "ANE compiler rejected");
    CHECK_STR_CONTAINS(anet_last_error(), "ANECCompile() FAILED");
    anet_ane_backend_counts(st, &c);
    CHECK_EQ_INT(c.compiles, 1);
    ops->destroy(st);
}

/* Two backends of one process-like context share the caller's counter and its budget. */
static void test_shared_counter(void) {
    mock k1, k2;
    int counter = 0;
    anet_ane_options o;
    anet_ane_options_default(&o);
    o.compile_budget = 3;
    o.compile_counter = &counter;
    void *a = mock_backend(&k1, &o), *b = mock_backend(&k2, &o);
    const anet_backend_ops *ops = anet_ane_sim_backend_ops();
    char mil[4][600];
    anet_program *p = NULL;
    for (int i = 0; i < 4; i++) snprintf(mil[i], sizeof mil[i], "// ctx %d\n%s", i, PP_MIL);
    CHECK_EQ_INT(ops->compile(a, mil[0], strlen(mil[0]), NULL, 0, &p), ANET_OK);
    CHECK_EQ_INT(ops->compile(a, mil[1], strlen(mil[1]), NULL, 0, &p), ANET_OK);
    CHECK_EQ_INT(ops->compile(b, mil[2], strlen(mil[2]), NULL, 0, &p), ANET_OK);
    CHECK_EQ_INT(counter, 3);
    CHECK_EQ_INT(ops->compile(b, mil[3], strlen(mil[3]), NULL, 0, &p), ANET_E_BACKEND);
    CHECK_STR_CONTAINS(anet_last_error(), "compile budget exhausted");
    anet_ane_counts c;
    anet_ane_backend_counts(b, &c);
    CHECK(c.compiles == 1 && c.context_compiles == 3);
    ops->destroy(a);
    ops->destroy(b);
}

static void test_ane_unavailable_here(void) {
#if !defined(__APPLE__)
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    anet_backend b;
    anet_status s = anet_backend_open("ane", &cfg, &b);
    CHECK_EQ_INT(s, ANET_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(anet_last_error(), "macOS");
    anet_ane_info info;
    CHECK_EQ_INT(anet_ane_info_get("ane", &info), ANET_OK);
    CHECK(!info.framework_present && info.classes_found == 0 && info.compile_budget == 100);
    CHECK_STR_CONTAINS(info.why, "macOS");
#endif
}

int main(void) {
    test_surface_size();
    test_options_env();
    test_sig();
    test_sig_mutations();
    test_hash();
    test_describe();
    test_faults_parse();
    test_pack_layout();
    test_ordering_and_sizes();
    test_io_layout();
    test_pingpong();
    test_budget_and_cache();
    test_shared_counter();
    test_ane_unavailable_here();
    TEST_MAIN_END();
}
