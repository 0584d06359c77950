/* `ane_trainer train`: train a model with every step as MIL programs on a backend. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/train_guard.h"
#include "core/error.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/model.h"
#include "train/optim_cpu.h"
#include "train/run_files.h"
#include "train/rundir.h"
#include "train/schedule.h"
#include "train/seq_train.h"
#include "train/trainer.h"

static void train_usage(FILE *f) {
    fprintf(f,
            "usage: ane_trainer train [options]\n"
            "\n"
            "Trains a model (an MLP, a CNN, any layer list) with forward, loss, backward (and with\n"
            "--update ane the optimizer) as MIL programs run on a backend; each program is compiled\n"
            "once. Writes a safetensors checkpoint to --out after every epoch (atomically) and\n"
            "metrics as JSON Lines.\n"
            "\n"
            "data and model:\n"
            "  --dataset NAME|DIR   mnist, fashion-mnist, kmnist or a directory of IDX files\n"
            "                       (default: mnist if found, else fashion-mnist)\n"
            "  --data DIR           look for datasets here first\n"
            "  --model SPEC         mlp:IN-H1-...-OUT (relu between layers; default mlp:784-128-10),\n"
            "                       a preset (lenet5) or a layer list such as\n"
            "                       conv:16x3x3:pad1,relu,maxpool:2,flatten,linear:10; append\n"
            "                       ,loss:mse or ,loss:bce for another loss (docs/models.md); a model\n"
            "                       with a conv layer defaults to --batch-size 16 --lr 2e-3\n"
            "                       --schedule cosine for the flags not given (said in one line)\n"
            "training:\n"
            "  --epochs N           train until N epochs are complete, counting resumed ones (default 5)\n"
            "  --batch-size B       (default 128); the last partial batch of an epoch is dropped\n"
            "  --optimizer adam|adamw|sgd   (default adam; torch.optim formulas)\n"
            "  --lr X               peak learning rate (default 1e-3; sgd 1e-2)\n"
            "  --momentum M         sgd momentum (default 0.9)\n"
            "  --weight-decay W     adamw: decoupled (default 0.01); adam/sgd: L2 (default 0)\n"
            "  --beta1 B1 --beta2 B2 --eps E   adam/adamw (defaults 0.9, 0.999, 1e-8)\n"
            "  --schedule constant|cosine|warmup|warmup-cosine   (default constant)\n"
            "  --warmup-steps N     linear warmup length for warmup schedules (default 0)\n"
            "  --schedule-steps N   T of the cosine schedules (default: --epochs x batches per epoch of\n"
            "                       the first run; a resume keeps the checkpoint's T)\n"
            "  --seed S             same seed + same backend = identical metrics (default 0)\n"
            "  --val-split F        hold out the last fraction F of the training set for validation\n"
            "                       (val_acc, val_loss per epoch; kept by a --resume) (default 0: none)\n"
            "  --train-acc          also the accuracy on the training samples after each epoch (train_acc;\n"
            "                       one more forward pass over them per epoch)\n"
            "  --loss-scale X       initial dynamic loss scale (default 32768 = 2^15)\n"
            "  --loss-scale-growth N  clean steps before the scale doubles (default 1000)\n"
            "execution:\n"
            "  --backend auto|vane|ane|ane-sim  (default auto: ane where it runs, else vane; says why;\n"
            "                       if ane fails during the run, it continues on vane with a warning,\n"
            "                       retrying the failed step; a backend named here never falls back;\n"
            "                       on the ANE, a stored `selftest` report for this chip and OS sets\n"
            "                       the program forms, and the backend line says so: docs/selftest.md)\n"
            "  --chip m1|m2|m3|m4|strict  the chip: its program form (ios16 on m1-m3, [1,C,1,S] I/O,\n"
            "                       padded contractions; docs/mil.md) and constraint profile (default\n"
            "                       m4: M4 and later); ANE_TRAINER_FORMS switches form rules\n"
            "  --update cpu|ane     cpu: fp32 master weights + optimizer on the CPU, fp16 copies sent\n"
            "                       per step; ane: the whole step in the program, weights (fp16\n"
            "                       hi+lo) and optimizer state stay in the backend's ping-pong\n"
            "                       buffers, only the batch is copied per step (default cpu; a\n"
            "                       transformer: ane, with the global-norm clipping in the program too)\n"
            "  --numerics fp16|fp32 vane rounding (fp32 = debug, no rounding) (default fp16)\n"
            "  --program-form auto|device  auto: vane runs the plain form (the model's own sizes,\n"
            "                       no padding: faster on a CPU), ane/ane-sim the chip's device form;\n"
            "                       device: vane runs the device form too, the programs a Neural\n"
            "                       Engine gets, with ane-sim's bits (default auto; docs/mil.md)\n"
            "output:\n"
            "  --out DIR            checkpoints and metrics (default ./runs/<UTC timestamp>)\n"
            "  --resume CKPT        continue exactly from a checkpoint; options not given are taken from it\n"
            "  --overwrite          replace the run already in --out (without it, or --resume, such a\n"
            "                       directory is refused and left untouched)\n"
            "  --metrics FILE       JSON Lines metrics (default <out>/metrics.jsonl; appended on --resume)\n"
            "  --log-steps N        also a \"step\" metrics line every N steps\n"
            "  --save-best          keep <out>/best.safetensors: the epoch with the best val_acc (test_acc\n"
            "                       without --val-split)\n"
            "  --tensorboard DIR    TensorBoard event files (scalars) in DIR too\n"
            "  --max-steps N        stop after N steps in total (no checkpoint; for tests)\n"
            "  --max-memory SIZE    memory budget of the plan, e.g. 4G (default: half of physical memory);\n"
            "                       a model and batch estimated to need more fail before allocating\n"
            "  --quiet              no progress on stderr\n"
            "\n"
            "character transformer (--model transformer:layers=L,dim=D,heads=H,ctx=S with a text\n"
            "dataset such as --dataset tinyshakespeare; docs/models.md): DIR/checkpoint.safetensors\n"
            "(weights, vocabulary for `generate`, training state for --resume) at every evaluation and\n"
            "at the end; --resume DIR/checkpoint.safetensors --max-steps N continues it exactly:\n"
            "  --max-steps N        steps to train (default 2000); AdamW (lr 1e-3, wd 0.01 unless given)\n"
            "  --eval-every N       validation loss (nats/char) every N steps (default 0: at the end)\n"
            "  --val-windows N      validation windows per evaluation (default 0: all)\n"
            "  --clip X             clip gradients to global norm X (default 1; 0: off)\n"
            "\n"
            "Ctrl-C (or SIGTERM) finishes the current step, writes the checkpoint (mid-epoch position\n"
            "included) and prints the --resume command that continues the run; a second Ctrl-C exits\n"
            "at once (the last checkpoint stays whole).\n");
}

static const char *const train_flags[] = {
    "--dataset", "--data", "--model", "--epochs", "--batch-size", "--optimizer", "--lr", "--momentum",
    "--weight-decay", "--beta1", "--beta2", "--eps", "--schedule", "--schedule-steps", "--warmup-steps", "--seed",
    "--backend", "--chip", "--update", "--numerics", "--program-form", "--out", "--resume", "--overwrite", "--metrics",
    "--loss-scale", "--loss-scale-growth", "--log-steps", "--max-steps", "--max-memory", "--quiet", "--help", "--val-split",
    "--save-best", "--tensorboard", "--train-acc", "--eval-every", "--val-windows", "--clip", NULL};

/* The backend line: the name and the gist of why; the full reason (with advice) only when a
 * backend was asked for and refused, which fails earlier with its own message. */
