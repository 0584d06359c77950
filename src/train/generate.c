/* Text generation from a transformer checkpoint (see generate.h). */
#include "train/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "core/rng.h"
#include "data/text.h"
#include "train/checkpoint.h"
#include "train/seq_train.h"
#include "train/transformer.h"

#define MAXP ANET_TFM_MAX_PARAMS

static int hexval(char ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Whether vane runs the device form (o->program_form). */
static int device_form(const anet_gen_options *o, const anet_ckpt *ck) {
    if (o->program_form != ANET_GEN_FORM_CHECKPOINT) return o->program_form == ANET_GEN_FORM_DEVICE;
    return anet_seq_ckpt_device_form(ck);
}

/* The model config and vocabulary recorded in the checkpoint ck, and its fp16 weights in the
 * program form for backend be (anet_seq_forms). */
static anet_status load(const anet_gen_options *o, const anet_backend *be, anet_forms *f, const anet_forms **fp,
                        const anet_ckpt *ck, anet_tfm_config *c, anet_vocab *v, anet_f16 **w16) {
    anet_status st;
    const char *spec = anet_ckpt_get_meta(ck, "model"), *hex = anet_ckpt_get_meta(ck, "vocab");
    if (!spec || strncmp(spec, "transformer:", 12) != 0 || !hex)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: not a transformer checkpoint (no transformer model or vocab metadata)",
                         o->checkpoint);
    st = anet_tfm_parse(spec, c);
    if (st != ANET_OK) return anet_fail(ANET_E_FORMAT, "checkpoint %s: %s", o->checkpoint, anet_last_error());
    size_t hl = strlen(hex);
    uint8_t chars[256];
    if (hl % 2 || hl == 0 || hl > 512)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: vocab metadata of %zu hex digits", o->checkpoint, hl);
    for (size_t i = 0; i < hl / 2; i++) {
        int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
        if (a < 0 || b < 0) return anet_fail(ANET_E_FORMAT, "checkpoint %s: vocab metadata is not hex", o->checkpoint);
        chars[i] = (uint8_t)(a * 16 + b);
    }
    st = anet_vocab_from_chars(chars, (uint32_t)(hl / 2), v);
    if (st != ANET_OK) return anet_fail(ANET_E_FORMAT, "checkpoint %s: %s", o->checkpoint, anet_last_error());
    c->vocab = (int)v->size;
    if ((st = anet_seq_forms(be, o->chip, device_form(o, ck), f, c, fp)) != ANET_OK) return st;
    int np = anet_tfm_nparams(c);
    for (int i = 0; i < np; i++) {
        char name[32];
        int r, k;
        anet_tfm_param(c, i, name, &r, &k);
        const anet_ckpt_tensor *t = anet_ckpt_find(ck, name);
        if (!t || t->dtype != ANET_DT_FP32 || t->rank != 2 || t->dims[0] != r || t->dims[1] != k)
            return anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor %s missing or not F32 [%d, %d]", o->checkpoint, name, r, k);
        int pr, pc;
        anet_tfm_prog_param(c, i, &pr, &pc);
        float *pw = malloc((size_t)pr * pc * sizeof(float));
        w16[i] = malloc((size_t)pr * pc * sizeof(anet_f16));
        if (!w16[i] || !pw) {
            free(pw);
            return anet_fail(ANET_E_NOMEM, "out of memory for %s", name);
        }
        anet_tfm_to_prog(c, i, (const float *)t->data, pw);
        anet_f32_to_f16_n(pw, w16[i], (size_t)pr * pc);
        free(pw);
    }
    return ANET_OK;
}

/* Draws from softmax(z / temperature) (argmax at temperature 0). */
static uint32_t sample(const float *z, int V, double temperature, anet_rng *rng) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (z[i] > z[best]) best = i;
    if (temperature <= 0) return (uint32_t)best;
    double p[256], sum = 0;
    for (int i = 0; i < V; i++) sum += p[i] = exp(((double)z[i] - z[best]) / temperature);
    double u = anet_rng_uniform(rng) * sum;
    for (int i = 0; i < V; i++) {
        if (u < p[i]) return (uint32_t)i;
        u -= p[i];
    }
    return (uint32_t)best;
}

