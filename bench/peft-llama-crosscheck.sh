#!/usr/bin/env bash
# Cross-check of our PEFT writer for decoders against the PyTorch reference's PEFT reader: for each variant of
# bench/PeftLlamaCrossCheck.java (q_proj,v_proj with rank_pattern and alpha_pattern; every projection with rsLoRA
# and masked Dynamic LoRA components), dynalora writes an adapter folder for stories260K and computes the
# validation loss of base + adapter, then ../shared/reference/torch_llama_lora.py --mode eval --adapter FOLDER
# computes it from the folder; the two must agree within 1e-3 relative (BENCHMARKS.md records a run).
# Both sides evaluate the same token blocks: the reference's own packing (text_blocks: BOS at each document,
# --seq + 1 token windows) of VALID, dumped once by Python.
# Needs PyTorch and SentencePiece for /usr/bin/python3 (see the reference's docstring) and a JDK 17+.
# Environment: SHARED (../shared), VALID (tinyshakespeare valid.txt), SEQ (64), KEEP=1 keeps the work folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
MODEL="$SHARED/models/stories260K"
REF="$SHARED/reference/torch_llama_lora.py"
VALID="${VALID:-$SHARED/data/tinyshakespeare/valid.txt}"
SEQ="${SEQ:-64}"
WORK="$(mktemp -d)"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

(cd "$ROOT" && mvn -q -B -o compile dependency:build-classpath -pl dynalora-core -Dmdep.outputFile="$WORK/cp.txt") \
  > "$WORK/mvn.log" 2>&1 || { cat "$WORK/mvn.log" >&2; exit 1; }
CP="$ROOT/dynalora-core/target/classes:$(cat "$WORK/cp.txt")"

/usr/bin/python3 - "$REF" "$MODEL" "$VALID" "$SEQ" "$WORK/blocks.json" <<'PY'
import importlib.util, json, os, sys
ref_path, model, valid, seq, out = sys.argv[1:]
spec = importlib.util.spec_from_file_location("ref", ref_path); ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=os.path.join(model, "tokenizer.model"))
json.dump([ids for ids, _ in ref.text_blocks(sp, valid, int(seq))], open(out, "w"))
PY

# The base model's loss, by the reference (in --mode eval, valid_loss_before already includes an --adapter).
/usr/bin/python3 "$REF" --mode eval --model "$MODEL" --valid "$VALID" --seq "$SEQ" --batch 16 --threads 2 \
  2>/dev/null | tail -n 1 > "$WORK/base.ref.json"
status=0
for variant in qv all; do
  java --add-modules jdk.incubator.vector -cp "$CP" "$ROOT/bench/PeftLlamaCrossCheck.java" \
    "$MODEL" "$WORK/blocks.json" "$WORK/$variant" "$variant" 2>/dev/null > "$WORK/$variant.ours.json"
  /usr/bin/python3 "$REF" --mode eval --model "$MODEL" --valid "$VALID" --seq "$SEQ" --batch 16 --threads 2 \
    --adapter "$WORK/$variant" 2>/dev/null | tail -n 1 > "$WORK/$variant.ref.json"
  /usr/bin/python3 - "$WORK/$variant.ours.json" "$WORK/$variant.ref.json" "$WORK/base.ref.json" \
      "$WORK/$variant/adapter_config.json" <<'PY' || status=1
import json, sys
ours, ref, base, cfg = (json.load(open(p)) for p in sys.argv[1:])
rel = abs(ours["valid_loss"] - ref["valid_loss"]) / ref["valid_loss"]
rel_base = abs(ours["valid_loss_base"] - base["valid_loss"]) / base["valid_loss"]
print(json.dumps({"variant": ours["variant"], "blocks": ours["blocks"], "adapter_modules": ref["adapter_modules"],
                  "rank_pattern_entries": len(cfg["rank_pattern"]), "alpha_pattern_entries": len(cfg["alpha_pattern"]),
                  "use_rslora": cfg["use_rslora"],
                  "ours_base": ours["valid_loss_base"], "reference_base": base["valid_loss"],
                  "ours": ours["valid_loss"], "reference": ref["valid_loss"], "relative_difference": rel,
                  "ok": rel <= 1e-3 and rel_base <= 1e-3}))
sys.exit(0 if rel <= 1e-3 and rel_base <= 1e-3 else 1)
PY
done
exit $status