static void print_backend(const anet_trainer *t) {
    const char *full = anet_trainer_backend_reason(t), *pfx = "auto: vane: ";
    /* A stored selftest report's part (program forms, or why it was not used) gets a line of
     * its own: it names the switches that shape every program. */
    const char *rep = strstr(full, "; program forms from the selftest report");
    if (!rep) rep = strstr(full, "; selftest report");
    char head[1200];
    snprintf(head, sizeof head, "%.*s", rep ? (int)(rep - full) : (int)strlen(full), full);
    const char *why = head;
    char gist[160];
    if (!strncmp(why, pfx, strlen(pfx))) {
        snprintf(gist, sizeof gist, "auto: %.150s", why + strlen(pfx));
        char *cut = strchr(gist + 6, ':');
        if (cut) *cut = 0;
    } else if (!strncmp(why, "requested with", 14)) {
        snprintf(gist, sizeof gist, "as requested");
    } else {
        snprintf(gist, sizeof gist, "%.150s", why);
    }
    fprintf(stderr, "backend: %s (%s)\n", anet_trainer_backend_name(t), gist);
    if (rep) fprintf(stderr, "%s\n", rep + 2);
}

typedef struct seen {
    int model, opt, lr, momentum, wd, b1, b2, eps, batch, seed, sched, warmup, update, numerics, form, chip, dataset, growth, schedsteps,
        valsplit;
} seen;

