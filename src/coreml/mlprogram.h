/* ML Program (MIL.proto) inside a .mlmodel: ops become layers; with the graph IR they also
 * become an anet_graph so the constraint table can judge them. */
#ifndef ANET_COREML_MLPROGRAM_H
#define ANET_COREML_MLPROGRAM_H

#include "coreml/coreml.h"

/* buf/len: the MILSpec.Program message (Model field 502). */
anet_status anet_cm_read_mlprogram(anet_cm_model *m, const char *name, const uint8_t *buf, size_t len,
                                   const uint8_t *weights, size_t wlen, int depth, const char *path);

/* Adds every non-const op of graph `gi` of m as a layer (model.mil text of a bundle). */
anet_status anet_cm_layers_from_graph(anet_cm_model *m, int gi, const char *path);

#endif
