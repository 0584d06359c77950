/* The step programs in their chip's form, seen from the trainer (see step_forms.h). */
#include "train/step_forms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/layers_form.h"
#include "train/trainer_internal.h" /* cpu_s */

/* The logit of a padded class: exp(-30000 - max) is 0 in fp16, so it takes no probability,
 * gets no gradient and never counts as the prediction. */
#define ANET_FORM_MASKED_LOGIT -30000.0f

/* An mlp: model's layers after its sizes were padded (anet_model_param reads layers[]). */
static void mlp_layers_from_dims(anet_model_spec *m) {
    m->input.d[0] = m->dims[0];
    for (int i = 0; i < m->nl; i++) {
        anet_layer *l = &m->layers[i];
        int in = m->dims[(i + 1) / 2], out = m->dims[i / 2 + 1];
        l->in.d[0] = in;
        l->outs.d[0] = l->kind == ANET_L_LINEAR ? out : in;
        if (l->kind == ANET_L_LINEAR) l->out = out;
    }
}

/* Whether padded batch columns would change the result: batchnorm's batch statistics and the
 * mse/bce losses count every column (cross-entropy ignores them: their targets are 0). */
static int batch_pad_unsafe(const anet_model_spec *m) {
    if (m->loss != ANET_LOSS_XENT) return 1;
    for (int i = 0; i < m->nl; i++)
        if (m->layers[i].kind == ANET_L_BATCHNORM) return 1;
    return 0;
}

void anet_step_forms_config(const anet_forms *f, anet_step_config *cfg) {
    anet_forms_plan p;
    anet_forms_plan_for(f, &p);
    anet_model_spec *m = &cfg->model;
    cfg->loss_outputs = anet_model_outputs(m);
    cfg->dialect = p.dialect;
    cfg->bias_cols = p.bias_cols;
    cfg->log_eps = p.log_eps;
    cfg->row_scalars = p.row_scalars;
    if (m->is_mlp) {
        /* The outputs too: a padded class adds nothing to the loss (train/loss.h). */
        for (int l = 0; l <= m->nlayers; l++) m->dims[l] = anet_forms_pad(&p, m->dims[l]);
        /* The ones block of the bias form slices bias_cols rows of the input. */
        if (m->dims[0] < p.bias_cols) m->dims[0] = p.bias_cols;
        mlp_layers_from_dims(m);
    } else {
        /* Layer graphs: padded sizes and convs as patches + matmul where the padded form
         * applies (train/layers_form.h) and a device may run the programs; otherwise their sizes stay and only the parameters are
         * padded in the program. Too few inputs for the ones block: the plain bias (a device
         * form that needs it reports the broken rule). */
        anet_model_spec padded;
        char why[96];
        if (p.pad32 && !f->host_backend && anet_layers_form_pad(m, &padded, why, sizeof why)) {
            *m = padded;
            cfg->conv_matmul = 1;
        }
        cfg->param_col_mult = p.pad32 && !f->host_backend ? 32 : 1;
        if (anet_model_in_features(m) < p.bias_cols) cfg->bias_cols = 1;
    }
    /* A layer graph on a host backend runs its plain form: a padded batch would only be
     * work on zero samples there. */
    if (!batch_pad_unsafe(m) && (m->is_mlp || !f->host_backend)) cfg->batch = anet_forms_pad(&p, cfg->batch);
}

