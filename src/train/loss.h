/* Losses as program ops (training) and on the host (evaluation from the logits). The targets
 * arrive as the Y input [1,K,1,B]: one-hot labels for cross-entropy, target values (fp16) for
 * MSE and BCE. Padded samples (evaluation only) have all-zero targets and
 * are left out by anet_loss_host_sum's count. */
#ifndef ANET_TRAIN_LOSS_H
#define ANET_TRAIN_LOSS_H

#include <stdint.h>

#include "graph/ir.h"
#include "train/model.h"

typedef struct anet_loss_ops {
    int loss; /* [1,1,1,1]: the batch mean, using inv_batch = 1 / real samples */
    int stop; /* a value autodiff must treat as constant (softmax's max), or -1 */
} anet_loss_ops;

/* logits [1,1,K,B], y [1,K,1,B], inv_batch broadcastable scalar. name: the loss output's name. */
anet_status anet_loss_build(anet_graph *g, anet_loss_kind kind, int logits, int y, int inv_batch, int K, int B,
                            const char *name, anet_loss_ops *out);
/* The same in a program form (plan/forms_lower.h): log_eps > 0 takes cross-entropy's log as
 * log(x + log_eps); rows: the loss is the per-sample row [1,1,1,B] times inv_batch (a row
 * too), whose sum is the batch loss. k_mean: the outputs mse and bce average over (the model's
 * own; K counts the padded ones too, whose terms are zero: a zero output against a zero target
 * for mse, the masked logit for bce). */
anet_status anet_loss_build_form(anet_graph *g, anet_loss_kind kind, int logits, int y, int inv_batch, int K, int B,
                                 int k_mean, float log_eps, int rows, const char *name, anet_loss_ops *out);

/* Sum over samples 0..count-1 of each sample's loss (mean over its K outputs for mse/bce), in
 * double, from logits [K][B] (fp16 or fp32 as dt says) and targets [K][B] (fp16). */
double anet_loss_host_sum(anet_loss_kind kind, const void *logits, anet_dtype dt, const uint16_t *y, int K, int B,
                          int count);

#endif
