/* Sampling text from a character-transformer checkpoint through its logits program: one
 * program (batch 1, ctx positions) compiled once and run once per generated character. */
#ifndef ANET_TRAIN_GENERATE_H
#define ANET_TRAIN_GENERATE_H

#include <stdint.h>
#include <stdio.h>

#include "ane_trainer.h"
#include "runtime/backend.h"

typedef struct anet_gen_options {
    const char *checkpoint;
    const char *prompt;    /* every character must be in the checkpoint's vocabulary; may be "" */
    int64_t tokens;        /* characters to generate */
    double temperature;    /* 0: always the most likely character */
    uint64_t seed;
    const char *backend;   /* NULL: vane */
    anet_chip chip;
    anet_numerics numerics;
    /* Which programs vane runs (the device backends always the device form): ANET_GEN_FORM_CHECKPOINT
     * (0) as the run that wrote the checkpoint (its "program_form"; absent: device, as every run
     * before it was stored), _AUTO the plain form, _DEVICE the chip's device form (anet_seq_plain) */
    int program_form;
} anet_gen_options;

enum { ANET_GEN_FORM_CHECKPOINT = 0, ANET_GEN_FORM_AUTO, ANET_GEN_FORM_DEVICE };

/* Writes the prompt and then each sampled character to out as it is produced. The context is
 * the last ctx characters, placed at positions 0..n-1 (the rest padded; the causal mask keeps
 * the padding from reaching earlier positions); the next character is drawn from
 * softmax(logits[n-1] / temperature) with the run's seeded generator, so the same seed gives
 * the same text. */
anet_status anet_generate(const anet_gen_options *o, FILE *out);

#endif
