/* ML Program (MIL.proto) inside a .mlmodel: ops become layers; with the graph IR they also
 * become an anet_graph so the constraint table can judge them. */
#ifndef ANET_COREML_MLPROGRAM_H
#define ANET_COREML_MLPROGRAM_H

#include "coreml/coreml.h"

/* buf/len: the MILSpec.Program message (Model field 502). */
anet_status anet_cm_read_mlprogram(anet_cm_model *m, const char *name, const uint8_t *buf, size_t len,
                                   const uint8_t *weights, size_t wlen, int depth, const char *path);

/* One Operation message of the active block, kept for the IR pass (bytes stay inside the
 * caller's buffer). layer: its layer index, -1 for a const; nested: inside a control-flow
 * block (not modeled). */
typedef struct anet_cm_opref {
    const uint8_t *data;
    size_t len;
    int layer, nested;
} anet_cm_opref;

/* Builds the IR of one ML Program function (inputs from fn's NamedValueTypes, then the ops)
 * and links layers to op ids; ops it cannot model get an `unknown` verdict saying why.
 * blob_budget bounds the zero-filled bytes that stand in for BLOBFILE weights. */
anet_status anet_cm_mlprogram_ir(anet_cm_model *m, const char *name, const uint8_t *fn, size_t fnlen,
                                 const char *opset, const anet_cm_opref *ops, int nops, size_t blob_budget);

/* Adds every non-const op of graph `gi` of m as a layer (model.mil text of a bundle). */
anet_status anet_cm_layers_from_graph(anet_cm_model *m, int gi, const char *path);

/* model.mil text as Apple's compiler writes it (src/coreml/miltext.c): every op of every
 * function as a layer (model_path `path`, or path/<function> beyond main), never weights. */
anet_status anet_cm_read_miltext(anet_cm_model *m, const char *name, const char *text, size_t len, const char *path);

/* model.espresso.net (and model.espresso.shape, may be NULL) of a compiled NeuralNetwork
 * bundle (src/coreml/espresso.c): its layers, judged by the NeuralNetwork rules. */
anet_status anet_cm_read_espresso(anet_cm_model *m, const char *name, const char *net, size_t len,
                                  const char *shape_json, size_t slen, const char *path);

#endif
