/* `ane_trainer compile`: write the MIL programs of a model's training step (or of a MIL file),
 * their weight blobs and a plan.json with inputs/outputs (roles, shapes) and per-op ANE
 * eligibility from the constraint table. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/safe_file.h"
#include "mil/mil.h"
#include "plan/constraints.h"
#include "runtime/backend.h"
#include "train/optim_cpu.h"
#include "train/step.h"
#include "train/step_forms.h"
#include "train/trainer.h"

#define MAX_MIL_BYTES ((long)64 << 20)
#define MAX_WEIGHT_BYTES ((long)1 << 30)

static void compile_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer compile --model SPEC [options] --out DIR\n"
            "       ane_trainer compile --mil FILE [--weights weight.bin] [options] --out DIR\n"
            "\n"
            "Writes each program as DIR/<program>/model.mil and DIR/<program>/weights/weight.bin (the\n"
            "layout the private API expects) and DIR/plan.json: programs, inputs/outputs with roles and\n"
            "shapes, ops with their ANE eligibility (rule and reason) for the chip profile, and whether\n"
            "the backend compiled the program (exit status 1 when one did not; the files are written\n"
            "anyway). With --mil the program is a MIL file given here (its\n"
            "weights from --weights or FILE's directory/weights/weight.bin) and goes to DIR/model.mil.\n"
            "\n"
            "options:\n"
            "  --model SPEC          mlp:IN-H1-...-OUT, a preset (lenet5) or a layer list (docs/models.md)\n"
            "  --batch-size B        (default 128)\n"
            "  --update cpu|ane      which training step (default cpu)\n"
            "  --optimizer adam|adamw|sgd   optimizer inside the program with --update ane (default adam)\n"
            "  --dialect ios18|ios16 MIL dialect (default: the chip's form, ios16 on m1-m3)\n"
            "  --chip m1|m2|m3|m4|strict   the chip: its program form and constraint profile (default m4)\n"
            "  --backend auto|vane|ane|ane-sim|none  compile each program there too (default auto)\n"
            "  --out DIR             output directory (created)\n"
            "\n"
            "With --model the programs take the chip's form (docs/mil.md): every input and output\n"
            "[1,C,1,S] fp16 with S a multiple of 32, contraction lengths padded to multiples of 32;\n"
            "plan.json lists per program the form rules that shaped it. ANE_TRAINER_FORMS switches\n"
            "rules (\"strict\", \"none\", \"RULE=on|off\", ...).\n");
}

static const char *role_name(anet_io_role r) {
    switch (r) {
    case ANET_ROLE_X: return "x";
    case ANET_ROLE_Y_ONEHOT: return "y_onehot";
    case ANET_ROLE_PARAM: return "param";
    case ANET_ROLE_PARAM_LO: return "param_lo";
    case ANET_ROLE_OPT_STATE: return "opt_state";
    case ANET_ROLE_HYPER: return "hyper";
    case ANET_ROLE_LOSS: return "loss";
    case ANET_ROLE_GRAD: return "grad";
    case ANET_ROLE_LOGITS: return "logits";
    case ANET_ROLE_CORRECT: return "correct";
    case ANET_ROLE_FINITE: return "finite";
    case ANET_ROLE_MASK: return "dropout_mask";
    case ANET_ROLE_BN_STAT: return "batchnorm_stat";
    }
    return "?";
}

static int mkdir_p(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    struct stat sb;
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
}

static anet_status write_file(const char *path, const void *data, size_t n) {
    FILE *f = anet_fopen_output(path, NULL, O_TRUNC); /* never through a planted symlink */
    if (!f) return ANET_E_IO;
    int ok = fwrite(data, 1, n, f) == n;
    if (fclose(f) != 0) ok = 0;
    if (!ok) return anet_fail(ANET_E_IO, "cannot write %s: %s", path, strerror(errno));
    return ANET_OK;
}

static anet_status read_file(const char *path, long max, char **out, size_t *len) {
    FILE *f;
    anet_status st = anet_fopen_input(path, NULL, &f, NULL); /* no FIFO: it would block */
    if (st != ANET_OK) return st;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > max) {
        fclose(f);
        return anet_fail(ANET_E_IO, "%s: not a regular file of at most %ld bytes", path, max);
    }
    char *b = malloc((size_t)sb.st_size + 1);
    if (!b) {
        fclose(f);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(b, 1, (size_t)sb.st_size, f);
    fclose(f);
    if (n != (size_t)sb.st_size) {
        free(b);
        return anet_fail(ANET_E_IO, "%s: short read", path);
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return ANET_OK;
}

static cJSON *type_json(const anet_type *t) {
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; d < t->rank; d++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)t->dims[d]));
    return a;
}

