/* Resident step tensors on ping-pong surfaces (see step_resident.h). */
#include "train/step_resident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

static anet_status off(anet_step_resident *r, const char *why) {
    snprintf(r->why, sizeof r->why, "%s", why);
    r->on = 0;
    r->lend_in = -1;
    return ANET_OK;
}

anet_status anet_step_resident_init(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                    anet_step_forms *sf, int nin, int nout, const int *pair) {
    memset(r, 0, sizeof *r);
    const anet_backend_resident_ops *ro = b->ops->resident;
    if (!sf->lowered || sf->map.nin != nin || sf->map.nout != nout)
        return off(r, "the program is not in a device form: state is copied every step");
    /* A resident tensor needs a device input of its own: max-inputs packing shares one. */
    for (int i = 0; i < nin; i++) {
        if (pair[i] < 0) continue;
        if (pair[i] >= nout) return anet_fail(ANET_E_INTERNAL, "resident state: input %d pairs output %d of %d", i, pair[i], nout);
        for (int u = 0; u < nin; u++)
            if (u != i && sf->map.in[u].dev == sf->map.in[i].dev)
                return off(r, "max-inputs packs the state with other inputs: state is copied every step");
        if (anet_step_forms_dev_bytes(sf, 0, i) != anet_step_forms_dev_bytes(sf, 1, pair[i]))
            return off(r, "a state input and its update differ in the device form: state is copied every step");
    }
    r->nin = nin;
    r->nout = nout;
    r->pair = malloc(((size_t)nin + 1) * sizeof *r->pair);
    r->out_res = calloc((size_t)nout + 1, 1);
    if (!r->pair || !r->out_res) {
        anet_step_resident_free(r);
        return anet_fail(ANET_E_NOMEM, "resident state: out of memory");
    }
    memcpy(r->pair, pair, (size_t)nin * sizeof *r->pair);
    r->host = ro == NULL;
    r->lend_in = -1;
    for (int i = 0; i < nin; i++) {
        if (pair[i] < 0) continue;
        anet_status st = r->host ? ANET_OK : ro->pair(b->state, exe, sf->map.in[i].dev, pair[i]);
        if (st != ANET_OK) {
            anet_step_resident_free(r);
            return anet_fail_ctx(st, "keeping the training state in the backend");
        }
        r->out_res[pair[i]] = 1;
    }
    r->on = 1;
    return ANET_OK;
}

anet_status anet_step_resident_write(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                     anet_step_forms *sf, int i, const void *user) {
    if (!r->on || i < 0 || i >= r->nin) return anet_fail(ANET_E_INTERNAL, "resident state: write of input %d", i);
    int dev = sf->map.in[i].dev;
    anet_step_forms_pack_in(sf, i, user);
    if (r->host) return ANET_OK; /* the device buffer is the resident copy */
    return b->ops->resident->write(b->state, exe, dev, sf->din[dev].data, sf->din[dev].nbytes);
}

anet_status anet_step_resident_read(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                    anet_step_forms *sf, int i, void *user) {
    if (!r->on || i < 0 || i >= r->nin) return anet_fail(ANET_E_INTERNAL, "resident state: read of input %d", i);
    int dev = sf->map.in[i].dev;
    anet_status st = r->host ? ANET_OK : b->ops->resident->read_input(b->state, exe, dev, sf->din[dev].data, sf->din[dev].nbytes);
    if (st == ANET_OK) anet_step_forms_unpack_in(sf, i, user);
    return st;
}

/* Does input i fill device input dev alone? */
static int alone_in_dev(const anet_step_forms *sf, int i) {
    int dev = sf->map.in[i].dev;
    for (int u = 0; u < sf->map.nin; u++)
        if (u != i && sf->map.in[u].dev == dev) return 0;
    return sf->map.in[i].offset == 0 && anet_step_forms_dev_bytes(sf, 0, i) == sf->din[dev].nbytes;
}

uint16_t *anet_step_resident_lend(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                  anet_step_forms *sf, int i, int64_t rows, int64_t cols, size_t *ld) {
    if (!r->on || r->host || r->lend_off || !b->ops->resident->lend || i < 0 || i >= r->nin || r->pair[i] >= 0 ||
        (r->lent && r->lend_in != i) || !alone_in_dev(sf, i))
        return NULL;
    size_t dl = 0; /* the form's buffer: its padding written once, and the data a fallback reads */
    uint16_t *slot = anet_step_forms_place_in(sf, i, rows, cols, &dl);
    if (!slot) return NULL;
    const anet_form_io *io = &sf->map.in[i];
    int dev = io->dev;
    void *base = NULL;
    size_t stride = 0, row = (size_t)io->S * 2;
    if (b->ops->resident->lend(b->state, exe, dev, &base, &stride) != ANET_OK) return NULL;
    if (stride < row || stride % 2) { /* rows not at whole fp16 elements: the copy path */
        b->ops->resident->give_back(b->state, exe, dev);
        return NULL;
    }
    if (r->lend_in != i || !r->lend_ready) /* the padding (and the rest) as the form's buffer holds it */
        for (int64_t c = 0; c < io->C; c++)
            memcpy((unsigned char *)base + (size_t)c * stride, (const uint16_t *)sf->din[dev].data + c * io->S, row);
    r->lend_in = i;
    r->lend_ready = 1;
    r->lent = 1;
    *ld = stride / 2;
    return base;
}

