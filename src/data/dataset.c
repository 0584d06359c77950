/* Loading a dataset directory: find the four files under their MNIST names, read them with the
 * IDX reader and check that they fit together. */
#include "data/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/idx.h"

static const char *const file_base[ANET_FILE_COUNT] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

const char *anet_dataset_file_base(int which) {
    return which >= 0 && which < ANET_FILE_COUNT ? file_base[which] : NULL;
}

static int is_regular_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Tries "<base>.gz", "<base>", then the dotted spelling ("t10k-labels.idx1-ubyte[.gz]"). */
static int find_one(const char *dir, int which, char *out) {
    char dotted[64];
    snprintf(dotted, sizeof dotted, "%s", file_base[which]);
    char *dash2 = NULL;
    /* The dotted form replaces the '-' before "idxN": "train-images.idx3-ubyte". */
    for (char *p = dotted; (p = strstr(p, "-idx")) != NULL; p++) dash2 = p;
    if (dash2) *dash2 = '.';
    const char *names[2] = {file_base[which], dotted};
    const char *sfx[2] = {".gz", ""};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            int n = snprintf(out, ANET_PATH_MAX, "%s/%s%s", dir, names[i], sfx[j]);
            if (n > 0 && n < ANET_PATH_MAX && is_regular_file(out)) return 1;
        }
    out[0] = '\0';
    return 0;
}

anet_status anet_dataset_find_files(const char *dir, char paths[ANET_FILE_COUNT][ANET_PATH_MAX], unsigned *found_mask) {
    if (!dir || !dir[0]) return anet_fail(ANET_E_INVALID, "dataset directory: empty path");
    if (found_mask) *found_mask = 0;
    struct stat st;
    if (stat(dir, &st) != 0)
        return anet_fail(errno == ENOENT ? ANET_E_NOTFOUND : ANET_E_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return anet_fail(ANET_E_INVALID, "%s: not a directory", dir);
    unsigned mask = 0;
    char missing[512] = "";
    for (int i = 0; i < ANET_FILE_COUNT; i++) {
        if (find_one(dir, i, paths[i])) {
            mask |= 1u << i;
        } else {
            size_t l = strlen(missing);
            snprintf(missing + l, sizeof missing - l, "%s%s[.gz]", l ? ", " : "", file_base[i]);
        }
    }
    if (found_mask) *found_mask = mask;
    if (mask != (1u << ANET_FILE_COUNT) - 1)
        return anet_fail(ANET_E_NOTFOUND, "%s: not a dataset directory: missing %s", dir, missing);
    return ANET_OK;
}

void anet_dataset_free(anet_dataset *ds) {
    if (!ds) return;
    free(ds->train.images);
    free(ds->train.labels);
    free(ds->test.images);
    free(ds->test.labels);
    memset(&ds->train, 0, sizeof ds->train);
    memset(&ds->test, 0, sizeof ds->test);
}

static anet_status load_split(anet_dataset *ds, int img, int lab, anet_split *sp, uint32_t *rows, uint32_t *cols) {
    uint32_t n_img = 0, n_lab = 0;
    /* The headers' counts first: files that disagree fail before either payload is read. */
    anet_status st = anet_idx_peek_count(ds->files[img], ANET_IDX_MAGIC_IMAGES, &n_img);
    if (st == ANET_OK) st = anet_idx_peek_count(ds->files[lab], ANET_IDX_MAGIC_LABELS, &n_lab);
    if (st != ANET_OK) return st;
    if (n_img != n_lab)
        return anet_fail(ANET_E_MISMATCH, "%s has %u images but %s has %u labels", ds->files[img], n_img,
                         ds->files[lab], n_lab);
    st = anet_idx_read_images(ds->files[img], &sp->images, &n_img, rows, cols);
    if (st != ANET_OK) return st;
    st = anet_idx_read_labels(ds->files[lab], ds->num_classes, &sp->labels, &n_lab);
    if (st != ANET_OK) return st;
    if (n_img != n_lab)
        return anet_fail(ANET_E_MISMATCH, "%s has %u images but %s has %u labels", ds->files[img], n_img,
                         ds->files[lab], n_lab);
    sp->n = n_img;
    return ANET_OK;
}

anet_status anet_dataset_load_dir(const char *dir, uint32_t num_classes, anet_dataset *ds) {
    return anet_dataset_load_dir_splits(dir, num_classes, ANET_SPLIT_TRAIN | ANET_SPLIT_TEST, ds);
}

anet_status anet_dataset_load_dir_splits(const char *dir, uint32_t num_classes, unsigned splits, anet_dataset *ds) {
    if (!ds) return anet_fail(ANET_E_INVALID, "anet_dataset_load_dir: NULL dataset");
    memset(ds, 0, sizeof *ds);
    if (num_classes == 0) num_classes = 10;
    if (num_classes > 256) return anet_fail(ANET_E_INVALID, "dataset %s: %u classes do not fit byte labels", dir ? dir : "", num_classes);
    ds->num_classes = num_classes;
    anet_status st = anet_dataset_find_files(dir, ds->files, NULL);
    if (st != ANET_OK) return st;
    snprintf(ds->dir, sizeof ds->dir, "%s", dir);
    uint32_t r1 = 0, c1 = 0, r2 = 0, c2 = 0;
    if (splits & ANET_SPLIT_TRAIN) st = load_split(ds, ANET_FILE_TRAIN_IMAGES, ANET_FILE_TRAIN_LABELS, &ds->train, &r1, &c1);
    if (st == ANET_OK && (splits & ANET_SPLIT_TEST))
        st = load_split(ds, ANET_FILE_TEST_IMAGES, ANET_FILE_TEST_LABELS, &ds->test, &r2, &c2);
    /* One split alone: its shape is the dataset's. */
    if (!(splits & ANET_SPLIT_TRAIN)) r1 = r2, c1 = c2;
    if (!(splits & ANET_SPLIT_TEST)) r2 = r1, c2 = c1;
    if (st == ANET_OK && (r1 != r2 || c1 != c2))
        st = anet_fail(ANET_E_MISMATCH, "%s has %ux%u images but %s has %ux%u", ds->files[ANET_FILE_TRAIN_IMAGES], r1,
                       c1, ds->files[ANET_FILE_TEST_IMAGES], r2, c2);
    if (st != ANET_OK) {
        anet_dataset_free(ds);
        return st;
    }
    ds->rows = r1;
    ds->cols = c1;
    ds->features = r1 * c1; /* bounded by the 1 GiB payload check */
    return ANET_OK;
}