/* Options the user did not give are taken from the checkpoint being resumed. */
/* Whether path is a transformer checkpoint (then *ck holds it; free it). */
static int seq_checkpoint(const char *path, anet_ckpt *ck) {
    if (anet_ckpt_read(path, ck) != ANET_OK) return 0;
    const char *m = anet_ckpt_get_meta(ck, "model");
    if (m && strncmp(m, "transformer:", 12) == 0) return 1;
    anet_ckpt_free(ck);
    memset(ck, 0, sizeof *ck);
    return 0;
}

static int meta_double(const anet_ckpt *ck, const char *key, double *out) {
    const char *v = anet_ckpt_get_meta(ck, key);
    char *end;
    if (!v || !*v) return 0;
    *out = strtod(v, &end);
    return !*end && isfinite(*out);
}

static int adopt_checkpoint(const char *path, const seen *s, anet_train_options *o, char *model_buf,
                            size_t model_len, char *ds_buf, size_t ds_len) {
    anet_ckpt c;
    if (anet_ckpt_read(path, &c) != ANET_OK) return cli_error("train --resume");
    /* Everything from the checkpoint, then the options given on the command line back. */
    anet_train_options given = *o;
    if (anet_train_options_from_ckpt(&c, path, o, model_buf, model_len, ds_buf, ds_len) != ANET_OK) {
        anet_ckpt_free(&c);
        return cli_error("train --resume");
    }
    if (s->model) o->model = given.model;
    if (s->dataset) o->dataset = given.dataset;
    const char *ds = anet_ckpt_get_meta(&c, "dataset");
    if (!s->dataset && (!ds || !ds[0])) {
        anet_ckpt_free(&c);
        anet_fail(ANET_E_INVALID, "checkpoint %s records no dataset (saved from in-memory arrays?): give --dataset",
                  path);
        return cli_error("train --resume");
    }
    if (s->opt) o->opt.kind = given.opt.kind;
    if (s->lr) o->opt.lr = given.opt.lr;
    if (s->momentum) o->opt.momentum = given.opt.momentum;
    if (s->wd) o->opt.weight_decay = given.opt.weight_decay;
    if (s->b1) o->opt.beta1 = given.opt.beta1;
    if (s->b2) o->opt.beta2 = given.opt.beta2;
    if (s->eps) o->opt.eps = given.opt.eps;
    if (s->batch) o->batch_size = given.batch_size;
    if (s->seed) o->seed = given.seed;
    if (s->sched) o->schedule = given.schedule;
    if (s->warmup) o->warmup_steps = given.warmup_steps;
    if (s->update) o->update = given.update;
    if (s->numerics) o->numerics = given.numerics;
    if (s->form) o->device_form = given.device_form;
    if (s->chip) o->chip = given.chip;
    if (s->growth) o->loss_scale_growth = given.loss_scale_growth;
    if (s->schedsteps) o->schedule_steps = given.schedule_steps;
    if (s->valsplit) o->val_split = given.val_split;
    anet_ckpt_free(&c);
    return CLI_OK;
}

/* The model's recommended options (anet_model_recommend) for those not given; the line saying
 * which ones goes to line (empty: none). A resumed run takes the checkpoint's instead. */
static int apply_model_hints(anet_train_options *o, const seen *s, char *line, size_t len) {
    anet_model_spec m;
    anet_model_hints h;
    line[0] = '\0';
    if (anet_model_parse(o->model, &m) != ANET_OK) return CLI_OK; /* the trainer reports it */
    if (!anet_model_recommend(&m, &h)) return CLI_OK;
    char buf[160] = "";
    size_t n = 0;
    if (!s->batch) {
        o->batch_size = h.batch;
        n += (size_t)snprintf(buf + n, sizeof buf - n, " --batch-size %d", h.batch);
    }
    /* The learning rate is Adam's: another optimizer keeps its own default. */
    if (!s->lr && o->opt.kind != ANET_OPT_SGD) {
        o->opt.lr = h.lr;
        n += (size_t)snprintf(buf + n, sizeof buf - n, " --lr %g", (double)h.lr);
    }
    if (!s->sched && anet_sched_kind_lookup(h.schedule, &o->schedule) == 0)
        n += (size_t)snprintf(buf + n, sizeof buf - n, " --schedule %s", h.schedule);
    if (n) snprintf(line, len, "model %s: its recommended defaults%s (flags given on the command line win)", o->model, buf);
    return CLI_OK;
}