anet_status anet_generate(const anet_gen_options *o, FILE *out) {
    anet_ckpt ck;
    memset(&ck, 0, sizeof ck);
    anet_tfm_config c;
    memset(&c, 0, sizeof c); /* read below even when the checkpoint did not load */
    anet_vocab v;
    anet_f16 *w16[MAXP] = {0};
    anet_backend be = {0};
    anet_seq_program prog = {0};
    size_t plen = o->prompt ? strlen(o->prompt) : 0;
    uint32_t *ids = NULL;
    anet_f16 *x = NULL;
    anet_f16 *logits = NULL;
    anet_forms forms;
    const anet_forms *fp = NULL;
    anet_status st = anet_ckpt_read(o->checkpoint, &ck);
    /* the plain form on vane is not a chip's program: not checked against its profile */
    anet_backend_config bc = {o->chip, o->numerics, st == ANET_OK && !device_form(o, &ck)};
    if (st == ANET_OK) st = anet_backend_open(o->backend ? o->backend : "vane", &bc, &be);
    if (st == ANET_OK) st = load(o, &be, &forms, &fp, &ck, &c, &v, w16);
    int np = st == ANET_OK ? anet_tfm_nparams(&c) : 0;
    int S = c.ctx, SP = st == ANET_OK ? anet_tfm_spad(&c) : 0, V = c.vocab, VP = st == ANET_OK ? anet_tfm_vpad(&c) : 0;
    if (st == ANET_OK && (o->tokens < 0 || o->tokens > 1000000))
        st = anet_fail(ANET_E_INVALID, "--tokens %lld: 0 to 1000000", (long long)o->tokens);
    if (st == ANET_OK && !(o->temperature >= 0 && o->temperature <= 100))
        st = anet_fail(ANET_E_INVALID, "--temperature %g: 0 to 100", o->temperature);
    if (st == ANET_OK) {
        ids = malloc((plen + (size_t)o->tokens + 1) * sizeof *ids);
        x = malloc((size_t)SP * VP * sizeof *x);
        logits = malloc((size_t)SP * VP * sizeof *logits);
        if (!ids || !x || !logits) st = anet_fail(ANET_E_NOMEM, "out of memory");
    }
    if (st == ANET_OK) st = anet_vocab_encode(&v, o->prompt ? o->prompt : "", plen, ids);
    anet_seq_build_opts bo;
    memset(&bo, 0, sizeof bo);
    bo.forms = fp;
    if (st == ANET_OK) st = anet_seq_build(&c, 1, ANET_SEQ_LOGITS, &bo, &prog);
    if (st == ANET_OK) st = anet_seq_compile(&be, &prog);
    size_t n = plen;
    if (st == ANET_OK && n == 0) ids[n++] = 0; /* an empty prompt starts from the first character */
    if (st == ANET_OK && plen) fwrite(o->prompt, 1, plen, out);
    anet_rng rng;
    anet_rng_seed(&rng, o->seed);
    const anet_f16 one = anet_f32_to_f16(1.0f);
    for (int64_t k = 0; st == ANET_OK && k < o->tokens; k++) {
        size_t m = n < (size_t)S ? n : (size_t)S;
        const uint32_t *ctx = ids + n - m;
        memset(x, 0, (size_t)SP * VP * sizeof *x);
        for (size_t t = 0; t < (size_t)S; t++) x[t * VP + (t < m ? ctx[t] : 0)] = one;
        anet_io in[MAXP + 1], res[1];
        in[0] = (anet_io){x, (size_t)SP * VP * sizeof *x};
        for (int i = 0; i < np; i++) {
            int r, kk;
            anet_tfm_prog_param(&c, i, &r, &kk);
            in[1 + i] = (anet_io){w16[i], (size_t)r * kk * sizeof(anet_f16)};
        }
        res[0] = (anet_io){logits, (size_t)SP * VP * sizeof *logits};
        st = anet_seq_eval(&be, &prog, in, 1 + np, res, 1);
        if (st != ANET_OK) break;
        float z[256];
        for (int j = 0; j < V; j++) z[j] = anet_f16_to_f32(logits[(m - 1) * (size_t)VP + j]);
        uint32_t id = sample(z, V, o->temperature, &rng);
        ids[n++] = id;
        fputc(v.chars[id], out);
    }
    if (st == ANET_OK) fputc('\n', out);
    if (be.ops) {
        anet_seq_program_free(&be, &prog);
        anet_backend_close(&be);
    }
    for (int i = 0; i < MAXP; i++) free(w16[i]);
    free(ids);
    free(x);
    free(logits);
    anet_ckpt_free(&ck);
    return st;
}
