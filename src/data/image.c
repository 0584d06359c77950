/* Image readers for `predict` (see image.h). */
#include "data/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/idx.h"

#if ANET_WITH_PNG
#include <png.h>
#endif

void anet_image_resize(const float *src, int w, int h, float *dst, int cols, int rows) {
    /* Each output pixel averages the source area it covers (exact for integer ratios). */
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++) {
            double y0 = (double)y * h / rows, y1 = (double)(y + 1) * h / rows;
            double x0 = (double)x * w / cols, x1 = (double)(x + 1) * w / cols;
            double sum = 0, area = 0;
            for (int sy = (int)y0; sy < h && sy < y1; sy++) {
                double fy = (sy + 1 < y1 ? sy + 1 : y1) - (sy > y0 ? sy : y0);
                for (int sx = (int)x0; sx < w && sx < x1; sx++) {
                    double fx = (sx + 1 < x1 ? sx + 1 : x1) - (sx > x0 ? sx : x0);
                    sum += fx * fy * src[(size_t)sy * (size_t)w + (size_t)sx];
                    area += fx * fy;
                }
            }
            dst[y * cols + x] = area > 0 ? (float)(sum / area) : 0.0f;
        }
}

/* One grayscale image (0..1, w x h) -> a sample of rows x cols. */
static anet_status finish(float *img, int w, int h, int rows, int cols, int invert, float **out, size_t *n) {
    float *s = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    if (!s) {
        free(img);
        return anet_fail(ANET_E_NOMEM, "image: out of memory");
    }
    if (w == cols && h == rows) memcpy(s, img, sizeof(float) * (size_t)rows * (size_t)cols);
    else anet_image_resize(img, w, h, s, cols, rows);
    free(img);
    if (invert)
        for (int i = 0; i < rows * cols; i++) s[i] = 1.0f - s[i];
    *out = s;
    *n = 1;
    return ANET_OK;
}

/* PGM: "P5" (binary) or "P2" (text), width, height, maxval (1..65535), comments with '#'. */
static int pgm_int(FILE *f, long *v) {
    int c;
    do {
        c = fgetc(f);
        if (c == '#')
            while (c != '\n' && c != EOF) c = fgetc(f);
    } while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
    if (c < '0' || c > '9') return -1;
    *v = 0;
    while (c >= '0' && c <= '9') {
        if (*v > 1000000) return -1;
        *v = *v * 10 + (c - '0');
        c = fgetc(f);
    }
    return 0; /* the one whitespace character after a number is consumed */
}

static anet_status load_pgm(const char *path, FILE *f, int rows, int cols, int invert, float **out, size_t *n) {
    char m[2];
    long w, h, maxv;
    if (fread(m, 1, 2, f) != 2 || pgm_int(f, &w) || pgm_int(f, &h) || pgm_int(f, &maxv) || w < 1 || h < 1 ||
        w > ANET_IMAGE_MAX_SIDE || h > ANET_IMAGE_MAX_SIDE || maxv < 1 || maxv > 65535)
        return anet_fail(ANET_E_FORMAT, "%s: not a valid PGM header (width, height 1..%d, maxval 1..65535)", path,
                         ANET_IMAGE_MAX_SIDE);
    float *img = malloc(sizeof(float) * (size_t)w * (size_t)h);
    if (!img) return anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
    for (long i = 0; i < w * h; i++) {
        long v = 0;
        if (m[1] == '2') {
            if (pgm_int(f, &v)) v = -1;
        } else {
            int a = fgetc(f), b = maxv > 255 ? fgetc(f) : 0;
            v = a == EOF || b == EOF ? -1 : maxv > 255 ? (a << 8) | b : a;
        }
        if (v < 0 || v > maxv) {
            free(img);
            return anet_fail(ANET_E_FORMAT, "%s: PGM pixel data truncated or out of range at pixel %ld", path, i);
        }
        img[i] = (float)v / (float)maxv;
    }
    return finish(img, (int)w, (int)h, rows, cols, invert, out, n);
}

