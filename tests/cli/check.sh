#!/usr/bin/env bash
# End-to-end tests of `ane_trainer check`: fixture verdicts and exit codes, --json, --explain,
# usage errors (exit 5, never 1) and malformed inputs (exit 3 or 4 with one line on stderr).
BIN=${ANET_BIN:?}
FIX=${ANET_SHARED_DIR:?}/fixtures/coreml
. "$(dirname "$0")/common.bash"
T=$tmp

# expect_exit CODE ARGS...: runs check, compares the exit code.
expect_exit() {
    local want=$1
    shift
    "$BIN" check "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" = "$want" ]; then ok "check $* -> $got"; else bad "check $* -> $got, want $want"; cat "$T/err"; fi
}
# one_line: stderr holds exactly one line naming the problem.
one_line() {
    local n
    n=$(wc -l <"$T/err")
    if [ "$n" = 1 ] && grep -q "ane_trainer check: " "$T/err"; then ok "one line: $(cat "$T/err")"; else bad "stderr not one line:"; cat "$T/err"; fi
}

expect_exit 0 "$FIX/Image2Image.mlmodel"
grep -q "likely fully compatible" "$T/out" || bad "Image2Image summary"
expect_exit 0 "$FIX/mnistCNN.mlmodel"
grep -q "^  1: layers 1-14" "$T/out" || bad "mnistCNN: one segment of 14 layers"
expect_exit 2 "$FIX/lstsq-custom.mlmodel"
grep -q "nn-custom-layer" "$T/out" || bad "lstsq: custom rule missing"

# --json carries the same verdicts; validate it with Python's json module.
expect_exit 2 "$FIX/lstsq-custom.mlmodel" --json
$PY - "$T/out" <<'PYEOF' || bad "lstsq --json content"
import json, sys
r = json.load(open(sys.argv[1]))
cust = [l for l in r["layers"] if l["type"] == "custom"]
assert len(cust) == 1 and cust[0]["verdict"] == "cpu" and cust[0]["rule"] == "nn-custom-layer", cust
assert r["summary"]["compatibility"] == "none" and r["summary"]["exit_status"] == 2, r["summary"]
assert all(l["source"] for l in r["layers"])
PYEOF
expect_exit 0 "$FIX/mnistCNN.mlmodel" --json --chip m1
$PY - "$T/out" <<'PYEOF' || bad "mnistCNN --json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["chip"] == "m1"
assert len(r["layers"]) == 14 and all(l["verdict"] == "ane" for l in r["layers"])
s = r["segments"]
assert len(s) == 1 and s[0]["inputs"][0]["name"] == "image" and s[0]["inputs"][0]["shape"] == [1, 1, 28, 28], s
PYEOF

# add_model.mlmodelc: a compiled ML Program (model.mil), one fp16 mul: fully compatible.
expect_exit 0 "$FIX/add_model.mlmodelc" --json
$PY - "$T/out" <<'PYEOF' || bad "add_model --json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "mlmodelc" and [l["type"] for l in r["layers"]] == ["mul"], r["layers"]
assert r["layers"][0]["verdict"] == "ane"
assert [t["name"] for t in r["segments"][0]["inputs"]] == ["x", "y"]
assert r["segments"][0]["outputs"][0]["shape"] == [1, 10]
PYEOF

# --explain
expect_exit 0 --explain nn-rnn
grep -q "source:" "$T/out" || bad "--explain prints the source"
expect_exit 0 --explain op-rejected-gelu
expect_exit 5 --explain no-such-rule

# Usage errors: 5, never 1.
expect_exit 5
expect_exit 5 "$FIX/mnistCNN.mlmodel" --chip m9
expect_exit 5 "$FIX/mnistCNN.mlmodel" --bogus
expect_exit 5 "$FIX/mnistCNN.mlmodel" "$FIX/Image2Image.mlmodel"
expect_exit 5 "$FIX/mnistCNN.mlmodel" --chip
expect_exit 0 --help

