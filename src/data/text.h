/* Text datasets for character-level language models (tinyshakespeare): one plain-text file, a
 * character vocabulary (the distinct bytes, sorted), the first 90% of the characters as the
 * train split and the last 10% as validation, and windows of ctx+1 characters (ctx inputs, each
 * followed by its target). */
#ifndef ANET_DATA_TEXT_H
#define ANET_DATA_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/registry.h"

/* A known text dataset: its file, where to download it, and its published size and SHA-256. */
typedef struct anet_text_spec {
    const char *name;        /* "tinyshakespeare" */
    const char *description;
    const char *file;        /* "input.txt" */
    const char *base_url;    /* the directory URL holding the file, ending in '/' */
    uint64_t size;
    const char *sha256;      /* lowercase hex */
} anet_text_spec;

/* The known text datasets: k in [0, count). */
size_t anet_text_count(void);
const anet_text_spec *anet_text_get(size_t k);
/* NULL when name is not a known text dataset. */
const anet_text_spec *anet_text_find(const char *name);
/* The registry entry as a dataset spec for anet_fetch_dataset (data/fetch.h): files[0] is the
 * text file, the other entries are empty. */
void anet_text_fetch_spec(const anet_text_spec *t, anet_dataset_spec *out);

/* The vocabulary: id -> byte, and byte -> id (-1: not in the vocabulary). */
typedef struct anet_vocab {
    uint32_t size;
    uint8_t chars[256];
    int16_t id[256];
} anet_vocab;

/* Builds a vocabulary from a list of distinct bytes (as stored in a checkpoint); ANET_E_FORMAT
 * for an empty list, more than 256 entries or a repeated byte. */
anet_status anet_vocab_from_chars(const uint8_t *chars, uint32_t n, anet_vocab *v);
/* Maps text to ids; ANET_E_INVALID naming the first character not in the vocabulary. */
anet_status anet_vocab_encode(const anet_vocab *v, const char *text, size_t len, uint32_t *ids);

typedef struct anet_text_dataset {
    char path[ANET_PATH_MAX];
    const char *source;   /* where it was found ("--data", "$ANE_TRAINER_DATA", "shared", ...) */
    int verified;         /* 1 when size and SHA-256 match the registry entry */
    anet_vocab vocab;
    uint8_t *ids;         /* the whole text as vocabulary ids */
    size_t n;             /* characters */
    size_t n_train;       /* ids[0, n_train) train, ids[n_train, n) validation */
} anet_text_dataset;

/* Loads one text file (any bytes; NUL allowed); at least 2 characters per split are needed for
 * a window of ctx = 1. */
anet_status anet_text_load_file(const char *path, anet_text_dataset *td);
/* Opens a known text dataset by name, looking in the dataset directories of registry.h and then
 * in ../shared/datasets/NAME; or a file path. Registry files are verified (size + SHA-256):
 * td->verified says; an unverified file still loads. */
anet_status anet_text_open(const char *name_or_path, const char *data_dir, anet_text_dataset *td);
void anet_text_free(anet_text_dataset *td);

/* batch random windows of ctx+1 ids from the train split, each start uniform over every
 * possible start: out[b * (ctx+1) + t]. ANET_E_INVALID when the split is shorter than ctx+1. */
anet_status anet_text_train_windows(const anet_text_dataset *td, anet_rng *rng, uint32_t batch, uint32_t ctx,
                                    uint32_t *out);
/* Validation windows: non-overlapping, consecutive (window k starts at k*ctx, so every validation
 * character but the first is a target exactly once). Returns how many there are. */
size_t anet_text_val_count(const anet_text_dataset *td, uint32_t ctx);
/* Copies validation window k (k < anet_text_val_count) into out[0, ctx+1). */
void anet_text_val_window(const anet_text_dataset *td, uint32_t ctx, size_t k, uint32_t *out);

#endif
