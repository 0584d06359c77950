/* Internals shared by the public C API's files (src/api/). */
#ifndef ANET_API_API_H
#define ANET_API_API_H

#include <cjson/cJSON.h>

#include "ane_trainer.h"
#include "train/model.h"

/* The public model handle: a spec and its fp32 parameters (PyTorch layout). */
struct anet_model {
    anet_model_spec spec;
    int nparams;
    anet_param_info *info;
    float **w;
};

/* A model with zeroed weights (filled by the caller). */
anet_status anet_api_model_alloc(const anet_model_spec *spec, anet_model **out);

/* Serialises a cJSON tree into a malloc'd string for a `char **` result (frees the tree). */
anet_status anet_api_json_out(cJSON *root, char **json);

/* The `ane_trainer info --json` object (src/api/info.c), shared with the CLI. */
cJSON *anet_info_object(void);

#endif
