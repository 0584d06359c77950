/* What a run directory holds besides the checkpoint and metrics, for `ane_trainer report`:
 * programs.json (the compiled programs, where each op runs, what runs on the host) and
 * eval.json (the last test evaluation: every label and prediction, and the first
 * misclassified images). Both are replaced atomically. */
#ifndef ANET_TRAIN_RUN_FILES_H
#define ANET_TRAIN_RUN_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"
#include "graph/ir.h"

/* Misclassified test images kept in eval.json (for the report's grid). */
#define ANET_RUN_MISCLASSIFIED_MAX 48

typedef struct anet_run_program {
    const char *name;      /* "train", "eval" */
    const anet_graph *graph;
} anet_run_program;

/* programs.json in dir. backend: where the programs run ("vane", "ane", "ane-sim"); chip: the
 * profile the ops are judged against; update/optimizer: what runs on the host. */
anet_status anet_run_write_programs(const char *dir, const char *backend, const char *chip_name, int chip,
                                    const char *update, const char *optimizer, const anet_run_program *progs,
                                    int nprogs);

/* eval.json in dir for the test split's n samples: labels[i], logits [n][K] (argmax, first
 * maximum, as the accuracy counts), images [n][rows * cols]. */
anet_status anet_run_write_eval(const char *dir, int epoch, int64_t step, int K, uint32_t n, const uint8_t *labels,
                                const float *logits, const uint8_t *images, uint32_t rows, uint32_t cols);

/* The default --out: "runs/<UTC time as YYYYmmdd-HHMMSS>". */
void anet_run_dir_default(char *out, size_t len);

/* The class argmax picks: the first maximum; NaN never wins over a number. */
int anet_run_argmax(const float *v, int K);

#endif
