#!/usr/bin/env bash
# Prepares the build of libvirt's own qemuxml2xmltest and qemuxml2argvtest: Debian's FULL source
# package of the installed libvirt, patches applied (dpkg-source -x), configured with meson for
# only the QEMU driver (and the daemon/remote driver it requires) and the tests. virtfuzz/upstream.py
# then inserts the export and runs ninja for the two programs and their mock libraries (incremental).
# Cached in $VIRTFUZZ_DATA_DIR/upstream/<upstream version>/{src,build}: redone only when missing.
# The source is fetched with a private apt configuration whose deb-src line uses the system's own
# Debian mirror URI, read at run time; /etc/apt is untouched. Prints the build directory.
# Another version (virtfuzz/upstream.py --libvirt 11.3.0): VIRTFUZZ_LIBVIRT_DEB_VERSION names the
# Debian version and VIRTFUZZ_UPSTREAM_SUITE its suite (trixie), still built on this host.
set -euo pipefail
data=${VIRTFUZZ_DATA_DIR:-/var/cache/virtfuzz}
ver=${VIRTFUZZ_LIBVIRT_DEB_VERSION:-$(dpkg-query -W -f='${Version}' libvirt0)}
suite=${VIRTFUZZ_UPSTREAM_SUITE:-bookworm}
upstream=${ver%%-*}
top="$data/upstream/$upstream"
log() { echo "upstream-build: $*" >&2; }

# What meson needs for this configuration (a minimal subset of `apt-get build-dep libvirt`).
deps=(meson ninja-build gcc pkg-config dpkg-dev libglib2.0-dev libyajl-dev libxml2-dev libxml2-utils
      xsltproc python3-docutils libtirpc-dev libgnutls28-dev perl)
# libvirt 10+ parses JSON with json-c (not yajl); 11.3.0's util/virnetdevbridge.c does not build
# without libnl (RTM_* undeclared): Debian always builds with it
case "$upstream" in [0-9].*) ;; *) deps+=(libjson-c-dev libnl-3-dev libnl-route-3-dev) ;; esac
missing=()
for p in "${deps[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
fi

if [ ! -f "$top/src/.complete" ] || [ "$(cat "$top/src/.complete")" != "$ver" ]; then
  mkdir -p "$top/apt/lists/partial" "$top/apt/cache/archives/partial" "$top/dl"
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  if [ -z "$uri" ]; then
    uri=$(awk '$1=="deb" && $0 ~ /debian/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$uri" ] || { log "no Debian mirror URI found in the system apt configuration"; exit 2; }
  echo "deb-src $uri $suite main" > "$top/apt/sources.list"
  aptopts=(-o Dir::Etc::SourceList="$top/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$top/apt/lists" -o Dir::Cache="$top/apt/cache" -o APT::Sandbox::User=root -qq)
  dsc="$top/dl/libvirt_$ver.dsc"
  orig="$top/dl/libvirt_$upstream.orig.tar.xz"
  debian="$top/dl/libvirt_$ver.debian.tar.xz"
  if [ ! -f "$dsc" ] && { [ ! -f "$orig" ] || [ ! -f "$debian" ]; }; then
    log "fetching the libvirt $ver source package ($suite)"
    apt-get "${aptopts[@]}" update >&2
    # the mirror may lack the .dsc (and the tarball's .asc) of a point release while it has the
    # tarballs: apt has checked each file it got against the signed Sources index
    (cd "$top/dl" && apt-get "${aptopts[@]}" source --download-only "libvirt=$ver" >&2) \
      || { [ -f "$orig" ] && [ -f "$debian" ]; } || exit 1
  fi
  rm -rf "$top/src" "$top/build"
  if [ -f "$dsc" ]; then
    log "unpacking with Debian's patches (dpkg-source -x)"
    # (the package's integrity is apt's checksums from the signed Sources index; dpkg-source's own
    # "no public key" warning is about the uploader's key, which needs debian-keyring)
    dpkg-source -q -x "$dsc" "$top/src" >&2
    rm -f "$top"/libvirt_*.orig.tar.*  # dpkg-source leaves a copy of the tarball beside the tree
  else
    log "unpacking the tarballs, Debian's patches applied in debian/patches/series order (no .dsc)"
    mkdir -p "$top/src"
    tar -C "$top/src" --strip-components=1 -xf "$orig"
    tar -C "$top/src" -xf "$debian"
    while read -r patch _; do
      case "$patch" in ''|'#'*) continue ;; esac
      patch -d "$top/src" -p1 -s --no-backup-if-mismatch < "$top/src/debian/patches/$patch" >&2
    done < "$top/src/debian/patches/series"
  fi
  echo "$ver" > "$top/src/.complete"
fi

if [ ! -f "$top/build/.complete" ]; then
  rm -rf "$top/build"
  log "configuring (meson: QEMU driver and tests only)"
  off=(libxl lxc ch esx hyperv openvz vbox vmware vz bhyve test network interface secrets)
  opts=(-Ddriver_qemu=enabled -Ddriver_remote=enabled -Ddriver_libvirtd=enabled -Ddocs=disabled
        -Dtests=enabled -Dnls=disabled -Dstorage_dir=disabled -Dstorage_fs=disabled)
  for d in "${off[@]}"; do
    grep -q "option('driver_$d'" "$top/src/meson_options.txt" && opts+=("-Ddriver_$d=disabled")
  done
  meson setup "$top/build" "$top/src" "${opts[@]}" >"$top/meson-setup.log" 2>&1 \
    || { tail -30 "$top/meson-setup.log" >&2; exit 1; }
  echo "$ver" > "$top/build/.complete"
fi
echo "$top"
