/* The I/O signature of a MIL program (input names/types in declaration order, output names
 * and types in return order), read straight from the text. The ANE backend and its simulator
 * need only this much to size surfaces and to map names alphabetically, so they do not parse
 * (or depend on) the whole program. */
#ifndef ANET_RUNTIME_ANE_SIG_H
#define ANET_RUNTIME_ANE_SIG_H

#include <stddef.h>

#include "graph/ir.h"

#define ANET_ANE_SIG_MAX_IO 256
#define ANET_ANE_SIG_MAX_NAME 128

typedef struct anet_ane_tensor_sig {
    char name[ANET_ANE_SIG_MAX_NAME];
    anet_type type;
    size_t nbytes; /* packed size: elements x dtype size */
} anet_ane_tensor_sig;

typedef struct anet_ane_sig {
    int nin, nout;
    anet_ane_tensor_sig *in;  /* declaration order */
    anet_ane_tensor_sig *out; /* the order of "-> (...)" */
} anet_ane_sig;

/* Reads the signature of the first function of `mil`. Malformed or hostile text gives
 * ANET_E_FORMAT with the offending position; sizes are bounded by ir.h's limits. */
anet_status anet_ane_sig_parse(const char *mil, size_t len, anet_ane_sig *out);
void anet_ane_sig_free(anet_ane_sig *s);

/* order[k] = index (in `t`) of the k-th name in byte-wise alphabetical order: the order in
 * which the ANE matches surfaces to names. */
void anet_ane_sig_sorted(const anet_ane_tensor_sig *t, int n, int *order);

#endif
