/* A character-level decoder-only transformer (GPT-2 style, pre-norm) as graph IR ops, written
 * only with ops the ANE runs and autodiff differentiates: the token embedding is a matmul of a
 * one-hot input (gather is off the ANE), the position embedding a learned [ctx, dim] add,
 * attention is matmuls per head with an explicit additive causal mask (the ANE's SDPA ignores
 * masks), softmax, LayerNorm, GELU (tanh form, decomposed), residual adds and an untied head.
 *
 * Layout: activations are [B,1,S,D] (a sequence's positions on axis 2, features last), so every
 * linear layer is one matmul with its [out,in] weight (transpose_y) broadcast over the batch.
 *
 * Spec: "transformer:layers=L,dim=D,heads=H,ctx=S" (docs/models.md); the vocabulary size V
 * comes from the dataset. */
#ifndef ANET_TRAIN_TRANSFORMER_H
#define ANET_TRAIN_TRANSFORMER_H

#include "ane_trainer.h"
#include "core/rng.h"
#include "graph/ir.h"

#define ANET_TFM_MAX_LAYERS 16
/* 2 embeddings + 12 per block + 4 final (LayerNorm weight/bias, head weight/bias) */
#define ANET_TFM_MAX_PARAMS (2 + 12 * ANET_TFM_MAX_LAYERS + 4)

typedef struct anet_tfm_config {
    int layers, dim, heads, ctx, vocab;
    /* The program's sizes when a chip's form pads contraction lengths (0: none): the vocabulary
     * (one-hot width, embedding and head rows; padded classes are masked) and the per-head
     * feature width of q, k, v (zero rows of attn_qkv_w/_b, zero columns of attn_proj_w). */
    int vpad, hpad;
    /* The program's positions (0: ctx): ctx rounded up the same way. The padded positions come
     * after the real ones, so the causal mask hides them from every real position; their
     * inputs, targets and pos_emb rows are zero, so they add no loss and no gradient (the loss
     * is the mean over the real positions): the same model and numbers as unpadded. */
    int spad;
} anet_tfm_config;

/* Parses "transformer:layers=2,dim=64,heads=4,ctx=64" (keys in any order, each once; missing
 * keys take these defaults). dim must divide by heads. vocab is left 0. One-line errors. */
anet_status anet_tfm_parse(const char *spec, anet_tfm_config *c);

/* Parameters in order: tok_emb [V,D], pos_emb [S,D]; per block l: ln1_w, ln1_b [D,1],
 * attn_qkv_w [3D,D], attn_qkv_b [3D,1], attn_proj_w [D,D], attn_proj_b [D,1], ln2_w, ln2_b,
 * mlp_fc_w [4D,D], mlp_fc_b [4D,1], mlp_proj_w [D,4D], mlp_proj_b [D,1]; then lnf_w, lnf_b,
 * head_w [V,D], head_b [V,1]. Weights are [out,in] as in PyTorch's nn.Linear. */
int anet_tfm_nparams(const anet_tfm_config *c);
/* Name ("h0.attn_qkv_w", ...), rows and cols of parameter i. */
void anet_tfm_param(const anet_tfm_config *c, int i, char name[32], int *rows, int *cols);
/* GPT-2's initialization: weights and embeddings N(0, 0.02), residual projections
 * N(0, 0.02/sqrt(2L)), biases 0, LayerNorm weight 1 and bias 0. */
void anet_tfm_init(const anet_tfm_config *c, anet_rng *rng, float **params);

/* The padded sizes (at least vocab, dim/heads). */
int anet_tfm_vpad(const anet_tfm_config *c);
int anet_tfm_hpad(const anet_tfm_config *c);
int anet_tfm_spad(const anet_tfm_config *c); /* the program's positions (at least ctx) */
/* Parameter i as the program holds it (padded; see vpad, hpad): rows, cols; and the user's
 * [rows, cols] values into that form (padding zero) and back. */
void anet_tfm_prog_param(const anet_tfm_config *c, int i, int *rows, int *cols);
void anet_tfm_to_prog(const anet_tfm_config *c, int i, const float *user, float *prog);
void anet_tfm_from_prog(const anet_tfm_config *c, int i, const float *prog, float *user);

typedef struct anet_tfm_io {
    int x;             /* one-hot inputs [B,1,Sp,Vp] (Sp = anet_tfm_spad, Vp = anet_tfm_vpad);
                          padded positions all zero */
    int y;             /* one-hot targets [B,1,Sp,Vp] (padded positions zero), or -1 for no loss */
    const int *params; /* a value per parameter in its program form (anet_tfm_prog_param) */
    anet_dtype dt;     /* dtype of the consts made here (the program's compute type) */
    float log_eps;     /* > 0: the loss takes log(x + log_eps) (the log-epsilon form) */
    int rows;          /* 1: the loss as per-position rows, not one scalar (see anet_tfm_out) */
} anet_tfm_io;

typedef struct anet_tfm_out {
    int logits; /* [B,1,Sp,Vp] */
    int loss;   /* [1,1,1,1] mean cross-entropy over the B*S positions, or -1; with io->rows
                   [1,1,B,Sp]: each position's cross-entropy / (B*S), which sum to the mean
                   (no scalar to broadcast: a row seeds the gradient) */
    int stop;   /* softmax max of the loss (autodiff treats it as a constant), or -1 */
} anet_tfm_out;

anet_status anet_tfm_build(anet_graph *g, const anet_tfm_config *c, int batch, const anet_tfm_io *io,
                           anet_tfm_out *out);

#endif