anet_status anet_step_resident_reclaim(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                       anet_step_forms *sf, int *i, uint16_t **slot) {
    *i = -1;
    *slot = NULL;
    if (!r->on || r->lend_in < 0 || !r->lend_ready) return ANET_OK;
    int k = r->lend_in, dev = sf->map.in[k].dev;
    anet_status st = ANET_OK;
    if (r->lent) {
        r->lent = 0;
        st = b->ops->resident->give_back(b->state, exe, dev);
    }
    if (st == ANET_OK) st = b->ops->resident->read_input(b->state, exe, dev, sf->din[dev].data, sf->din[dev].nbytes);
    if (st != ANET_OK) return anet_fail_ctx(st, "reading the batch back from the backend");
    *i = k;
    *slot = (uint16_t *)sf->din[dev].data;
    return ANET_OK;
}

/* This thread's CPU time (the caller's host_us_per_step is CPU time too). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int is_res_in(const anet_step_resident *r, int i) { return r && r->on && r->pair[i] >= 0; }

anet_status anet_step_resident_run(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                   anet_step_forms *sf, const anet_io *in, anet_io *out, double *run_s) {
    const anet_backend_resident_ops *ro = b->ops->resident;
    if (!sf->lowered || (!ro && !(r && r->on && r->host))) return anet_fail(ANET_E_INTERNAL, "resident I/O: not available");
    anet_status st = ANET_OK;
    if (!ro) { /* host ping-pong: the resident device buffers are not packed again */
        for (int i = 0; i < sf->map.nin; i++)
            if (!is_res_in(r, i)) anet_step_forms_pack_in(sf, i, in[i].data);
        double t0 = cpu_now();
        st = b->ops->eval(b->state, exe, sf->din, sf->map.ndev_in, sf->dout, sf->map.nout);
        *run_s += cpu_now() - t0;
        for (int j = 0; j < sf->map.nout && st == ANET_OK; j++)
            if (!r->out_res[j]) anet_step_forms_unpack_out(sf, j, out[j].data);
        return st;
    }
    /* The lent input is in its surface already: given back (unlocked) before anything runs. */
    int lent = r && r->on && r->lent ? r->lend_in : -1;
    if (lent >= 0) {
        r->lent = 0;
        st = ro->give_back(b->state, exe, sf->map.in[lent].dev);
    }
    /* Every device input without a resident or lent member: its members packed, then written once. */
    for (int i = 0; i < sf->map.nin; i++)
        if (!is_res_in(r, i) && i != lent) anet_step_forms_pack_in(sf, i, in[i].data);
    for (int d = 0; d < sf->map.ndev_in && st == ANET_OK; d++) {
        int skip = lent >= 0 && sf->map.in[lent].dev == d;
        for (int i = 0; i < sf->map.nin; i++)
            if (is_res_in(r, i) && sf->map.in[i].dev == d) skip = 1;
        if (!skip) st = ro->write(b->state, exe, d, sf->din[d].data, sf->din[d].nbytes);
    }
    double t0 = cpu_now();
    if (st == ANET_OK) st = ro->run(b->state, exe);
    *run_s += cpu_now() - t0;
    for (int j = 0; j < sf->map.nout && st == ANET_OK; j++) {
        if (r && r->on && r->out_res[j]) continue;
        st = ro->read(b->state, exe, j, sf->dout[j].data, sf->dout[j].nbytes);
        if (st == ANET_OK) anet_step_forms_unpack_out(sf, j, out[j].data);
    }
    return st;
}

anet_status anet_step_resident_commit(anet_step_resident *r, const anet_backend *b, anet_program *exe,
                                      anet_step_forms *sf) {
    if (!r->on) return anet_fail(ANET_E_INTERNAL, "resident state: commit while off");
    if (!r->host) return b->ops->resident->swap(b->state, exe);
    /* Host ping-pong: the output buffer becomes the input's, the input's the next output's. */
    for (int i = 0; i < r->nin; i++) {
        if (r->pair[i] < 0) continue;
        anet_io *a = &sf->din[sf->map.in[i].dev], *o = &sf->dout[r->pair[i]];
        void *d = a->data;
        a->data = o->data;
        o->data = d;
    }
    return ANET_OK;
}

void anet_step_resident_free(anet_step_resident *r) {
    free(r->pair);
    free(r->out_res);
    memset(r, 0, sizeof *r);
}
