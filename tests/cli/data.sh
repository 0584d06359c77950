#!/usr/bin/env bash
# End-to-end: `ane_trainer data list|fetch|--help` (env: ANET_BIN, ANET_SHARED_DIR).
# Keep the user's real data out of the way: discovery looks in these.
. "$(dirname "$0")/common.bash"
unset ANE_TRAINER_DATA ANE_TRAINER_MIRROR
cd "$tmp"
M10K="$ANET_SHARED_DIR/datasets/mnist-10k"

# Help: exit 0, text on stdout.
"$ANET_BIN" data --help >out 2>err && grep -q "fetch NAME" out && ok "data --help" || bad "data --help"
"$ANET_BIN" data list --help >out 2>err && grep -q -- "--json" out && ok "data list --help" || bad "data list --help"
"$ANET_BIN" data fetch --help >out 2>err && grep -q -- "--mirror" out && ok "data fetch --help" || bad "data fetch --help"

# Bad subcommand / option / dataset: non-zero, one line on stderr.
for args in "frobnicate" "list --bogus" "fetch no-such-dataset" "fetch"; do
  "$ANET_BIN" data $args >out 2>err
  rc=$?
  if [ $rc -ne 0 ] && [ "$(wc -l <err)" -eq 1 ]; then ok "data $args -> $rc: $(cat err)"; else bad "data $args (rc=$rc): $(cat err)"; fi
done

# The shared subset: found, not the canonical files (its t10k files are canonical, its train files not).
"$ANET_BIN" data list --data "$M10K" >out 2>err
rc=$?
cat out
[ $rc -eq 0 ] || bad "data list --data exit $rc: $(cat err)"
grep -E "^--data +found \(not the canonical files\) +$M10K" out >/dev/null && ok "--data entry" || bad "--data entry"
grep -q "2 of 4 files are the canonical mnist files" out && ok "t10k files recognised as canonical mnist" || bad "canonical t10k"
grep -E "^mnist +not found" out >/dev/null && ok "mnist not found elsewhere" || bad "mnist status"

# JSON: valid, and says the same.
"$ANET_BIN" data list --json --data "$M10K" >out.json 2>err || bad "data list --json exit $?: $(cat err)"
if $PY -m json.tool out.json >/dev/null; then ok "JSON valid"; else bad "JSON invalid"; cat out.json; fi
$PY - out.json "$M10K" <<'PYEOF' && ok "JSON content" || bad "JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
names = [x["name"] for x in d["datasets"]]
assert names == ["mnist", "fashion-mnist", "kmnist", "tinyshakespeare"], names
assert d["datasets"][3]["kind"] == "text", d["datasets"][3]
dd = d["data_dir"]
assert dd["dir"] == sys.argv[2] and dd["state"] == "found (not the canonical files)", dd
assert dd["matches"] == "mnist" and dd["canonical_files"] == 2, dd
states = {f["file"]: f["state"] for f in dd["files"]}
assert states["t10k-images-idx3-ubyte"] == "verified", states
assert states["train-images-idx3-ubyte"] == "not the canonical file", states
PYEOF

# Discovery through ./data/NAME and $ANE_TRAINER_DATA/NAME (symlinked copies of the subset).
mkdir -p data/mnist envd/kmnist
for f in "$M10K"/*; do ln -s "$f" data/mnist/; ln -s "$f" envd/kmnist/; done
ANE_TRAINER_DATA="$tmp/envd" "$ANET_BIN" data list >out 2>err
grep -E "^mnist +found \(not the canonical files\) +\./data/mnist \(\./data\)" out >/dev/null && ok "./data/mnist found" || { bad "./data/mnist"; cat out; }
grep -E "^kmnist +found \(not the canonical files\) +$tmp/envd/kmnist" out >/dev/null && ok "\$ANE_TRAINER_DATA found" || { bad "ANE_TRAINER_DATA"; cat out; }

# A directory without the files: non-zero, the missing files listed.
mkdir empty
"$ANET_BIN" data list --data empty >out 2>err
rc=$?
[ $rc -ne 0 ] && grep -q "missing train-images-idx3-ubyte" err && ok "empty --data dir -> $rc: $(cat err)" || bad "empty --data dir rc=$rc $(cat err)"

# Fetch from an unreachable mirror: one clear line, non-zero, nothing left behind.
"$ANET_BIN" data fetch mnist --dir "$tmp/fetched" --mirror http://127.0.0.1:1/ --quiet >out 2>err
rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l <err)" -eq 1 ] && [ ! -e "$tmp/fetched" ]; then ok "fetch, no server -> $rc: $(cat err)"; else bad "fetch no server rc=$rc: $(cat err)"; fi

# Fetch through a mirror that serves the subset under mnist's name: the train files are not the
# canonical ones, so the first download is refused and nothing is left behind.
$PY -m http.server 0 --bind 127.0.0.1 --directory "$M10K" >http.log 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
port=""
for _ in $(seq 50); do
  port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' http.log | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -n "$port" ]; then
  "$ANET_BIN" data fetch mnist --dir "$tmp/mirrored" --mirror "http://127.0.0.1:$port/" --quiet >out 2>err
  rc=$?
  if grep -q "built without libcurl" err; then echo "skip: built without libcurl"
  elif [ $rc -ne 0 ] && grep -q "expected 9912422 (file refused)" err && [ ! -e "$tmp/mirrored" ]; then ok "fetch from mirror refused non-canonical file: $(cat err)"; else bad "mirror fetch rc=$rc: $(cat err)"; fi
else
  bad "python http.server did not start: $(cat http.log)"
fi
kill $srv 2>/dev/null

# Fashion-MNIST from the Debian package, when installed.
if [ -d /usr/share/datasets/fashion-mnist ]; then
  "$ANET_BIN" data list >out 2>err
  grep -E "^fashion-mnist +verified +/usr/share/datasets/fashion-mnist" out >/dev/null && ok "fashion-mnist verified in /usr/share/datasets" || { bad "fashion-mnist"; cat out; }
else
  echo "skip: /usr/share/datasets/fashion-mnist not installed (Debian package dataset-fashion-mnist)"
fi
exit $fail
