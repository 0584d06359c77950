#!/usr/bin/env bash
# End-to-end: a tiny character transformer on tinyshakespeare through `train`: the loss falls
# below the uniform ln(65) = 4.17, metrics carry val_loss at --eval-every steps, the same seed
# gives the same metrics, a text file path works as a dataset, and bad specs or a missing
# dataset fail with one line; `generate` from its checkpoint: same seed same text, another seed
# other text, a prompt outside the vocabulary and a corrupt checkpoint fail with one line.
BIN=${ANET_BIN:?}
DATA=${ANET_SHARED_DIR:?}/datasets
. "$(dirname "$0")/common.bash"
T=$tmp
cd "$T" || exit 1 # runs without --out go to ./runs/<time>
M="transformer:layers=1,dim=16,heads=2,ctx=16"
# metrics without the host CPU time (the one field that differs between equal runs)
same_metrics() { cmp -s <(sed -E 's/,"host_us_per_step":[0-9.]+//' "$1") <(sed -E 's/,"host_us_per_step":[0-9.]+//' "$2"); }
run() { "$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$M" --batch-size 8 --max-steps 40 \
        --eval-every 20 --val-windows 64 --backend vane --quiet --metrics "$@"; }

run "$T/a.jsonl" --out "$T/ck" || bad "train"
run "$T/b.jsonl" || bad "train again"
n=$(grep -c '"val_loss"' "$T/a.jsonl")
[ "$n" = 2 ] && ok "val_loss at steps 20 and 40" || bad "val_loss lines: $n"
last=$(grep '"step":40' "$T/a.jsonl" | sed 's/.*"val_loss":\([0-9.]*\).*/\1/')
awk -v v="$last" 'BEGIN { exit !(v > 0 && v < 4.0) }' && ok "val_loss $last < 4.0 after 40 steps" || bad "val_loss '$last'"
same_metrics "$T/a.jsonl" "$T/b.jsonl" && ok "same seed, same metrics" || bad "runs differ"
# 40 steps, 2 evaluations of 64/8 = 8 batches: 2 compiles, 40 + 16 dispatches
"$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$M" --batch-size 8 --max-steps 40 --eval-every 20 \
    --val-windows 64 --backend vane 2>"$T/err" >/dev/null
grep -q "^compiles 2, dispatches 56 " "$T/err" && ok "$(grep compiles "$T/err")" || { bad "compile/dispatch counts"; cat "$T/err"; }
# the per-step costs at each evaluation: one dispatch per step, the state copied each step
# (update=ane: weights, low parts and both moments in and out), host CPU time
grep '"step":40' "$T/a.jsonl" | grep -Eq '"dispatches_per_step":1,"host_us_per_step":[0-9.]+,"state_bytes_copied_per_step":[1-9][0-9]*}' \
    && ok "per-step costs in the metrics" || bad "per-step costs: $(grep '"step":40' "$T/a.jsonl")"

"$BIN" train --dataset "$DATA/tinyshakespeare/input.txt" --model "$M" --batch-size 4 --max-steps 2 --val-windows 8 \
    --backend vane --quiet && ok "text file as dataset" || bad "text file as dataset"

for spec in "transformer:dim=30,heads=4" "transformer:layers=0" "transformer:foo=1"; do
    "$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$spec" --max-steps 1 >"$T/out" 2>"$T/err"
    rc=$?
    if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "$spec -> $rc: $(cat "$T/err")"; else bad "$spec -> $rc"; cat "$T/err"; fi
