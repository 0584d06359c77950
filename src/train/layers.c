/* The model spec grammar (docs/models.md): parsing, presets, per-layer shape inference and the
 * canonical text that checkpoints store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/model.h"

/* LeNet-5 as the issue defines it (PyTorch's usual MNIST variant: padding 2 keeps 28x28). */
static const struct {
    const char *name, *layers;
} presets[] = {
    {"lenet5", "in:1x28x28,conv:6x5x5:pad2,relu,maxpool:2,conv:16x5x5,relu,maxpool:2,flatten,"
               "linear:120,relu,linear:84,relu,linear:10"},
};

static const struct {
    const char *name;
    anet_layer_kind kind;
} kinds[] = {
    {"linear", ANET_L_LINEAR},       {"conv", ANET_L_CONV},       {"maxpool", ANET_L_MAXPOOL},
    {"avgpool", ANET_L_AVGPOOL},     {"flatten", ANET_L_FLATTEN}, {"relu", ANET_L_RELU},
    {"leakyrelu", ANET_L_LEAKYRELU}, {"sigmoid", ANET_L_SIGMOID}, {"tanh", ANET_L_TANH},
    {"gelu", ANET_L_GELU},           {"silu", ANET_L_SILU},       {"dropout", ANET_L_DROPOUT},
    {"batchnorm", ANET_L_BATCHNORM}, {"layernorm", ANET_L_LAYERNORM}, {"add", ANET_L_ADD},
};

static const char *kind_name(anet_layer_kind k) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == k) return kinds[i].name;
    return "?";
}

static const char *const loss_names[] = {"xent", "mse", "bce"};

const char *anet_loss_name(anet_loss_kind k) { return (unsigned)k < 3 ? loss_names[k] : "?"; }

int anet_loss_lookup(const char *s) {
    if (!s) return -1;
    if (strcmp(s, "cross-entropy") == 0 || strcmp(s, "ce") == 0) return ANET_LOSS_XENT;
    for (int i = 0; i < 3; i++)
        if (strcmp(s, loss_names[i]) == 0) return i;
    return -1;
}

int anet_shape_numel(const anet_shape *s) {
    int n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->d[i];
    return n;
}

int anet_model_has_dropout(const anet_model_spec *m) {
    for (int i = 0; i < m->nl; i++)
        if (m->layers[i].kind == ANET_L_DROPOUT) return 1;
    return 0;
}

/* A positive integer at *p (1..max); advances *p. -1 if none or out of range. */
static long num(const char **p, long max) {
    if (**p < '0' || **p > '9') return -1;
    errno = 0;
    char *end;
    long v = strtol(*p, &end, 10);
    if (errno || v < 0 || v > max) return -1;
    *p = end;
    return v;
}

#define SPEC_FAIL(...) anet_fail(ANET_E_INVALID, __VA_ARGS__)

/* "AxBxC" (1..3 numbers) into d; returns how many, -1 on a bad number. */
static int dims_x(const char **p, int *d, int max_n) {
    int n = 0;
    for (;;) {
        long v = num(p, 65536);
        if (v < 1 || n >= max_n) return -1;
        d[n++] = (int)v;
        if (**p != 'x') return n;
        (*p)++;
    }
}

int anet_model_spec_like(const char *s) {
    if (!s) return 0;
    size_t n = strcspn(s, ":,");
    if ((n == 3 && strncmp(s, "mlp", 3) == 0 && s[3] == ':') || (n == 2 && strncmp(s, "in", 2) == 0 && s[2] == ':'))
        return 1;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strlen(presets[i].name) == n && strncmp(s, presets[i].name, n) == 0) return 1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].name) == n && strncmp(s, kinds[i].name, n) == 0) return 1;
    return 0;
}

