/* The program runtime: the train and eval programs built, lowered to the chip's form, compiled, bound, run.
 * Compiled once; each step only moves packed buffers through the backend. Program inputs/outputs are bound
 * by role (step.h), so the loop never depends on the programs' argument order. */
#include "train/trainer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mil/mil.h"
#include "train/dropout.h"

/* Consts at least this large go to weight.bin (BLOBFILE); smaller ones stay inline. */
#define BLOB_MIN_ELEMENTS 64

void anet_tr_prog_free(anet_trainer *t, prog_rt *p) {
    if (p->exe && t->backend_open) t->backend.ops->release(t->backend.state, p->exe);
    for (int i = 0; p->in_own && i < p->sp.ninputs; i++) free(p->in_own[i]);
    for (int i = 0; p->out_own && i < p->sp.noutputs; i++) free(p->out_own[i]);
    free(p->in_own);
    free(p->out_own);
    free(p->in);
    free(p->out);
    free(p->in_type);
    free(p->out_type);
    anet_step_forms_free(&p->form);
    anet_step_program_free(&p->sp);
    memset(p, 0, sizeof *p);
}

state_buf *anet_tr_find_state(anet_trainer *t, anet_io_role role, int index, int slot) {
    for (int i = 0; i < t->nstate; i++)
        if (t->state[i].role == role && t->state[i].index == index &&
            (role != ANET_ROLE_OPT_STATE || t->state[i].slot == slot))
            return &t->state[i];
    return NULL;
}

/* Emits MIL + weight image for a program and compiles it once. */
anet_status anet_tr_prog_compile(anet_trainer *t, prog_rt *p) {
    uint8_t *wimg = NULL;
    size_t wlen = 0;
    char *mil = NULL;
    size_t mlen = 0;
    anet_status st = anet_weights_build(p->sp.graph, BLOB_MIN_ELEMENTS, &wimg, &wlen);
    if (st == ANET_OK) st = anet_mil_emit(p->sp.graph, &mil, &mlen);
    int backend_failed = 0;
    if (st == ANET_OK) {
        st = t->backend.ops->compile(t->backend.state, mil, mlen, wimg, wlen, &p->exe);
        backend_failed = st != ANET_OK;
    }
    free(mil);
    free(wimg);
    if (backend_failed && anet_tr_can_fall_back(t)) {
        char where[64];
        snprintf(where, sizeof where, "compiling the %s program", p->name);
        return anet_tr_fall_back(t, where); /* compiles every built program on vane, this one included */
    }
    if (st != ANET_OK) return anet_fail_ctx(st, "compiling the %s program", p->name);
    return ANET_OK;
}

anet_status anet_tr_io_types(prog_rt *p) {
    const anet_graph *g = p->sp.graph;
    int ni = p->sp.ninputs, no = p->sp.noutputs;
    p->in = calloc((size_t)ni + 1, sizeof *p->in);
    p->out = calloc((size_t)no + 1, sizeof *p->out);
    p->in_type = calloc((size_t)ni + 1, sizeof *p->in_type);
    p->out_type = calloc((size_t)no + 1, sizeof *p->out_type);
    p->in_own = calloc((size_t)ni + 1, sizeof *p->in_own);
    p->out_own = calloc((size_t)no + 1, sizeof *p->out_own);
    if (!p->in || !p->out || !p->in_type || !p->out_type || !p->in_own || !p->out_own)
        return anet_fail(ANET_E_NOMEM, "%s program: out of memory", p->name);
    for (int k = 0; k < 2; k++) {
        int n = k ? no : ni;
        for (int i = 0; i < n; i++) {
            const anet_io_desc *d = k ? &p->sp.outputs[i] : &p->sp.inputs[i];
            if (d->value < 0 || d->value >= g->nvalues)
                return anet_fail(ANET_E_INTERNAL, "%s program: io %d names value %d", p->name, i, d->value);
            anet_type ty = p->form.lowered ? anet_step_forms_user_type(&p->form, k, i) : g->values[d->value].type;
            int64_t e = anet_type_elements(&ty);
            size_t es = anet_dtype_size(ty.dtype);
            if (e < 1 || es == 0)
                return anet_fail(ANET_E_INTERNAL, "%s program: io %d has no usable type", p->name, i);
            (k ? p->out_type : p->in_type)[i] = ty;
            (k ? p->out : p->in)[i].nbytes = (size_t)e * es;
        }
    }
    return ANET_OK;
}

