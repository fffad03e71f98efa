#!/usr/bin/env bash
# One-stop set-up on a fresh Debian 12 machine: Debian packages + libvirt source (as root), then the
# project venv with tox. Idempotent: re-running only does what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -eq 0 ]; then
  "$here/scripts/setup-host.sh"
else
  sudo "$here/scripts/setup-host.sh"
fi
py=${PYTHON:-python3}
if [ ! -x "$here/.venv/bin/python" ]; then
  "$py" -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
"$here/.venv/bin/pip" install -q --disable-pip-version-check tox -e "$here[test,lint]"
# libvirt probes each QEMU binary and fake-QEMU capability variant once, here, not inside a campaign
"$here/.venv/bin/virtfuzz" caps-warm
echo "virtfuzz set up: $("$here/.venv/bin/python" -c 'import libvirt; v=libvirt.getVersion(); print(f"libvirt {v//1000000}.{v//1000%1000}.{v%1000}")')"