/* One layer token (NUL-terminated, no commas) into l. */
static anet_status parse_layer(const char *tok, anet_layer *l) {
    memset(l, 0, sizeof *l);
    l->stride = 1;
    l->groups = 1;
    const char *colon = strchr(tok, ':');
    size_t kl = colon ? (size_t)(colon - tok) : strlen(tok);
    int found = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].name) == kl && strncmp(tok, kinds[i].name, kl) == 0) {
            l->kind = kinds[i].kind;
            found = 1;
        }
    if (!found && strncmp(tok, "transformer:", 12) == 0) /* e.g. `eval` given a transformer checkpoint */
        return SPEC_FAIL("model spec: a character transformer is taken only by train and generate (see docs/models.md)");
    if (!found) return SPEC_FAIL("model spec: unknown layer '%.40s' (see docs/models.md)", tok);
    const char *p = colon ? colon + 1 : NULL;
    int d[3];
    switch (l->kind) {
    case ANET_L_LINEAR:
        if (!p || (l->out = (int)num(&p, 65536)) < 1 || *p)
            return SPEC_FAIL("model spec: '%.40s': expected linear:FEATURES (1..65536)", tok);
        return ANET_OK;
    case ANET_L_CONV: {
        int n = p ? dims_x(&p, d, 3) : -1;
        if (n < 2) return SPEC_FAIL("model spec: '%.40s': expected conv:OUTxK or conv:OUTxKHxKW", tok);
        l->out = d[0];
        l->kh = d[1];
        l->kw = n == 3 ? d[2] : d[1];
        break;
    }
    case ANET_L_MAXPOOL:
    case ANET_L_AVGPOOL: {
        int n = p ? dims_x(&p, d, 2) : -1;
        if (n < 1) return SPEC_FAIL("model spec: '%.40s': expected %s:K or %s:KHxKW", tok, kind_name(l->kind), kind_name(l->kind));
        l->kh = d[0];
        l->kw = n == 2 ? d[1] : d[0];
        l->stride = -1; /* default: the kernel */
        break;
    }
    case ANET_L_LEAKYRELU:
    case ANET_L_DROPOUT: {
        l->alpha = l->kind == ANET_L_LEAKYRELU ? 0.01f : 0.5f;
        if (p) {
            char *end;
            errno = 0;
            double v = strtod(p, &end);
            if (errno || end == p || *end || !(v >= 0.0) || (l->kind == ANET_L_DROPOUT && !(v < 1.0)) || v > 100.0)
                return SPEC_FAIL("model spec: '%.40s': expected %s", tok,
                                 l->kind == ANET_L_DROPOUT ? "dropout:P with 0 <= P < 1" : "leakyrelu:SLOPE (0..100)");
            l->alpha = (float)v;
        }
        return ANET_OK;
    }
    case ANET_L_ADD:
        if (!p || (l->back = (int)num(&p, ANET_MODEL_MAX_LAYERS)) < 1 || *p)
            return SPEC_FAIL("model spec: '%.40s': expected add:N (adds the input of the layer N positions back)", tok);
        return ANET_OK;
    default:
        if (p) return SPEC_FAIL("model spec: '%.40s': %s takes no arguments", tok, kind_name(l->kind));
        return ANET_OK;
    }
    /* Options of conv and pools: sN (stride), padN, gN (groups), dw (depthwise), dN (dilation). */
    while (*p == ':') {
        p++;
        long v = -1;
        if (strncmp(p, "pad", 3) == 0) {
            p += 3;
            if ((v = num(&p, 64)) < 0) break;
            l->pad = (int)v;
        } else if (strncmp(p, "dw", 2) == 0 && l->kind == ANET_L_CONV) {
            p += 2;
            l->groups = -1; /* resolved against the input channels */
            v = 1;
        } else if (*p == 's') {
            p++;
            if ((v = num(&p, 64)) < 1) break;
            l->stride = (int)v;
        } else if (*p == 'g' && l->kind == ANET_L_CONV) {
            p++;
            if ((v = num(&p, 65536)) < 1) break;
            l->groups = (int)v;
        } else if (*p == 'd' && l->kind == ANET_L_CONV) {
            p++;
            if ((v = num(&p, 64)) < 1) break;
            if (v > 1)
                return SPEC_FAIL("model spec: '%.40s': dilation %ld: dilated convolutions are reported not to run on the "
                                 "Neural Engine (ANE_FACTS.md, nn-dilated-conv)", tok, v);
        } else {
            break;
        }
        if (v < 0) break;
    }
    if (*p) return SPEC_FAIL("model spec: '%.40s': unknown option at '%.20s' (sN, padN, gN, dw)", tok, p);
    return ANET_OK;
}

