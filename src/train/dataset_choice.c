/* The dataset a run trains on: the one named (a directory recorded absolute), else mnist or fashion-mnist. */
#include "train/trainer.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/registry.h"

anet_status anet_dataset_resolve(const char *dataset, const char *data_dir, anet_dataset *ds,
                                 char *chosen, size_t chosen_len) {
    if (dataset && dataset[0]) {
        /* A directory is recorded absolute, so a checkpoint's dataset is found from anywhere
         * (eval, --resume from another working directory). */
        char cwd[ANET_PATH_MAX];
        struct stat sb;
        if (!anet_registry_find(dataset) && dataset[0] != '/' && stat(dataset, &sb) == 0 && S_ISDIR(sb.st_mode) &&
            getcwd(cwd, sizeof cwd))
            snprintf(chosen, chosen_len, "%s/%s", cwd, dataset);
        else
            snprintf(chosen, chosen_len, "%s", dataset);
        return anet_dataset_open(dataset, data_dir, ds);
    }
    char dir[ANET_PATH_MAX];
    if (anet_registry_locate("mnist", data_dir, dir, NULL) == ANET_OK) {
        snprintf(chosen, chosen_len, "mnist");
        return anet_dataset_load_dir(dir, 10, ds);
    }
    if (anet_registry_locate("fashion-mnist", data_dir, dir, NULL) == ANET_OK) {
        snprintf(chosen, chosen_len, "fashion-mnist");
        return anet_dataset_load_dir(dir, 10, ds);
    }
    return anet_fail(ANET_E_NOTFOUND,
                     "no dataset given and neither mnist nor fashion-mnist was found (install the "
                     "Debian package dataset-fashion-mnist, run `ane_trainer data fetch mnist`, or "
                     "pass --dataset DIR)");
}
