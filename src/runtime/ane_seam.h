/* The narrow seam between the portable ANE backend logic (ane_backend.c) and the private
 * macOS API. Only the handful of operations the backend needs cross it; everything else
 * (surface sizing, I/O ordering, packing, ping-pong, compile budget, error mapping) is
 * portable C on this side, so it runs, and is tested, against the simulator (sim/) on
 * every machine and against AppleNeuralEngine.framework (ane_darwin.c) on a Mac.
 *
 * Status convention: every fallible operation returns an int, 0 on success. A positive
 * value is a status reported by the framework itself (e.g. 0x1d from an evaluation, parsed
 * from the NSError text); a negative value is one of ANET_ANE_RC_* below. After a failure,
 * ops->error(ctx) returns the framework's text (or the seam's own sentence) for the last
 * failure of that seam instance; it stays valid until the next call on the same instance.
 *
 * The call order mirrors ANE_FACTS.md "The private API":
 *   open -> model_create (descriptor + in-memory model) -> compile -> load
 *   -> surface_create (xN) -> request_create -> evaluate (xM) -> unload -> model_free.
 * Surfaces handed to request_create are matched by the framework to the program's inputs and
 * outputs in ALPHABETICAL order of their MIL names (ANE_FACTS.md, Orion #3/#13): position k
 * of in[] feeds the k-th input name in byte order, whatever the declaration order. */
#ifndef ANET_RUNTIME_ANE_SEAM_H
#define ANET_RUNTIME_ANE_SEAM_H

#include <stddef.h>
#include <stdint.h>

enum {
    ANET_ANE_RC_OK = 0,
    ANET_ANE_RC_UNAVAILABLE = -1, /* framework or its classes could not be loaded */
    ANET_ANE_RC_NOMEM = -2,       /* an object or surface could not be created */
    ANET_ANE_RC_COMPILE = -3,     /* compileWithQoS returned NO */
    ANET_ANE_RC_LOAD = -4,        /* loadWithQoS returned NO */
    ANET_ANE_RC_EVAL = -5,        /* evaluateWithQoS returned NO without a status code */
    ANET_ANE_RC_INVALID = -6,     /* the caller broke the seam's contract (a bug on our side) */
    ANET_ANE_RC_UNLOAD = -7       /* unloadWithQoS returned NO */
};

/* The framework's eval status for surfaces it cannot use (too small, unequal allocation
 * sizes): "ANEProgramProcessRequestDirect() Failed with status=0x1d" (Orion #2, #4, #12). */
#define ANET_ANE_STATUS_PROGRAM_INFERENCE 0x1d

typedef struct anet_ane_model anet_ane_model;     /* descriptor + in-memory model */
typedef struct anet_ane_surface anet_ane_surface; /* one flat IOSurface */
typedef struct anet_ane_request anet_ane_request; /* a request binding surfaces */

/* The compiled model's own description of one program input or output, read after load from
 * modelAttributes -> NetworkStatusList[0].LiveInputList / LiveOutputList (tmc/apple x/ane
 * surface.go, compile.go; sbryngelson/ANEForge _invokers/persistent_worker.mm). Strides are in
 * bytes; 0 where the model did not state one. */
#define ANET_ANE_IO_MAX 64
typedef struct anet_ane_io_entry {
    char symbol[64];                 /* the MIL name of the input/output */
    int64_t channels, height, width; /* as the compiled model lays the tensor out */
    int64_t row_stride, plane_stride, batch_stride;
} anet_ane_io_entry;

typedef struct anet_ane_io_layout {
    int ninputs, noutputs;                     /* in the model's own order (its surface order) */
    anet_ane_io_entry inputs[ANET_ANE_IO_MAX];
    anet_ane_io_entry outputs[ANET_ANE_IO_MAX];
} anet_ane_io_layout;

typedef struct anet_ane_seam_ops {
    const char *name; /* "darwin", "sim" */
    /* Loads the framework and looks up its classes; 0 when usable. */
    int (*open)(void *ctx);
    /* Descriptor from MIL text (UTF-8) + weight.bin image (may be NULL/0: an empty
     * dictionary is passed, never nil), then the in-memory model. */
    int (*model_create)(void *ctx, const char *mil, size_t mil_len, const uint8_t *weights,
                        size_t weights_len, anet_ane_model **out);
    int (*compile)(void *ctx, anet_ane_model *m);
    int (*load)(void *ctx, anet_ane_model *m);
    int (*unload)(void *ctx, anet_ane_model *m);
    void (*model_free)(void *ctx, anet_ane_model *m); /* unloads first if still loaded */
    /* A flat surface: width = bytes-per-row = alloc size = bytes, height 1, 1 byte/element. */
    int (*surface_create)(void *ctx, size_t bytes, anet_ane_surface **out);
    int (*surface_lock)(void *ctx, anet_ane_surface *s, int read_only, void **base);
    int (*surface_unlock)(void *ctx, anet_ane_surface *s, int read_only);
    size_t (*surface_size)(void *ctx, const anet_ane_surface *s); /* its allocation size */
    void (*surface_free)(void *ctx, anet_ane_surface *s);
    /* in[k] / out[k] are given in alphabetical order of the program's MIL names. */
    int (*request_create)(void *ctx, anet_ane_surface *const *in, int nin,
                          anet_ane_surface *const *out, int nout, anet_ane_request **req);
    void (*request_free)(void *ctx, anet_ane_request *r);
    int (*evaluate)(void *ctx, anet_ane_model *m, anet_ane_request *r);
    const char *(*error)(void *ctx); /* text of the last failure ("" if none) */
    void (*destroy)(void *ctx);
    /* After load: the model's own I/O layout (see anet_ane_io_layout). Returns 0 and fills out,
     * or ANET_ANE_RC_UNAVAILABLE when the model states none (the backend then falls back to its
     * own rules). The pointer itself may be NULL in seams that cannot report a layout. */
    int (*io_layout)(void *ctx, anet_ane_model *m, anet_ane_io_layout *out);
} anet_ane_seam_ops;

/* One seam instance: the operations and their per-instance state (no globals, so two
 * trainers in one process never share a compile count or an error text). */
typedef struct anet_ane_seam {
    const anet_ane_seam_ops *ops;
    void *ctx;
} anet_ane_seam;

#endif