static void user_shape(const anet_io_desc *d, const anet_model_spec *m, int batch, anet_form_io *io) {
    int K = m->dims[m->nlayers], np = anet_model_nparams(m);
    anet_param_info pi;
    switch (d->role) {
    case ANET_ROLE_X: io->user_rows = m->dims[0]; io->user_cols = batch; break;
    case ANET_ROLE_Y_ONEHOT:
    case ANET_ROLE_LOGITS: io->user_rows = K; io->user_cols = batch; break;
    case ANET_ROLE_PARAM:
    case ANET_ROLE_PARAM_LO:
    case ANET_ROLE_OPT_STATE:
    case ANET_ROLE_GRAD:
    case ANET_ROLE_BN_STAT: /* per channel, like its running statistic */
        anet_model_param(m, d->index, &pi);
        io->user_rows = pi.rows;
        io->user_cols = pi.cols;
        if (io->rows == 1 && pi.cols == 1 && pi.rows > 1) { /* a column the program holds as a row
                                                              (padded channels after the user's) */
            io->user_rows = 1;
            io->user_cols = pi.rows;
        }
        /* A padded class's logit: masked for cross-entropy and bce (no loss, no gradient); zero
         * for mse, against a zero target. */
        if (d->role == ANET_ROLE_PARAM && d->index == np - 1 && m->loss != ANET_LOSS_MSE) io->fill = ANET_FORM_MASKED_LOGIT;
        break;
    case ANET_ROLE_HYPER:
        io->user_rows = 1;
        io->user_cols = ANET_HYPER_SLOTS;
        if (io->rows > 1) io->mode = ANET_FORM_IO_SPREAD; /* row_scalars: slot k in row k */
        break;
    case ANET_ROLE_MASK: io->user_rows = anet_shape_numel(&m->layers[d->index].in); io->user_cols = batch; break;
    default: /* LOSS, CORRECT, FINITE; row_scalars: LOSS and CORRECT are rows to be summed, FINITE
              * a row of flags that must all be 1 */
        if (io->rows * io->cols > 1) io->mode = d->role == ANET_ROLE_FINITE ? ANET_FORM_IO_MIN : ANET_FORM_IO_SUM;
        io->user_rows = 1;
        io->user_cols = 1;
        break;
    }
}

/* Device buffers of n tensors of elems[i] (or io[i].C x S) fp16 elements. */
static anet_status alloc_side(anet_io **dst, const anet_form_io *io, const int64_t *elems, int n) {
    *dst = calloc((size_t)n + 1, sizeof **dst);
    if (!*dst) return anet_fail(ANET_E_NOMEM, "program forms: out of memory");
    for (int i = 0; i < n; i++) {
        (*dst)[i].nbytes = (size_t)(elems ? elems[i] : io[i].C * io[i].S) * 2;
        if (!((*dst)[i].data = calloc(1, (*dst)[i].nbytes))) return anet_fail(ANET_E_NOMEM, "program forms: out of memory");
    }
    return ANET_OK;
}

/* Why the program of `user` keeps unpadded sizes on a device backend ("" when it is padded). */
static void unpadded_reason(const anet_model_spec *user, const anet_forms *f, char *why, size_t len) {
    why[0] = '\0';
    if (f->host_backend || user->is_mlp) return;
    anet_model_spec padded;
    if (!anet_layers_form_pad(user, &padded, why, len) && !why[0]) snprintf(why, len, "its layers do not take the padded form");
}

anet_status anet_step_forms_lower_graph(anet_step_forms *sf, anet_graph *g, const anet_forms *f) {
    memset(sf, 0, sizeof *sf);
    anet_status st = anet_forms_lower(g, f, &sf->map);
    if (st) return anet_fail_ctx(st, "lowering the program to the %s form", anet_chip_name(f->chip));
    if ((st = alloc_side(&sf->din, NULL, sf->map.dev_elems, sf->map.ndev_in)) ||
        (st = alloc_side(&sf->dout, sf->map.out, NULL, sf->map.nout)))
        return st;
    sf->lowered = 1;
    return ANET_OK;
}

