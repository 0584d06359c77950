/* Pieces of `ane_trainer report`'s HTML: line charts as inline SVG (the plotted numbers kept in
 * data- attributes, so tests compare them with metrics.jsonl), grayscale images as inline BMP
 * data URIs, HTML escaping. No scripts, no network. */
#ifndef ANET_CLI_REPORT_SVG_H
#define ANET_CLI_REPORT_SVG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct report_series {
    const char *name;  /* legend and data-series */
    const char *color;
    const double *x, *y; /* n points; NaN y values are skipped */
    size_t n;
} report_series;

/* One chart: <svg class="chart" data-chart=id> with a <polyline> (or a dot) per series. */
void report_chart(FILE *f, const char *id, const char *title, const char *xlabel, const report_series *s, int ns,
                  int log_y);
/* <img> of a rows x cols grayscale image (bytes, row-major) as data:image/bmp;base64. */
void report_image(FILE *f, const uint8_t *pix, uint32_t rows, uint32_t cols, const char *alt);
/* Text with & < > " escaped. */
void report_text(FILE *f, const char *s);

#endif
