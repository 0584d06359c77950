/* Progress of a training epoch on stderr: one line redrawn in place on a terminal (fitted to
 * its width), a plain line at each quarter of the epoch otherwise. Mid-epoch lines show only
 * figures of the epoch in progress: the previous epoch's test accuracy is not current. */
#ifndef ANET_TRAIN_PROGRESS_H
#define ANET_TRAIN_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct anet_progress {
    FILE *f;
    int tty;           /* redraw one line in place */
    int cols;          /* terminal width (tty only) */
    double t0;         /* epoch start (seconds) */
    double last_print; /* last redraw (seconds) */
} anet_progress;

/* Columns of the terminal on fd: its window size, else $COLUMNS, else 80. */
int anet_term_columns(int fd);
/* Starts an epoch's progress on f (stderr): tty and width from its file descriptor. */
void anet_progress_begin(anet_progress *p, FILE *f, double now);
/* Batch `done` of `total` of epoch `epoch` of `epochs`, mean loss so far (NaN: none yet);
 * final = 1 at the epoch's last batch (ends the tty line). */
void anet_progress_step(anet_progress *p, int epoch, int epochs, uint32_t done, uint32_t total, double loss,
                        double now, int final);
/* The tty line itself (for tests): at most cols - 1 characters, no control characters. */
void anet_progress_format(char *out, size_t len, int cols, int epoch, int epochs, uint32_t done, uint32_t total,
                          double loss, double eta);

#endif
