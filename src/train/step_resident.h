/* Tensors of a step program that stay in the backend between steps (ping-pong surfaces): each
 * resident input is paired with the output that updates it, so the outputs of step k are the
 * inputs of step k+1 and the host moves only the other tensors (the batch, the per-step
 * scalars, the loss and the flags). Used by the trainer for update=ane's weights and optimizer
 * state. On backends with resident I/O (backend.h: ane, ane-sim) the pairs are the backend's
 * surfaces; on the others (vane) they are the program form's own device buffers, swapped on
 * the host (the same ping-pong, no copies), the backend run through eval. */
#ifndef ANET_TRAIN_STEP_RESIDENT_H
#define ANET_TRAIN_STEP_RESIDENT_H

#include "runtime/backend.h"
#include "train/step_forms.h"

typedef struct anet_step_resident {
    int on;
    int host;               /* the pairs are the form's device buffers (backend without resident I/O) */
    int nin, nout;
    int *pair;              /* per program input: the output that updates it, or -1 */
    unsigned char *out_res; /* per program output: 1 when it feeds a resident input */
    char why[240];          /* why it is off ("" when on) */
    /* A non-resident input written straight into the backend's memory (anet_step_resident_lend). */
    int lend_off;           /* the caller turned lending off (the copy path, for comparisons) */
    int lend_in;            /* the input lent last, -1: none */
    int lend_ready;         /* its surface holds the form's padding (written at the first lend) */
    int lent;               /* lent now: given back by the next run */
} anet_step_resident;

/* Pairs input i with output pair[i] (-1: not resident) on program exe of backend b, lowered as
 * sf. ANET_OK with r->on = 0 and r->why set when the form shares a device input between a
 * resident tensor and others (max-inputs packing); an error only when out of memory or the
 * backend refuses a pairing it should accept. */
anet_status anet_step_resident_init(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                    anet_step_forms *sf, int nin, int nout, const int *pair);
/* Resident input i from / to the user's buffer (through the form). */
anet_status anet_step_resident_write(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                     anet_step_forms *sf, int i, const void *user);
anet_status anet_step_resident_read(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                    anet_step_forms *sf, int i, void *user);
/* Where the caller may write input i (rows x cols fp16, row r at [r * *ld]) straight into the
 * memory the backend's next run reads (backend.h lend: the input surface, locked until that run
 * gives it back), so that neither packing nor a write copies it. The input must not be resident
 * and must fill its device input alone as a plain embedding (anet_step_forms_place_in); the
 * form's padding is written into the surface at the first lend. NULL when it cannot (r off or on
 * host buffers, lending off, a backend that refuses, a row stride that is not whole fp16
 * elements): the caller then places the input in the form's buffer, which the run copies. */
uint16_t *anet_step_resident_lend(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                  anet_step_forms *sf, int i, int64_t rows, int64_t cols, size_t *ld);
/* The lent input back in the form's device buffer (read from the backend, given back first if
 * still lent), for a run elsewhere (auto's fallback to vane): the user-view pointer of input
 * `*i` in that buffer, or NULL with *i = -1 when nothing is lent. */
anet_status anet_step_resident_reclaim(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                       anet_step_forms *sf, int *i, uint16_t **slot);
/* One run, on a backend with resident I/O or with r on (r NULL or off: every tensor copied):
 * the non-resident inputs in[] written, the program run, the non-resident outputs read into
 * out[] (resident outputs stay in the backend). run_s accumulates this thread's CPU time in
 * the run alone (the backend's eval call where it has no resident I/O). */
anet_status anet_step_resident_run(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                   anet_step_forms *sf, const anet_io *in, anet_io *out, double *run_s);
/* Makes what the last run wrote the resident inputs of the next (skip it to discard the run). */
anet_status anet_step_resident_commit(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                      anet_step_forms *sf);
void anet_step_resident_free(anet_step_resident *r);

#endif
