#!/usr/bin/env bash
# Create .venv with pinned torch, the found ComfyUI's requirements and the test tools.
# Usage: scripts/setup_venv.sh [python]   (make test / make demo call it)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
VENV=.venv
comfy=$("$PY" -c 'from scripts.comfy_locate import find_comfyui; print(find_comfyui() or "")')
if [ -z "$comfy" ] && [ -z "${CI:-}" ] && [ -z "${COMFYUI_PATH:-}" ]; then
  echo "No ComfyUI found: trying to clone it into ~/comfy/ComfyUI (needs internet)..."
  if timeout 300 git clone -q --depth 1 https://github.com/comfyanonymous/ComfyUI "$HOME/comfy/ComfyUI"; then
    comfy=$HOME/comfy/ComfyUI
  else
    echo "!!! Could not clone ComfyUI; the ComfyUI test tiers will be skipped. Set COMFYUI_PATH to use one."
  fi
fi
stamp="$VENV/.installed"
want="torch==2.14.1 comfy=$comfy $(cat requirements.txt requirements-dev.txt "${comfy:-/dev/null}/requirements.txt" 2>/dev/null | md5sum)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1
if [ -n "$comfy" ]; then
  # ComfyUI's requirements minus the torch family (pinned above; torchaudio is optional)
  grep -viE '^\s*(torch|torchvision|torchaudio)\s*([<>=~!;].*)?$' "$comfy/requirements.txt" > "$VENV/comfyui-requirements.txt"
  "$VENV/bin/python" -m pip install -q -r "$VENV/comfyui-requirements.txt"
fi
# the pack's own requirements (what ComfyUI lacks, e.g. OpenCV for the metrics nodes), then the test tools
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q -r requirements-dev.txt
echo "$want" > "$stamp"
