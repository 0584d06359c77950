/* The step programs in their chip's form (plan/forms_lower.h) seen from the trainer: the
 * builder gets padded sizes, the built program is lowered, and the trainer keeps its own
 * unpadded buffers, packed into the device form before each run and unpacked after. */
#ifndef ANET_TRAIN_STEP_FORMS_H
#define ANET_TRAIN_STEP_FORMS_H

#include "plan/forms_lower.h"
#include "runtime/backend.h"
#include "train/step.h"

typedef struct anet_step_forms {
    int lowered;          /* 0: the program runs as built, nothing below is used */
    anet_form_map map;
    anet_io *din, *dout;  /* device buffers, [1,C,1,S] fp16 */
    char unpadded[96];    /* a layer graph kept at its own sizes: why (train/layers_form.h) */
    int unpadded_batch;   /* > 0: the batch the loss keeps unpadded (mse, bce) and the form needs padded */
    const char *unpadded_what; /* what counts every sample: the loss's name or "batchnorm" */
    int placed;           /* input placed - 1 (anet_step_forms_place_in) has its padding written; 0: none */
} anet_step_forms;

/* The builder's configuration for the chip's form: model sizes and batch padded, dialect,
 * bias form and log epsilon; cfg->model and cfg->batch are the user's on entry. */
void anet_step_forms_config(const anet_forms *f, anet_step_config *cfg);
/* Lowers sp (built from anet_step_forms_config of `user`) and records, per input and output,
 * the user's view: the unpadded model `user` and batch `batch` (the last bias's padded rows
 * hold -30000 so padded classes never win the softmax). */
anet_status anet_step_forms_lower(anet_step_forms *sf, anet_step_program *sp, const anet_forms *f,
                                  const anet_model_spec *user, int batch);
/* Lowers any program graph g (built in the form's padded sizes) with the caller's view equal to
 * the program's own I/O tensors (rows x cols as built); the device buffers are allocated. */
anet_status anet_step_forms_lower_graph(anet_step_forms *sf, anet_graph *g, const anet_forms *f);
/* ANET_OK when the lowered program meets every rule that is on; else ANET_E_UNSUPPORTED naming
 * the first rule it breaks and the switch (a device would fail, or silently compute wrong). */
anet_status anet_step_forms_require(const anet_step_forms *sf, const anet_forms *f, const char *what);
/* The user's type of input/output i (fp16 [1,1,rows,cols]); call only when lowered. */
anet_type anet_step_forms_user_type(const anet_step_forms *sf, int is_out, int i);
/* The user's buffers into the device buffers (din), and the device outputs (dout) back. */
void anet_step_forms_pack(anet_step_forms *sf, const anet_io *in);
void anet_step_forms_unpack(const anet_step_forms *sf, anet_io *out);
/* One tensor at a time: user input i into its device input (din), device input i back into
 * the user's buffer (what the device input holds), device output j into the user's buffer. */
void anet_step_forms_pack_in(anet_step_forms *sf, int i, const void *user);
void anet_step_forms_unpack_in(const anet_step_forms *sf, int i, void *user);
void anet_step_forms_unpack_out(const anet_step_forms *sf, int j, void *user);
/* Where the caller may write user input i (rows x cols fp16) itself, row r at [r * *ld], so that
 * packing it is no copy: its device slot, padding written once here (the caller writes only the
 * user's elements from then on; packing skips a user buffer that is its slot). NULL when the
 * form is not a plain embedding of rows x cols. One input per form. */
uint16_t *anet_step_forms_place_in(anet_step_forms *sf, int i, int64_t rows, int64_t cols, size_t *ld);
/* Bytes of input i / output j in the device form. */
size_t anet_step_forms_dev_bytes(const anet_step_forms *sf, int is_out, int i);
/* One run: pack in[] (user buffers), evaluate on b, unpack into out[]. backend_s (may be NULL)
 * accumulates this thread's CPU time in the backend's eval call alone. */
anet_status anet_step_forms_eval(anet_step_forms *sf, const anet_backend *b, anet_program *exe,
                                 const anet_io *in, int nin, anet_io *out, int nout, double *backend_s);
void anet_step_forms_free(anet_step_forms *sf);

#endif
