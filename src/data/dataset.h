/* A loaded image-classification dataset: train and test splits of uint8 images with labels. */
#ifndef ANET_DATA_DATASET_H
#define ANET_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"

#define ANET_PATH_MAX 4096

/* The four files of a dataset, in this order everywhere. */
enum { ANET_FILE_TRAIN_IMAGES = 0, ANET_FILE_TRAIN_LABELS, ANET_FILE_TEST_IMAGES, ANET_FILE_TEST_LABELS, ANET_FILE_COUNT };

/* Canonical base names ("train-images-idx3-ubyte", ...); a file is accepted with or without ".gz"
 * (and, as some archives name them, with '.' instead of the last '-': "t10k-labels.idx1-ubyte"). */
const char *anet_dataset_file_base(int which);

typedef struct anet_split {
    uint32_t n;       /* samples */
    uint8_t *images;  /* n * features bytes, sample-major, row-major pixels */
    uint8_t *labels;  /* n bytes, each < num_classes */
} anet_split;

typedef struct anet_dataset {
    char dir[ANET_PATH_MAX];
    char files[ANET_FILE_COUNT][ANET_PATH_MAX]; /* the paths actually read */
    uint32_t rows, cols, features;              /* features = rows * cols */
    uint32_t num_classes;
    anet_split train, test;
} anet_dataset;

/* Finds the four files in dir (either spelling). On success paths[i] holds each path. When some
 * are missing it fails with ANET_E_NOTFOUND and a message listing the missing ones; *found_mask
 * (optional) gets bit i set for each file present. */
anet_status anet_dataset_find_files(const char *dir, char paths[ANET_FILE_COUNT][ANET_PATH_MAX],
                                    unsigned *found_mask);

/* Loads the four IDX files from dir. Labels must be < num_classes (10 when 0 is given). Train and
 * test images must have the same rows x cols; image and label counts of a split must agree. */
anet_status anet_dataset_load_dir(const char *dir, uint32_t num_classes, anet_dataset *ds);

/* The same, loading only the splits asked for (an evaluation needs no training split). */
enum { ANET_SPLIT_TRAIN = 1, ANET_SPLIT_TEST = 2 };
anet_status anet_dataset_load_dir_splits(const char *dir, uint32_t num_classes, unsigned splits, anet_dataset *ds);

/* Frees the arrays; the struct can be loaded again. Safe on a zeroed or failed dataset. */
void anet_dataset_free(anet_dataset *ds);

#endif