/* Allocates the buffers that no other structure provides. */
anet_status anet_tr_prog_alloc(anet_trainer *t, prog_rt *p) {
    for (int k = 0; k < 2; k++) {
        int n = k ? p->sp.noutputs : p->sp.ninputs;
        for (int i = 0; i < n; i++) {
            const anet_io_desc *d = k ? &p->sp.outputs[i] : &p->sp.inputs[i];
            anet_io *io = k ? &p->out[i] : &p->in[i];
            int external = d->role == ANET_ROLE_X || d->role == ANET_ROLE_Y_ONEHOT ||
                           (t->o.update == ANET_UPDATE_ANE && is_state_role(d->role)) ||
                           (!k && d->role == ANET_ROLE_PARAM);
            if (external) continue;
            void **own = k ? &p->out_own[i] : &p->in_own[i];
            *own = calloc(1, io->nbytes);
            if (!*own) return anet_fail(ANET_E_NOMEM, "%s program: out of memory", p->name);
            io->data = *own;
        }
    }
    return ANET_OK;
}

/* Checks that a role's buffer has the size the trainer expects. */
static anet_status expect_count(const prog_rt *p, int is_out, int i, size_t count) {
    const anet_type *ty = is_out ? &p->out_type[i] : &p->in_type[i];
    int64_t e = anet_type_elements(ty);
    if ((size_t)e != count)
        return anet_fail(ANET_E_INTERNAL, "%s program: %s %d has %lld elements, expected %zu", p->name,
                         is_out ? "output" : "input", i, (long long)e, count);
    return ANET_OK;
}

anet_status anet_tr_check_prog_shapes(anet_trainer *t, const prog_rt *p) {
    size_t B = (size_t)t->o.batch_size;
    for (int k = 0; k < 2; k++) {
        int n = k ? p->sp.noutputs : p->sp.ninputs;
        for (int i = 0; i < n; i++) {
            const anet_io_desc *d = k ? &p->sp.outputs[i] : &p->sp.inputs[i];
            const anet_type *ty = k ? &p->out_type[i] : &p->in_type[i];
            anet_status st = ANET_OK;
            switch (d->role) {
            case ANET_ROLE_X:
                st = expect_count(p, k, i, (size_t)t->model.dims[0] * B);
                if (st == ANET_OK && ty->dtype != ANET_DT_FP16)
                    st = anet_fail(ANET_E_UNSUPPORTED, "%s program: X must be fp16", p->name);
                break;
            case ANET_ROLE_Y_ONEHOT:
                st = expect_count(p, k, i, (size_t)t->model.dims[t->model.nlayers] * B);
                if (st == ANET_OK && ty->dtype != ANET_DT_FP16)
                    st = anet_fail(ANET_E_UNSUPPORTED, "%s program: Y must be fp16", p->name);
                break;
            case ANET_ROLE_PARAM:
            case ANET_ROLE_PARAM_LO:
            case ANET_ROLE_OPT_STATE:
            case ANET_ROLE_GRAD:
                if (d->index < 0 || d->index >= t->nparams)
                    return anet_fail(ANET_E_INTERNAL, "%s program: parameter index %d", p->name, d->index);
                st = expect_count(p, k, i, (size_t)t->pinfo[d->index].rows * (size_t)t->pinfo[d->index].cols);
                if (st == ANET_OK && ty->dtype != ANET_DT_FP16 && ty->dtype != ANET_DT_FP32)
                    st = anet_fail(ANET_E_UNSUPPORTED, "%s program: parameter tensors must be fp16/fp32", p->name);
                break;
            case ANET_ROLE_LOGITS:
                st = expect_count(p, k, i, (size_t)t->model.dims[t->model.nlayers] * B);
                break;
            default: break;
            }
            if (st != ANET_OK) return st;
        }
    }
    return ANET_OK;
}

/* The per-step scalars (layout and formulas: anet_step_hyper in step.c). */
static void fill_hyper(anet_trainer *t, const anet_type *ty, void *buf, float lr, int nvalid) {
    int64_t n = anet_type_elements(ty);
    float h[ANET_HYPER_SLOTS];
    anet_step_hyper(&t->scfg, t->opt.t + 1, lr, t->scaler.scale, nvalid, h);
    for (int64_t i = 0; i < n; i++) write_scalar(buf, ty->dtype, (size_t)i, i < ANET_HYPER_SLOTS ? h[i] : 0.0f);
}

