/* Known datasets (mnist, fashion-mnist, kmnist): canonical files, sizes and checksums, where to
 * download them, where to look for them on this machine, and how to verify what is found. */
#ifndef ANET_DATA_REGISTRY_H
#define ANET_DATA_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "ane_trainer.h"
#include "data/dataset.h"

typedef enum anet_hash_alg { ANET_HASH_NONE = 0, ANET_HASH_SHA256, ANET_HASH_MD5 } anet_hash_alg;

/* One canonical file of a dataset. */
typedef struct anet_dataset_file {
    const char *name;           /* file name as published, e.g. "train-images-idx3-ubyte.gz" */
    uint64_t size;              /* bytes of the published file (0 = unknown) */
    anet_hash_alg alg;          /* algorithm of hash */
    const char *hash;           /* lowercase hex of the published file */
    const char *content_sha256; /* SHA-256 of the decoded IDX bytes (NULL = unknown): lets a
                                 * re-compressed or uncompressed copy verify */
    uint64_t content_size;      /* bytes of the decoded IDX file (0 = unknown: at most the IDX
                                 * reader's limit, ANET_IDX_MAX_BYTES + its header) */
} anet_dataset_file;

typedef struct anet_dataset_spec {
    const char *name;        /* "mnist", ... */
    const char *description;
    const char *base_url;    /* directory URL holding the four files, ending in '/' */
    uint32_t num_classes;
    anet_dataset_file files[ANET_FILE_COUNT]; /* ANET_FILE_TRAIN_IMAGES ... order */
} anet_dataset_spec;

size_t anet_registry_count(void);
const anet_dataset_spec *anet_registry_get(size_t i);
/* NULL when the name is unknown. */
const anet_dataset_spec *anet_registry_find(const char *name);

/* Hashing (OpenSSL libcrypto EVP on Linux, CommonCrypto on macOS), incremental. */
typedef struct anet_hash_ctx {
    anet_hash_alg alg;
    void *impl;
    uint64_t apple[32]; /* CommonCrypto state lives inline (unused elsewhere) */
} anet_hash_ctx;
anet_status anet_hash_init(anet_hash_ctx *h, anet_hash_alg alg);
void anet_hash_update(anet_hash_ctx *h, const void *data, size_t n);
/* Writes the lowercase hex digest (hex needs 65 bytes) and releases the context. */
void anet_hash_final(anet_hash_ctx *h, char hex[65]);
/* Releases a context without a digest (error paths). */
void anet_hash_abort(anet_hash_ctx *h);
const char *anet_hash_name(anet_hash_alg alg); /* "sha256", "md5" */
/* Hash of a whole file's bytes; *size (optional) gets its length. */
anet_status anet_hash_file(const char *path, anet_hash_alg alg, char hex[65], uint64_t *size);
/* SHA-256 of the decoded bytes (gunzipped when gzip). */
anet_status anet_hash_content(const char *path, char hex[65]);

/* Verification of files found on disk. */
typedef enum anet_file_state {
    ANET_FILE_MISSING = 0,
    ANET_FILE_VERIFIED,         /* size and hash of the published file match */
    ANET_FILE_CONTENT_VERIFIED, /* a different packing (e.g. uncompressed), same decoded bytes */
    ANET_FILE_NOT_CANONICAL,    /* present, but not the published bytes (or cannot be checked) */
    ANET_FILE_UNREADABLE        /* present, but reading it failed (corrupt gzip, I/O error) */
} anet_file_state;

typedef enum anet_dataset_state {
    ANET_DS_NOT_FOUND = 0,   /* no directory with the files */
    ANET_DS_INCOMPLETE,      /* a directory with some of the files */
    ANET_DS_VERIFIED,        /* every file verified (file hash or content hash) */
    ANET_DS_NOT_CANONICAL    /* all four files present, at least one not the canonical one */
} anet_dataset_state;

typedef struct anet_verify_report {
    anet_dataset_state state;
    char dir[ANET_PATH_MAX];
    char paths[ANET_FILE_COUNT][ANET_PATH_MAX];
    anet_file_state files[ANET_FILE_COUNT];
    char detail[ANET_FILE_COUNT][256]; /* for ANET_FILE_UNREADABLE: the reader's error */
} anet_verify_report;

const char *anet_file_state_str(anet_file_state s);
const char *anet_dataset_state_str(anet_dataset_state s); /* "verified", "found (not the canonical files)", ... */

/* Checks one file against its registry entry (size + hash, else content hash). Hashing time
 * is bounded by what the entry says: a file larger than both its published size and its
 * decoded size, or one that inflates past the decoded size, is not canonical without being
 * read to the end (a gzip bomb or a huge sparse file costs milliseconds, not minutes). */
anet_file_state anet_registry_check_file(const anet_dataset_file *f, const char *path);
/* Looks for the four files in dir and checks each against spec. Never fails: the report says. */
void anet_registry_verify_dir(const anet_dataset_spec *spec, const char *dir, anet_verify_report *rep);

/* Discovery. Candidate directories for a dataset, in search order:
 *   1. data_dir (the --data option): data_dir itself, then data_dir/NAME
 *   2. $ANE_TRAINER_DATA/NAME
 *   3. ./data/NAME
 *   4. the user cache: $XDG_CACHE_HOME/ane_trainer/NAME or ~/.cache/ane_trainer/NAME
 *      (macOS: ~/Library/Caches/ane_trainer/NAME)
 *   5. /usr/share/datasets/NAME
 * Returns how many were written (at most max); source[i] names where each came from. */
#define ANET_SEARCH_MAX 8
int anet_registry_search_dirs(const char *name, const char *data_dir, char dirs[][ANET_PATH_MAX],
                              const char **source, int max);
/* The first candidate holding all four files; ANET_E_NOTFOUND (message lists the places
 * searched) when none does. source (optional) gets where it came from. */
anet_status anet_registry_locate(const char *name, const char *data_dir, char dir[ANET_PATH_MAX],
                                 const char **source);
/* The user cache directory for a dataset (where `data fetch` puts files by default):
 * $ANE_TRAINER_DATA/NAME when set, else the user cache dir/NAME. */
anet_status anet_registry_default_dir(const char *name, char dir[ANET_PATH_MAX]);
/* The URL of the directory to download from: mirror (the --mirror option) when given, else
 * $ANE_TRAINER_MIRROR, else spec->base_url. "{name}" in a mirror is replaced by the dataset
 * name; a missing trailing '/' is added. */
anet_status anet_registry_base_url(const anet_dataset_spec *spec, const char *mirror, char *url, size_t cap);

/* Opens a dataset by name (a registry entry, located as above) or by directory (a path holding
 * the IDX files; 10 classes). */
anet_status anet_dataset_open(const char *name_or_dir, const char *data_dir, anet_dataset *ds);
/* The same, loading only the splits asked for (ANET_SPLIT_TRAIN | ANET_SPLIT_TEST). */
anet_status anet_dataset_open_splits(const char *name_or_dir, const char *data_dir, unsigned splits,
                                     anet_dataset *ds);

#endif
