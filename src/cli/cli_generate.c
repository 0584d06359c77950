/* `ane_trainer generate CKPT`: sample text from a character-transformer checkpoint. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "train/generate.h"

static void generate_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer generate CKPT [--prompt TEXT] [--tokens N] [--temperature T] [--seed S]\n"
            "                                 [--backend vane|ane|ane-sim] [--chip m1|m2|m3|m4|strict]\n"
            "                                 [--numerics fp16|fp32] [--program-form auto|device]\n"
            "\n"
            "Samples characters from a transformer checkpoint (`train --model transformer:... --out DIR`\n"
            "writes DIR/checkpoint.safetensors) through its logits program, compiled once. Prints the\n"
            "prompt and then N sampled characters (default 200) on stdout; the same seed gives the same\n"
            "text. --temperature 0 always takes the most likely character (default 0.8). Every prompt\n"
            "character must be in the checkpoint's vocabulary. --program-form: which logits program vane\n"
            "runs, auto the plain form (the model's own sizes) or device the chip's device form (the\n"
            "device backends always run it); default: the training run's (the checkpoint's program_form).\n");
}

int cli_generate(int argc, char **argv) {
    anet_gen_options o = {NULL, "", 200, 0.8, 0, NULL, ANET_CHIP_M4, ANET_NUMERICS_FP16, ANET_GEN_FORM_CHECKPOINT};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        long long n = 0;
        if (cli_is_help(argv[i])) {
            generate_usage(stdout);
            return CLI_OK;
        }
        const char *missing = NULL;
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0 && (r > 0 || (missing = name)))
        if (OPT("--prompt")) o.prompt = v ? v : "";
        else if (OPT("--tokens")) {
            if (!missing && cli_parse_int(v, 0, 1000000, &n)) return cli_usage_error("generate ", "--tokens '%s': expected an integer in 0..1000000", v);
            o.tokens = n;
        } else if (OPT("--temperature")) {
            if (!missing && cli_parse_float(v, 0, 100, &o.temperature)) return cli_usage_error("generate ", "--temperature '%s': expected a number in [0, 100]", v);
        } else if (OPT("--seed")) {
            if (!missing && cli_parse_u64(v, &o.seed)) return cli_usage_error("generate ", "--seed '%s': expected a non-negative integer", v);
        } else if (OPT("--backend")) o.backend = v && strcmp(v, "auto") ? v : NULL;
        else if (OPT("--chip")) {
            if (!missing && anet_chip_lookup(v, &o.chip)) return cli_usage_error("generate ", "--chip '%s': expected m1, m2, m3, m4 or strict", v);
        } else if (OPT("--numerics")) {
            if (!missing && strcmp(v, "fp16") && strcmp(v, "fp32")) return cli_usage_error("generate ", "--numerics '%s': expected fp16 or fp32", v);
            if (!missing) o.numerics = strcmp(v, "fp32") == 0 ? ANET_NUMERICS_FP32 : ANET_NUMERICS_FP16;
        } else if (OPT("--program-form")) {
            if (!missing && strcmp(v, "auto") && strcmp(v, "device")) return cli_usage_error("generate ", "--program-form '%s': expected auto or device", v);
            if (!missing) o.program_form = strcmp(v, "device") == 0 ? ANET_GEN_FORM_DEVICE : ANET_GEN_FORM_AUTO;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("generate ", "unknown option '%s'", argv[i]);
        else if (!o.checkpoint) o.checkpoint = argv[i];
        else return cli_usage_error("generate ", "one checkpoint expected, got '%s' too", argv[i]);
        if (missing) return cli_usage_error("generate ", "%s needs a value", missing);
#undef OPT
    }
    if (!o.checkpoint) return cli_usage_error("generate ", "a checkpoint is required");
    if (anet_generate(&o, stdout) != ANET_OK) {
        fflush(stdout);
        return cli_error("generate");
    }
    return fflush(stdout) == 0 ? CLI_OK : (anet_fail(ANET_E_IO, "writing stdout failed"), cli_error("generate"));
}