done
ANE_TRAINER_DATA=/nonexistent "$BIN" train --dataset "$T/none.txt" --model "$M" --max-steps 1 >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "missing text -> $rc: $(cat "$T/err")"; else bad "missing text -> $rc"; cat "$T/err"; fi
# ane-sim: the programs in the m1 and m4 forms (plan/forms.h defaults) give vane's losses (vane
# runs the plain form by default: as built, like ANE_TRAINER_FORMS=none) within fp16 tolerance;
# compiles stay 2 whatever the steps, one dispatch per step plus one per validation batch.
M32="transformer:layers=1,dim=32,heads=2,ctx=32"
# close_to A B TOL WHAT: loss, grad_norm and val_loss of each of the 6 steps of metrics B within TOL of A's
close_to() {
    paste -d' ' "$1" "$2" | tr -d '{}"' | awk -v tol="$3" -v what="$4" '
        { n = split($0, f, /[ ,:]/); k = 0; for (i = 1; i < n; i++) if (f[i] ~ /^(loss|grad_norm|val_loss)$/) v[k++] = f[i + 1];
          h = k / 2; for (i = 0; i < h; i++) { d = v[i] - v[i + h]; if (d < 0) d = -d; if (d > tol) bad = 1; if (d > w) w = d } c++ }
        END { if (bad || c != 6) { print "FAIL: " what " differs from vane by " w; exit 1 } print "ok: " what " within " w + 0 " of vane over " c " steps" }'
}
sim() { "$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$M32" --batch-size 4 --val-windows 8 --eval-every 3 "$@"; }
ANE_TRAINER_FORMS=none sim --max-steps 6 --backend vane --quiet --metrics "$T/v.jsonl" || bad "vane, no forms"
for chip in m1 m4; do
    for steps in 3 6; do
        sim --max-steps $steps --backend ane-sim --chip $chip --metrics "$T/s$chip$steps.jsonl" 2>"$T/err" >/dev/null \
            || { bad "ane-sim $chip"; cat "$T/err"; }
        grep -q "^compiles 2, dispatches $((steps + 2 * steps / 3)) " "$T/err" && ok "ane-sim $chip, $steps steps: $(grep compiles "$T/err")" \
            || { bad "ane-sim $chip counts"; cat "$T/err"; }
    done
    close_to "$T/v.jsonl" "$T/s${chip}6.jsonl" 0.01 "ane-sim $chip" || fail=1
    # update=ane's weights and state stay in the backend: no state bytes copied per step
    grep '"step":6' "$T/s${chip}6.jsonl" | grep -q '"state_bytes_copied_per_step":0}' && ok "ane-sim $chip: state resident" \
        || bad "ane-sim $chip state copied: $(grep '"step":6' "$T/s${chip}6.jsonl")"
done
"$BIN" train --dataset tinyshakespeare --data "$DATA" --model "transformer:layers=1,dim=48,heads=2,ctx=32" --max-steps 1 \
    --backend ane-sim --chip m1 >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "use dim=32 or dim=64" "$T/err"; then ok "dim=48 on m1 -> $rc: $(cat "$T/err")"; else bad "dim=48 on m1 -> $rc"; cat "$T/err"; fi
# --- ctx padded to a multiple of 32 (ctx=20 runs as 32 positions, the padding after the real
# ones, masked): vane's unpadded losses within fp16 tolerance on m1, m4 and strict, and the
# padded pos_emb rows stay exactly zero through training ---
M20="transformer:layers=1,dim=32,heads=2,ctx=20"
s20() { "$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$M20" --batch-size 4 --val-windows 8 --eval-every 3 --max-steps 6 "$@"; }
ANE_TRAINER_FORMS=none s20 --backend vane --quiet --metrics "$T/c20v.jsonl" || bad "ctx=20 vane"
for chip in m1 m4 strict; do
    if [ $chip = strict ]; then env="ANE_TRAINER_FORMS=strict"; c=m1; else env="ANE_TRAINER_FORMS="; c=$chip; fi
    env $env "$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$M20" --batch-size 4 --val-windows 8 --eval-every 3 \
        --max-steps 6 --backend ane-sim --chip $c --quiet --out "$T/c20$chip" || bad "ctx=20 ane-sim $chip"
    close_to "$T/c20v.jsonl" "$T/c20$chip/metrics.jsonl" 0.01 "ctx=20 padded to 32, ane-sim $chip," || fail=1
    /usr/bin/python3 - "$T/c20$chip/checkpoint.safetensors" <<'PY' && ok "ctx=20 $chip: padded pos_emb rows zero" || bad "ctx=20 $chip: padded pos_emb rows"
