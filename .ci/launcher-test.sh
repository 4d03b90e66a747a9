#!/usr/bin/env bash
# Checks bin/dynalora as a user meets it (what the JUnit tests, which run the CLI in-process, cannot see):
# no JVM warnings on standard error (the incubator notice, JNA's native-access warning on JDK 22+), a usage
# error without a command, and every line of standard error written before the command returns.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
check() { # name, condition
  if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

bin/dynalora --version >/dev/null 2>&1 # builds the CLI when needed (the build talks on standard error)
bin/dynalora spark --version >/dev/null 2>&1 # and dynalora-spark, with Spark's jars
bin/dynalora --help >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--help exits 0" '[ $rc = 0 ]'
check "--help prints nothing on standard error" '[ ! -s "$tmp/err" ] || { cat "$tmp/err"; false; }'

bin/dynalora train --help >"$tmp/out" 2>"$tmp/err"; rc=$?
check "train --help exits 0 without warnings" '[ $rc = 0 ] && [ ! -s "$tmp/err" ] || { cat "$tmp/err"; false; }'

# dynalora spark runs on another class path (Spark's jars) with Spark's JVM flags: still no warnings.
bin/dynalora spark predict --help >"$tmp/out" 2>"$tmp/err"; rc=$?
check "spark predict --help exits 0 without warnings" '[ $rc = 0 ] && [ ! -s "$tmp/err" ] || { cat "$tmp/err"; false; }'
bin/dynalora spark predict --master 'local[1]' --run "$tmp/no-run" --input "$tmp/none.tsv" --output "$tmp/p.tsv" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "spark predict with a bad run folder: exit 2 and one error line" \
  '[ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "^dynalora: error: " "$tmp/err" || { cat "$tmp/err"; false; }'

printf 'hello world\n' >"$tmp/in.txt"
bin/dynalora embed --model ../shared/models/all-MiniLM-L6-v2 --input "$tmp/in.txt" --threads 1 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "embed (loads the native tokenizer) exits 0 without warnings" '[ $rc = 0 ] && [ ! -s "$tmp/err" ] || { cat "$tmp/err"; false; }'

# serve: starts, answers, and on SIGTERM stops cleanly (exit 0) with nothing on standard error but its own lines.
port=$((20000 + RANDOM % 20000))
bin/dynalora serve --model ../shared/models/stories260K --port "$port" --threads 1 >"$tmp/out" 2>"$tmp/err" &
serve_pid=$!
up=0
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.5
done
answer="$(curl -s "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
  -d '{"model":"stories260K","prompt":"Once upon a time","max_tokens":4,"temperature":0}')"
kill -TERM "$serve_pid" 2>/dev/null
wait "$serve_pid"; rc=$?
check "serve answers a completion" '[ $up = 1 ] && case "$answer" in *\"text_completion\"*) true;; *) echo "$answer"; false;; esac'
check "serve exits 0 on SIGTERM without warnings" '[ $rc = 0 ] && ! grep -v "^dynalora: " "$tmp/err" || { echo "rc=$rc"; cat "$tmp/err"; false; }'

# spark predict end to end through the launcher: the file predict writes, and nothing on standard error (no
# Spark logging, no JVM warnings). A LoRA run of MiniLM on 32 SST-2 examples is enough for that.
bin/dynalora train --model ../shared/models/all-MiniLM-L6-v2 --task sst2 --data ../shared/glue --out "$tmp/run" \
  --limit 32 --eval-limit 8 --epochs 1 --batch 16 --max-len 32 --threads 2 >/dev/null 2>&1
head -n 13 ../shared/glue/SST-2/test.tsv >"$tmp/test.tsv"
bin/dynalora predict --run "$tmp/run" --input "$tmp/test.tsv" --output "$tmp/pred.tsv" --threads 2 >/dev/null 2>&1
bin/dynalora spark predict --master 'local[2]' --run "$tmp/run" --input "$tmp/test.tsv" --output "$tmp/spark.tsv" \
  >"$tmp/out" 2>"$tmp/err"; rc=$?
check "spark predict writes predict's file, with nothing on standard error" \
  '[ $rc = 0 ] && [ ! -s "$tmp/err" ] && cmp -s "$tmp/pred.tsv" "$tmp/spark.tsv" || { cat "$tmp/err"; false; }'

# spark train through the launcher: two workers in local[2] write the run folder that train --shards 2 writes
# (the trained tensors byte for byte), and nothing on standard error (no Spark logging, no JVM warnings).
bin/dynalora train --model ../shared/models/all-MiniLM-L6-v2 --task sst2 --data ../shared/glue --out "$tmp/shards2" \
  --limit 32 --eval-limit 8 --epochs 1 --batch 16 --max-len 32 --threads 2 --shards 2 >/dev/null 2>&1
bin/dynalora spark train --master 'local[2]' --workers 2 --model ../shared/models/all-MiniLM-L6-v2 --task sst2 \
  --data ../shared/glue --out "$tmp/dp" --limit 32 --eval-limit 8 --epochs 1 --batch 16 --max-len 32 \
  >"$tmp/out" 2>"$tmp/err"; rc=$?
check "spark train --workers 2 trains train --shards 2's tensors, with nothing on standard error" \
  '[ $rc = 0 ] && [ ! -s "$tmp/err" ] && cmp -s "$tmp/shards2/trainable.safetensors" "$tmp/dp/trainable.safetensors" || { cat "$tmp/err"; false; }'

# spark generate through the launcher: generate's file byte for byte, and nothing on standard error.
printf '{"prompt": "Once upon a time"}\n{"prompt": "The dog"}\n{"prompt": "Lily"}\n' >"$tmp/prompts.jsonl"
bin/dynalora generate --model ../shared/models/stories260K --input "$tmp/prompts.jsonl" --output "$tmp/gen.jsonl" \
  --max-new-tokens 16 --threads 1 >/dev/null 2>&1
bin/dynalora spark generate --master 'local[2]' --model ../shared/models/stories260K --input "$tmp/prompts.jsonl" \
  --output "$tmp/spark-gen.jsonl" --max-new-tokens 16 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "spark generate writes generate's file, with nothing on standard error" \
  '[ $rc = 0 ] && [ ! -s "$tmp/err" ] && cmp -s "$tmp/gen.jsonl" "$tmp/spark-gen.jsonl" || { cat "$tmp/err"; false; }'

for i in 1 2 3; do
  bin/dynalora >"$tmp/out" 2>"$tmp/err"; rc=$?
  last="$(tail -n 1 "$tmp/err")"
  check "no command: exit 2 and the error line present when the command returns ($i)" \
    '[ $rc = 2 ] && [ "$last" = "dynalora: error: no command given; run one of the commands above (e.g. dynalora train --help)" ]'
done
exit $fail
