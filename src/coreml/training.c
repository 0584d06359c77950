/* `check` on the trainer's own programs: an ane_trainer checkpoint (.safetensors) or a model
 * spec ("mlp:784-128-10"). The training and evaluation step programs are built by
 * train/step.c exactly as `ane_trainer compile --model` and `train` build them, so the
 * verdicts are those of the programs that would be compiled for the ANE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "coreml/coreml.h"
#include "coreml/mlprogram.h"
#include "train/checkpoint.h"
#include "train/optim_cpu.h"
#include "plan/forms_lower.h"
#include "train/step.h"
#include "train/step_forms.h"

/* The step configuration `train` would use: batch 128, update cpu, adam unless the
 * checkpoint says otherwise. */
static anet_status config_from(const char *path, const char *spec, const anet_ckpt *c, anet_step_config *sc,
                               anet_chip *chip, int *has_chip) {
    memset(sc, 0, sizeof *sc);
    anet_status st = anet_model_parse(spec, &sc->model);
    if (st != ANET_OK) return anet_fail_ctx(ANET_E_FORMAT, "%s", path);
    sc->batch = 128;
    anet_opt_kind kind = ANET_OPT_ADAM;
    sc->update = ANET_UPDATE_CPU;
    sc->dialect = ANET_MIL_IOS18;
    *has_chip = 0;
    if (c) {
        const char *v;
        if ((v = anet_ckpt_get_meta(c, "batch_size"))) {
            char *end = NULL;
            long b = strtol(v, &end, 10);
            if (!end || *end || b < 1 || b > 65536)
                return anet_fail(ANET_E_FORMAT, "%s: batch_size metadata '%.40s' is not in 1..65536", path, v);
            sc->batch = (int)b;
        }
        if ((v = anet_ckpt_get_meta(c, "optimizer")) && anet_opt_kind_lookup(v, &kind) != 0)
            return anet_fail(ANET_E_FORMAT, "%s: unknown optimizer '%.40s' in the metadata", path, v);
        if ((v = anet_ckpt_get_meta(c, "update"))) {
            if (strcmp(v, "ane") == 0) sc->update = ANET_UPDATE_ANE;
            else if (strcmp(v, "cpu") != 0)
                return anet_fail(ANET_E_FORMAT, "%s: update metadata '%.40s' is neither cpu nor ane", path, v);
        }
        if ((v = anet_ckpt_get_meta(c, "chip"))) {
            if (anet_chip_lookup(v, chip) != 0)
                return anet_fail(ANET_E_FORMAT, "%s: unknown chip '%.40s' in the metadata", path, v);
            *has_chip = 1;
        }
    }
    anet_opt_config_default(kind, &sc->opt);
    return ANET_OK;
}

anet_status anet_coreml_load_training(const char *path, anet_cm_model **out) {
    *out = NULL;
    int is_spec = strncmp(path, "mlp:", 4) == 0;
    anet_ckpt ck;
    memset(&ck, 0, sizeof ck);
    const char *spec = path;
    anet_status st;
    if (!is_spec) {
        st = anet_ckpt_read(path, &ck);
        if (st != ANET_OK) return st == ANET_E_IO || st == ANET_E_NOTFOUND || st == ANET_E_NOMEM ? st : ANET_E_FORMAT;
        spec = anet_ckpt_get_meta(&ck, "model");
        if (!spec) {
            anet_ckpt_free(&ck);
            return anet_fail(ANET_E_FORMAT, "%s: checkpoint without \"model\" metadata (not written by ane_trainer?)",
                             path);
        }
    }
    anet_step_config sc;
    anet_chip chip = ANET_CHIP_M4;
    int has_chip = 0;
    st = config_from(path, spec, is_spec ? NULL : &ck, &sc, &chip, &has_chip);
    if (st == ANET_OK && !is_spec) st = anet_ckpt_check_model(&ck, path, &sc.model, "its \"model\" metadata");
    anet_ckpt_free(&ck);
    if (st != ANET_OK) return st == ANET_E_NOMEM ? st : ANET_E_FORMAT;
    /* The chip's program form, as train and compile lower them (plan/forms.h). */
    anet_forms forms;
    anet_forms_default(chip, &forms);
    st = anet_forms_env(&forms);
    if (st != ANET_OK) return st;
    anet_step_forms_config(&forms, &sc);
    anet_step_program sp[2];
    memset(sp, 0, sizeof sp);
    st = anet_step_build_train(&sc, &sp[0]);
    if (st == ANET_OK) st = anet_step_build_eval(&sc, &sp[1]);
    for (int k = 0; k < 2 && st == ANET_OK; k++) {
        anet_form_map fm;
        st = anet_forms_lower(sp[k].graph, &forms, &fm);
        anet_form_map_free(&fm);
    }
    anet_cm_model *m = st == ANET_OK ? anet_cm_model_new(path, is_spec ? "model-spec" : "checkpoint") : NULL;
    if (m) m->graphs = calloc(2, sizeof *m->graphs);
    if (st != ANET_OK || !m || !m->graphs) {
        anet_step_program_free(&sp[0]);
        anet_step_program_free(&sp[1]);
        anet_coreml_free(m);
        return st != ANET_OK ? anet_fail_ctx(st, "%s: building the step programs", path)
                             : anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
    }
    /* The model takes the graphs over; the I/O role tables are not needed here. */
    for (int k = 0; k < 2; k++) {
        m->graphs[k] = sp[k].graph;
        sp[k].graph = NULL;
        anet_step_program_free(&sp[k]);
    }
    m->ngraphs = 2;
    m->kind = "trainingStep";
    m->private_path = 1;
    m->has_chip_hint = 1;
    m->chip_hint = has_chip ? chip : ANET_CHIP_M4;
    const char *names[2] = {"train", "eval"};
    for (int k = 0; k < 2 && st == ANET_OK; k++) st = anet_cm_layers_from_graph(m, k, names[k]);
    if (st == ANET_OK &&
        anet_cm_add_note(m, "the step programs of %s (batch %d, update %s, %s) as `ane_trainer compile --model` "
                            "builds them; default chip: %s",
                         sc.model.text, sc.batch, sc.update == ANET_UPDATE_ANE ? "ane" : "cpu",
                         sc.opt.kind == ANET_OPT_SGD ? "sgd" : sc.opt.kind == ANET_OPT_ADAMW ? "adamw" : "adam",
                         has_chip ? "the checkpoint's" : "m4") != 0)
        st = anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
    if (st != ANET_OK) {
        anet_coreml_free(m);
        return st;
    }
    *out = m;
    return ANET_OK;
}
