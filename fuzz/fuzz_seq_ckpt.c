/* libFuzzer target: a transformer checkpoint's bytes into `generate` (anet_generate) and into
 * `train --resume` (anet_seq_train with resume, one more step, then its own checkpoint), on
 * vane with a 6-character text written once per process. Anything may be refused (one error);
 * nothing may crash, leak or run away. Seeds: a 2-step run of transformer:layers=1,dim=4,
 * heads=1,ctx=4 on that text, update ane and cpu, written without checksums so that mutations
 * of the data reach the checks behind them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "train/generate.h"
#include "train/seq_train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text_path[64], in_path[64], out_path[64];
static FILE *sink;

/* The seeds' text: 3000 characters of "abcde\n" (fuzz/README.md says how the seeds were made). */
static int write_text(void) {
    FILE *f = fopen(text_path, "wb");
    if (!f) return -1;
    for (long long i = 0; i < 3000; i++) fputc("abcde\n"[(i * 7 + i / 13) % 6], f);
    return fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!text_path[0]) {
        snprintf(text_path, sizeof text_path, "/tmp/anet_fuzz_seq_%ld.txt", (long)getpid());
        snprintf(in_path, sizeof in_path, "/tmp/anet_fuzz_seq_%ld.safetensors", (long)getpid());
        snprintf(out_path, sizeof out_path, "/tmp/anet_fuzz_seq_%ld.out.safetensors", (long)getpid());
        sink = fopen("/dev/null", "w");
        if (!sink || write_text() != 0) abort();
    }
    FILE *f = fopen(in_path, "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, size, f);
    fclose(f);
    if (w != size) return 0;

    anet_gen_options g;
    memset(&g, 0, sizeof g);
    g.checkpoint = in_path;
    g.prompt = "ab";
    g.tokens = 2;
    g.temperature = 1.0;
    g.seed = 1;
    anet_generate(&g, sink);

    /* The options `train --resume` takes from the checkpoint: its model, update mode, program form,
     * steps. */
    anet_ckpt ck;
    if (anet_ckpt_read(in_path, &ck) != ANET_OK) return 0;
    char model[128];
    const char *m = anet_ckpt_get_meta(&ck, "model"), *u = anet_ckpt_get_meta(&ck, "update"),
               *s = anet_ckpt_get_meta(&ck, "steps");
    snprintf(model, sizeof model, "%s", m ? m : "transformer:layers=1,dim=4,heads=1,ctx=4");
    long long steps = s ? atoll(s) : 0;
    anet_update_mode upd = u && strcmp(u, "cpu") == 0 ? ANET_UPDATE_CPU : ANET_UPDATE_ANE;
    int device_form = anet_seq_ckpt_device_form(&ck);
    anet_ckpt_free(&ck);
    anet_seq_options o;
    memset(&o, 0, sizeof o);
    o.dataset = text_path;
    o.model = model;
    o.batch = 2;
    o.max_steps = steps >= 0 && steps < 1000 ? steps + 1 : 2; /* one more step: resumes run it */
    o.val_windows = 4;
    o.lr = 1e-3f, o.beta1 = 0.9f, o.beta2 = 0.999f, o.eps = 1e-8f, o.weight_decay = 0.01f, o.clip = 1.0f;
    o.update = upd;
    o.device_form = device_form;
    o.quiet = 1;
    o.checkpoint = out_path;
    o.resume = in_path;
    if (anet_seq_train(&o) == ANET_OK) {
        /* what a resumed run saved resumes again */
        o.resume = out_path;
        o.checkpoint = NULL;
        o.max_steps++;
        anet_status st = anet_seq_train(&o);
        if (st != ANET_OK && st != ANET_E_VERIFY) abort(); /* VERIFY: the run diverged */
    }
    unlink(out_path);
    return 0;
}