/* Points every input at its current buffer (state buffers move with the ping-pong). */
void anet_tr_bind(anet_trainer *t, prog_rt *p, anet_batch *b, float lr) {
    for (int i = 0; i < p->sp.ninputs; i++) {
        const anet_io_desc *d = &p->sp.inputs[i];
        anet_io *io = &p->in[i];
        switch (d->role) {
        case ANET_ROLE_X: io->data = b->x; break;
        case ANET_ROLE_Y_ONEHOT: io->data = b->y_onehot; break;
        case ANET_ROLE_PARAM:
        case ANET_ROLE_PARAM_LO:
        case ANET_ROLE_OPT_STATE:
            if (t->o.update == ANET_UPDATE_ANE) {
                state_buf *s = anet_tr_find_state(t, d->role, d->index, d->slot);
                io->data = s ? s->buf[t->cur] : NULL;
            } else if (d->role == ANET_ROLE_PARAM) {
                io->data = p->in_type[i].dtype == ANET_DT_FP32 ? (void *)t->opt.w[d->index]
                                                               : (void *)t->opt.w16[d->index];
            }
            break;
        case ANET_ROLE_HYPER: fill_hyper(t, &p->in_type[i], io->data, lr, (int)b->count); break;
        case ANET_ROLE_MASK:
            anet_dropout_mask(t->o.seed, t->step + 1, d->index, t->model.layers[d->index].alpha, io->data,
                              (size_t)anet_type_elements(&p->in_type[i]));
            break;
        default: break;
        }
    }
    for (int i = 0; i < p->sp.noutputs && t->o.update == ANET_UPDATE_ANE; i++) {
        const anet_io_desc *d = &p->sp.outputs[i];
        if (!is_state_role(d->role)) continue;
        state_buf *s = anet_tr_find_state(t, d->role, d->index, d->slot);
        p->out[i].data = s ? s->buf[1 - t->cur] : NULL;
    }
}

/* One evaluation on the current backend, through the program's form when it was lowered.
 * backend_s accumulates this thread's CPU time in the evaluation alone where the backend runs
 * it separately from its I/O (resident ops), else in the whole eval call (vane: it is the
 * simulated device). */
static anet_status prog_run(anet_trainer *t, prog_rt *p) {
    int train = p == &t->train;
    if (p->form.lowered && (t->backend.ops->resident || (train && t->res.on))) {
        anet_status st = anet_step_resident_run(train ? &t->res : NULL, &t->backend, p->exe, &p->form, p->in, p->out,
                                                &p->backend_s);
        if (train && !t->res.on) t->state_bytes += t->state_bytes_step;
        return st;
    }
    const anet_io *in = p->in;
    anet_io *out = p->out;
    int ni = p->sp.ninputs, no = p->sp.noutputs;
    if (p->form.lowered) {
        anet_step_forms_pack(&p->form, p->in);
        in = p->form.din;
        out = p->form.dout;
        ni = p->form.map.ndev_in;
    }
    double t0 = cpu_s();
    anet_status st = t->backend.ops->eval(t->backend.state, p->exe, in, ni, out, no);
    p->backend_s += cpu_s() - t0; /* the rest of a step is host work (host_us_per_step) */
    if (st == ANET_OK && p->form.lowered) anet_step_forms_unpack(&p->form, p->out);
    if (train) t->state_bytes += t->state_bytes_step;
    return st;
}

/* The programs of the ANE backends take their chip's form (plan/forms.h). On vane an mlp: model
 * runs its program as built (no padding, no pack and unpack: ~18% of an epoch at 784-128-10), a
 * layer graph its unpadded lowering (train/step_forms.c); after a fallback vane runs the device
 * programs it was given. */
static int wants_forms(const anet_trainer *t) { return !(t->forms.host_backend && t->model.is_mlp); }

/* The step configuration for the chip's form: padded sizes when the programs are lowered. */
void anet_tr_step_config(anet_trainer *t, const anet_model_spec *m, int batch, anet_update_mode update) {
    memset(&t->scfg, 0, sizeof t->scfg);
    t->scfg.model = *m;
    t->scfg.batch = batch;
    t->scfg.opt = t->o.opt;
    t->scfg.update = update;
    t->scfg.dialect = ANET_MIL_IOS18;
    if (wants_forms(t)) anet_step_forms_config(&t->forms, &t->scfg);
}

