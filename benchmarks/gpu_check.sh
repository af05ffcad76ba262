#!/usr/bin/env bash
# The GPU check of mixed precision (issue 14), one script for a machine with one GPU (aimed at
# under 8 minutes): the mixed-precision tests, every stage's step and the joint iteration in
# float32 / mixed_float16 / mixed_bfloat16, both captioner decoders, and a dry run of the paper
# config in mixed_float16. Figures are printed and written under $OUT (default
# benchmarks/results/gpu_check/). Not yet run on a GPU: no session so far had one.
#
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results/gpu_check}"
mkdir -p "$out"
python -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU'))"
python -m pytest -q -p no:cacheprovider tests/training/test_mixed_precision.py | tee "$out/tests.txt"
python benchmarks/bench_joint.py --mixed_precision=float32,mixed_float16,mixed_bfloat16 \
    --repeats=5 --out="$out/bench_joint.json"
python benchmarks/bench_captioner.py --cases=small_cnn64_default,small_cnn64_transformer \
    --beam_cases=small_cnn64_default,small_cnn64_transformer --out="$out/bench_captioner.json"
python train_main.py --config=configs/coco_karpathy.py --workdir="$out/dry_run" --mode=dry_run \
    --config.mixed_precision=mixed_float16
cp "$out/dry_run/dry_run.json" "$out/dry_run_mixed_float16.json"