import json, struct, sys
import numpy as np
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
for part in ("hi", "lo", "m", "s"):
    e = h["ane.%s.pos_emb" % part]
    a = np.frombuffer(b[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], dtype=np.float16).reshape(32, 32)
    assert not a[20:].any() and (part != "hi" or a[:20].any()), part
assert h["pos_emb"]["shape"] == [20, 32]
PY
done
# --- strict rules (ANE_TRAINER_FORMS=strict: one packed input, per-step scalars as rows, ...) ---
# ane-sim on m1 and m4, both update modes: vane's losses with the same forms (the same program:
# equal), and within 0.01 of vane as built; 2 compiles, one dispatch per step.
for chip in m1 m4; do
    for u in ane cpu; do
        ANE_TRAINER_FORMS=strict sim --max-steps 6 --backend ane-sim --chip $chip --update $u --metrics "$T/st$chip$u.jsonl" \
            2>"$T/err" >/dev/null || { bad "strict ane-sim $chip $u"; cat "$T/err"; }
        grep -q "^compiles 2, dispatches 10 " "$T/err" || { bad "strict $chip $u counts"; cat "$T/err"; }
        # one packed input shares the batch and the state: the state is copied every step
        grep '"step":6' "$T/st$chip$u.jsonl" | grep -Eq '"state_bytes_copied_per_step":[1-9][0-9]*}' || bad "strict $chip $u: state bytes"
        ANE_TRAINER_FORMS=strict sim --max-steps 6 --backend vane --program-form device --chip $chip --update $u --quiet \
            --metrics "$T/stv$chip$u.jsonl" || bad "strict vane $chip $u"
        same_metrics "$T/st$chip$u.jsonl" "$T/stv$chip$u.jsonl" && ok "strict $chip update $u: ane-sim = vane with the same forms" \
            || bad "strict $chip $u: ane-sim differs from vane with the same forms"
        close_to "$T/v.jsonl" "$T/st$chip$u.jsonl" 0.01 "strict ane-sim $chip update $u" || fail=1
    done
done
# --program-form on vane: device runs the m4 device form with ane-sim's bits; the default (auto)
# runs the plain form (as built, the header says so), the device form's first loss within 1e-3
# relative and every step within 0.01; a run's form is stored in its checkpoint and --resume
# takes it (exact), an explicit other form is refused with one line.
sim --max-steps 6 --backend vane --program-form device --chip m4 --quiet --metrics "$T/vd.jsonl" || bad "vane device form"
same_metrics "$T/sm46.jsonl" "$T/vd.jsonl" && ok "vane --program-form device: ane-sim m4's metrics" || bad "vane device form differs from ane-sim m4"
sim --max-steps 1 --backend vane --metrics "$T/vp.jsonl" 2>"$T/err" >/dev/null || bad "vane plain form"
grep -q "program form plain;" "$T/err" && ok "vane runs the plain form by default" || { bad "vane's default form"; cat "$T/err"; }
close_to "$T/v.jsonl" "$T/vd.jsonl" 0.01 "vane device form vs plain" || fail=1
paste -d' ' <(head -1 "$T/v.jsonl") <(head -1 "$T/vd.jsonl") | tr -d '{}"' | awk -F'[ ,:]' '
    { a = $4; b = $12; d = (a - b) / a; if (d < 0) d = -d; if ($3 != "loss" || $11 != "loss" || d > 1e-3) { print "FAIL: first loss " a " vs " b; exit 1 }
      print "ok: first loss plain " a ", device " b " (rel " d ")" }' || fail=1
