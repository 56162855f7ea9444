#!/usr/bin/env bash
# GPU smoke test: 2-step RL and START runs on GSM8K, each followed by its evaluation, with timings.
#   bench/gpu_smoke.sh <local model folder> [data folder]
# The model folder holds Qwen2.5-0.5B-Instruct (`hf download Qwen/Qwen2.5-0.5B-Instruct --local-dir ...`
# where you are online); the data folder holds gsm8k_{train,test}.jsonl (default ../shared/data/external).
# MODEL_CFG picks the model config (default qwen2.5-0.5b-instruct, whose tokenizer spreads '</think>' over
# several tokens; MODEL_CFG=qwen3-0.6b has it as one token: docs/scale.md).
# DEVICE/DTYPE (default cuda/bfloat16) place training and evaluation. EXTRA adds overrides (e.g. EXTRA="train.use_vllm=true"); DRY_RUN=1 only composes the configs.
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?usage: bench/gpu_smoke.sh <local model folder> [data folder]}
DATA=${2:-../shared/data/external}
OUT=${OUT:-outputs/gpu_smoke}
ARGS=(model="${MODEL_CFG:-qwen2.5-0.5b-instruct}" "model.path=$MODEL" data=gsm8k "data.path=$DATA"
      data.n_test=32 train.steps=2 train.prompts_per_step=4 train.num_generations=4
      train.max_completion_length=512 eval.max_gen_toks=512 eval.batch_size=32 "eval.answerers=[]"
      "device=${DEVICE:-cuda}" "dtype=${DTYPE:-bfloat16}" logger=none ${EXTRA:-})
[[ ${DRY_RUN:-0} == 1 ]] && ARGS+=(--cfg job)

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda available:', torch.cuda.is_available())"
status=0
for method in rl start; do
  started=$(date +%s)
  python -m harness method=$method "hydra.run.dir=$OUT/$method" "${ARGS[@]}" || status=1
  echo "[gpu_smoke] method=$method: $(( $(date +%s) - started )) s wall (process included)"
  [[ -f $OUT/$method/results.json ]] && python - "$OUT/$method/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"[gpu_smoke] {r['method']}: status={r['status']} run wall={r['budget']['wall_time_s']} s "
      f"steps={r['budget']['optimizer_steps']} tokens={r['budget']['tokens_generated']} "
      f"acc={r['metrics'].get(r['data'] + '/acc')} {r.get('error') or ''}")
PY
done
exit $status