anet_status anet_step_forms_lower(anet_step_forms *sf, anet_step_program *sp, const anet_forms *f,
                                  const anet_model_spec *user, int batch) {
    anet_status st = anet_step_forms_lower_graph(sf, sp->graph, f);
    if (st) return st;
    unpadded_reason(user, f, sf->unpadded, sizeof sf->unpadded);
    if (!f->host_backend && batch_pad_unsafe(user) && batch % 32 != 0) {
        sf->unpadded_batch = batch;
        sf->unpadded_what = user->loss != ANET_LOSS_XENT ? anet_loss_name(user->loss) : "batchnorm";
    }
    /* Convs with baked kernels: the patch-extraction form (train/lower_conv.h), chosen because
     * runtime conv weights are reported for 1x1 kernels only. */
    for (int o = 0; o < sp->graph->nops; o++) {
        const anet_op *op = &sp->graph->ops[o];
        int w = op->kind == ANET_OP_CONV ? anet_op_arg_value(op, "weight") : -1;
        if (w >= 0 && anet_graph_const_of(sp->graph, w)) sf->map.shaped[ANET_FORM_CONV1X1_RUNTIME_WEIGHTS] = 1;
    }
    for (int k = 0; k < 2; k++) {
        int n = k ? sp->noutputs : sp->ninputs;
        for (int i = 0; i < n; i++) {
            anet_form_io *io = k ? &sf->map.out[i] : &sf->map.in[i];
            user_shape(k ? &sp->outputs[i] : &sp->inputs[i], user, batch, io);
            int fits = io->mode == ANET_FORM_IO_SPREAD ? io->user_cols <= io->rows
                                                       : io->user_rows <= io->rows && io->user_cols <= io->cols;
            if (!fits || io->C < 1 || io->S < 1)
                return anet_fail(ANET_E_INTERNAL, "program forms: %s %d holds %lldx%lld, the user's view is %lldx%lld",
                                 k ? "output" : "input", i, (long long)io->rows, (long long)io->cols,
                                 (long long)io->user_rows, (long long)io->user_cols);
        }
    }
    return ANET_OK;
}

anet_status anet_step_forms_require(const anet_step_forms *sf, const anet_forms *f, const char *what) {
    int n = 0;
    const anet_form_rule *r = anet_form_rules(&n);
    for (int i = 0; i < n && sf->unpadded_batch && !sf->unpadded[0]; i++)
        if (sf->map.unmet[i])
            return anet_fail(ANET_E_UNSUPPORTED, "this model cannot take the %s form at batch %d: padded samples would "
                             "count in %s%s, so the batch stays unpadded, and the %s program breaks rule %s (%s): "
                             "a Neural Engine would %s. Use a batch size that is a multiple of 32, or train it on vane "
                             "(docs/models.md)", f->strict ? "strict" : anet_chip_name(f->chip), sf->unpadded_batch,
                             sf->unpadded_what, strcmp(sf->unpadded_what, "batchnorm") ? " loss" : "'s statistics", what,
                             r[i].id, sf->map.unmet_detail[i],
                             anet_form_failure_name(r[i].failure));
    for (int i = 0; i < n && sf->unpadded[0]; i++)
        if (sf->map.unmet[i])
            return anet_fail(ANET_E_UNSUPPORTED, "this model cannot take the %s form yet: %s, so its %s program keeps "
                             "the model's own sizes and the batch unpadded, and breaks rule %s (%s): a Neural Engine "
                             "would %s. Train it with --backend vane (docs/models.md)",
                             f->strict ? "strict" : anet_chip_name(f->chip), sf->unpadded, what, r[i].id,
                             sf->map.unmet_detail[i], anet_form_failure_name(r[i].failure));
    for (int i = 0; i < n; i++)
        if (sf->map.unmet[i])
            return anet_fail(ANET_E_UNSUPPORTED, "the %s program in the %s form breaks rule %s (%s; %s): a "
                             "Neural Engine would %s. The planner cannot avoid it yet; if your chip accepts it, "
                             "switch it %s with ANE_TRAINER_FORMS=%s=%s (docs/mil.md)", what,
                             f->strict ? "strict" : anet_chip_name(f->chip), r[i].id, r[i].title,
                             sf->map.unmet_detail[i], anet_form_failure_name(r[i].failure),
                             /* a capability rule is switched on to allow the form; a restriction off */
                             r[i].failure == ANET_FORM_FAIL_NONE ? "on" : "off", r[i].id,
                             r[i].failure == ANET_FORM_FAIL_NONE ? "on" : "off");
    return ANET_OK;
}

