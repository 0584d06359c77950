/* `ane_trainer data`: list the known datasets and where they are; download and verify one. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "data/fetch.h"
#include "data/text.h"
#include "data/registry.h"

static void data_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer data <subcommand> [options]\n"
            "\n"
            "subcommands:\n"
            "  list [--data DIR] [--json]        known datasets, where they were found, whether they verify\n"
            "  fetch NAME [--dir D] [--mirror URL] download NAME, verify its checksums, install atomically\n"
            "\n"
            "Datasets are looked for in: --data DIR (the dir itself, then DIR/NAME), $ANE_TRAINER_DATA/NAME,\n"
            "./data/NAME, the user cache (~/.cache/ane_trainer/NAME or $XDG_CACHE_HOME/ane_trainer/NAME),\n"
            "/usr/share/datasets/NAME. See `ane_trainer data <subcommand> --help`.\n");
}

static void list_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer data list [--data DIR] [--json]\n"
            "\n"
            "For each known dataset (mnist, fashion-mnist, kmnist): where it was found and whether its files\n"
            "match the published checksums (verified), are other files (found, not the canonical files),\n"
            "or are missing.\n"
            "\n"
            "options:\n"
            "  --data DIR   also check DIR, a directory holding the four IDX files, and search it first\n"
            "  --json       print one JSON document on stdout\n");
}

static void fetch_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer data fetch NAME [--dir D] [--mirror URL] [--timeout SECONDS] [--quiet]\n"
            "\n"
            "Downloads the four files of NAME (mnist, fashion-mnist, kmnist), checks size and checksum,\n"
            "and renames each into place only when it verifies; files already present and verified are\n"
            "skipped. An interrupted or corrupt download leaves nothing behind.\n"
            "\n"
            "options:\n"
            "  --dir D        target directory (default $ANE_TRAINER_DATA/NAME, else the user cache)\n"
            "  --mirror URL   download from URL (a directory holding the files; \"{name}\" is replaced by\n"
            "                 NAME) instead of the canonical site; also $ANE_TRAINER_MIRROR\n"
            "  --timeout S    give up when the whole fetch is not done within S seconds (default 600);\n"
            "                 a file also fails when it arrives slower than 1024 bytes/s for 30 s\n"
            "  --quiet        no progress output\n");
}

static int file_ok(anet_file_state s) { return s == ANET_FILE_VERIFIED || s == ANET_FILE_CONTENT_VERIFIED; }

static cJSON *report_json(const anet_verify_report *rep, int found) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", anet_dataset_state_str(rep->state));
    cJSON_AddBoolToObject(o, "verified", rep->state == ANET_DS_VERIFIED);
    if (found) cJSON_AddStringToObject(o, "dir", rep->dir);
    else cJSON_AddNullToObject(o, "dir");
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (int i = 0; found && i < ANET_FILE_COUNT; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "file", anet_dataset_file_base(i));
        if (rep->files[i] != ANET_FILE_MISSING) cJSON_AddStringToObject(f, "path", rep->paths[i]);
        else cJSON_AddNullToObject(f, "path");
        cJSON_AddStringToObject(f, "state", anet_file_state_str(rep->files[i]));
        if (rep->detail[i][0]) cJSON_AddStringToObject(f, "error", rep->detail[i]);
        cJSON_AddItemToArray(files, f);
    }
    return o;
}

static void print_missing(const anet_verify_report *rep) {
    for (int i = 0; i < ANET_FILE_COUNT; i++)
        if (rep->files[i] != ANET_FILE_VERIFIED)
            printf("    %-26s %s%s%s\n", anet_dataset_file_base(i), anet_file_state_str(rep->files[i]),
                   rep->detail[i][0] ? ": " : "", rep->detail[i]);
}

static int data_list(int argc, char **argv) {
    const char *data_dir = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            list_usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--data") == 0) {
            if (++i >= argc) return cli_usage_error("data list ", "--data needs a directory");
            data_dir = argv[i];
        } else {
            return cli_usage_error("data list ", "data list: unknown option '%s'", argv[i]);
        }
    }
    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *arr = json ? cJSON_AddArrayToObject(root, "datasets") : NULL;
    if (!json) printf("%-16s %-32s %s\n", "DATASET", "STATUS", "WHERE");
    for (size_t k = 0; k < anet_registry_count(); k++) {
        const anet_dataset_spec *spec = anet_registry_get(k);
        char dirs[ANET_SEARCH_MAX][ANET_PATH_MAX];
        const char *src[ANET_SEARCH_MAX];
        int n = anet_registry_search_dirs(spec->name, data_dir, dirs, src, ANET_SEARCH_MAX);
        anet_verify_report rep, partial;
        int found = 0, have_partial = 0;
        const char *where = NULL;
        cJSON *searched = json ? cJSON_CreateArray() : NULL;
        for (int i = 0; i < n; i++) {
            /* --data DIR itself is reported as its own entry below, not as every dataset. */
            if (data_dir && strcmp(dirs[i], data_dir) == 0) continue;
            if (json) cJSON_AddItemToArray(searched, cJSON_CreateString(dirs[i]));
            if (found) continue;
            anet_registry_verify_dir(spec, dirs[i], &rep);
            if (rep.state == ANET_DS_VERIFIED || rep.state == ANET_DS_NOT_CANONICAL) {
                found = 1;
                where = src[i];
            } else if (rep.state == ANET_DS_INCOMPLETE && !have_partial) {
                partial = rep;
                have_partial = 1;
            }
        }
        if (!found && have_partial) rep = partial;
        else if (!found) rep.state = ANET_DS_NOT_FOUND;
        if (json) {
            cJSON *o = report_json(&rep, found || have_partial);
            cJSON_AddStringToObject(o, "name", spec->name);
            cJSON_AddStringToObject(o, "description", spec->description);
            cJSON_AddStringToObject(o, "source", where ? where : "");
            cJSON_AddItemToObject(o, "searched", searched);
            cJSON_AddItemToArray(arr, o);
        } else if (found || have_partial) {
            printf("%-16s %-32s %s%s%s%s\n", spec->name, anet_dataset_state_str(rep.state), rep.dir, where ? " (" : "",
                   where ? where : "", where ? ")" : "");
            print_missing(&rep);
        } else {
            printf("%-16s %-32s %s\n", spec->name, "not found", "(`ane_trainer data fetch` downloads it)");
        }
    }
    /* text datasets (character models): one file, verified by size and SHA-256 */
    for (size_t k = 0; k < anet_text_count(); k++) {
        const anet_text_spec *ts = anet_text_get(k);
        anet_text_dataset td;
        int found = anet_text_open(ts->name, data_dir, &td) == ANET_OK;
        const char *state = !found ? "not found" : td.verified ? "verified" : "found, not the published file";
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", ts->name);
            cJSON_AddStringToObject(o, "kind", "text");
            cJSON_AddStringToObject(o, "description", ts->description);
            cJSON_AddStringToObject(o, "state", state);
            cJSON_AddStringToObject(o, "path", found ? td.path : "");
            cJSON_AddStringToObject(o, "source", found && td.source ? td.source : "");
            cJSON_AddItemToArray(arr, o);
        } else if (found) {
            printf("%-16s %-32s %s (%s; text)\n", ts->name, state, td.path, td.source ? td.source : "");
        } else {
            printf("%-16s %-32s %s\n", ts->name, state, "(`ane_trainer data fetch` downloads it; text)");
        }
        if (found) anet_text_free(&td);
    }
    int rc = CLI_OK;
    if (data_dir) {
        /* Which known dataset the directory holds, judged by the files that verify. */
        anet_verify_report best;
        const anet_dataset_spec *best_spec = NULL;
        int best_ok = -1;
        char paths[ANET_FILE_COUNT][ANET_PATH_MAX];
        unsigned mask = 0;
        anet_status st = anet_dataset_find_files(data_dir, paths, &mask);
        char err[1024];
        snprintf(err, sizeof err, "%s", anet_last_error());
        for (size_t k = 0; st == ANET_OK && k < anet_registry_count(); k++) {
            anet_verify_report r;
            anet_registry_verify_dir(anet_registry_get(k), data_dir, &r);
            int ok = 0;
            for (int i = 0; i < ANET_FILE_COUNT; i++) ok += file_ok(r.files[i]);
            if (ok > best_ok) {
                best_ok = ok;
                best = r;
                best_spec = anet_registry_get(k);
            }
        }
        if (st != ANET_OK) {
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "dir", data_dir);
                cJSON_AddStringToObject(o, "state", "not a dataset directory");
                cJSON_AddStringToObject(o, "error", err);
                cJSON_AddItemToObject(root, "data_dir", o);
            } else {
                printf("%-16s %-32s %s\n", "--data", "not a dataset directory", data_dir);
            }
            rc = CLI_FAIL;
        } else if (json) {
            cJSON *o = report_json(&best, 1);
            cJSON_AddStringToObject(o, "matches", best_ok > 0 ? best_spec->name : "");
            cJSON_AddNumberToObject(o, "canonical_files", best_ok);
            cJSON_AddItemToObject(root, "data_dir", o);
        } else {
            printf("%-16s %-32s %s\n", "--data", anet_dataset_state_str(best.state), data_dir);
            if (best_ok > 0)
                printf("    %d of 4 files are the canonical %s files\n", best_ok, best_spec->name);
            print_missing(&best);
        }
        if (rc != CLI_OK) fprintf(stderr, "ane_trainer: data list: %s\n", err);
    }
    if (json) {
        char *s = cJSON_Print(root);
        if (s) {
            printf("%s\n", s);
            free(s);
        }
        cJSON_Delete(root);
    }
    return rc;
}

