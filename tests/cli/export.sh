#!/usr/bin/env bash
# End-to-end tests of `ane_trainer export` and `predict`: a briefly trained MLP exported for
# each deployment target; `check` exit 0 on the default (fp16) packages; every field of
# model.mlmodel decodes by name with our .proto subset of Apple's schema (protoc-c --decode);
# predict on a package agrees with predict on its checkpoint for 100 test images; PGM and PNG
# inputs (also at 2x size) give the IDX image's prediction; bad inputs give one error line.
BIN=${ANET_BIN:?}
SRC=${ANET_SOURCE_DIR:?}
DATA=${ANET_SHARED_DIR:?}/datasets/mnist-10k
. "$(dirname "$0")/common.bash"
T=$tmp
# one_error CMD...: non-zero exit, exactly one line on stderr.
one_error() {
    "$BIN" "$@" >"$T/out" 2>"$T/err"
    local rc=$? n
    n=$(wc -l <"$T/err")
    if [ "$rc" != 0 ] && [ "$n" = 1 ]; then ok "$* -> $rc: $(cat "$T/err")"; else bad "$* -> $rc, $n stderr lines"; cat "$T/err"; fi
}

[ -d "$DATA" ] || { echo "SKIP: no dataset at $DATA"; exit 0; }
"$BIN" train --dataset "$DATA" --model mlp:784-32-10 --epochs 1 --backend vane --out "$T/run" >/dev/null 2>&1 ||
    { bad "train"; exit 1; }
CK=$T/run/checkpoint.safetensors

"$BIN" export --help | grep -q "minimum-deployment-target" && ok "export --help" || bad "export --help"
"$BIN" predict --help | grep -q "IDX" && ok "predict --help" || bad "predict --help"