static cJSON *io_json(const anet_graph *g, int value, const anet_io_desc *d) {
    cJSON *o = cJSON_CreateObject();
    const anet_value *v = &g->values[value];
    cJSON_AddStringToObject(o, "name", v->name ? v->name : "");
    if (d) {
        cJSON_AddStringToObject(o, "role", role_name(d->role));
        if (d->role == ANET_ROLE_PARAM || d->role == ANET_ROLE_PARAM_LO || d->role == ANET_ROLE_OPT_STATE ||
            d->role == ANET_ROLE_GRAD)
            cJSON_AddNumberToObject(o, "param", d->index);
        if (d->role == ANET_ROLE_OPT_STATE) cJSON_AddNumberToObject(o, "slot", d->slot);
    }
    cJSON_AddStringToObject(o, "dtype", anet_dtype_name(v->type.dtype));
    cJSON_AddItemToObject(o, "shape", type_json(&v->type));
    int64_t e = anet_type_elements(&v->type);
    cJSON_AddNumberToObject(o, "bytes", (double)(e > 0 ? (size_t)e * anet_dtype_size(v->type.dtype) : 0));
    return o;
}

/* Program description with per-op eligibility; *eligible_ops/total for the summary line. */
static cJSON *program_json(const char *name, const anet_graph *g, const anet_io_desc *in,
                           const anet_io_desc *out, anet_chip chip, const char *mil_rel, const char *w_rel,
                           int *bad_ops) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddStringToObject(p, "mil", mil_rel);
    if (w_rel) cJSON_AddStringToObject(p, "weights", w_rel);
    else cJSON_AddNullToObject(p, "weights");
    cJSON *ins = cJSON_AddArrayToObject(p, "inputs");
    for (int i = 0; i < g->ninputs; i++) cJSON_AddItemToArray(ins, io_json(g, g->inputs[i], in ? &in[i] : NULL));
    cJSON *outs = cJSON_AddArrayToObject(p, "outputs");
    for (int i = 0; i < g->noutputs; i++)
        cJSON_AddItemToArray(outs, io_json(g, g->outputs[i], out ? &out[i] : NULL));
    cJSON *ops = cJSON_AddArrayToObject(p, "ops");
    *bad_ops = 0;
    int compute = 0;
    for (int i = 0; i < g->nops; i++) {
        const anet_op *op = &g->ops[i];
        if (op->kind == ANET_OP_CONST) continue; /* parameters and weights, not work */
        compute++;
        anet_verdict v;
        memset(&v, 0, sizeof v);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", op->name ? op->name : "");
        cJSON_AddStringToObject(o, "type", op->type ? op->type : anet_op_kind_name(op->kind));
        if (anet_plan_check_op(g, i, chip, &v) != ANET_OK) {
            v.ok = 0;
            snprintf(v.detail, sizeof v.detail, "%s", anet_last_error());
        }
        cJSON_AddBoolToObject(o, "eligible", v.ok);
        if (!v.ok) {
            (*bad_ops)++;
            cJSON_AddStringToObject(o, "rule", v.rule ? v.rule->id : "unknown");
            cJSON_AddStringToObject(o, "reason", v.rule ? v.rule->reason : "");
            cJSON_AddStringToObject(o, "source", v.rule ? v.rule->source : "");
            cJSON_AddStringToObject(o, "detail", v.detail);
        }
        cJSON_AddItemToArray(ops, o);
    }
    cJSON_AddNumberToObject(p, "compute_ops", compute);
    anet_verdict pv[16];
    int nv = anet_plan_check_graph(g, chip, pv, 16);
    cJSON_AddBoolToObject(p, "eligible", nv == 0);
    cJSON *viol = cJSON_AddArrayToObject(p, "violations");
    for (int i = 0; i < nv && i < 16; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "rule", pv[i].rule ? pv[i].rule->id : "unknown");
        cJSON_AddStringToObject(o, "reason", pv[i].rule ? pv[i].rule->reason : "");
        cJSON_AddStringToObject(o, "detail", pv[i].detail);
        cJSON_AddItemToArray(viol, o);
    }
    return p;
}