/* Shapes, parameter numbering and the checks that need shapes. */
static anet_status infer(anet_model_spec *m, const char *spec) {
    anet_shape s = m->input;
    anet_shape hist[ANET_MODEL_MAX_LAYERS + 1];
    int np = 0, nplayer = 0;
    /* A double: a hostile spec's products (channels x kernel) must not overflow before the cap
     * below refuses them; exact up to 2^53, far above the 2^28 cap. */
    double total = 0;
    for (int i = 0; i < m->nl; i++) {
        anet_layer *l = &m->layers[i];
        hist[i] = s;
        l->in = s;
        l->player = l->param0 = -1;
        anet_shape o = s;
        const char *kn = kind_name(l->kind);
        switch (l->kind) {
        case ANET_L_LINEAR:
            if (s.rank != 1) return SPEC_FAIL("model spec '%.64s': layer %d (linear) needs flat input: add flatten before it", spec, i + 1);
            o.d[0] = l->out;
            total += (double)l->out * (s.d[0] + 1);
            break;
        case ANET_L_CONV:
        case ANET_L_MAXPOOL:
        case ANET_L_AVGPOOL: {
            if (s.rank != 3) return SPEC_FAIL("model spec '%.64s': layer %d (%s) needs a [C,H,W] input", spec, i + 1, kn);
            if (l->stride < 0) l->stride = l->kh;
            if (l->kind != ANET_L_CONV) {
                if (l->kh > 13 || l->kw > 13 || l->stride > 2)
                    return SPEC_FAIL("model spec '%.64s': layer %d (%s): kernel %dx%d stride %d: the Neural Engine takes "
                                     "pooling kernels up to 13 and strides up to 2 (ANE_FACTS.md)", spec, i + 1, kn, l->kh, l->kw, l->stride);
                if (l->kind == ANET_L_MAXPOOL && (l->kh != l->stride || l->kw != l->stride || l->pad))
                    return SPEC_FAIL("model spec '%.64s': layer %d (maxpool): only non-overlapping, unpadded windows (stride = kernel) "
                                     "have a gradient", spec, i + 1);
                if (2 * l->pad > l->kh || 2 * l->pad > l->kw)
                    return SPEC_FAIL("model spec '%.64s': layer %d (%s): padding above half the kernel", spec, i + 1, kn);
                o.d[0] = s.d[0];
            } else {
                if (l->groups < 0) l->groups = s.d[0];
                if (s.d[0] % l->groups || l->out % l->groups)
                    return SPEC_FAIL("model spec '%.64s': layer %d (conv): %d input and %d output channels are not "
                                     "divisible by %d groups", spec, i + 1, s.d[0], l->out, l->groups);
                o.d[0] = l->out;
                total += (double)l->out * ((double)(s.d[0] / l->groups) * l->kh * l->kw + 1);
            }
            long oh = (s.d[1] + 2L * l->pad - l->kh) / l->stride + 1, ow = (s.d[2] + 2L * l->pad - l->kw) / l->stride + 1;
            if (s.d[1] + 2L * l->pad < l->kh || s.d[2] + 2L * l->pad < l->kw)
                return SPEC_FAIL("model spec '%.64s': layer %d (%s): kernel %dx%d larger than its %dx%d input", spec, i + 1, kn,
                                 l->kh, l->kw, s.d[1] + 2 * l->pad, s.d[2] + 2 * l->pad);
            o.d[1] = (int)oh;
            o.d[2] = (int)ow;
            break;
        }
        case ANET_L_FLATTEN:
            o.rank = 1;
            o.d[0] = anet_shape_numel(&s);
            o.d[1] = o.d[2] = 0;
            break;
        case ANET_L_BATCHNORM:
            total += 4.0 * s.d[0];
            break;
        case ANET_L_LAYERNORM:
            total += 2.0 * anet_shape_numel(&s);
            break;
        case ANET_L_ADD: {
            if (l->back > i) return SPEC_FAIL("model spec '%.64s': layer %d (add:%d) reaches before the input", spec, i + 1, l->back);
            /* the input of the layer `back` positions earlier, this one being position 0 */
            anet_shape r = hist[i - l->back];
            if (r.rank != s.rank || memcmp(r.d, s.d, sizeof r.d) != 0)
                return SPEC_FAIL("model spec '%.64s': layer %d (add:%d): shapes differ", spec, i + 1, l->back);
            break;
        }
        default: break;
        }
        if (l->kind == ANET_L_LINEAR || l->kind == ANET_L_CONV || l->kind == ANET_L_BATCHNORM || l->kind == ANET_L_LAYERNORM) {
            l->player = nplayer++;
            l->param0 = np;
            np += l->kind == ANET_L_BATCHNORM ? 4 : 2;
        }
        if (anet_shape_numel(&o) < 1 || (int64_t)anet_shape_numel(&o) > 1 << 24)
            return SPEC_FAIL("model spec '%.64s': layer %d (%s) gives an empty or oversized activation", spec, i + 1, kn);
        l->outs = o;
        s = o;
    }
    if (total > (double)ANET_MLP_MAX_PARAMS)
        return SPEC_FAIL("model spec '%.64s': %.0f parameters, more than the %lld (2^28) supported", spec, total,
                         (long long)ANET_MLP_MAX_PARAMS);
    if (s.rank != 1) return SPEC_FAIL("model spec '%.64s': the output is [C,H,W]: end with flatten and linear", spec);
    if (np == 0) return SPEC_FAIL("model spec '%.64s': the model has no parameters", spec);
    m->nparams = np;
    m->dims[0] = anet_shape_numel(&m->input);
    if (!m->is_mlp) {
        m->nlayers = 1;
        m->dims[1] = s.d[0];
    }
    return ANET_OK;
}