anet_status anet_tr_prog_lower(anet_trainer *t, prog_rt *p, const anet_model_spec *m, int batch) {
    if (!wants_forms(t)) return ANET_OK;
    anet_status st = anet_step_forms_lower(&p->form, &p->sp, &t->forms, m, batch);
    /* A form that still breaks a rule would fail (or compute wrong) on the device: refused on
     * the ANE backends; vane runs any form. */
    if (st == ANET_OK && strncmp(t->backend.ops->name, "ane", 3) == 0) {
        st = anet_step_forms_require(&p->form, &t->forms, p->name);
        /* auto (e.g. forms from a selftest report the planner cannot meet): vane instead. */
        if (st != ANET_OK && anet_tr_can_fall_back(t)) st = anet_tr_fall_back(t, "to take the programs in their form");
    }
    return st;
}

anet_status anet_tr_prog_eval(anet_trainer *t, prog_rt *p) {
    for (int i = 0; i < p->sp.ninputs; i++)
        if (!p->in[i].data)
            return anet_fail(ANET_E_INTERNAL, "%s program: input %d (role %d) is not bound", p->name, i,
                             (int)p->sp.inputs[i].role);
    for (int i = 0; i < p->sp.noutputs; i++)
        if (!p->out[i].data)
            return anet_fail(ANET_E_INTERNAL, "%s program: output %d (role %d) is not bound", p->name, i,
                             (int)p->sp.outputs[i].role);
    anet_status st = prog_run(t, p);
    if (st != ANET_OK) st = anet_fail_ctx(st, "running the %s program", p->name);
    if (st != ANET_OK && anet_tr_can_fall_back(t)) {
        /* The inputs are host buffers a failed run does not touch (outputs are rewritten), so
         * the same call on vane is exactly the step that failed. */
        char where[96];
        if (p == &t->train) snprintf(where, sizeof where, "at step %lld", (long long)t->step + 1);
        else snprintf(where, sizeof where, "in the evaluation after step %lld", (long long)t->step);
        /* A batch packed into the failed backend's surface comes back into the form's buffer. */
        int li = -1;
        uint16_t *slot = NULL;
        if (p == &t->train && anet_step_resident_reclaim(&t->res, &t->backend, p->exe, &p->form, &li, &slot) != ANET_OK)
            return anet_fail_ctx(st, "%s failed %s, and the batch could not be read back from it", t->backend.ops->name, where);
        if (li >= 0) p->in[li].data = slot;
        if ((st = anet_tr_fall_back(t, where)) != ANET_OK) return st;
        st = prog_run(t, p);
        if (st != ANET_OK) return anet_fail_ctx(st, "running the %s program on vane", p->name);
    }
    return st;
}

int anet_tr_find_out(const prog_rt *p, anet_io_role role) {
    for (int i = 0; i < p->sp.noutputs; i++)
        if (p->sp.outputs[i].role == role) return i;
    return -1;
}

anet_status anet_tr_build_programs(anet_trainer *t) {
    anet_status st;
    t->train.name = "train";
    t->eval.name = "eval";
    st = anet_step_build_train(&t->scfg, &t->train.sp);
    if (st != ANET_OK) return anet_fail_ctx(st, "building the training step");
    st = anet_step_build_eval(&t->scfg, &t->eval.sp);
    if (st != ANET_OK) return anet_fail_ctx(st, "building the evaluation program");
    prog_rt *ps[2] = {&t->train, &t->eval};
    for (int k = 0; k < 2; k++) {
        if ((st = anet_tr_prog_lower(t, ps[k], &t->model, t->o.batch_size)) != ANET_OK) return st;
        if ((st = anet_tr_io_types(ps[k])) != ANET_OK) return st;
        if ((st = anet_tr_check_prog_shapes(t, ps[k])) != ANET_OK) return st;
        if ((st = anet_tr_prog_alloc(t, ps[k])) != ANET_OK) return st;
    }
    /* Compiled after both are built: a fallback during a compile recompiles both on vane. */
    for (int k = 0; k < 2; k++)
        if (!ps[k]->exe && (st = anet_tr_prog_compile(t, ps[k])) != ANET_OK) return st;
    if (anet_tr_find_out(&t->eval, ANET_ROLE_LOGITS) < 0 && anet_tr_find_out(&t->eval, ANET_ROLE_CORRECT) < 0)
        return anet_fail(ANET_E_INTERNAL, "eval program has neither LOGITS nor CORRECT");
    if (anet_tr_find_out(&t->train, ANET_ROLE_LOSS) < 0)
        return anet_fail(ANET_E_INTERNAL, "train program has no LOSS output");
    return ANET_OK;
}