for tgt in iOS18 iOS17 iOS16; do
    P=$T/M_$tgt.mlpackage
    "$BIN" export "$CK" --out "$P" --minimum-deployment-target $tgt --author "Jane Doe" --version 1.0 \
        --license MIT --description "digits" >/dev/null || bad "export $tgt"
    for f in Manifest.json Data/com.apple.CoreML/model.mlmodel Data/com.apple.CoreML/weights/weight.bin; do
        [ -s "$P/$f" ] || bad "$tgt: $f missing"
    done
    "$BIN" check "$P" >"$T/out" 2>&1 && ok "check $tgt -> 0" || { bad "check $tgt -> $?"; cat "$T/out"; }
    if command -v protoc-c >/dev/null; then
        protoc-c -I"$SRC/tests/data" --decode=CoreML.Specification.Model coreml_export.proto \
            <"$P/Data/com.apple.CoreML/model.mlmodel" >"$T/dec" 2>"$T/err" || { bad "$tgt: protoc-c decode"; cat "$T/err"; }
        # a field the schema does not name would print as a bare number
        if grep -qE '^ *[0-9]+( \{|:)' "$T/dec"; then bad "$tgt: fields outside the schema"; grep -E '^ *[0-9]+( \{|:)' "$T/dec" | head; fi
        v=$((${tgt#iOS} - 9))
        grep -q "^specificationVersion: $v$" "$T/dec" && ok "$tgt: specificationVersion $v" || bad "$tgt: spec version"
        grep -q "opset: \"CoreML$((${tgt#iOS} - 10))\"" "$T/dec" && ok "$tgt: opset" || bad "$tgt: opset"
        grep -q 'author: "Jane Doe"' "$T/dec" && grep -q 'predictedProbabilitiesName: "classProbabilities"' "$T/dec" &&
            ok "$tgt: metadata and classifier names" || bad "$tgt: metadata"
    else
        echo "SKIP: protoc-c not installed (schema decode)"
    fi
done
P=$T/M_iOS18.mlpackage

# fp32: a valid package, but not an ANE program: check must not say fully compatible.
"$BIN" export "$CK" --out "$T/M32.mlpackage" --precision fp32 >/dev/null || bad "export fp32"
"$BIN" check "$T/M32.mlpackage" --chip m4 >/dev/null 2>&1
[ $? = 0 ] && bad "fp32 package judged fully compatible" || ok "fp32 package: check says not fully compatible"
# regression: a plain output
"$BIN" export "$CK" --out "$T/R.mlpackage" --regression >/dev/null && "$BIN" check "$T/R.mlpackage" >/dev/null &&
    ok "regression export" || bad "regression export"
"$BIN" predict "$T/R.mlpackage" "$DATA/t10k-images-idx3-ubyte.gz" --limit 1 --json | grep -q '"value"' &&
    ok "regression predict" || bad "regression predict"

# an image input (for Vision): check passes, same predictions as the multi-array package
"$BIN" export "$CK" --out "$T/I.mlpackage" --input image >/dev/null && "$BIN" check "$T/I.mlpackage" >/dev/null &&
    ok "image-input export" || bad "image-input export"
"$BIN" predict "$T/I.mlpackage" "$DATA/t10k-images-idx3-ubyte.gz" --limit 100 --json >"$T/img.jsonl" || bad "predict image input"
if command -v protoc-c >/dev/null; then
    protoc-c -I"$SRC/tests/data" --decode=CoreML.Specification.Model coreml_export.proto \
        <"$T/I.mlpackage/Data/com.apple.CoreML/model.mlmodel" >"$T/dec" 2>/dev/null &&
        ! grep -qE '^ *[0-9]+( \{|:)' "$T/dec" && grep -q "colorSpace: GRAYSCALE" "$T/dec" &&
        ok "image input decodes: GRAYSCALE image" || bad "image input decode"
fi

# predict: package vs checkpoint, 100 test images, top-1 identical.
"$BIN" predict "$P" "$DATA/t10k-images-idx3-ubyte.gz" --limit 100 --json >"$T/pkg.jsonl" || bad "predict package"
"$BIN" predict "$CK" "$DATA/t10k-images-idx3-ubyte.gz" --limit 100 --json >"$T/ck.jsonl" || bad "predict checkpoint"
n=$(wc -l <"$T/pkg.jsonl")
[ "$n" = 100 ] && cmp -s "$T/pkg.jsonl" "$T/ck.jsonl" && ok "predict: package == checkpoint on 100 images" ||
    bad "predict package vs checkpoint ($n lines)"
# top-1 classes (the image input scales pixels by fp16(1/255): probabilities may differ by an fp16 step)
top1() { sed 's/.*"top":\[{[^}]*"class":\([0-9]*\).*/\1/' "$1"; }
top1 "$T/pkg.jsonl" >"$T/a" && top1 "$T/img.jsonl" >"$T/b" && [ "$(wc -l <"$T/b")" = 100 ] && cmp -s "$T/a" "$T/b" &&
    ok "predict: image-input package == multi-array package (top-1, 100 images)" || bad "image-input predictions differ"
one_error export "$CK" --out "$T/z.mlpackage" --input rgb
one_error export "$CK" --out "$T/u.mlpackage" --author $'\xff\xfe'
"$BIN" export "$CK" --out "$T/S.mlpackage/" >/dev/null && [ -f "$T/S.mlpackage/Manifest.json" ] && ok "--out with a trailing slash" ||
    bad "--out with a trailing slash"

# PGM and PNG of test image 0 (and a 2x PNG: the box filter averages 2x2 blocks back exactly).
$PY - "$DATA/t10k-images-idx3-ubyte.gz" "$T" <<'PYEOF'
import gzip, struct, sys, zlib
raw = gzip.open(sys.argv[1]).read()
img = raw[16:16 + 784]
out = sys.argv[2]
open(out + "/d.pgm", "wb").write(b"P5\n# test\n28 28\n255\n" + img)
def png(path, w, h, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = b"".join(b"\0" + r for r in rows)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))
rows = [img[r * 28:(r + 1) * 28] for r in range(28)]
png(out + "/d.png", 28, 28, rows)
big = [bytes(b for b in r for _ in range(2)) for r in rows for _ in range(2)]
png(out + "/d2.png", 56, 56, big)
PYEOF
first=$(head -1 "$T/pkg.jsonl" | sed 's/"file":"[^"]*","index":0,//')
for f in d.pgm d.png d2.png; do
    got=$("$BIN" predict "$P" "$T/$f" --json | sed 's/"file":"[^"]*","index":0,//')
    [ "$got" = "$first" ] && ok "predict $f == IDX image 0" || bad "predict $f: $got vs $first"
done
"$BIN" predict "$P" "$T/d.png" | grep -qE '^.*d.png: [0-9] [0-9.]+, ' && ok "predict text output" || bad "predict text output"

# bad inputs
one_error export "$CK"
one_error export "$T/nope.safetensors" --out "$T/x.mlpackage"
one_error export "$CK" --out "$T/run"   # an existing directory that is not a package
one_error export "$CK" --out "$T/y.mlpackage" --minimum-deployment-target iOS15
head -c 100 "$T/d.png" >"$T/trunc.png"
one_error predict "$P" "$T/trunc.png"
printf 'P5\n28 28\n255\n' >"$T/short.pgm"
one_error predict "$P" "$T/short.pgm"
printf 'P5\n99999 2\n255\n' >"$T/huge.pgm"
one_error predict "$P" "$T/huge.pgm"
echo hello >"$T/txt.png"
one_error predict "$P" "$T/txt.png"
one_error predict "$T/M_iOS16.mlpackage/Manifest.json" "$T/d.pgm"
cp -r "$P" "$T/broken.mlpackage" && : >"$T/broken.mlpackage/Data/com.apple.CoreML/weights/weight.bin"
one_error predict "$T/broken.mlpackage" "$T/d.pgm"
rm "$T/broken.mlpackage/Data/com.apple.CoreML/weights/weight.bin"
one_error predict "$T/broken.mlpackage" "$T/d.pgm"
one_error predict "$P/Data/com.apple.CoreML/model.mlmodel" "$T/d.pgm"   # no weights: refused, not zeros
[ -z "$(ls -d "$T"/*.tmp-* 2>/dev/null)" ] && ok "no temporary directories left" || bad "temporary directories left"
exit $fail
