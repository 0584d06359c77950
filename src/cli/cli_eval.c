/* `ane_trainer eval CKPT`: test accuracy of a checkpoint, run with the eval program. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "train/trainer.h"

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer eval CKPT [options]\n"
            "\n"
            "Evaluates the weights of a training checkpoint (safetensors) on a test set with the eval\n"
            "program on a backend and prints the accuracy. The model comes from the checkpoint.\n"
            "\n"
            "options:\n"
            "  --dataset NAME|DIR   (default: the checkpoint's dataset)\n"
            "  --data DIR           look for datasets here first\n"
            "  --batch-size B       (default: the checkpoint's)\n"
            "  --backend auto|vane|ane|ane-sim   (default auto)\n"
            "  --chip m1|m2|m3|m4|strict         (default m4)\n"
            "  --numerics fp16|fp32              (default fp16)\n"
            "  --program-form auto|device        (default auto: vane runs the plain form; device:\n"
            "                       the chip's device form on vane too, as train --program-form)\n"
            "  --json               print the result as one JSON object\n");
}

int cli_eval(int argc, char **argv) {
    anet_eval_options o;
    memset(&o, 0, sizeof o);
    o.backend = "auto";
    o.chip = ANET_CHIP_M4;
    o.numerics = ANET_NUMERICS_FP16;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        long long n = 0;
        if (cli_is_help(argv[i])) {
            eval_usage(stdout);
            return CLI_OK;
        }
        if ((r = cli_opt(argc, argv, &i, "--dataset", &v))) o.dataset = v;
        else if ((r = cli_opt(argc, argv, &i, "--data", &v))) o.data_dir = v;
        else if ((r = cli_opt(argc, argv, &i, "--backend", &v))) o.backend = v;
        else if ((r = cli_opt(argc, argv, &i, "--batch-size", &v))) {
            if (r > 0 && cli_parse_int(v, 1, ANET_MAX_BATCH, &n))
                return cli_usage_error("eval ", "--batch-size '%s': expected an integer in 1..%d", v, ANET_MAX_BATCH);
            o.batch_size = (int)n;
        } else if ((r = cli_opt(argc, argv, &i, "--chip", &v))) {
            if (r > 0 && anet_chip_lookup(v, &o.chip))
                return cli_usage_error("eval ", "--chip '%s': expected m1, m2, m3, m4 or strict", v);
        } else if ((r = cli_opt(argc, argv, &i, "--numerics", &v))) {
            if (r > 0 && strcmp(v, "fp16") && strcmp(v, "fp32"))
                return cli_usage_error("eval ", "--numerics '%s': expected fp16 or fp32", v);
            if (r > 0) o.numerics = strcmp(v, "fp32") == 0 ? ANET_NUMERICS_FP32 : ANET_NUMERICS_FP16;
        } else if ((r = cli_opt(argc, argv, &i, "--program-form", &v))) {
            if (r > 0 && strcmp(v, "auto") && strcmp(v, "device"))
                return cli_usage_error("eval ", "--program-form '%s': expected auto or device", v);
            if (r > 0) o.device_form = strcmp(v, "device") == 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
            r = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            static const char *const flags[] = {"--dataset", "--data",     "--backend", "--batch-size",
                                                "--chip",    "--numerics", "--program-form", "--json", NULL};
            const char *near = cli_suggest(argv[i], flags);
            if (near) return cli_usage_error("eval ", "unknown option '%s': did you mean %s?", argv[i], near);
            return cli_usage_error("eval ", "unknown option '%s'", argv[i]);
        } else {
            if (o.checkpoint) return cli_usage_error("eval ", "one checkpoint only ('%s' and '%s')", o.checkpoint, argv[i]);
            o.checkpoint = argv[i];
            r = 1;
        }
        if (r < 0) return cli_usage_error("eval ", "%s needs a value", argv[i]);
    }
    if (!o.checkpoint) return cli_usage_error("eval ", "no checkpoint given");
    anet_eval_result res;
    if (anet_eval_checkpoint(&o, &res) != ANET_OK) return cli_error("eval");
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "checkpoint", o.checkpoint);
        cJSON_AddStringToObject(j, "model", res.model);
        cJSON_AddStringToObject(j, "dataset", res.dataset);
        cJSON_AddStringToObject(j, "dataset_dir", res.dataset_dir);
        cJSON_AddStringToObject(j, "backend", res.backend);
        cJSON_AddNumberToObject(j, "samples", res.samples);
        cJSON_AddNumberToObject(j, "test_acc", res.accuracy);
        char *txt = cJSON_PrintUnformatted(j);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(j);
    }
    else
        printf("%s: %s on %s from %s (%u test samples, %s): accuracy %.2f%%\n", o.checkpoint, res.model,
               res.dataset, res.dataset_dir, res.samples, res.backend, 100.0 * res.accuracy);
    return CLI_OK;
}