/* A flat input through linear, relu, linear, ..., linear is the mlp: form: one canonical text
 * for both spellings. */
static void as_mlp(anet_model_spec *m) {
    if (m->is_mlp || m->input.rank != 1 || m->nl % 2 == 0 || (m->nl + 1) / 2 > ANET_MLP_MAX_LAYERS) return;
    for (int i = 0; i < m->nl; i++)
        if (m->layers[i].kind != (i % 2 ? ANET_L_RELU : ANET_L_LINEAR)) return;
    m->is_mlp = 1;
    m->nlayers = (m->nl + 1) / 2;
    m->dims[0] = m->input.d[0];
    for (int i = 0; i < m->nl; i += 2) m->dims[i / 2 + 1] = m->layers[i].out;
}

static void shape_text(char *buf, size_t len, const anet_shape *s) {
    if (s->rank == 1) snprintf(buf, len, "%d", s->d[0]);
    else snprintf(buf, len, "%dx%dx%d", s->d[0], s->d[1], s->d[2]);
}

/* The canonical text: mlp: form, else the full layer list with every default spelled out. */
static anet_status canonical(anet_model_spec *m) {
    char buf[sizeof m->text + 64];
    size_t n = 0;
/* Once the text is longer than buf, keep counting without pointing past its end. */
#define PUT(...) n += (size_t)snprintf(buf + (n < sizeof buf ? n : sizeof buf), n < sizeof buf ? sizeof buf - n : 0, __VA_ARGS__)
    if (m->is_mlp) {
        PUT("mlp");
        for (int i = 0; i <= m->nlayers; i++) PUT("%c%d", i ? '-' : ':', m->dims[i]);
    } else {
        char sh[48];
        shape_text(sh, sizeof sh, &m->input);
        PUT("in:%s", sh);
        for (int i = 0; i < m->nl && n < sizeof buf; i++) {
            const anet_layer *l = &m->layers[i];
            PUT(",%s", kind_name(l->kind));
            switch (l->kind) {
            case ANET_L_LINEAR: PUT(":%d", l->out); break;
            case ANET_L_CONV:
                PUT(":%dx%dx%d", l->out, l->kh, l->kw);
                if (l->stride != 1) PUT(":s%d", l->stride);
                if (l->pad) PUT(":pad%d", l->pad);
                if (l->groups != 1) PUT(":g%d", l->groups);
                break;
            case ANET_L_MAXPOOL:
            case ANET_L_AVGPOOL:
                if (l->kh == l->kw) PUT(":%d", l->kh);
                else PUT(":%dx%d", l->kh, l->kw);
                if (l->stride != l->kh) PUT(":s%d", l->stride);
                if (l->pad) PUT(":pad%d", l->pad);
                break;
            case ANET_L_LEAKYRELU:
            case ANET_L_DROPOUT: PUT(":%g", (double)l->alpha); break;
            case ANET_L_ADD: PUT(":%d", l->back); break;
            default: break;
            }
        }
    }
    if (m->loss != ANET_LOSS_XENT) PUT(",loss:%s", anet_loss_name(m->loss));
#undef PUT
    if (n >= sizeof m->text) return SPEC_FAIL("model spec: longer than %zu characters", sizeof m->text - 1);
    memcpy(m->text, buf, n + 1);
    return ANET_OK;
}

