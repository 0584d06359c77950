/* `ane_trainer export CKPT --out Model.mlpackage`: the trained model as a Core ML ML Program. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "export/export.h"

static void export_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer export CKPT --out Model.mlpackage [options]\n"
            "\n"
            "Writes the checkpoint's model as a Core ML ML Program package (Manifest.json,\n"
            "Data/com.apple.CoreML/model.mlmodel, Data/com.apple.CoreML/weights/weight.bin) for Xcode,\n"
            "MLModel and Vision. The program is the eval program with the trained weights as constants.\n"
            "Input: `image` (multi-array 1x28x28, pixel / 255, or with --input image a grayscale image)\n"
            "for 784-input models, else `features` (1xF).\n"
            "Outputs: `classLabel` and `classProbabilities` (a classifier with the dataset's class\n"
            "labels), or `output` (the logits, 1xK) with --regression. See docs/deploy.md.\n"
            "\n"
            "options:\n"
            "  --out PATH                  the .mlpackage to write (replaced if it is a package)\n"
            "  --precision fp16|fp32       weights, input and compute (default fp16: what the ANE runs;\n"
            "                              fp32 programs run on the CPU/GPU, `check` says so)\n"
            "  --minimum-deployment-target iOS16|iOS17|iOS18\n"
            "                              spec version 7/8/9, opset CoreML6/7/8 (default iOS16;\n"
            "                              macOS 13/14/15 are the same Core ML versions)\n"
            "  --dataset NAME              class labels of this dataset (default: the checkpoint's)\n"
            "  --regression                plain `output` instead of a classifier\n"
            "  --input array|image         `image` as a multi-array of pixel / 255 (default), or as a\n"
            "                              Core ML grayscale image of 8-bit pixels (for Vision; the\n"
            "                              program divides by 255 itself)\n"
            "  --author S, --version S, --license S, --description S   model metadata\n");
}

int cli_export(int argc, char **argv) {
    anet_export_options o;
    anet_export_options_default(&o);
    const char *ckpt = NULL, *out = NULL, *dataset = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (cli_is_help(argv[i])) {
            export_usage(stdout);
            return CLI_OK;
        }
        if ((r = cli_opt(argc, argv, &i, "--out", &v))) out = v;
        else if ((r = cli_opt(argc, argv, &i, "--precision", &v))) {
            if (r > 0 && strcmp(v, "fp16") && strcmp(v, "fp32"))
                return cli_usage_error("export ", "--precision '%s': expected fp16 or fp32", v);
            if (r > 0) o.fp32 = strcmp(v, "fp32") == 0;
        } else if ((r = cli_opt(argc, argv, &i, "--minimum-deployment-target", &v))) {
            if (r > 0) {
                if (!strcmp(v, "iOS16")) o.target = 16;
                else if (!strcmp(v, "iOS17")) o.target = 17;
                else if (!strcmp(v, "iOS18")) o.target = 18;
                else return cli_usage_error("export ", "--minimum-deployment-target '%s': expected iOS16, iOS17 or iOS18", v);
            }
        } else if ((r = cli_opt(argc, argv, &i, "--dataset", &v))) dataset = v;
        else if ((r = cli_opt(argc, argv, &i, "--author", &v))) o.author = v;
        else if ((r = cli_opt(argc, argv, &i, "--version", &v))) o.version = v;
        else if ((r = cli_opt(argc, argv, &i, "--license", &v))) o.license = v;
        else if ((r = cli_opt(argc, argv, &i, "--description", &v))) o.description = v;
        else if ((r = cli_opt(argc, argv, &i, "--input", &v))) {
            if (r > 0 && strcmp(v, "array") && strcmp(v, "image"))
                return cli_usage_error("export ", "--input '%s': expected array or image", v);
            if (r > 0) o.image_input = strcmp(v, "image") == 0;
        } else if (strcmp(argv[i], "--regression") == 0) o.regression = r = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("export ", "unknown option '%s'", argv[i]);
        else {
            if (ckpt) return cli_usage_error("export ", "one checkpoint only ('%s' and '%s')", ckpt, argv[i]);
            ckpt = argv[i];
            r = 1;
        }
        if (r < 0) return cli_usage_error("export ", "%s needs a value", argv[i]);
    }
    if (!ckpt) return cli_usage_error("export ", "no checkpoint given");
    if (!out) return cli_usage_error("export ", "no --out PATH given (e.g. --out Model.mlpackage)");
    anet_export_source src;
    if (anet_export_source_load(ckpt, &src) != ANET_OK) return cli_error("export");
    o.dataset = dataset ? dataset : src.dataset;
    anet_status st = anet_export_package(src.spec, src.params, &o, out);
    if (st == ANET_OK)
        printf("%s: %s %s (%s, iOS%d+%s%s) exported from %s\n", out, src.spec->text,
               o.regression ? "regressor" : "classifier", o.fp32 ? "fp32" : "fp16", o.target,
               o.dataset[0] && !o.regression ? ", labels of " : "", o.regression ? "" : o.dataset, ckpt);
    anet_export_source_free(&src);
    return st == ANET_OK ? CLI_OK : cli_error("export");
}