anet_type anet_step_forms_user_type(const anet_step_forms *sf, int is_out, int i) {
    const anet_form_io *io = is_out ? &sf->map.out[i] : &sf->map.in[i];
    int64_t dims[4] = {1, 1, io->user_rows, io->user_cols};
    return anet_type_make(ANET_DT_FP16, 4, dims);
}

void anet_step_forms_pack_in(anet_step_forms *sf, int i, const void *user) {
    const anet_form_io *io = &sf->map.in[i];
    uint16_t *slot = (uint16_t *)sf->din[io->dev].data + io->offset;
    if (user != slot) anet_form_pack(io, user, slot); /* else placed: written there already */
}

uint16_t *anet_step_forms_place_in(anet_step_forms *sf, int i, int64_t rows, int64_t cols, size_t *ld) {
    if (!sf->lowered || i < 0 || i >= sf->map.nin || (sf->placed && sf->placed != i + 1)) return NULL;
    const anet_form_io *io = &sf->map.in[i];
    if (io->mode != ANET_FORM_IO_EMBED || io->user_rows != rows || io->user_cols != cols || cols > io->S)
        return NULL;
    uint16_t *slot = (uint16_t *)sf->din[io->dev].data + io->offset;
    if (!sf->placed) { /* the padding, as packing a zero buffer writes it */
        uint16_t *zero = calloc((size_t)(rows * cols), sizeof *zero);
        if (!zero) return NULL;
        anet_form_pack(io, zero, slot);
        free(zero);
        sf->placed = i + 1;
    }
    *ld = (size_t)io->S;
    return slot;
}

void anet_step_forms_unpack_in(const anet_step_forms *sf, int i, void *user) {
    const anet_form_io *io = &sf->map.in[i];
    anet_form_unpack(io, (const uint16_t *)sf->din[io->dev].data + io->offset, user);
}

void anet_step_forms_unpack_out(const anet_step_forms *sf, int j, void *user) {
    anet_form_unpack(&sf->map.out[j], sf->dout[j].data, user);
}

size_t anet_step_forms_dev_bytes(const anet_step_forms *sf, int is_out, int i) {
    const anet_form_io *io = is_out ? &sf->map.out[i] : &sf->map.in[i];
    return (size_t)(io->C * io->S) * 2;
}

void anet_step_forms_pack(anet_step_forms *sf, const anet_io *in) {
    for (int i = 0; i < sf->map.nin; i++) anet_step_forms_pack_in(sf, i, in[i].data);
}

void anet_step_forms_unpack(const anet_step_forms *sf, anet_io *out) {
    for (int j = 0; j < sf->map.nout; j++) anet_step_forms_unpack_out(sf, j, out[j].data);
}

anet_status anet_step_forms_eval(anet_step_forms *sf, const anet_backend *b, anet_program *exe,
                                 const anet_io *in, int nin, anet_io *out, int nout, double *backend_s) {
    if (nin != sf->map.nin || nout != sf->map.nout)
        return anet_fail(ANET_E_INTERNAL, "program forms: %d/%d buffers for %d/%d I/O", nin, nout, sf->map.nin,
                         sf->map.nout);
    anet_step_forms_pack(sf, in);
    double t0 = cpu_s();
    anet_status st = b->ops->eval(b->state, exe, sf->din, sf->map.ndev_in, sf->dout, nout);
    if (backend_s) *backend_s += cpu_s() - t0;
    if (st == ANET_OK) anet_step_forms_unpack(sf, out);
    return st;
}

void anet_step_forms_free(anet_step_forms *sf) {
    for (int i = 0; sf->din && i < sf->map.ndev_in; i++) free(sf->din[i].data);
    for (int i = 0; sf->dout && i < sf->map.nout; i++) free(sf->dout[i].data);
    free(sf->din);
    free(sf->dout);
    anet_form_map_free(&sf->map);
    memset(sf, 0, sizeof *sf);
}