# Malformed and unreadable input.
expect_exit 3 "$T/does-not-exist.mlmodel"; one_line
: >"$T/empty.mlmodel"
expect_exit 4 "$T/empty.mlmodel"; one_line
head -c 4096 /dev/urandom >"$T/random.mlmodel"
"$BIN" check "$T/random.mlmodel" >/dev/null 2>"$T/err"; rc=$?
if [ $rc = 4 ] || [ $rc -le 2 ]; then ok "random bytes -> $rc"; else bad "random bytes -> $rc"; fi
head -c 1000 "$FIX/mnistCNN.mlmodel" >"$T/trunc.mlmodel"
expect_exit 4 "$T/trunc.mlmodel"; one_line
mkdir "$T/notabundle"
expect_exit 4 "$T/notabundle"; one_line
printf '\x08\x01\xa2\x1f\x05\x0a\x03' >"$T/pastend.mlmodel"   # neuralNetwork {layers: length 3, 0 bytes follow}
expect_exit 4 "$T/pastend.mlmodel"; one_line
printf '\x08\x01\xa0\x1f\x07' >"$T/wiretype.mlmodel"          # neuralNetwork 500 as a varint
expect_exit 4 "$T/wiretype.mlmodel"; one_line
# 100 nested pipelines (Model.pipeline 202 -> Pipeline.models 1 -> Model ...), built with Python.
$PY - "$T/deep.mlmodel" <<'PYEOF'
import sys
def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f; v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v: return bytes(out)
def field(num, payload): return varint(num << 3 | 2) + varint(len(payload)) + payload
m = field(500, b"")
for _ in range(100):
    m = field(202, field(1, m))
open(sys.argv[1], "wb").write(m)
PYEOF
expect_exit 4 "$T/deep.mlmodel"; one_line
grep -q "nested deeper" "$T/err" || bad "deep nesting message"


# --json on exit 3/4: an error object on stdout (and the one line on stderr).
expect_exit 4 "$T/empty.mlmodel" --json; one_line
$PY - "$T/out" <<'PYEOF' || bad "--json error object"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["exit_status"] == 4 and r["error"]["kind"] == "format" and "empty" in r["error"]["message"], r
PYEOF
expect_exit 3 "$T/does-not-exist.mlmodel" --json; one_line
$PY -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["exit_status"] == 3 and r["error"]["kind"] == "io"' "$T/out" || bad "--json io error"
# An ONNX or PyTorch file is named, not decoded as a broken protobuf.
printf '\x08\x07\x12\x07pytorch' >"$T/model.onnx"
expect_exit 4 "$T/model.onnx"; one_line
grep -q "this is an ONNX file: not a Core ML model" "$T/err" || bad "onnx named"
printf 'PK\x03\x04\x14\x00\x00\x00' >"$T/model.pt"
expect_exit 4 "$T/model.pt"; one_line
grep -q "PyTorch" "$T/err" || bad "pt named"
# --rules: the header says which set applied; an unknown set is a usage error.
expect_exit 0 "$FIX/add_model.mlmodelc"
grep -q "rules coreml" "$T/out" || bad "default rules for a bundle: coreml"
expect_exit 0 "$FIX/add_model.mlmodelc" --rules private --json
$PY -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["rules"] == "private" and r["layers"][0]["rule"] == "mil-op-ok", r["layers"]' "$T/out" || bad "--rules private"
expect_exit 5 "$FIX/add_model.mlmodelc" --rules nope
# A bundle whose model.mil is a symlink out of it: refused, the target's bytes not quoted.
mkdir -p "$T/evil.mlmodelc"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$T/passwd"
ln -s "$T/passwd" "$T/evil.mlmodelc/model.mil"
expect_exit 4 "$T/evil.mlmodelc"; one_line
grep -q "root" "$T/err" && bad "symlinked model.mil: file content quoted"
# A compiled NeuralNetwork bundle (espresso JSON) is read: exit 0/1/2, never 4.
mkdir -p "$T/nn.mlmodelc"
printf '\x01' >"$T/nn.mlmodelc/coremldata.bin"
cat >"$T/nn.mlmodelc/model.espresso.net" <<'EOF2'
{"format_version": 200, "layers": [
 {"type": "convolution", "name": "c", "bottom": "image", "top": "c1", "C": 8, "K": 1, "Nx": 3, "Ny": 3},
 {"type": "pool", "name": "p", "bottom": "c1", "top": "p1", "size_x": 2, "size_y": 2, "stride_x": 2, "stride_y": 2},
 {"type": "inner_product", "name": "fc", "bottom": "p1", "top": "out", "nC": 10, "nB": 8}]}
EOF2
expect_exit 0 "$T/nn.mlmodelc"
grep -q "neuralNetwork" "$T/out" || bad "espresso bundle kind"