#if ANET_WITH_PNG
/* libpng's simplified API converts any PNG (palette, RGB, alpha, 16-bit) to 8-bit gray. */
static anet_status load_png(const char *path, int rows, int cols, int invert, float **out, size_t *n) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return anet_fail(ANET_E_FORMAT, "%s: not a readable PNG (%s)", path, im.message);
    if (im.width < 1 || im.height < 1 || im.width > ANET_IMAGE_MAX_SIDE || im.height > ANET_IMAGE_MAX_SIDE) {
        png_image_free(&im);
        return anet_fail(ANET_E_FORMAT, "%s: PNG of %ux%u pixels (1..%d per side)", path, im.width, im.height,
                         ANET_IMAGE_MAX_SIDE);
    }
    im.format = PNG_FORMAT_GRAY;
    size_t npx = (size_t)im.width * im.height;
    uint8_t *px = malloc(npx);
    float *img = malloc(sizeof(float) * npx);
    /* background NULL: transparent pixels composite onto black (MNIST's background) */
    if (!px || !img || !png_image_finish_read(&im, NULL, px, 0, NULL)) {
        anet_status st = !px || !img ? anet_fail(ANET_E_NOMEM, "%s: out of memory", path)
                                     : anet_fail(ANET_E_FORMAT, "%s: PNG data: %s", path, im.message);
        png_image_free(&im);
        free(px);
        free(img);
        return st;
    }
    for (size_t i = 0; i < npx; i++) img[i] = px[i] / 255.0f;
    free(px);
    return finish(img, (int)im.width, (int)im.height, rows, cols, invert, out, n);
}
#endif

static anet_status load_idx(const char *path, int rows, int cols, int invert, size_t limit, float **out, size_t *n) {
    uint8_t *px = NULL;
    uint32_t cnt, r, c;
    anet_status st = anet_idx_read_images(path, &px, &cnt, &r, &c);
    if (st != ANET_OK) return st;
    if ((int)r != rows || (int)c != cols) {
        free(px);
        return anet_fail(ANET_E_MISMATCH, "%s: IDX images are %ux%u, the model takes %dx%d", path, r, c, rows, cols);
    }
    size_t k = limit && limit < cnt ? limit : cnt, per = (size_t)rows * (size_t)cols;
    float *s = malloc(sizeof(float) * k * per);
    if (!s) {
        free(px);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < k * per; i++) s[i] = invert ? 1.0f - px[i] / 255.0f : px[i] / 255.0f;
    free(px);
    *out = s;
    *n = k;
    return ANET_OK;
}

anet_status anet_image_load(const char *path, int rows, int cols, int invert, size_t limit, float **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (rows < 1 || cols < 1 || rows > ANET_IMAGE_MAX_SIDE || cols > ANET_IMAGE_MAX_SIDE)
        return anet_fail(ANET_E_INVALID, "image: bad target size %dx%d", cols, rows);
    FILE *f = fopen(path, "rb");
    if (!f) return anet_fail(ANET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t sig[8] = {0};
    size_t got = fread(sig, 1, sizeof sig, f);
    anet_status st;
    if (got >= 2 && sig[0] == 'P' && (sig[1] == '2' || sig[1] == '5')) {
        rewind(f);
        st = load_pgm(path, f, rows, cols, invert, out, n);
        fclose(f);
        return st;
    }
    fclose(f);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got == 8 && memcmp(sig, png_sig, 8) == 0) {
#if ANET_WITH_PNG
        return load_png(path, rows, cols, invert, out, n);
#else
        return anet_fail(ANET_E_UNSUPPORTED, "%s: PNG support needs libpng (this build has none)", path);
#endif
    }
    if ((got >= 4 && sig[0] == 0 && sig[1] == 0 && sig[2] == 8 && sig[3] == 3) || (got >= 2 && sig[0] == 0x1f && sig[1] == 0x8b))
        return load_idx(path, rows, cols, invert, limit, out, n);
    return anet_fail(ANET_E_FORMAT, "%s: not a PNG, PGM (P2/P5) or IDX image file", path);
}
