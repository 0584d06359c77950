/* The character transformer's programs (compiled once per run): training (forward, loss,
 * backward and, with update=ane, the gradients' global norm, clipping and AdamW), validation
 * loss, and logits for generation. All I/O is fp16 and rank 4; names sort in the order below
 * (the ANE matches surfaces by name order):
 *
 *   TRAIN, update=ane: a_hyper [1,1,1,16] (train/step.h's ANET_HYPER_* slots), b_x, c_y, per
 *     parameter i pII_NAME_hi, _lo, _s0, _s1 -> a_finite, b_gnorm, c_loss, uII_NAME_hi, _lo,
 *     _s0, _s1 (the same optimizer ops and state units as the layer graphs' --update ane);
 *   TRAIN, update=cpu: a_hyper, b_x, c_y, pII_NAME -> c_loss, gII_NAME (gradients of S * loss);
 *   LOSS: b_x, c_y, pII_NAME -> c_loss;  LOGITS: b_x, pII_NAME -> logits [1,B,S,V].
 *
 * b_x and c_y are one-hot [1,B,Sp,Vp] (padded positions x padded vocabulary). With scalars as
 * rows (rule broadcast-scalar) a_hyper is [1,SLOTS,1,W] (slot k in row k, W the widest
 * parameter or Sp), c_loss the per-position rows [1,1,B,Sp] summing to the mean, b_gnorm a
 * [1,1,1,32] row holding the norm, a_finite a row of 32 flags (all 1 when finite); the form's
 * I/O map reads them so (anet_seq_eval's buffers are the same either way). A parameter of program
 * shape [rows, cols] (anet_tfm_prog_param) is [1,1,rows,cols]; a vector (cols 1) is the row
 * [1,1,1,rows]: the same bytes.
 *
 * In the program (update=ane): g_i are the gradients of S * loss (S the loss scale). The global
 * norm is computed without squaring large or tiny fp16 numbers: with m_i = max |g_i| (at least
 * 2^-24) and M = max_i m_i, norm = (M / S) * 4 * sqrt(sum_i (m_i/M)^2 * sum((g_i/m_i)^2) / 16);
 * the clip factor is min(1, clip / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_), and
 * AdamW gets g_i * (K/S) * factor. a_finite is 0 when the loss, the norm or the largest clipped
 * gradient in state units is not finite (the host then keeps the old values and halves S). */
#ifndef ANET_TRAIN_SEQ_PROGRAM_H
#define ANET_TRAIN_SEQ_PROGRAM_H

#include "graph/ir.h"
#include "plan/forms.h"
#include "runtime/backend.h"
#include "train/step.h"
#include "train/step_forms.h"
#include "train/transformer.h"

typedef enum anet_seq_kind { ANET_SEQ_TRAIN = 0, ANET_SEQ_LOSS, ANET_SEQ_LOGITS } anet_seq_kind;

typedef struct anet_seq_build_opts {
    const anet_forms *forms; /* the chip's program form (plan/forms.h), or NULL: as built */
    anet_update_mode update; /* TRAIN only */
    anet_opt_config opt;     /* update=ane: the optimizer (adamw) */
    float clip;              /* update=ane: max global norm; <= 0 none */
} anet_seq_build_opts;

typedef struct anet_seq_program {
    anet_graph *g;
    anet_program *p;
    int nin, nout;       /* the I/O as built (anet_seq_eval's buffers) */
    anet_step_forms form; /* lowered to bo->forms: the device I/O */
    const anet_forms *forms;
    anet_seq_kind kind;
    double backend_s; /* this thread's CPU time in the backend's eval calls (anet_seq_eval) */
} anet_seq_program;

/* The program sizes for the form f (NULL: none): with padded contraction lengths (pad32) the
 * vocabulary, the head width and the positions are rounded up to multiples of 32 (vpad, hpad,
 * spad) and dim must be a multiple of 32 already (one error line naming the sizes that work). */
anet_status anet_seq_config_for(const anet_forms *f, anet_tfm_config *c);
/* Whether backend be runs the plain form: vane unless the device form is asked for
 * (--program-form device). The plain form is the program as built: the model's own sizes (no
 * vocabulary, head or position padding), ios18, scalars as scalars, no I/O packing; vane then
 * skips the chip profile's checks (anet_backend_config.host_form). */
int anet_seq_plain(const anet_backend *be, int device_form);
/* The form for a run on backend be with --chip chip: the plain form (*out = NULL, c as built)
 * where anet_seq_plain says so; else the chip's defaults with ANE_TRAINER_FORMS applied, into
 * *f; *out = f and c sized for it (anet_seq_config_for), or on vane, when the model does not fit
 * the form, *out = NULL and c as built (vane runs any program; an ANE backend gets the error). */
anet_status anet_seq_forms(const anet_backend *be, anet_chip chip, int device_form, anet_forms *f, anet_tfm_config *c,
                           const anet_forms **out);
/* c comes from anet_seq_config_for. bo may be NULL (no form; update=cpu for TRAIN); LOSS and
 * LOGITS read only bo->forms (kept: it must outlive sp). With a form, the program is lowered to
 * it (every I/O fp16 [1,C,1,S], ...); anet_seq_compile on an ANE backend refuses a program that
 * still breaks a rule, naming it. */
anet_status anet_seq_build(const anet_tfm_config *c, int batch, anet_seq_kind kind, const anet_seq_build_opts *bo,
                           anet_seq_program *sp);
anet_status anet_seq_compile(anet_backend *be, anet_seq_program *sp);
/* One run with the program's I/O as built (packed into and out of the device form); the
 * backend's eval call alone adds to sp->backend_s (the rest is host work). */
anet_status anet_seq_eval(anet_backend *be, anet_seq_program *sp, anet_io *in, int nin, anet_io *out, int nout);
void anet_seq_program_free(anet_backend *be, anet_seq_program *sp);

/* The program shape of parameter i: [1,1,rows,cols], or [1,1,1,rows] for a vector (padded). */
void anet_seq_param_dims(const anet_tfm_config *c, int i, int64_t dims[4]);

#endif