sim --max-steps 6 --backend vane --program-form device --quiet --out "$T/fulldev" || bad "full device run"
sim --max-steps 3 --backend vane --program-form device --quiet --out "$T/partdev" || bad "part device run"
grep -aq '"program_form":"device"' "$T/partdev/checkpoint.safetensors" && ok "checkpoint: program_form device" || bad "program_form not stored"
"$BIN" train --resume "$T/partdev/checkpoint.safetensors" --data "$DATA" --max-steps 6 --eval-every 3 --val-windows 8 --backend vane --quiet || bad "resume device"
same_metrics "$T/fulldev/metrics.jsonl" "$T/partdev/metrics.jsonl" && cmp -s "$T/fulldev/checkpoint.safetensors" "$T/partdev/checkpoint.safetensors" \
    && ok "device form resumed from its checkpoint's program_form: the uninterrupted run's metrics and checkpoint" || bad "device resume differs"
"$BIN" train --resume "$T/fulldev/checkpoint.safetensors" --data "$DATA" --max-steps 8 --backend vane --program-form auto --quiet \
    >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "program-form" "$T/err"; then ok "resume in another form -> $rc: $(cat "$T/err")"; else bad "resume other form -> $rc"; cat "$T/err"; fi
# the strict chip profile also refuses runtime-weight matmuls (matmul-dynamic, M4+ only): one line
sim --max-steps 1 --backend ane-sim --chip strict --quiet >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "matmul-dynamic" "$T/err"; then ok "--chip strict -> $rc (matmul-dynamic named)"; else bad "--chip strict -> $rc"; cat "$T/err"; fi

# --resume: 3 steps, then on to 6, gives the uninterrupted run's metrics and checkpoint (both
# update modes); --out of an existing run is refused as for the layer graphs, --overwrite replaces it.
for u in ane cpu; do
    sim --max-steps 6 --backend vane --update $u --quiet --out "$T/full$u" || bad "full run $u"
    sim --max-steps 3 --backend vane --update $u --quiet --out "$T/part$u" || bad "part run $u"
    "$BIN" train --resume "$T/part$u/checkpoint.safetensors" --data "$DATA" --max-steps 6 --eval-every 3 --val-windows 8 \
        --backend vane --quiet || bad "resume $u"
    same_metrics "$T/full$u/metrics.jsonl" "$T/part$u/metrics.jsonl" && cmp -s "$T/full$u/checkpoint.safetensors" "$T/part$u/checkpoint.safetensors" \
        && ok "update $u: resumed at step 3, same metrics and checkpoint as the uninterrupted run" || bad "resume $u differs"
done
sim --max-steps 1 --backend vane --quiet --out "$T/fullane" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "already holds a run" "$T/err"; then ok "existing --out refused"; else bad "existing --out -> $rc"; cat "$T/err"; fi
sim --max-steps 1 --backend vane --quiet --out "$T/fullane" --overwrite && ok "--overwrite" || bad "--overwrite"
"$BIN" train --resume "$T/partane/checkpoint.safetensors" --data "$DATA" --max-steps 6 --update cpu --quiet >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "resume with another --update -> $rc: $(cat "$T/err")"; else bad "resume other update -> $rc"; cat "$T/err"; fi

# a diverging run stops with one line once the loss scale is down to 1 (no endless skipping)
timeout 60 "$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$M32" --batch-size 4 --val-windows 8 --max-steps 30 \
    --lr 1e4 --clip 0 --quiet --out "$T/div" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "diverged" "$T/err"; then ok "divergence -> $rc: $(cat "$T/err")"; else bad "divergence -> $rc"; cat "$T/err"; fi
"$BIN" data list --data "$DATA" | grep -E "^tinyshakespeare +verified +.*input.txt" >/dev/null && ok "data list: tinyshakespeare verified" \
    || bad "data list lacks tinyshakespeare"
"$BIN" data list --json --data "$DATA" | grep -q '"kind":[[:space:]]*"text"' && ok "data list --json: a text entry" || bad "data list --json"