static int data_fetch(int argc, char **argv) {
    const char *name = NULL;
    anet_fetch_opts o = {0};
    o.progress = -1;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fetch_usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--dir") == 0) {
            if (++i >= argc) return cli_usage_error("data fetch ", "--dir needs a directory");
            o.dir = argv[i];
        } else if (strcmp(argv[i], "--mirror") == 0) {
            if (++i >= argc) return cli_usage_error("data fetch ", "--mirror needs a URL");
            o.mirror = argv[i];
        } else if (strcmp(argv[i], "--timeout") == 0) {
            long long n = 0;
            if (++i >= argc || cli_parse_int(argv[i], 1, 1000000000, &n))
                return cli_usage_error("data fetch ", "--timeout needs a number of seconds >= 1");
            o.timeout_s = (long)n;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            o.quiet = 1;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("data fetch ", "data fetch: unknown option '%s'", argv[i]);
        } else if (name) {
            return cli_usage_error("data fetch ", "data fetch: one dataset at a time ('%s' and '%s')", name, argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (!name) return cli_usage_error("data fetch ", "data fetch: which dataset? (mnist, fashion-mnist, kmnist, tinyshakespeare)");
    const anet_dataset_spec *spec = anet_registry_find(name);
    anet_dataset_spec text_spec;
    if (!spec && anet_text_find(name)) {
        anet_text_fetch_spec(anet_text_find(name), &text_spec);
        spec = &text_spec;
    }
    if (!spec) return cli_usage_error("data fetch ", "data fetch: unknown dataset '%s' (known: mnist, fashion-mnist, kmnist, tinyshakespeare)", name);
    if (anet_fetch_dataset(spec, &o) != ANET_OK) return cli_error("data fetch");
    if (!o.quiet) fprintf(stderr, "%s: all files present and verified\n", name);
    return CLI_OK;
}

int cli_data(int argc, char **argv) {
    if (argc < 2) {
        data_usage(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        data_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "list") == 0) return data_list(argc - 1, argv + 1);
    if (strcmp(argv[1], "fetch") == 0) return data_fetch(argc - 1, argv + 1);
    return cli_usage_error("data ", "data: unknown subcommand '%s'", argv[1]);
}