# A file of more layers than `check` takes (2^20) is refused with bounded memory (issue 16 #2).
# Not under the sanitizers: their shadow memory makes the measure meaningless and the run slow.
case "${ANET_BUILD_DIR:-}" in
*asan*) ;;
*)
$PY - "$T/many.mlmodel" <<'PYEOF'
import sys
def varint(v):
    out = b''
    while True:
        b, v = v & 0x7f, v >> 7
        out += bytes([b | 0x80]) if v else bytes([b])
        if not v: return out
nn = b'\x0a\x03\xa2\x06\x00' * 1100000          # NeuralNetwork.layers {convolution {}}
open(sys.argv[1], 'wb').write(b'\x08\x04\xa2\x1f' + varint(len(nn)) + nn)
PYEOF
/usr/bin/time -f %M -o "$T/rss" "$BIN" check "$T/many.mlmodel" --json >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 4 ] && grep -q "more than 1048576 layers" "$T/err" && ok "many layers refused" || bad "many layers: exit $rc"
[ "$(tail -1 "$T/rss")" -lt 800000 ] && ok "many layers: $(tail -1 "$T/rss") KB" || bad "many layers used $(tail -1 "$T/rss") KB"
    ;;
esac

# A FIFO where the model should be: refused at once (exit 3), never read.
mkfifo "$T/fifo.mlmodel"
timeout 10 "$BIN" check "$T/fifo.mlmodel" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 3 ] && grep -q "not a regular file" "$T/err" && ok "fifo refused" || bad "fifo: exit $rc"

# ane_trainer checkpoints (.safetensors) and model specs: the train and eval step programs.
# The checkpoint is written here by Python (the safetensors layout), not by the project.
$PY - "$T/run.safetensors" <<'PYEOF'
import json, struct, sys
shapes = {"w0": [5, 6], "b0": [5], "w1": [4, 5], "b1": [4]}
hdr, off, data = {}, 0, b""
for k, s in shapes.items():
    n = 4 * (s[0] * (s[1] if len(s) > 1 else 1))
    hdr[k] = {"dtype": "F32", "shape": s, "data_offsets": [off, off + n]}
    off += n
    data += b"\0" * n
hdr["__metadata__"] = {"model": "mlp:6-5-4", "chip": "strict", "batch_size": "16", "update": "cpu", "optimizer": "adam"}
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
PYEOF
expect_exit 1 "$T/run.safetensors" --json   # strict (from the checkpoint): dynamic matmuls fall back
$PY - "$T/out" <<'PYEOF' || bad "checkpoint --json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "checkpoint" and r["chip"] == "strict", (r["format"], r["chip"])
progs = {l["model_path"] for l in r["layers"]}
assert progs == {"train", "eval"}, progs
mm = [l for l in r["layers"] if l["type"] == "matmul"]
assert len([l for l in mm if l["model_path"] == "eval"]) == 4, mm   # per Linear layer: weight, bias (chip form)
assert all(l["verdict"] == "cpu" and l["rule"] == "matmul-dynamic" for l in mm), mm
for s in r["segments"]:
    assert r["layers"][s["first"]]["model_path"] == r["layers"][s["last"]]["model_path"], s
PYEOF
expect_exit 0 "$T/run.safetensors" --chip m4
grep -q "^  [0-9]* *eval/" "$T/out" || bad "checkpoint: eval rows"
expect_exit 0 mlp:6-5-4
grep -q "chip profile m4" "$T/out" || bad "mlp spec: default chip m4"
expect_exit 1 mlp:6-5-4 --chip strict
expect_exit 4 mlp:6
printf 'garbage!' >"$T/bad.safetensors"
expect_exit 4 "$T/bad.safetensors"; one_line

# The checkpoint's programs are those `compile --model` writes: same ops, same verdicts.
"$BIN" compile --model mlp:6-5-4 --batch-size 16 --backend none --chip strict --out "$T/cmp" >/dev/null 2>&1 ||
    bad "compile --model mlp:6-5-4"
"$BIN" check "$T/run.safetensors" --json >"$T/ck.json"
$PY - "$T/cmp/plan.json" "$T/ck.json" <<'PYEOF' || bad "check vs compile plan.json"
import json, sys
plan, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for p in plan["programs"]:
    rows = [l for l in r["layers"] if l["model_path"] == p["name"]]
    assert len(rows) == p["compute_ops"], (p["name"], len(rows), p["compute_ops"])
    assert [l["type"] for l in rows] == [o["type"] for o in p["ops"]], p["name"]
    assert [l["verdict"] == "ane" for l in rows] == [o["eligible"] for o in p["ops"]], p["name"]
PYEOF

