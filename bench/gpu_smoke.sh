#!/usr/bin/env bash
# GPU smoke test: 2-step training runs on GSM8K, each followed by its evaluation, with timings; then
# (COST=1) what the intervention probes add to a base run's evaluation, on GSM8K and NQ-Open (COST_DATA).
#   bench/gpu_smoke.sh <local model folder | stand-in> [data folder]
# The model folder holds Qwen2.5-0.5B-Instruct (`hf download Qwen/Qwen2.5-0.5B-Instruct --local-dir ...`
# where you are online). `stand-in` builds, offline, a random model of Qwen2.5-0.5B's shapes with the
# stand-in tokenizer (tests/standin.py: ~360M parameters; it never closes its thinking, so it scores 0
# and every generation runs to its token limit) and reads the committed excerpts in tests/data.
# The data folder holds gsm8k_{train,test}.jsonl (and nq_open_*.jsonl for COST=1); default
# ../shared/data/external (tests/data for the stand-in).
# MODEL_CFG picks the model config (default qwen2.5-0.5b-instruct, whose tokenizer spreads '</think>' over
# several tokens; MODEL_CFG=qwen3-0.6b has it as one token: docs/scale.md). METHODS (default "rl start")
# picks the training methods; GEN_TOKS (default 512) the thinking budget. DEVICE/DTYPE (default cuda/bfloat16) place training and evaluation. EXTRA adds
# overrides (e.g. EXTRA="train.use_vllm=true"); DRY_RUN=1 only composes the configs. RUN_TIMEOUT (default 900 s)
# stops a run that takes longer; SUMMARY (default $OUT/summary.txt) gets each run's lines as soon as it ends, so a
# smoke test cut short still leaves what finished.
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?usage: bench/gpu_smoke.sh <local model folder | stand-in> [data folder]}
OUT=${OUT:-outputs/gpu_smoke}
if [[ $MODEL == stand-in ]]; then
  MODEL=$OUT/stand-in
  DATA=${2:-tests/data}
  python -c "import sys; from tests.standin import QWEN25_05B, build_stand_in
m = build_stand_in(sys.argv[1], 'qwen2.5', **QWEN25_05B); print('[gpu_smoke] stand-in built:', m)" "$MODEL" || exit 1
else
  DATA=${2:-../shared/data/external}
fi
N_TEST=${N_TEST:-30}
COMMON=(model="${MODEL_CFG:-qwen2.5-0.5b-instruct}" "model.path=$MODEL" "data.path=$DATA" "data.n_test=$N_TEST"
        "eval.max_gen_toks=${GEN_TOKS:-512}" eval.batch_size=32 "device=${DEVICE:-cuda}" "dtype=${DTYPE:-bfloat16}" logger=none)
ARGS=("${COMMON[@]}" data=gsm8k train.steps=2 train.prompts_per_step=4 train.num_generations=4
      "train.max_completion_length=${GEN_TOKS:-512}" "eval.answerers=[]" ${EXTRA:-})
[[ ${DRY_RUN:-0} == 1 ]] && ARGS+=(--cfg job)

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda available:', torch.cuda.is_available())"

SUMMARY=${SUMMARY:-$OUT/summary.txt}
mkdir -p "$(dirname "$SUMMARY")"
summary() {  # one line per run: status, wall time, budget, accuracy, evaluation seconds (also into $SUMMARY)
  python - "$1" <<'PY' | tee -a "$SUMMARY"
import json, sys
r = json.load(open(sys.argv[1]))
ev = r.get("eval_seconds") or {}
print(f"[gpu_smoke] {r['method']} {r['data']}: status={r['status']} run wall={r['budget']['wall_time_s']} s "
      f"steps={r['budget']['optimizer_steps']} tokens={r['budget']['tokens_generated']} "
      f"acc={r['metrics'].get(r['data'] + '/acc')} eval={sum(ev.values()):.1f} s {r.get('error') or ''}")
print("[gpu_smoke]   eval calls:", json.dumps(ev))
PY
}

status=0
for method in ${METHODS:-rl start}; do
  started=$(date +%s)
  timeout "${RUN_TIMEOUT:-900}" python -m harness method=$method "hydra.run.dir=$OUT/$method" "${ARGS[@]}" || status=1
  echo "[gpu_smoke] method=$method: $(( $(date +%s) - started )) s wall (process included)" | tee -a "$SUMMARY"
  [[ -f $OUT/$method/results.json ]] && summary "$OUT/$method/results.json"
done

# COST=1: a base run evaluated with the policy as its own Cross-Generation answerer, the intervention probes
# on and off (eval.interventions); what they add is the difference of the evaluation times (eval_seconds)
if [[ ${COST:-0} == 1 && ${DRY_RUN:-0} != 1 ]]; then
  for data in ${COST_DATA:-gsm8k nq_open}; do
    extra=(); [[ $data == nq_open ]] && extra=(data.train_file=nq_open_efficientqa_dev.jsonl)
    for probes in false true; do
      dir=$OUT/cost-$data-interventions-$probes
      timeout "${RUN_TIMEOUT:-900}" python -m harness method=base data=$data "${extra[@]}" "hydra.run.dir=$dir" \
        "${COMMON[@]}" \
        "eval.answerers=[{name:self,kind:hf,path:$MODEL}]" eval.interventions=$probes eval.reuse_empty_answers=false \
        eval.reuse_base_evals=false || status=1
      [[ -f $dir/results.json ]] && summary "$dir/results.json"
    done
  done
fi
exit $status
