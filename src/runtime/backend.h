/* The runtime's one backend interface {probe, compile, eval, release}: vane, ane and ane-sim
 * all implement it. MIL text + weight blob in, compiled program out; eval moves packed
 * tensors in the function's declared input/output order (a backend that must match
 * surfaces alphabetically, as the ANE does, reorders internally).
 *
 * Layering, top to bottom; calls and includes only point down:
 *   train/backend_choice.c, CLI   --backend NAME; auto's fallback to vane during a run
 *   runtime/backend_auto.c        "auto": the ANE candidate if it probes and passes the self-check,
 *                                 else vane (runtime/ane_info.c, `info`, sits beside it)
 *   runtime/backend.c             the registry: a concrete name -> its ops (vane, ane, ane-sim)
 *   runtime/ane_backend.c         the ane and ane-sim ops, written against the seam (ane_seam.h)
 *   runtime/ane_darwin.c, sim/    the seams: the private framework, or its simulator
 *   runtime/vane/                 the virtual ANE; the simulator runs programs on vane's ops */
#ifndef ANET_RUNTIME_BACKEND_H
#define ANET_RUNTIME_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"

typedef enum anet_chip {
    ANET_CHIP_M1 = 0,
    ANET_CHIP_M2,
    ANET_CHIP_M3,
    ANET_CHIP_M4,
    ANET_CHIP_STRICT, /* the union of every chip's rules */
    ANET_CHIP_COUNT_
} anet_chip;

const char *anet_chip_name(anet_chip c);            /* "m1" ... "strict" */
int anet_chip_lookup(const char *s, anet_chip *out); /* 0 on success */

typedef enum anet_numerics {
    ANET_NUMERICS_FP16 = 0, /* the contract: fp16 storage at every op boundary */
    ANET_NUMERICS_FP32 = 1  /* debug: no rounding anywhere */
} anet_numerics;

typedef struct anet_backend_config {
    anet_chip chip;
    anet_numerics numerics;
    /* vane: the programs are not a device's (a layer graph's plain form, train/step_forms.h),
     * so the chip profile's rules are not checked on them. */
    int host_form;
} anet_backend_config;

/* One tensor crossing the boundary: packed bytes in the declared dtype and shape. */
typedef struct anet_io {
    void *data;
    size_t nbytes;
} anet_io;

typedef struct anet_backend_stats {
    uint64_t compiles;
    uint64_t dispatches;
    uint64_t bytes_in;
    uint64_t bytes_out;
} anet_backend_stats;

typedef struct anet_program anet_program; /* backend-specific */

/* Optional fine-grained I/O, for tensors that stay in the backend between evaluations (the
 * trainer's optimizer state with --update ane). Indices are the program's declared inputs and
 * outputs. pair(in, out) binds output `out` to input `in`: after swap, the memory `out` was
 * written to is what `in` reads, and `out` writes where `in` read before (ping-pong; two
 * prebuilt bindings, nothing copied); a run without a swap leaves `in` as it was. A backend
 * without these (vane: NULL) is used through eval, the caller copying every tensor. */
typedef struct anet_backend_resident_ops {
    anet_status (*write)(void *state, anet_program *p, int in, const void *data, size_t n);
    anet_status (*read)(void *state, anet_program *p, int out, void *data, size_t n);
    anet_status (*read_input)(void *state, anet_program *p, int in, void *data, size_t n);
    anet_status (*run)(void *state, anet_program *p); /* one evaluation, current bindings */
    anet_status (*pair)(void *state, anet_program *p, int in, int out);
    anet_status (*swap)(void *state, anet_program *p);
    /* Lends the caller input `in`'s own memory (the surface the next run reads, locked for
     * writing): *base holds its first row, rows follow every *stride bytes, the backend's layout
     * (padding and the gap after each row included). The caller writes the tensor there, then
     * gives it back (unlocked) before the run: no copy. ANET_E_UNSUPPORTED when the input shares
     * its memory with others; the caller then writes it with write(). Lending a lent input
     * returns it again; a run or write while it is lent is refused. */
    anet_status (*lend)(void *state, anet_program *p, int in, void **base, size_t *stride);
    anet_status (*give_back)(void *state, anet_program *p, int in);
} anet_backend_resident_ops;

typedef struct anet_backend_ops {
    const char *name; /* "vane", "ane", "ane-sim" */
    /* Can this backend run here? On failure, why[] says why in one sentence. */
    anet_status (*probe)(char *why, size_t why_len);
    anet_status (*create)(const anet_backend_config *cfg, void **state);
    void (*destroy)(void *state);
    /* weights: a weight.bin image (may be NULL/0 when the program has no BLOBFILE consts). */
    anet_status (*compile)(void *state, const char *mil, size_t mil_len, const uint8_t *weights,
                           size_t weights_len, anet_program **out);
    anet_status (*eval)(void *state, anet_program *p, const anet_io *in, int nin, anet_io *out,
                        int nout);
    void (*release)(void *state, anet_program *p);
    void (*stats)(void *state, anet_backend_stats *out);
    const anet_backend_resident_ops *resident; /* NULL: eval only */
} anet_backend_ops;

/* A backend instance: the ops plus its state. */
typedef struct anet_backend {
    const anet_backend_ops *ops;
    void *state;
} anet_backend;

/* Creates the named backend ("vane", ...); ANET_E_UNSUPPORTED with the reason if it cannot run. */
anet_status anet_backend_open(const char *name, const anet_backend_config *cfg, anet_backend *out);
/* The argument checks of anet_backend_open (clears *out): also run by runtime/backend_auto.c. */
anet_status anet_backend_open_check(const char *name, const anet_backend_config *cfg, anet_backend *out);
void anet_backend_close(anet_backend *b);

#endif
