/* MIL program text and weight.bin: the contract between the compiler half and the runtime.
 * The emitter writes what the ANE compiler accepts (both dialects of ANE_FACTS.md); the
 * parser reads those and Apple-compiled model.mil files back into the IR. */
#ifndef ANET_MIL_MIL_H
#define ANET_MIL_MIL_H

#include <stddef.h>
#include <stdint.h>

#include "graph/ir.h"

/* The path every BLOBFILE reference uses, as the private API expects it. */
#define ANET_MIL_WEIGHT_PATH "@model_path/weights/weight.bin"

/* Emits g in g->dialect; *out is malloc'd and NUL-terminated (*len excludes the NUL).
 * Const values that have blob_path set are written as BLOBFILE references. */
anet_status anet_mil_emit(const anet_graph *g, char **out, size_t *len);

/* Parses MIL text. weights/wlen is the weight.bin image that BLOBFILE consts refer to (NULL/0
 * when there is none: then any BLOBFILE reference is an error). Errors name line and column.
 * Hostile input is bounded: no allocation beyond what the text and the limits of ir.h allow. */
anet_status anet_mil_parse(const char *text, size_t len, const uint8_t *weights, size_t wlen,
                           anet_graph **out);

/* weight.bin (coremltools MILBlob storage, ANE_FACTS.md). Moves every const of g whose
 * element count is >= min_elements into a weight image (sets blob_path/blob_offset) and
 * returns the image: 64-byte header, 64-byte records with the 0xDEADBEEF sentinel, data
 * 64-byte aligned. An image with no blobs is just the header. */
anet_status anet_weights_build(anet_graph *g, int64_t min_elements, uint8_t **out, size_t *len);
/* Finds the blob whose record is at `offset` in image buf/len, checks sentinel, dtype and
 * bounds, and points *data at its bytes (inside buf). */
anet_status anet_weights_lookup(const uint8_t *buf, size_t len, uint64_t offset, anet_dtype dtype,
                                size_t nbytes, const void **data);
/* Checks a whole image (header, every record in bounds, no overlaps); *count = blobs. */
anet_status anet_weights_validate(const uint8_t *buf, size_t len, uint32_t *count);

#endif
