/* IDX files (the MNIST format): big-endian header, then raw bytes; raw or gzip-compressed.
 * Compression is recognised by the gzip magic bytes, never by the file name. */
#ifndef ANET_DATA_IDX_H
#define ANET_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"

/* Largest decoded payload accepted (checked from the header before anything is allocated). */
#define ANET_IDX_MAX_BYTES ((uint64_t)1 << 30)

enum { ANET_IDX_MAGIC_IMAGES = 0x00000803, ANET_IDX_MAGIC_LABELS = 0x00000801 };

/* Reads an image file (magic 0x00000803, unsigned bytes, dims n x rows x cols, all > 0).
 * *pixels (n*rows*cols bytes, row-major per image) is malloc'ed; free() it. */
anet_status anet_idx_read_images(const char *path, uint8_t **pixels, uint32_t *n, uint32_t *rows,
                                 uint32_t *cols);

/* Reads a label file (magic 0x00000801, unsigned bytes, n > 0). When num_classes > 0 every label
 * must be < num_classes. *labels (n bytes) is malloc'ed; free() it. */
anet_status anet_idx_read_labels(const char *path, uint32_t num_classes, uint8_t **labels,
                                 uint32_t *n);

/* The same readers over a whole file's bytes in memory (name is used in messages). */
anet_status anet_idx_parse_images(const uint8_t *buf, size_t len, const char *name, uint8_t **pixels, uint32_t *n,
                                  uint32_t *rows, uint32_t *cols);
anet_status anet_idx_parse_labels(const uint8_t *buf, size_t len, const char *name, uint32_t num_classes,
                                  uint8_t **labels, uint32_t *n);

/* The sample count in the header of an images (magic ANET_IDX_MAGIC_IMAGES) or labels file,
 * the header validated as the readers do; nothing of the payload is read. */
anet_status anet_idx_peek_count(const char *path, uint32_t magic, uint32_t *n);

/* Streams the decoded bytes of a file (gunzipped when it is gzip, else as is) to cb in chunks,
 * checking the gzip CRC and length; for content hashes. A non-OK status from cb stops the read
 * and is returned. */
typedef anet_status (*anet_bytes_cb)(void *ctx, const uint8_t *buf, size_t n);
anet_status anet_file_decoded_stream(const char *path, anet_bytes_cb cb, void *ctx);

/* 1 when the file starts with the gzip magic bytes, 0 when not, -1 when it cannot be read. */
int anet_file_is_gzip(const char *path);

#endif
