#!/usr/bin/env bash
# bench/transformer_vs_torch: per-step time of a character transformer trained by ane_trainer on
# vane, in its plain form (--program-form auto, the default) and in the chip's device form
# (--program-form device), against PyTorch fp32 (bench/transformer_torch.py) with the same model,
# batch and thread pinning (OPENBLAS_NUM_THREADS=1 and OMP_NUM_THREADS=1 for every program),
# measured in one run. A step's time is the difference between a long and a short run divided
# by the steps between them (startup, compile and the final evaluation cancel); each run is
# repeated and the fastest kept, the programs interleaved so load on the machine hits them alike.
#
# usage: bench/transformer_vs_torch.sh [--bin PATH] [--data DIR] [--model SPEC] [--batch B]
#          [--short N] [--long N] [--reps R]
# (defaults: build/ane_trainer, ../shared/datasets, transformer:layers=2,dim=64,heads=4,ctx=64,
#  32, 60, 260, 2). Prints wall and CPU (user + system) milliseconds per step and PyTorch's time
# over ours (> 1: ours is faster).
set -u
here=$(cd "$(dirname "$0")" && pwd)
BIN=$here/../build/ane_trainer
DATA=$here/../../shared/datasets
MODEL=transformer:layers=2,dim=64,heads=4,ctx=64
B=32 SHORT=60 LONG=260 REPS=2
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2 ;; --data) DATA=$2 ;; --model) MODEL=$2 ;; --batch) B=$2 ;;
    --short) SHORT=$2 ;; --long) LONG=$2 ;; --reps) REPS=$2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "transformer_vs_torch: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done
[ "$LONG" -gt "$SHORT" ] || { echo "transformer_vs_torch: --long must exceed --short" >&2; exit 2; }
spec=${MODEL#transformer:}
targs=()
IFS=, read -ra kv <<<"$spec"
for p in "${kv[@]}"; do targs+=("--${p%%=*}" "${p#*=}"); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# one run: "wall cpu" seconds on stdout
run() {
    local what=$1 n=$2 t0=$EPOCHREALTIME
    case $what in
    torch) /usr/bin/time -f "%e %U %S" -o "$tmp/t" /usr/bin/python3 "$here/transformer_torch.py" "$DATA/tinyshakespeare/input.txt" \
               --steps "$n" --eval-every 100000 --batch "$B" "${targs[@]}" >/dev/null 2>&1 ;;
    *) /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$BIN" train --dataset tinyshakespeare --data "$DATA" --model "$MODEL" \
           --max-steps "$n" --batch-size "$B" --eval-every 100000 --program-form "$what" --out "$tmp/run" --overwrite \
           --quiet >/dev/null 2>&1 ;;
    esac || { echo "transformer_vs_torch: the $what run of $n steps failed" >&2; exit 1; }
    awk -v w="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" '{ print w, $2 + $3 }' "$tmp/t"
}

declare -A wall cpu
for ((r = 0; r < REPS; r++)); do
    for n in "$SHORT" "$LONG"; do
        for what in auto device torch; do
            read -r w c < <(run "$what" "$n")
            k=$what.$n
            if [ -z "${wall[$k]:-}" ] || awk -v a="$w" -v b="${wall[$k]}" 'BEGIN { exit !(a < b) }'; then wall[$k]=$w; fi
            if [ -z "${cpu[$k]:-}" ] || awk -v a="$c" -v b="${cpu[$k]}" 'BEGIN { exit !(a < b) }'; then cpu[$k]=$c; fi
        done
    done
done
steps=$((LONG - SHORT))
per() { awk -v a="$1" -v b="$2" -v n="$steps" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }'; }
echo "$MODEL, batch $B, OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1, ms per step (($LONG - $SHORT)-step difference, best of $REPS):"
printf '%-30s %8s %8s %16s %16s\n' "" wall cpu "torch/ours wall" "torch/ours cpu"
tw=$(per "${wall[torch.$SHORT]}" "${wall[torch.$LONG]}")
tc=$(per "${cpu[torch.$SHORT]}" "${cpu[torch.$LONG]}")
for what in auto device torch; do
    w=$(per "${wall[$what.$SHORT]}" "${wall[$what.$LONG]}")
    c=$(per "${cpu[$what.$SHORT]}" "${cpu[$what.$LONG]}")
    case $what in
    auto) name="vane, plain form (auto)" ;; device) name="vane, device form (device)" ;; torch) name="PyTorch fp32" ;;
    esac
    printf '%-30s %8s %8s %16s %16s\n' "$name" "$w" "$c" "$(awk -v a="$tw" -v b="$w" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$tc" -v b="$c" 'BEGIN { printf "%.2f", a / b }')"
done
