/* TensorBoard event files (scalars only), written by hand from the format: a TFRecord stream
 * (uint64 length, masked CRC-32C of the length, the bytes, masked CRC-32C of the bytes) of
 * tensorflow.Event protobufs: first {wall_time, file_version "brain.Event:2"}, then one
 * {wall_time, step, summary {value {tag, simple_value}}} per scalar. */
#ifndef ANET_TRAIN_TENSORBOARD_H
#define ANET_TRAIN_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ane_trainer.h"
#include "train/metrics.h"

typedef struct anet_tb {
    FILE *f; /* NULL: off */
} anet_tb;

/* CRC-32C (Castagnoli) of n bytes, and TFRecord's mask of it. */
uint32_t anet_crc32c(const void *p, size_t n);
uint32_t anet_tb_mask_crc(uint32_t crc);
/* Creates dir (if needed) and a new events.out.tfevents.<seconds>.<host>.<pid> in it. */
anet_status anet_tb_open(anet_tb *tb, const char *dir);
/* One scalar at a step. */
anet_status anet_tb_scalar(anet_tb *tb, const char *tag, int64_t step, double wall_time, double value);
/* The figures of a metrics record as scalars at its step: epoch lines under "epoch/...", step
 * lines under "step/..."; figures the record does not measure (NaN) are left out. */
anet_status anet_tb_record(anet_tb *tb, const anet_metrics_record *r);
void anet_tb_close(anet_tb *tb);

#endif
