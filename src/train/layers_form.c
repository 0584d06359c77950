/* A layer graph in the program forms' padded sizes (see layers_form.h). */
#include "train/layers_form.h"

#include <stdio.h>
#include <string.h>

static int round32(int n) { return (n + 31) / 32 * 32; }

static int refuse(char *why, size_t len, const char *text) {
    if (len) snprintf(why, len, "%s", text);
    return 0;
}

int anet_layers_form_pad(const anet_model_spec *m, anet_model_spec *out, char *why, size_t len) {
    if (len) why[0] = '\0';
    if (m->is_mlp) return refuse(why, len, "the mlp: form pads its own sizes");
    if (m->nl < 1 || m->layers[m->nl - 1].kind != ANET_L_LINEAR) return refuse(why, len, "the model does not end in a Linear layer");
    *out = *m;
    anet_shape cur = m->input;
    if (cur.rank == 1) cur.d[0] = round32(cur.d[0]);
    out->input = cur;
    for (int i = 0; i < m->nl; i++) {
        const anet_layer *u = &m->layers[i];
        anet_layer *l = &out->layers[i];
        l->in = cur;
        anet_shape o = cur;
        switch (u->kind) {
        case ANET_L_LAYERNORM:
            /* over features: its statistics count the user's only (lower.c); per-element
             * parameters of an image would be inputs too long for the chips' elementwise ops */
            if (cur.rank != 1) return refuse(why, len, "layernorm over an image (its per-element parameters)");
            l->user_ch = u->in.d[0];
            break;
        case ANET_L_SIGMOID:
            /* sigmoid(0) = 1/2 in the padding: lower.c masks the padded channels back to 0
             * (the next layer's padding columns would train otherwise) */
            l->user_ch = u->in.d[0];
            break;
        case ANET_L_CONV:
            if (u->groups != 1) { /* its weight spread block-diagonally in the program (lower_conv.c) */
                l->user_ch = u->in.d[0];
                l->user_out = u->out;
            }
            l->out = round32(u->out);
            o = u->outs;
            o.d[0] = l->out;
            break;
        case ANET_L_LINEAR:
            l->out = round32(u->out);
            o.d[0] = l->out;
            break;
        case ANET_L_FLATTEN:
            if (cur.rank == 3) {
                o.rank = 1;
                o.d[0] = anet_shape_numel(&cur);
                o.d[1] = o.d[2] = 0;
            }
            break;
        case ANET_L_MAXPOOL:
        case ANET_L_AVGPOOL:
            o = u->outs;
            o.d[0] = cur.d[0];
            break;
        default: break; /* elementwise, dropout, add: the shape goes through */
        }
        l->outs = o;
        cur = o;
    }
    out->dims[0] = anet_shape_numel(&out->input);
    out->nlayers = 1;
    out->dims[1] = cur.d[0];
    return 1;
}