static anet_status check_loss(const anet_model_spec *m) {
    int K = anet_model_outputs(m);
    if (m->loss == ANET_LOSS_XENT && K < 2)
        return SPEC_FAIL("model %s has %d output: softmax cross-entropy needs at least 2 classes (use loss:mse or loss:bce)",
                         m->text, K);
    return ANET_OK;
}

anet_status anet_model_set_loss(anet_model_spec *m, anet_loss_kind loss) {
    anet_model_spec c = *m;
    c.loss = loss;
    anet_status st = canonical(&c);
    if (st == ANET_OK) st = check_loss(&c);
    if (st == ANET_OK) *m = c;
    return st;
}

/* "mlp:A-B-...-Z": linear layers with relu between them. */
static anet_status parse_mlp(const char *spec, const char *p, anet_model_spec *m) {
    int n = 0;
    for (;;) {
        if (*p < '0' || *p > '9')
            return SPEC_FAIL("model spec '%.64s': expected a layer size at position %d", spec, (int)(p - spec));
        errno = 0;
        char *end;
        long v = strtol(p, &end, 10);
        if (errno || v < 1 || v > 65536) return SPEC_FAIL("model spec '%.64s': layer size must be 1..65536", spec);
        if (n > ANET_MLP_MAX_LAYERS) return SPEC_FAIL("model spec '%.64s': more than %d layers", spec, ANET_MLP_MAX_LAYERS);
        m->dims[n++] = (int)v;
        p = end;
        if (*p == '\0' || *p == ',') break;
        if (*p != '-') return SPEC_FAIL("model spec '%.64s': unexpected '%c'", spec, *p);
        p++;
    }
    if (n < 2) return SPEC_FAIL("model spec '%.64s': needs at least inputs and classes (mlp:IN-CLASSES)", spec);
    m->is_mlp = 1;
    m->nlayers = n - 1;
    m->input.rank = 1;
    m->input.d[0] = m->dims[0];
    for (int i = 1; i < n; i++) {
        anet_layer *l = &m->layers[m->nl++];
        memset(l, 0, sizeof *l);
        l->kind = ANET_L_LINEAR;
        l->out = m->dims[i];
        l->stride = l->groups = 1;
        if (i + 1 < n) {
            l = &m->layers[m->nl++];
            memset(l, 0, sizeof *l);
            l->kind = ANET_L_RELU;
            l->stride = l->groups = 1;
        }
    }
    return *p == ',' ? SPEC_FAIL("model spec '%.64s': only loss:NAME may follow the mlp: form", spec) : ANET_OK;
}

