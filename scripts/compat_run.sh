#!/usr/bin/env bash
# Run ALL test tiers (unit, comfy, browser) against ComfyUI 0.3.64 without touching .venv's own packages.
#
# The 0.3.64 requirements that .venv (built for ComfyUI 0.8) does not satisfy -- in practice the pinned
# comfyui-frontend-package / comfyui-workflow-templates / comfyui-embedded-docs -- are installed with
# `pip install --target --no-deps` into the overlay folder .venv/compat-0.3.64, which is put first on
# PYTHONPATH (absolute, so the browser tier's ComfyUI server subprocess, started with cwd=<ComfyUI>, sees it too).
# The torch family is never installed here. A stamp file makes reruns skip the install.
#
# Usage: scripts/compat_run.sh [pytest options, e.g. -x -k NAME]   (make test-compat); always runs tests/
# Env:   COMFYUI_0364  the ComfyUI 0.3.64 checkout (default ~/comfy/ComfyUI-0.3.64)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VPY="$ROOT/.venv/bin/python"
COMPAT_VERSION=0.3.64
OVERLAY="$ROOT/.venv/compat-$COMPAT_VERSION"
COMFY=${COMFYUI_0364:-$HOME/comfy/ComfyUI-$COMPAT_VERSION}

die() { echo "compat_run.sh: ERROR: $*" >&2; exit 2; }

[ -x "$VPY" ] || die "$VPY not found; run 'make venv' first."
if [ ! -f "$COMFY/main.py" ] || [ ! -f "$COMFY/requirements.txt" ] || [ ! -d "$COMFY/comfy" ]; then
  die "ComfyUI $COMPAT_VERSION not found at '$COMFY' (no main.py / requirements.txt / comfy/).
  Export it there (e.g. git clone --depth 1 --branch v$COMPAT_VERSION https://github.com/comfyanonymous/ComfyUI \"$COMFY\")
  or set COMFYUI_0364=/path/to/ComfyUI-$COMPAT_VERSION."
fi
COMFY=$(cd "$COMFY" && pwd)
found=$(sed -n 's/^__version__ *= *["'\'']\([^"'\'']*\)["'\''].*/\1/p' "$COMFY/comfyui_version.py" 2>/dev/null || true)
if [ "$found" != "$COMPAT_VERSION" ]; then
  die "'$COMFY' is ComfyUI '${found:-unknown}' (comfyui_version.py), expected $COMPAT_VERSION. Set COMFYUI_0364."
fi

# Requirements of that ComfyUI which .venv does not satisfy (torch family excluded), as pip specs.
# Checked without the caller's PYTHONPATH, so .venv alone is judged (not an overlay already on the path).
need=$(env -u PYTHONPATH "$VPY" - "$COMFY/requirements.txt" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
from packaging.requirements import Requirement

SKIP = {"torch", "torchvision", "torchaudio"}
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    req = Requirement(line)
    if req.name.lower() in SKIP or (req.marker and not req.marker.evaluate()):
        continue
    try:
        have = version(req.name)
    except PackageNotFoundError:
        have = None
    if have is None or (req.specifier and not req.specifier.contains(have, prereleases=True)):
        print(f"{req.name}{req.specifier}")
EOF
)
want="python=$("$VPY" -c 'import sys; print(sys.version.split()[0])') comfy=$COMFY need=$(echo $need)"
stamp="$OVERLAY/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "compat overlay up to date: $OVERLAY"
else
  rm -rf "$OVERLAY"
  mkdir -p "$OVERLAY"
  if [ -n "$need" ]; then
    echo "installing into overlay $OVERLAY (--no-deps): $(echo $need)"
    # shellcheck disable=SC2086
    "$VPY" -m pip install -q --disable-pip-version-check --no-deps --target "$OVERLAY" $need
  else
    echo "nothing to install: .venv already satisfies $COMFY/requirements.txt"
  fi
  echo "$want" > "$stamp"
fi

export COMFYUI_PATH="$COMFY"
case ":${PYTHONPATH:-}:" in
  *":$OVERLAY:"*) ;;
  *) export PYTHONPATH="$OVERLAY${PYTHONPATH:+:$PYTHONPATH}" ;;
esac
echo "running tests against ComfyUI $COMPAT_VERSION at $COMFYUI_PATH (PYTHONPATH=$PYTHONPATH)"
exec "$VPY" -m pytest tests -rs "$@"