# data fetch tinyshakespeare from a local HTTP mirror: verified and installed; a mirror serving
# other bytes is refused and leaves nothing behind.
mkdir -p "$T/srv/good/tinyshakespeare" "$T/srv/bad/tinyshakespeare"
cp "$DATA/tinyshakespeare/input.txt" "$T/srv/good/tinyshakespeare/"
{ head -c 1000 "$DATA/tinyshakespeare/input.txt"; printf 'X'; tail -c +1002 "$DATA/tinyshakespeare/input.txt"; } >"$T/srv/bad/tinyshakespeare/input.txt"
PORT=$((20000 + RANDOM % 20000))
(cd "$T/srv" && exec /usr/bin/python3 -m http.server "$PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
SRV=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
"$BIN" data fetch tinyshakespeare --dir "$T/fetched/tinyshakespeare" --mirror "http://127.0.0.1:$PORT/good/{name}/" --quiet \
    && cmp -s "$T/fetched/tinyshakespeare/input.txt" "$DATA/tinyshakespeare/input.txt" && ok "data fetch tinyshakespeare" \
    || bad "data fetch tinyshakespeare"
"$BIN" data fetch tinyshakespeare --dir "$T/fetched2/ts" --mirror "http://127.0.0.1:$PORT/bad/{name}/" --quiet 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ ! -e "$T/fetched2/ts" ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "tampered mirror refused: $(cat "$T/err")"; else bad "tampered mirror -> $rc"; cat "$T/err"; fi
kill "$SRV" 2>/dev/null
ANE_TRAINER_DATA="$T/fetched" "$BIN" train --dataset tinyshakespeare --model "$M" --batch-size 4 --max-steps 1 \
    --val-windows 8 2>"$T/err" >/dev/null && grep -q "fetched/tinyshakespeare/input.txt.*verified" "$T/err" \
    && ok "found through \$ANE_TRAINER_DATA, verified" || { bad "ANE_TRAINER_DATA"; cat "$T/err"; }

C="$T/ck/checkpoint.safetensors"
g1=$("$BIN" generate "$C" --prompt "ROMEO:" --tokens 60 --seed 0) || bad "generate"
g2=$("$BIN" generate "$C" --prompt "ROMEO:" --tokens 60 --seed 0)
g3=$("$BIN" generate "$C" --prompt "ROMEO:" --tokens 60 --seed 1)
[ -n "$g1" ] && [ "$g1" = "$g2" ] && ok "generate: same seed, same text" || bad "generate differs: '$g1' vs '$g2'"
[ "$g1" != "$g3" ] && ok "generate: another seed, other text" || bad "seeds 0 and 1 gave the same text"
[ "${g1:0:6}" = "ROMEO:" ] && [ ${#g1} = 66 ] && ok "prompt + 60 characters" || bad "generate output '${g1}' (${#g1} chars)"
"$BIN" generate "$C" --prompt "caf$(printf '\303')" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "prompt outside the vocabulary -> $rc: $(cat "$T/err")"; else bad "bad prompt -> $rc"; fi
printf 'garbage' >"$T/bad.safetensors"
"$BIN" generate "$T/bad.safetensors" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "corrupt checkpoint -> $rc: $(cat "$T/err")"; else bad "corrupt checkpoint -> $rc"; fi
# the logits program in either form on vane (the checkpoint above is plain): the same greedy text
ga=$("$BIN" generate "$C" --prompt "ROMEO:" --tokens 40 --temperature 0 --program-form auto) || bad "generate auto"
gd=$("$BIN" generate "$C" --prompt "ROMEO:" --tokens 40 --temperature 0 --program-form device) || bad "generate device"
[ -n "$ga" ] && [ "$ga" = "$gd" ] && ok "generate: plain and device logits programs, the same greedy text" || bad "generate forms: '$ga' vs '$gd'"
"$BIN" generate "$C" --program-form chip >"$T/out" 2>"$T/err"
rc=$?
if [ $rc = 64 ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "generate --program-form chip -> $rc"; else bad "generate bad form -> $rc"; cat "$T/err"; fi
"$BIN" generate --help | grep -q "temperature" && ok "generate --help" || bad "generate --help"
exit $fail
