/* Epoch progress on stderr (progress.h). */
#include "train/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int anet_term_columns(int fd) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        char *end;
        long v = strtol(c, &end, 10);
        if (*end == 0 && v > 0 && v < 10000) return (int)v;
    }
    return 80;
}

void anet_progress_begin(anet_progress *p, FILE *f, double now) {
    p->f = f;
    p->tty = isatty(fileno(f));
    p->cols = p->tty ? anet_term_columns(fileno(f)) : 80;
    p->t0 = now;
    p->last_print = 0;
}

/* The figures without the bar, then a bar in the room left (none below 5 cells); a line that
 * still does not fit is cut, so the terminal never wraps it (wrapping breaks the redraw). */
void anet_progress_format(char *out, size_t len, int cols, int epoch, int epochs, uint32_t done, uint32_t total,
                          double loss, double eta) {
    char head[48], tail[96], ls[24];
    if (isnan(loss)) snprintf(ls, sizeof ls, "-");
    else snprintf(ls, sizeof ls, "%.4f", loss);
    snprintf(head, sizeof head, "epoch %d/%d", epoch, epochs);
    snprintf(tail, sizeof tail, "%u/%u loss %s ETA %.0fs", done, total, ls, eta);
    int room = cols - 1 - (int)strlen(head) - (int)strlen(tail) - 4; /* " [" "] " */
    int w = room > 30 ? 30 : room;
    if (w >= 5) {
        char bar[32];
        int fill = total ? (int)((double)done / total * w) : w;
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        snprintf(out, len, "%s [%s] %s", head, bar, tail);
    } else {
        snprintf(out, len, "%s %s", head, tail);
    }
    size_t max = cols > 1 ? (size_t)cols - 1 : 1;
    if (strlen(out) > max && max < len) out[max] = 0;
}

void anet_progress_step(anet_progress *p, int epoch, int epochs, uint32_t done, uint32_t total, double loss,
                        double now, int final) {
    double el = now - p->t0;
    double eta = done ? el / done * (total - done) : 0;
    if (p->tty) {
        if (!final && now - p->last_print < 0.1) return;
        p->last_print = now;
        char line[512];
        anet_progress_format(line, sizeof line, p->cols, epoch, epochs, done, total, loss, eta);
        /* \033[K clears what a longer earlier line left on the right. */
        fprintf(p->f, "\r%s\033[K", line);
        if (final) fputc('\n', p->f);
        fflush(p->f);
    } else {
        /* Plain lines at every quarter of an epoch. */
        if (final || total < 4 || done % (total / 4) != 0 || done == 0) return;
        fprintf(p->f, "epoch %d/%d: %u/%u batches, loss %.4f, ETA %.0f s\n", epoch, epochs, done, total, loss, eta);
    }
}