int cli_train(int argc, char **argv) {
    anet_train_options o;
    anet_train_options_default(&o);
    seen s = {0};
    double lr = 0, mom = 0, wd = 0, b1 = 0, b2 = 0, eps = 0, ls = 0, clip = 1.0;
    const char *lr_text = NULL; /* printed as typed */
    int overwrite = 0;
    long long eval_every = 0, val_windows = 0;
    int clip_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        long long n = 0;
        uint64_t u = 0;
        if (cli_is_help(argv[i])) {
            train_usage(stdout);
            return CLI_OK;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0 && (r > 0 || (missing = name)))
        const char *missing = NULL;
        if (OPT("--dataset")) { o.dataset = v; s.dataset = 1; }
        else if (OPT("--data")) o.data_dir = v;
        else if (OPT("--model")) { o.model = v; s.model = 1; }
        else if (OPT("--epochs")) {
            if (!missing && cli_parse_int(v, 1, 1000000, &n)) return cli_usage_error("train ", "--epochs '%s': expected an integer >= 1", v);
            o.epochs = (int)n;
        } else if (OPT("--batch-size")) {
            if (!missing && cli_parse_int(v, 1, ANET_MAX_BATCH, &n)) return cli_usage_error("train ", "--batch-size '%s': expected an integer in 1..%d", v, ANET_MAX_BATCH);
            o.batch_size = (int)n;
            s.batch = 1;
        } else if (OPT("--optimizer")) {
            if (!missing && anet_opt_kind_lookup(v, &o.opt.kind)) return cli_usage_error("train ", "--optimizer '%s': expected adam, adamw or sgd", v);
            s.opt = 1;
        } else if (OPT("--lr")) {
            if (!missing && cli_parse_float(v, 0, 1e6, &lr)) return cli_usage_error("train ", "--lr '%s': expected a number >= 0", v);
            s.lr = 1;
            lr_text = v;
        } else if (OPT("--momentum")) {
            if (!missing && cli_parse_float(v, 0, 0.999999, &mom)) return cli_usage_error("train ", "--momentum '%s': expected a number in [0, 1)", v);
            s.momentum = 1;
        } else if (OPT("--weight-decay")) {
            if (!missing && cli_parse_float(v, 0, 1e6, &wd)) return cli_usage_error("train ", "--weight-decay '%s': expected a number >= 0", v);
            s.wd = 1;
        } else if (OPT("--beta1")) {
            if (!missing && cli_parse_float(v, 0, 0.999999999, &b1)) return cli_usage_error("train ", "--beta1 '%s': expected a number in [0, 1)", v);
            s.b1 = 1;
        } else if (OPT("--beta2")) {
            if (!missing && cli_parse_float(v, 0, 0.999999999, &b2)) return cli_usage_error("train ", "--beta2 '%s': expected a number in [0, 1)", v);
            s.b2 = 1;
        } else if (OPT("--eps")) {
            if (!missing && cli_parse_float(v, 0, 1, &eps)) return cli_usage_error("train ", "--eps '%s': expected a number in [0, 1]", v);
            s.eps = 1;
        } else if (OPT("--schedule")) {
            if (!missing && anet_sched_kind_lookup(v, &o.schedule)) return cli_usage_error("train ", "--schedule '%s': expected constant, cosine, warmup or warmup-cosine", v);
            s.sched = 1;
        } else if (OPT("--schedule-steps")) {
            if (!missing && cli_parse_int(v, 1, (int64_t)1 << 53, &n)) return cli_usage_error("train ", "--schedule-steps '%s': expected an integer in 1..2^53", v);
            o.schedule_steps = n;
            s.schedsteps = 1;
        } else if (OPT("--warmup-steps")) {
            if (!missing && cli_parse_int(v, 0, (int64_t)ANET_CKPT_MAX_COUNTER, &n)) return cli_usage_error("train ", "--warmup-steps '%s': expected an integer in 0..2^53 (a checkpoint's limit)", v);
            o.warmup_steps = n;
            s.warmup = 1;
        } else if (OPT("--seed")) {
            if (!missing && cli_parse_u64(v, &u)) return cli_usage_error("train ", "--seed '%s': expected a non-negative integer", v);
            o.seed = u;
            s.seed = 1;
        } else if (OPT("--backend")) o.backend = v;
        else if (OPT("--chip")) {
            if (!missing && anet_chip_lookup(v, &o.chip)) return cli_usage_error("train ", "--chip '%s': expected m1, m2, m3, m4 or strict", v);
            s.chip = 1;
        } else if (OPT("--update")) {
            if (!missing && strcmp(v, "cpu") && strcmp(v, "ane")) return cli_usage_error("train ", "--update '%s': expected cpu or ane", v);
            if (!missing) o.update = strcmp(v, "ane") == 0 ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
            s.update = 1;
        } else if (OPT("--numerics")) {
            if (!missing && strcmp(v, "fp16") && strcmp(v, "fp32")) return cli_usage_error("train ", "--numerics '%s': expected fp16 or fp32", v);
            if (!missing) o.numerics = strcmp(v, "fp32") == 0 ? ANET_NUMERICS_FP32 : ANET_NUMERICS_FP16;
            s.numerics = 1;
        } else if (OPT("--program-form")) {
            if (!missing && strcmp(v, "auto") && strcmp(v, "device")) return cli_usage_error("train ", "--program-form '%s': expected auto or device", v);
            if (!missing) o.device_form = strcmp(v, "device") == 0;
            s.form = 1;
        } else if (OPT("--out")) o.out_dir = v;
        else if (OPT("--resume")) o.resume = v;
        else if (OPT("--metrics")) o.metrics_path = v;
        else if (OPT("--loss-scale")) {
            if (!missing && cli_parse_float(v, 1.0 / 16384, 32768, &ls)) return cli_usage_error("train ", "--loss-scale '%s': expected a number in [2^-14, 2^15]", v);
            o.loss_scale = (float)ls;
        } else if (OPT("--loss-scale-growth")) {
            if (!missing && cli_parse_int(v, 1, 1000000000, &n)) return cli_usage_error("train ", "--loss-scale-growth '%s': expected an integer >= 1", v);
            o.loss_scale_growth = (int)n;
            s.growth = 1;
        } else if (OPT("--log-steps")) {
            if (!missing && cli_parse_int(v, 0, 1000000000, &n)) return cli_usage_error("train ", "--log-steps '%s': expected an integer >= 0", v);
            o.log_steps = (int)n;
        } else if (OPT("--max-memory")) {
            if (!missing && cli_parse_size(v, &o.max_memory)) return cli_usage_error("train ", "--max-memory '%s': expected a size such as 512M or 4G", v);
        } else if (OPT("--max-steps")) {
            if (!missing && cli_parse_int(v, 0, INT64_MAX, &n)) return cli_usage_error("train ", "--max-steps '%s': expected an integer >= 0", v);
            o.max_steps = n;
        } else if (OPT("--eval-every")) {
            if (!missing && cli_parse_int(v, 0, INT64_MAX, &eval_every)) return cli_usage_error("train ", "--eval-every '%s': expected an integer >= 0", v);
        } else if (OPT("--val-windows")) {
            if (!missing && cli_parse_int(v, 0, INT64_MAX, &val_windows)) return cli_usage_error("train ", "--val-windows '%s': expected an integer >= 0", v);
        } else if (OPT("--clip")) {
            if (!missing && cli_parse_float(v, 0, 1e6, &clip)) return cli_usage_error("train ", "--clip '%s': expected a number >= 0", v);
            clip_given = 1;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) o.quiet = 1;
        else if (OPT("--val-split")) {
            double f = 0;
            if (!missing && cli_parse_float(v, 0, 0.99, &f)) return cli_usage_error("train ", "--val-split '%s': expected a fraction in [0, 0.99]", v);
            o.val_split = f;
            s.valsplit = 1;
        } else if (OPT("--tensorboard")) o.tensorboard_dir = v;
        else if (strcmp(argv[i], "--save-best") == 0) o.save_best = 1;
        else if (strcmp(argv[i], "--train-acc") == 0) o.train_acc = 1;
        else if (strcmp(argv[i], "--overwrite") == 0) overwrite = 1;
        else {
            const char *near = cli_suggest(argv[i], train_flags);
            if (near) return cli_usage_error("train ", "unknown option '%s': did you mean %s?", argv[i], near);
            return cli_usage_error("train ", "unknown option '%s'", argv[i]);
        }
        if (missing) return cli_usage_error("train ", "%s needs a value", missing);
#undef OPT
    }
    char model_buf[256], ds_buf[4096], rdir[4096];
    char hints_line[512] = "";
    anet_ckpt seq_ck;
    memset(&seq_ck, 0, sizeof seq_ck);
    int seq_resume = o.resume && seq_checkpoint(o.resume, &seq_ck);
    if (seq_resume) {
        /* a transformer run: its model and dataset, and by default its directory */
        snprintf(model_buf, sizeof model_buf, "%s", anet_ckpt_get_meta(&seq_ck, "model"));
        const char *ds = anet_ckpt_get_meta(&seq_ck, "dataset");
        snprintf(ds_buf, sizeof ds_buf, "%s", ds ? ds : "");
        if (!s.model) o.model = model_buf;
        if (!s.dataset && ds_buf[0]) o.dataset = ds_buf;
        if (!o.out_dir) {
            snprintf(rdir, sizeof rdir, "%s", o.resume);
            char *sl = strrchr(rdir, '/');
            if (sl) *sl = 0;
            else snprintf(rdir, sizeof rdir, ".");
            o.out_dir = rdir;
        }
    } else if (o.resume) {
        int rc = adopt_checkpoint(o.resume, &s, &o, model_buf, sizeof model_buf, ds_buf, sizeof ds_buf);
        if (rc != CLI_OK) return rc;
    }
    int seq = o.model && strncmp(o.model, "transformer:", 12) == 0;
    if (seq && o.resume && !seq_resume) {
        anet_fail(ANET_E_MISMATCH, "--resume %s is not a transformer checkpoint (model %s)", o.resume, o.model);
        return cli_error("train");
    }
    if (seq && s.opt && o.opt.kind != ANET_OPT_ADAMW) {
        anet_ckpt_free(&seq_ck);
        return cli_usage_error("train ", "a transformer trains with adamw");
    }
    if (seq && !s.opt) anet_opt_config_default(ANET_OPT_ADAMW, &o.opt);
    /* Optimizer defaults depend on the optimizer; explicit values win. */
    if (s.opt && !o.resume) {
        anet_opt_kind k = o.opt.kind;
        anet_opt_config_default(k, &o.opt);
    }
    if (s.lr) o.opt.lr = (float)lr;
    if (s.momentum) o.opt.momentum = (float)mom;
    if (s.wd) o.opt.weight_decay = (float)wd;
    if (s.b1) o.opt.beta1 = (float)b1;
    if (s.b2) o.opt.beta2 = (float)b2;
    if (s.eps) o.opt.eps = (float)eps;

    if (!seq && !o.resume && o.model && apply_model_hints(&o, &s, hints_line, sizeof hints_line) != CLI_OK)
        return cli_error("train");

    /* A run in --out is kept unless --resume continues it or --overwrite replaces it; the
     * default --out, runs/<UTC time>, takes a suffix when two runs start in one second. */
    char out_buf[4096], what[80];
    if (o.out_dir && o.out_dir[0]) {
        if (!o.resume && !overwrite && cli_holds_run(o.out_dir, what, sizeof what)) {
            fprintf(stderr, "ane_trainer: train: --out %s already holds a run (%s): continue it with --resume "
                    "%s/checkpoint.safetensors, replace it with --overwrite, or choose another --out\n",
                    o.out_dir, what, o.out_dir);
            return CLI_FAIL;
        }
    } else {
        char base[4000];
        anet_run_dir_default(base, sizeof base);
        snprintf(out_buf, sizeof out_buf, "%s", base);
        for (int k = 2; cli_holds_run(out_buf, what, sizeof what) && k < 1000; k++)
            snprintf(out_buf, sizeof out_buf, "%s-%d", base, k);
        o.out_dir = out_buf;
    }

    if (seq) {
        anet_seq_options so = {o.dataset ? o.dataset : "tinyshakespeare", o.data_dir, o.model,
                               o.backend && strcmp(o.backend, "auto") ? o.backend : NULL, o.chip, o.numerics,
                               s.batch ? o.batch_size : 32, o.max_steps ? o.max_steps : 2000, eval_every, val_windows,
                               o.opt.lr, o.opt.beta1, o.opt.beta2, o.opt.eps, o.opt.weight_decay, (float)clip,
                               s.update ? o.update : ANET_UPDATE_ANE, o.seed, o.metrics_path, o.quiet, NULL, NULL,
                               seq_resume ? o.resume : NULL, o.device_form};
        if (seq_resume) {
            /* the checkpoint's settings unless given again */
            double d;
            if (!s.batch && meta_double(&seq_ck, "batch", &d)) so.batch = (int)d;
            if (!s.lr && meta_double(&seq_ck, "lr", &d)) so.lr = (float)d;
            if (!s.b1 && meta_double(&seq_ck, "beta1", &d)) so.beta1 = (float)d;
            if (!s.b2 && meta_double(&seq_ck, "beta2", &d)) so.beta2 = (float)d;
            if (!s.eps && meta_double(&seq_ck, "eps", &d)) so.eps = (float)d;
            if (!s.wd && meta_double(&seq_ck, "weight_decay", &d)) so.weight_decay = (float)d;
            if (!clip_given && meta_double(&seq_ck, "clip", &d)) so.clip = (float)d;
            const char *u = anet_ckpt_get_meta(&seq_ck, "update");
            if (!s.update && u) so.update = strcmp(u, "cpu") == 0 ? ANET_UPDATE_CPU : ANET_UPDATE_ANE;
            if (!s.form) so.device_form = anet_seq_ckpt_device_form(&seq_ck);
        }
        /* like the layer graphs' runs: DIR/checkpoint.safetensors and DIR/metrics.jsonl */
        char ck[4200], mp[4200];
        if (anet_rundir_prepare(o.out_dir, 1u << 20) != ANET_OK) return cli_error("train");
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", o.out_dir);
        so.checkpoint = ck;
        if (!so.metrics) {
            snprintf(mp, sizeof mp, "%s/metrics.jsonl", o.out_dir);
            so.metrics = mp;
        }
        anet_status st = anet_seq_train(&so);
        anet_ckpt_free(&seq_ck);
        return st == ANET_OK ? CLI_OK : cli_error("train");
    }
    anet_ckpt_free(&seq_ck);

    anet_trainer *t;
    if (anet_trainer_create(&o, &t) != ANET_OK) return cli_error("train");
    cli_train_catch_signals(t); /* before the header: once it is printed, Ctrl-C checkpoints */
    if (!o.quiet) {
        print_backend(t);
        uint32_t ntr, nte;
        const char *ds = anet_trainer_dataset(t, &ntr, &nte);
        char lr_buf[32];
        if (lr_text) snprintf(lr_buf, sizeof lr_buf, "%.31s", lr_text);
        else snprintf(lr_buf, sizeof lr_buf, "%.9g", anet_float_as_typed(o.opt.lr));
        fprintf(stderr, "dataset %s from %s (%u train, %u test samples); model %s; %s lr %s; batch %d; update %s; "
                "program form %s\n", ds, anet_trainer_dataset_dir(t), ntr, nte, o.model, anet_opt_kind_name(o.opt.kind),
                lr_buf, o.batch_size, o.update == ANET_UPDATE_ANE ? "ane" : "cpu",
                anet_trainer_device_form(t) ? anet_chip_name(o.chip) : "plain"); /* as the transformer's header */
        if (hints_line[0]) fprintf(stderr, "%s\n", hints_line);
        if (o.resume)
            fprintf(stderr, "resuming from %s after epoch %d\n", o.resume, anet_trainer_epochs_done(t));
        fprintf(stderr, "checkpoints: %s\n", anet_trainer_checkpoint_path(t));
    }
    anet_status st = anet_trainer_run(t);
    int sig = cli_train_release_signals();
    if (st != ANET_OK) {
        int rc = cli_error("train");
        anet_trainer_free(t);
        return rc;
    }
    int rc = CLI_OK;
    if (anet_trainer_interrupted(t)) {
        /* Said also with --quiet: the user must learn how to go on. */
        fprintf(stderr, "ane_trainer: interrupted at step %lld (complete epochs: %d); checkpoint %s\n"
                "continue with:\n  ", (long long)anet_trainer_steps(t), anet_trainer_epochs_done(t),
                anet_trainer_checkpoint_path(t));
        cli_print_resume_command(stderr, argc, argv, anet_trainer_checkpoint_path(t), o.out_dir);
        rc = 128 + (sig ? sig : SIGINT);
    }
    anet_trainer_free(t);
    return rc;
}
