/* Lowering a program to its chip's form (plan/forms.h). Two parts:
 *  - before a program is built, the planner chooses padded sizes and forms for the builder
 *    (anet_forms_plan: contraction lengths and the batch padded to multiples of 32, the
 *    dialect, bias as a matmul with a ones block instead of a broadcast, log with epsilon);
 *  - after it is built, anet_forms_lower rewrites the graph's I/O: every input and output
 *    becomes fp16 [1,C,1,S] with S a multiple of 32, the program slicing and reshaping its
 *    inputs back (after one elementwise op where layout ops may not read a runtime input) and
 *    reshaping its outputs. Both are generic over the graph: any program built from padded
 *    sizes gets the form.
 * The caller keeps its own (unpadded) buffers; anet_form_pack / anet_form_unpack move them in
 * and out of the device form, so padding stays invisible. */
#ifndef ANET_PLAN_FORMS_LOWER_H
#define ANET_PLAN_FORMS_LOWER_H

#include <stdint.h>

#include "graph/ir.h"
#include "plan/forms.h"

/* What the builder should do for a chip's form. */
typedef struct anet_forms_plan {
    anet_mil_dialect dialect;
    int pad32;      /* contraction lengths (and the batch) rounded up to multiples of 32 */
    int bias_cols;  /* 1: bias [out,1] added by broadcast; 32: a matmul with a ones block */
    float log_eps;  /* > 0: log(x + log_eps) */
    int row_scalars; /* per-step scalars and the loss as [1,1,1,B] rows (broadcast-scalar) */
} anet_forms_plan;

void anet_forms_plan_for(const anet_forms *f, anet_forms_plan *out);
/* n rounded up as the plan pads contraction lengths (n itself when it does not). */
int anet_forms_pad(const anet_forms_plan *p, int n);

/* One input or output of a lowered program. */
typedef struct anet_form_io {
    int64_t rows, cols;           /* the program's tensor as rows x cols (cols: its last axis) */
    int64_t C, S;                 /* the device tensor [1, C, 1, S] (C == rows, S >= cols) */
    int64_t user_rows, user_cols; /* the caller's buffer (<= rows, cols); default rows, cols */
    float fill;                   /* first column of rows >= user_rows (e.g. -30000: a masked class) */
    int mode;                     /* ANET_FORM_IO_*: how the user's buffer maps onto the device tensor */
    int dev;                      /* input: the device input holding it (several share one when packed) */
    int64_t offset;               /* input: its first element in that device input */
} anet_form_io;

enum {
    ANET_FORM_IO_EMBED = 0, /* user rows x cols at the top left, padding around */
    ANET_FORM_IO_SPREAD = 1, /* input: user 1 x n, device row r = user[r] in every column */
    ANET_FORM_IO_SUM = 2,    /* output: user 1 x 1 = the sum of the device tensor */
    ANET_FORM_IO_MIN = 3     /* output: user 1 x 1 = its smallest element (a row of flags that must all hold) */
};

typedef struct anet_form_map {
    int nin, nout;
    anet_form_io *in, *out; /* index-aligned with the program's inputs (as built) and outputs */
    int ndev_in;            /* device inputs: nin, or fewer when max-inputs packed them */
    int64_t *dev_elems;     /* elements of each device input */
    unsigned char shaped[ANET_FORM_COUNT_]; /* rules that changed or constrained the program */
    unsigned char unmet[ANET_FORM_COUNT_];  /* rules that are on but the program still breaks */
    char unmet_detail[ANET_FORM_COUNT_][160]; /* per unmet rule */
} anet_form_map;

/* Rewrites g's I/O to the device form of f (see above) and fills map. With max-inputs on and
 * more inputs than allowed, inputs are packed as rows of 32 (wider, 64, 128, ..., where a group
 * would otherwise span more rows than elementwise-max allows) into at most max_inputs device
 * inputs "anet_pkK" and sliced back inside (after the prologue). On failure g may be partly
 * rewritten (discard it). */
anet_status anet_forms_lower(anet_graph *g, const anet_forms *f, anet_form_map *map);
void anet_form_map_free(anet_form_map *m);
/* "io-shape-1c1s,io-width-mult32,..." of map->shaped (buf always terminated). */
void anet_form_map_rules(const anet_form_map *m, char *buf, size_t len);

/* fp16 buffers: the caller's user_rows x user_cols <-> the device C x S (padding: zeros, and
 * `fill` in the first column of padded rows). */
void anet_form_pack(const anet_form_io *io, const uint16_t *user, uint16_t *device);
void anet_form_unpack(const anet_form_io *io, const uint16_t *device, uint16_t *user);

#endif
