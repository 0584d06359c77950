/* SVG charts and BMP images for `ane_trainer report` (report_svg.h). */
#include "cli/report_svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void report_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A round tick step for a span: 1, 2 or 5 times a power of ten. */
static double tick_step(double span) {
    if (!(span > 0)) return 1;
    double raw = span / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

void report_chart(FILE *f, const char *id, const char *title, const char *xlabel, const report_series *s, int ns,
                  int log_y) {
    const double W = 560, H = 300, L = 64, R = 16, T = 30, B = 44;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    size_t total = 0;
    for (int k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double y = s[k].y[i];
            if (!isfinite(y) || (log_y && y <= 0)) continue;
            if (log_y) y = log10(y);
            x0 = fmin(x0, s[k].x[i]);
            x1 = fmax(x1, s[k].x[i]);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
            total++;
        }
    fprintf(f, "<figure><svg class=\"chart\" data-chart=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\"><title>", id, W, H, W, H);
    report_text(f, title);
    fprintf(f, "</title><rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>"
            "<text x=\"%.0f\" y=\"18\" class=\"t\">", W, H, L);
    report_text(f, title);
    fputs("</text>", f);
    if (!total) {
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"n\">no data</text></svg></figure>\n", W / 2 - 30, H / 2);
        return;
    }
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) {
        double d = fabs(y0) > 0 ? fabs(y0) * 0.05 : 0.5;
        y0 -= d;
        y1 += d;
    }
    double pw = W - L - R, ph = H - T - B;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + ph - ((y) - y0) / (y1 - y0) * ph)
    /* Axes and ticks. */
    fprintf(f, "<g class=\"axes\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L, T, L, T + ph, L, T + ph, L + pw, T + ph);
    double ys = tick_step(y1 - y0);
    for (double v = ceil(y0 / ys) * ys; v <= y1 + ys * 1e-9; v += ys) {
        char lab[32];
        if (log_y) snprintf(lab, sizeof lab, "%.3g", pow(10, v));
        else snprintf(lab, sizeof lab, "%.4g", fabs(v) < ys * 1e-9 ? 0.0 : v);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", L, PY(v), L + pw, PY(v), L - 4,
                PY(v) + 4, lab);
    }
    double xs = tick_step(x1 - x0);
    if (xs < 1) xs = 1; /* steps and epochs are integers */
    for (double v = ceil(x0 / xs) * xs; v <= x1 + xs * 1e-9; v += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>", PX(v), T + ph + 16, v);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 6);
    report_text(f, xlabel);
    fputs("</text></g>", f);
    /* Series. */
    for (int k = 0; k < ns; k++) {
        size_t m = 0;
        for (size_t i = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i]) && !(log_y && s[k].y[i] <= 0)) m++;
        if (!m) continue;
        fprintf(f, "<g class=\"series\" data-series=\"%s\" data-x=\"", s[k].name);
        for (size_t i = 0, c = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i]) && !(log_y && s[k].y[i] <= 0)) fprintf(f, c++ ? " %.17g" : "%.17g", s[k].x[i]);
        fputs("\" data-y=\"", f);
        for (size_t i = 0, c = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i]) && !(log_y && s[k].y[i] <= 0)) fprintf(f, c++ ? " %.17g" : "%.17g", s[k].y[i]);
        fputs("\">", f);
        if (m == 1) {
            for (size_t i = 0; i < s[k].n; i++)
                if (isfinite(s[k].y[i]) && !(log_y && s[k].y[i] <= 0)) {
                    double y = log_y ? log10(s[k].y[i]) : s[k].y[i];
                    fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>", PX(s[k].x[i]), PY(y), s[k].color);
                }
        } else {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", s[k].color);
            for (size_t i = 0; i < s[k].n; i++) {
                if (!isfinite(s[k].y[i]) || (log_y && s[k].y[i] <= 0)) continue;
                double y = log_y ? log10(s[k].y[i]) : s[k].y[i];
                fprintf(f, "%.2f,%.2f ", PX(s[k].x[i]), PY(y));
            }
            fputs("\"/>", f);
        }
        /* Legend entry. */
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\">",
                L + pw - 150, T + 4 + 16.0 * k, s[k].color, L + pw - 136, T + 13 + 16.0 * k);
        report_text(f, s[k].name);
        fputs("</text></g>", f);
    }
#undef PX
#undef PY
    fputs("</svg></figure>\n", f);
}

static void b64(FILE *f, const uint8_t *p, size_t n) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(a[v >> 18 & 63], f);
        fputc(a[v >> 12 & 63], f);
        fputc(i + 1 < n ? a[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? a[v & 63] : '=', f);
    }
}

static void le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* An 8-bit BMP with a gray palette: header, 256 palette entries, rows bottom-up padded to 4. */
void report_image(FILE *f, const uint8_t *pix, uint32_t rows, uint32_t cols, const char *alt) {
    uint32_t stride = (cols + 3) & ~3u, off = 14 + 40 + 1024, size = off + stride * rows;
    uint8_t *b = calloc(size, 1);
    if (!b) return;
    b[0] = 'B';
    b[1] = 'M';
    le32(b + 2, size);
    le32(b + 10, off);
    le32(b + 14, 40);
    le32(b + 18, cols);
    le32(b + 22, rows);
    b[26] = 1;  /* planes */
    b[28] = 8;  /* bits per pixel */
    le32(b + 34, stride * rows);
    le32(b + 46, 256);
    for (int i = 0; i < 256; i++) b[54 + 4 * i] = b[55 + 4 * i] = b[56 + 4 * i] = (uint8_t)i;
    for (uint32_t r = 0; r < rows; r++) memcpy(b + off + (rows - 1 - r) * stride, pix + (size_t)r * cols, cols);
    fputs("<img class=\"digit\" alt=\"", f);
    report_text(f, alt);
    fputs("\" src=\"data:image/bmp;base64,", f);
    b64(f, b, size);
    fputs("\"/>", f);
    free(b);
}
