/* What keeps a training run safe from the command line: Ctrl-C / SIGTERM ask the one trainer
 * of this process to stop after its step (a second one exits at once), the command that
 * resumes an interrupted run, and the check that --out does not hold a run already. */
#ifndef ANET_CLI_TRAIN_GUARD_H
#define ANET_CLI_TRAIN_GUARD_H

#include <stddef.h>
#include <stdio.h>

#include "ane_trainer.h"

/* SIGINT and SIGTERM from now on ask t to stop (anet_trainer_request_stop). */
void cli_train_catch_signals(anet_trainer *t);
/* Back to the default actions; returns the first signal caught (0: none). */
int cli_train_release_signals(void);
/* The command that continues an interrupted run: this one's arguments without --resume and
 * --overwrite, plus --resume CKPT (and --out DIR when it was not given), shell-quoted. */
void cli_print_resume_command(FILE *f, int argc, char **argv, const char *ckpt, const char *out_dir);
/* 1 when dir holds a run (checkpoint.safetensors or metrics.jsonl; named in what[]). */
int cli_holds_run(const char *dir, char *what, size_t len);

#endif
