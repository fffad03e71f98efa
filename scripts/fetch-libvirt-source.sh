#!/usr/bin/env bash
# Fetches Debian's libvirt source package at exactly the installed version and unpacks it.
# Why: the oracle cites and the tests replay libvirt's own test data (qemuxml2argvdata,
# qemucapabilitiesdata) and source at the version we run, not at some other upstream tag.
# Uses a private apt configuration with the system's own Debian mirror URI; /etc/apt is untouched.
set -euo pipefail
data=${VIRTFUZZ_DATA_DIR:-/var/cache/virtfuzz}
ver=$(dpkg-query -W -f='${Version}' libvirt0)
upstream=${ver%%-*}
dest="$data/libvirt-src/$ver"
if [ -f "$dest/.complete" ]; then
  exit 0
fi
mkdir -p "$data/apt/lists/partial" "$data/apt/cache/archives/partial" "$data/dl"
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$uri" ]; then
  uri=$(awk '$1=="deb" && $0 ~ /debian/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$uri" ] || { echo "fetch-libvirt-source: no Debian mirror URI found in the system apt configuration" >&2; exit 2; }
echo "deb-src $uri bookworm main" > "$data/apt/sources.list"
aptopts=(-o Dir::Etc::SourceList="$data/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
         -o Dir::State::Lists="$data/apt/lists" -o Dir::Cache="$data/apt/cache" -qq)
apt-get "${aptopts[@]}" update
(cd "$data/dl" && apt-get "${aptopts[@]}" source --download-only "libvirt=$ver")
tarball=$(ls "$data/dl"/libvirt_"$upstream".orig.tar.* | head -n1)
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
tar -xf "$tarball" -C "$dest.tmp" --strip-components=1 \
  --wildcards '*/src/qemu/*' '*/src/conf/*' '*/tests/qemucapabilitiesdata/*' \
  '*/tests/qemuxml2argvdata/*' '*/tests/qemuxml2xmloutdata/*' '*/tests/qemuxml2xmltest.c' \
  '*/tests/qemuxml2argvtest.c' '*/meson.build'
rm -rf "$dest" && mv "$dest.tmp" "$dest"
touch "$dest/.complete"
ln -sfn "$dest" "$data/libvirt-src/installed"
echo "libvirt source $ver unpacked in $dest"