anet_status anet_model_parse(const char *spec, anet_model_spec *out) {
    if (!spec || !out) return anet_fail(ANET_E_INVALID, "model spec: missing argument");
    /* Messages quote the spec: only printable ASCII gets that far (one line each). */
    for (const char *c = spec; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            return anet_fail(ANET_E_INVALID, "model spec: character 0x%02x at position %d (specs are printable ASCII "
                             "without spaces)", (unsigned char)*c, (int)(c - spec));
    anet_model_spec *m = calloc(1, sizeof *m);
    char *work = malloc(strlen(spec) + 1);
    if (!m || !work) {
        free(m);
        free(work);
        return anet_fail(ANET_E_NOMEM, "model spec: out of memory");
    }
    strcpy(work, spec);
    anet_status st = ANET_OK;
    /* A trailing ",loss:NAME" applies to every form. */
    char *lp = strstr(work, "loss:");
    if (lp && (lp == work || lp[-1] == ',')) {
        int k = anet_loss_lookup(lp + 5);
        if (k < 0) st = SPEC_FAIL("model spec '%.64s': unknown loss '%.20s' (xent, mse, bce)", spec, lp + 5);
        m->loss = (anet_loss_kind)(k < 0 ? 0 : k);
        *lp = '\0';
        if (lp > work) lp[-1] = '\0';
    }
    const char *body = work;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(work, presets[i].name) == 0) body = presets[i].layers;
    if (st == ANET_OK && strncmp(body, "mlp:", 4) == 0) {
        st = parse_mlp(spec, body + 4, m);
    } else if (st == ANET_OK) {
        /* Layer list: optional in:SHAPE first (default 1x28x28, the MNIST family). */
        m->input.rank = 3;
        m->input.d[0] = 1;
        m->input.d[1] = m->input.d[2] = 28;
        char *copy = malloc(strlen(body) + 1);
        if (!copy) st = anet_fail(ANET_E_NOMEM, "model spec: out of memory");
        if (copy) strcpy(copy, body);
        char *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && st == ANET_OK; tok = strtok_r(NULL, ",", &save)) {
            if (strncmp(tok, "in:", 3) == 0) {
                const char *q = tok + 3;
                int d[3], n = m->nl == 0 ? dims_x(&q, d, 3) : -1;
                if (n != 1 && n != 3) {
                    st = SPEC_FAIL("model spec: '%.40s': in:F or in:CxHxW, first in the list", tok);
                    break;
                }
                if (*q) {
                    st = SPEC_FAIL("model spec: '%.40s': in:F or in:CxHxW", tok);
                    break;
                }
                m->input.rank = n;
                memcpy(m->input.d, d, sizeof(int) * (size_t)n);
                if (n == 1) m->input.d[1] = m->input.d[2] = 0;
                continue;
            }
            if (m->nl >= ANET_MODEL_MAX_LAYERS) {
                st = SPEC_FAIL("model spec: more than %d layers", ANET_MODEL_MAX_LAYERS);
                break;
            }
            st = parse_layer(tok, &m->layers[m->nl++]);
        }
        free(copy);
        if (st == ANET_OK && m->nl == 0)
            st = SPEC_FAIL("model spec '%.64s': unknown model (expected mlp:IN-...-OUT, a preset such as lenet5, or a "
                           "layer list such as conv:16x3x3:pad1,relu,maxpool:2,flatten,linear:10)", spec);
    }
    if (st == ANET_OK) st = infer(m, spec);
    if (st == ANET_OK) as_mlp(m);
    if (st == ANET_OK) st = canonical(m);
    if (st == ANET_OK) st = check_loss(m);
    if (st == ANET_OK) *out = *m;
    free(m);
    free(work);
    return st;
}