/* "forms": the chip's rules that shaped the program, those it still breaks, and its dialect. */
static void add_forms_json(cJSON *pj, const anet_forms *f, const anet_step_forms *sf, const char *opset) {
    cJSON *o = cJSON_AddObjectToObject(pj, "forms");
    cJSON_AddStringToObject(o, "dialect", opset ? opset : "");
    int n = 0;
    const anet_form_rule *rules = anet_form_rules(&n);
    cJSON *on = cJSON_AddArrayToObject(o, "rules_on"), *shaped = cJSON_AddArrayToObject(o, "shaped_by");
    cJSON *unmet = cJSON_AddArrayToObject(o, "unmet");
    for (int i = 0; i < n; i++) {
        if (f->on[i]) cJSON_AddItemToArray(on, cJSON_CreateString(rules[i].id));
        if (sf->map.shaped[i]) cJSON_AddItemToArray(shaped, cJSON_CreateString(rules[i].id));
        if (sf->map.unmet[i]) {
            cJSON_AddItemToArray(unmet, cJSON_CreateString(rules[i].id));
            cJSON_AddStringToObject(o, rules[i].id, sf->map.unmet_detail[i]);
        }
    }
    if (f->on[ANET_FORM_MAX_INPUTS]) cJSON_AddNumberToObject(o, "max_inputs", f->max_inputs);
    cJSON_AddStringToObject(o, "row_layout", f->on[ANET_FORM_ROW_LAYOUT] ? "strided64" : "packed");
}

/* Writes one program; compiles it on the backend when one is open. */
static int emit_program(const char *out_dir, const char *sub, anet_graph *g, const anet_io_desc *in,
                        const anet_io_desc *out, anet_chip chip, anet_backend *be, const char *given_mil,
                        size_t given_len, const uint8_t *given_w, size_t given_wlen, cJSON *programs,
                        int *not_compiled) {
    char dir[4300], path[4400], mil_rel[300], w_rel[300];
    snprintf(dir, sizeof dir, "%s%s%s", out_dir, sub[0] ? "/" : "", sub);
    snprintf(path, sizeof path, "%s/weights", dir);
    if (mkdir_p(path) != 0) {
        anet_fail(ANET_E_IO, "cannot create directory %s: %s", path, strerror(errno));
        return cli_error("compile");
    }
    uint8_t *w = NULL;
    size_t wlen = 0;
    char *mil = NULL;
    size_t mlen = 0;
    anet_status st = ANET_OK;
    if (given_mil) {
        mil = (char *)given_mil;
        mlen = given_len;
        w = (uint8_t *)given_w;
        wlen = given_wlen;
    } else {
        st = anet_weights_build(g, 64, &w, &wlen);
        if (st == ANET_OK) st = anet_mil_emit(g, &mil, &mlen);
    }
    snprintf(mil_rel, sizeof mil_rel, "%s%smodel.mil", sub, sub[0] ? "/" : "");
    snprintf(w_rel, sizeof w_rel, "%s%sweights/weight.bin", sub, sub[0] ? "/" : "");
    if (st == ANET_OK) {
        snprintf(path, sizeof path, "%s/model.mil", dir);
        st = write_file(path, mil, mlen);
    }
    if (st == ANET_OK && w) {
        snprintf(path, sizeof path, "%s/weights/weight.bin", dir);
        st = write_file(path, w, wlen);
    }
    if (st != ANET_OK) {
        if (!given_mil) {
            free(mil);
            free(w);
        }
        return cli_error("compile");
    }
    int bad = 0;
    cJSON *pj = program_json(sub[0] ? sub : "main", g, in, out, chip, mil_rel, w ? w_rel : NULL, &bad);
    if (be) {
        anet_program *prog = NULL;
        anet_status cs = be->ops->compile(be->state, mil, mlen, w, wlen, &prog);
        cJSON_AddStringToObject(pj, "backend", be->ops->name);
        cJSON_AddBoolToObject(pj, "compiled", cs == ANET_OK);
        if (cs != ANET_OK) {
            cJSON_AddStringToObject(pj, "compile_error", anet_last_error());
            (*not_compiled)++;
        }
        else be->ops->release(be->state, prog);
    }
    cJSON *ops = cJSON_GetObjectItem(pj, "ops");
    cJSON *comp = cJSON_GetObjectItem(pj, "compiled");
    printf("%s: %s (%zu bytes), %d ops, %d not ANE-eligible on %s%s%s\n", sub[0] ? sub : "program", mil_rel, mlen,
           cJSON_GetArraySize(ops), bad, anet_chip_name(chip), comp ? (cJSON_IsTrue(comp) ? ", compiled on " : ", FAILED to compile on ") : "",
           comp ? be->ops->name : "");
    cJSON_AddItemToArray(programs, pj);
    if (!given_mil) {
        free(mil);
        free(w);
    }
    return CLI_OK;
}

