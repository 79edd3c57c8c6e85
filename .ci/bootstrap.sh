#!/usr/bin/env bash
# Sourced by .ci/demo and .ci/test: system packages, the project virtualenv, the project install.
# Idempotent and quiet when everything is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${POSE_STUDIO_VENV:-$ROOT/.venv}"

need_apt=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
# mediapipe's native library needs EGL/GLES; opencv-contrib (pulled by mediapipe) needs libGL/glib.
have_lib libEGL.so.1 || need_apt+=(libegl1)
have_lib libGLESv2.so.2 || need_apt+=(libgles2)
have_lib libGL.so.1 || need_apt+=(libgl1)
have_lib libglib-2.0.so.0 || need_apt+=(libglib2.0-0)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
for extra in ${POSE_STUDIO_APT_EXTRA:-}; do need_apt+=("$extra"); done

apt_install() {
  [ $# -gt 0 ] || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "==> installing system packages: $*"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
apt_install "${need_apt[@]}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.pose-studio-installed-$POSE_STUDIO_EXTRAS"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "==> installing pose-studio[$POSE_STUDIO_EXTRAS] into $VENV (first run takes a few minutes)"
  "$PY" -m pip install -q --upgrade pip >/dev/null
  if [[ "$POSE_STUDIO_EXTRAS" == *gpu* ]]; then
    # The CPU build that exists offline on these machines; a plain `torch` would pull several GB of CUDA wheels.
    "$PY" -m pip install -q "torch==2.13.0"
  fi
  spec="$ROOT"
  [ "$POSE_STUDIO_EXTRAS" = base ] || spec="$ROOT[$POSE_STUDIO_EXTRAS]"
  "$PY" -m pip install -q -e "$spec"
  # mediapipe depends on opencv-contrib-python; both own cv2/ and the last install wins: make it the headless one.
  "$PY" -m pip install -q --force-reinstall --no-deps "opencv-python-headless>=4.9" >/dev/null
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
