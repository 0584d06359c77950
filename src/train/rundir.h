/* A training run's output directory: made and probed before anything slow happens, locked
 * against a second trainer, and its metrics file kept consistent with its checkpoint.
 *
 * Order of writes per epoch: the checkpoint first, then the epoch's metrics line. A crash
 * between them leaves a checkpoint whose epoch line is missing; the checkpoint carries that
 * line ("metrics_epoch" metadata), so a resume truncates metrics.jsonl to the checkpoint's step
 * and then re-appends the line. A crash anywhere therefore never leaves duplicate or missing
 * epochs after the resume. */
#ifndef ANET_TRAIN_RUNDIR_H
#define ANET_TRAIN_RUNDIR_H

#include <stdint.h>

#include "ane_trainer.h"

/* mkdir -p dir; a probe file created there with O_EXCL | O_NOFOLLOW (a planted symlink is
 * refused, never followed), written and removed; and at least `need` bytes free (one
 * checkpoint: a full disk fails here, not after an epoch). */
anet_status anet_rundir_prepare(const char *dir, uint64_t need);

/* An exclusive, non-blocking flock on the directory itself, held while *fd stays open: a second
 * trainer on the same directory fails with a clear message. *fd = -1 when not locked. */
anet_status anet_rundir_lock(const char *dir, int *fd);
void anet_rundir_unlock(int *fd);

/* Cuts the metrics file to the lines of steps <= step whose epoch is <= epoch (the state a
 * checkpoint holds): the lines written after it, and a torn last line, go. *has_epoch_line
 * (optional) says whether an "epoch" line of `epoch` remains (1) or not (0); -1: there is no
 * such file (a resume into a new metrics file, which then starts empty). */
anet_status anet_rundir_truncate_metrics(const char *path, int64_t step, int epoch, int *has_epoch_line);

#endif