int cli_compile(int argc, char **argv) {
    const char *model = NULL, *mil_path = NULL, *weights_path = NULL, *out_dir = NULL, *backend = "auto";
    int batch = 128;
    anet_update_mode update = ANET_UPDATE_CPU;
    anet_opt_kind kind = ANET_OPT_ADAM;
    anet_mil_dialect dialect = ANET_MIL_IOS18;
    int dialect_given = 0;
    anet_chip chip = ANET_CHIP_M4;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        long long n = 0;
        if (cli_is_help(argv[i])) {
            compile_usage(stdout);
            return CLI_OK;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &v))) model = v;
        else if ((r = cli_opt(argc, argv, &i, "--mil", &v))) mil_path = v;
        else if ((r = cli_opt(argc, argv, &i, "--weights", &v))) weights_path = v;
        else if ((r = cli_opt(argc, argv, &i, "--out", &v))) out_dir = v;
        else if ((r = cli_opt(argc, argv, &i, "--backend", &v))) backend = v;
        else if ((r = cli_opt(argc, argv, &i, "--batch-size", &v))) {
            if (r > 0 && cli_parse_int(v, 1, ANET_MAX_BATCH, &n))
                return cli_usage_error("compile ", "--batch-size '%s': expected an integer in 1..%d", v, ANET_MAX_BATCH);
            batch = (int)n;
        } else if ((r = cli_opt(argc, argv, &i, "--update", &v))) {
            if (r > 0 && strcmp(v, "cpu") && strcmp(v, "ane"))
                return cli_usage_error("compile ", "--update '%s': expected cpu or ane", v);
            if (r > 0) update = strcmp(v, "ane") == 0 ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
        } else if ((r = cli_opt(argc, argv, &i, "--optimizer", &v))) {
            if (r > 0 && anet_opt_kind_lookup(v, &kind))
                return cli_usage_error("compile ", "--optimizer '%s': expected adam, adamw or sgd", v);
        } else if ((r = cli_opt(argc, argv, &i, "--dialect", &v))) {
            if (r > 0 && strcmp(v, "ios18") && strcmp(v, "ios16"))
                return cli_usage_error("compile ", "--dialect '%s': expected ios18 or ios16", v);
            if (r > 0) dialect = strcmp(v, "ios16") == 0 ? ANET_MIL_IOS16 : ANET_MIL_IOS18;
            dialect_given = r > 0;
        } else if ((r = cli_opt(argc, argv, &i, "--chip", &v))) {
            if (r > 0 && anet_chip_lookup(v, &chip))
                return cli_usage_error("compile ", "--chip '%s': expected m1, m2, m3, m4 or strict", v);
        } else {
            return cli_usage_error("compile ", "unknown argument '%s'", argv[i]);
        }
        if (r < 0) return cli_usage_error("compile ", "%s needs a value", argv[i]);
    }
    if (!out_dir) return cli_usage_error("compile ", "--out DIR is required");
    if (!model == !mil_path) return cli_usage_error("compile ", "give either --model SPEC or --mil FILE");
    if (mkdir_p(out_dir) != 0) {
        anet_fail(ANET_E_IO, "cannot create output directory %s: %s", out_dir, strerror(errno));
        return cli_error("compile");
    }
    anet_backend be;
    anet_backend *bep = NULL;
    char why[512];
    if (strcmp(backend, "none") != 0) {
        anet_backend_config bc = {chip, ANET_NUMERICS_FP16, 0};
        if (anet_backend_choose(backend, &bc, &be, why, sizeof why) != ANET_OK) return cli_error("compile");
        bep = &be;
        printf("backend: %s (%s)\n", be.ops->name, why);
    }
    cJSON *plan = cJSON_CreateObject();
    cJSON_AddStringToObject(plan, "chip", anet_chip_name(chip));
    cJSON *programs = cJSON_CreateArray();
    int rc = CLI_OK, not_compiled = 0;
    if (model) {
        anet_step_config sc;
        memset(&sc, 0, sizeof sc);
        if (anet_model_parse(model, &sc.model) != ANET_OK) {
            rc = cli_error("compile");
            goto done;
        }
        sc.batch = batch;
        anet_opt_config_default(kind, &sc.opt);
        sc.update = update;
        anet_forms forms;
        anet_forms_default(chip, &forms);
        if (anet_forms_env(&forms) != ANET_OK) {
            rc = cli_error("compile");
            goto done;
        }
        anet_model_spec user = sc.model;
        anet_step_forms_config(&forms, &sc);
        if (dialect_given) sc.dialect = dialect;
        cJSON_AddStringToObject(plan, "model", sc.model.text);
        cJSON_AddNumberToObject(plan, "batch", batch);
        cJSON_AddStringToObject(plan, "update", update == ANET_UPDATE_ANE ? "ane" : "cpu");
        cJSON_AddStringToObject(plan, "optimizer", anet_opt_kind_name(kind));
        anet_step_program sp[2];
        memset(sp, 0, sizeof sp);
        if (anet_step_build_train(&sc, &sp[0]) != ANET_OK || anet_step_build_eval(&sc, &sp[1]) != ANET_OK) {
            rc = cli_error("compile");
            anet_step_program_free(&sp[0]);
            anet_step_program_free(&sp[1]);
            goto done;
        }
        const char *names[2] = {"train", "eval"};
        for (int k = 0; k < 2 && rc == CLI_OK; k++) {
            anet_step_forms sf;
            if (anet_step_forms_lower(&sf, &sp[k], &forms, &user, batch) != ANET_OK) {
                anet_step_forms_free(&sf);
                rc = cli_error("compile");
                break;
            }
            rc = emit_program(out_dir, names[k], sp[k].graph, sp[k].inputs, sp[k].outputs, chip, bep, NULL, 0,
                              NULL, 0, programs, &not_compiled);
            if (rc == CLI_OK) add_forms_json(cJSON_GetArrayItem(programs, cJSON_GetArraySize(programs) - 1), &forms, &sf,
                                          sp[k].graph->opset);
            anet_step_forms_free(&sf);
        }
        anet_step_program_free(&sp[0]);
        anet_step_program_free(&sp[1]);
    } else {
        char *text = NULL, *wbuf = NULL;
        size_t tlen = 0, wlen = 0;
        if (read_file(mil_path, MAX_MIL_BYTES, &text, &tlen) != ANET_OK) {
            rc = cli_error("compile");
            goto done;
        }
        char wdef[4200];
        if (!weights_path) {
            const char *slash = strrchr(mil_path, '/');
            int dl = slash ? (int)(slash - mil_path) : 1;
            snprintf(wdef, sizeof wdef, "%.*s/weights/weight.bin", dl, slash ? mil_path : ".");
            struct stat sb;
            if (stat(wdef, &sb) == 0) weights_path = wdef;
        }
        if (weights_path && read_file(weights_path, MAX_WEIGHT_BYTES, &wbuf, &wlen) != ANET_OK) {
            free(text);
            rc = cli_error("compile");
            goto done;
        }
        anet_graph *g = NULL;
        if (anet_mil_parse(text, tlen, (const uint8_t *)wbuf, wlen, &g) != ANET_OK) {
            anet_fail_ctx(ANET_E_FORMAT, "%s", mil_path);
            rc = cli_error("compile");
        } else {
            cJSON_AddStringToObject(plan, "source", mil_path);
            rc = emit_program(out_dir, "", g, NULL, NULL, chip, bep, text, tlen, (const uint8_t *)wbuf, wlen,
                              programs, &not_compiled);
        }
        anet_graph_free(g);
        free(text);
        free(wbuf);
    }
done:
    cJSON_AddItemToObject(plan, "programs", programs);
    if (rc == CLI_OK) {
        char path[4200];
        snprintf(path, sizeof path, "%s/plan.json", out_dir);
        char *txt = cJSON_Print(plan);
        if (!txt || write_file(path, txt, strlen(txt)) != ANET_OK) rc = cli_error("compile");
        else printf("plan: %s\n", path);
        free(txt);
        if (rc == CLI_OK && not_compiled) {
            fprintf(stderr, "ane_trainer: compile: %d program(s) did not compile on %s for chip %s (see %s)\n",
                    not_compiled, bep->ops->name, anet_chip_name(chip), path);
            rc = CLI_FAIL;
        }
    }
    cJSON_Delete(plan);
    if (bep) anet_backend_close(bep);
    return rc;
}
