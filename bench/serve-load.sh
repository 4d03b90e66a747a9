#!/usr/bin/env bash
# The load test of issue #20: dynalora serve with N random LoRA adapters of stories15M, C concurrent clients
# (a separate process: dynalora bench serve), each request naming a random adapter, greedy, for D seconds.
# Checks zero errors and every completion identical to `dynalora generate --adapter` for its prompt and
# adapter; reports generated tokens/s against the same kind of requests sent one at a time, and the p99 time
# to first token; meanwhile bad requests (garbage JSON, huge max_tokens, an unknown adapter, a load of a
# corrupt adapter folder) must get their status. Prints the load generator's JSON line last.
#
#   bench/serve-load.sh                                   # 8 adapters, 32 clients, 60 s (the issue's setting)
#   ADAPTERS=4 CLIENTS=8 DURATION=20 SEQ_DURATION=10 bench/serve-load.sh    # a quick check
#
# Environment: MODEL (default ../shared/models/stories15M), ADAPTERS, CLIENTS, DURATION, SEQ_DURATION (the
# one-at-a-time phase), MAX_TOKENS (64), THREADS (server threads; default all cores), PORT (18080),
# MAX_BATCH (server --max-batch, 32).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${MODEL:-../shared/models/stories15M}"
ADAPTERS="${ADAPTERS:-8}"
CLIENTS="${CLIENTS:-32}"
DURATION="${DURATION:-60}"
SEQ_DURATION="${SEQ_DURATION:-20}"
MAX_TOKENS="${MAX_TOKENS:-64}"
PORT="${PORT:-18080}"
MAX_BATCH="${MAX_BATCH:-32}"
THREAD_FLAG=()
[ -n "${THREADS:-}" ] && THREAD_FLAG=(--threads "$THREADS")

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "serve-load: $ADAPTERS random adapters of $MODEL" >&2
bin/dynalora bench random-adapters --model "$MODEL" --count "$ADAPTERS" --out "$work/root" >/dev/null
mkdir -p "$work/root/corrupt" "$work/ref"
printf '{"peft_type": "LORA", "r": ' >"$work/root/corrupt/adapter_config.json"
cp "$work/root/a0/adapter_model.safetensors" "$work/root/corrupt/"

prompts=("Once upon a time" "One day, a little girl named Lily" "The dog wanted to" "Tom and his mom went to the park."
  "There was a big red ball" "The sun was shining and" "A little bird sat on" "Sam had a new toy"
  "In the forest there lived" "The cat was very sad because" "Anna liked to draw" "It was a cold winter day"
  "The boy found a shiny stone" "Mom said it was time for bed" "The little car went fast" "Ben and Mia saw a big fish")
for p in "${prompts[@]}"; do printf '{"prompt": "%s"}\n' "$p"; done >"$work/prompts.jsonl"

names=()
adapter_flags=()
for i in $(seq 0 $((ADAPTERS - 1))); do
  names+=("a$i")
  adapter_flags+=(--adapter "a$i=$work/root/a$i")
  bin/dynalora generate --model "$MODEL" --adapter "$work/root/a$i" --input "$work/prompts.jsonl" \
    --output "$work/ref/a$i.jsonl" --max-new-tokens "$MAX_TOKENS" "${THREAD_FLAG[@]}" 2>/dev/null
done
echo "serve-load: references from dynalora generate written" >&2

bin/dynalora serve --model "$MODEL" "${adapter_flags[@]}" --adapter-root "$work/root" --port "$PORT" \
  --max-batch "$MAX_BATCH" "${THREAD_FLAG[@]}" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.5
done

rc=0
bin/dynalora bench serve --url "http://127.0.0.1:$PORT" --adapters "$(IFS=,; echo "${names[*]}")" \
  --prompts "$work/prompts.jsonl" --reference "$work/ref" --clients "$CLIENTS" --duration "$DURATION" \
  --sequential-duration "$SEQ_DURATION" --max-tokens "$MAX_TOKENS" --corrupt-adapter corrupt || rc=$?
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^dynalora_(requests_total|generation_tokens_total|time_to_first_token_seconds_(count|sum))' >&2 || true
kill -TERM "$server_pid"
wait "$server_pid" || rc=$?
server_pid=""
cat "$work/serve.err" >&2
exit $rc
