/* Images for `predict`: PNG (libpng), PGM (P2/P5) and IDX image files, converted to what the
 * models were trained on: grayscale, 28x28 (box-filtered when the size differs), values
 * pixel / 255 in [0, 1] (0 = black). MNIST-style data is a light digit on a black background;
 * `invert` turns a dark-on-light image into that. */
#ifndef ANET_DATA_IMAGE_H
#define ANET_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"

/* Largest image side accepted (a hostile header cannot ask for more). */
#define ANET_IMAGE_MAX_SIDE 4096

/* Reads path (format from its bytes: PNG signature, "P2"/"P5", IDX magic 0x00000803, gzip'd
 * IDX too) into *out: n samples of rows*cols floats (malloc'd). An IDX file gives all its
 * images, or the first `limit` of them (limit 0 = all); other files one. */
anet_status anet_image_load(const char *path, int rows, int cols, int invert, size_t limit, float **out, size_t *n);

/* Box-filters a w x h grayscale image (0..1) to cols x rows. */
void anet_image_resize(const float *src, int w, int h, float *dst, int cols, int rows);

#endif