# Program-level rules: an input 20000 wide breaks axis-range-dhw for the whole program.
cat >"$T/wide.mil" <<'MILEOF'
program(1.3)
{
    func main<ios18>(tensor<fp16, [1, 1, 1, 20000]> x, tensor<fp16, [1, 2, 1, 4]> y) {
            tensor<fp16, [1, 2, 1, 4]> z = relu(x = y)[name = string("z")];
        } -> (z);
}
MILEOF
expect_exit 1 "$T/wide.mil"
grep -q "^program rules" "$T/out" && grep -q "main .*axis-range-dhw" "$T/out" || bad "wide.mil: program rule row"
expect_exit 1 "$T/wide.mil" --json
$PY - "$T/out" <<'PYEOF' || bad "wide.mil --json program_rules"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["program_rules"]
assert len(p) == 1 and p[0]["rule"] == "axis-range-dhw" and p[0]["verdict"] == "cpu" and "'x'" in p[0]["detail"], p
assert r["layers"][0]["verdict"] == "ane" and r["summary"]["program_rules"] == 1, r["summary"]
PYEOF

# --on-device: asks the OS (macOS 14.4+). Elsewhere: exit 6 with one line; our own programs
# cannot be planned by Core ML at all: a usage error (5).
if [ "$(uname -s)" != Darwin ]; then
    expect_exit 6 "$FIX/mnistCNN.mlmodel" --on-device; one_line
    grep -q "macOS 14.4" "$T/err" || bad "--on-device message names macOS 14.4"
    [ -s "$T/out" ] && bad "--on-device failure printed a report"
fi
expect_exit 5 "$T/wide.mil" --on-device; one_line
expect_exit 5 mlp:6-5-4 --on-device; one_line

# --on-device output, with a plan replayed from JSON instead of the OS (ANE_TRAINER_COMPUTE_PLAN):
# mnistCNN (14 layers, all ane for us) with the OS putting the first layer on the GPU.
"$BIN" check "$FIX/mnistCNN.mlmodel" --json >"$T/mnist.json"
$PY - "$T/mnist.json" "$T/plan_gpu.json" "$T/plan_cpu.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
names = [l["name"] for l in r["layers"]]
gpu = [{"name": n, "preferred": "gpu" if i == 0 else "ane", "supported": ["cpu", "gpu", "ane"]} for i, n in enumerate(names)]
json.dump({"layers": gpu + [{"name": "not-a-layer", "preferred": "cpu"}]}, open(sys.argv[2], "w"))
json.dump({"layers": [{"name": n, "preferred": "cpu"} for n in names]}, open(sys.argv[3], "w"))
PYEOF
ANE_TRAINER_COMPUTE_PLAN="$T/plan_gpu.json" expect_exit 1 "$FIX/mnistCNN.mlmodel" --on-device
grep -q "^  1 .* ane  *gpu! " "$T/out" || bad "--on-device: layer 1 shows gpu! beside ane"
grep -q "^  2 .* ane  *ane  " "$T/out" || bad "--on-device: layer 2 shows ane beside ane"
grep -q "13 on the ANE, 0 on the CPU, 1 on the GPU, 0 not reported; 1 disagrees" "$T/out" || bad "--on-device summary"
ANE_TRAINER_COMPUTE_PLAN="$T/plan_gpu.json" expect_exit 1 "$FIX/mnistCNN.mlmodel" --on-device --json
$PY - "$T/out" <<'PYEOF' || bad "--on-device --json content"
import json, sys
r = json.load(open(sys.argv[1]))
l0 = r["layers"][0]["on_device"]
assert l0["preferred"] == "gpu" and l0["mismatch"] is True and sorted(l0["supported"]) == ["ane", "cpu", "gpu"], l0
assert all(l["on_device"]["preferred"] == "ane" and not l["on_device"]["mismatch"] for l in r["layers"][1:])
od = r["summary"]["on_device"]
assert (od["ane"], od["gpu"], od["mismatches"], od["unmatched_os_entries"]) == (13, 1, 1, 1), od
assert r["summary"]["exit_status"] == 1 and r["summary"]["compatibility"] == "partial"
PYEOF
ANE_TRAINER_COMPUTE_PLAN="$T/plan_cpu.json" expect_exit 2 "$FIX/mnistCNN.mlmodel" --on-device
echo '{"layers": [{"name": 3}]}' >"$T/plan_bad.json"
ANE_TRAINER_COMPUTE_PLAN="$T/plan_bad.json" expect_exit 6 "$FIX/mnistCNN.mlmodel" --on-device; one_line

exit $fail
