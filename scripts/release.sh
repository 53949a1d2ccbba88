#!/usr/bin/env bash
# Release binaries of otpgate: static (CGO_ENABLED=0, pure Go), reproducible
# (the same commit and toolchain give the same bytes, on any machine, in any
# directory), stamped with their version, commit and date, with SHA-256 sums.
#
#   scripts/release.sh [--out DIR] [--target OS/ARCH]... [VERSION]
#
# VERSION defaults to `git describe --tags --always --dirty` (v0.2.0, or
# v0.2.0-3-gabc1234 after the tag). Targets default to linux/amd64 and
# linux/arm64. The binaries go to DIR (default dist/, ignored by git) as
# otpgate-VERSION-OS-ARCH, beside SHA256SUMS (`sha256sum -c SHA256SUMS`).
#
# Reproducible: -trimpath drops the paths of this machine, -buildid= the
# build id, and the stamped date is the commit's time (SOURCE_DATE_EPOCH,
# https://reproducible-builds.org/specs/source-date-epoch/, when set), never
# the time of the build. Version control stamping is off (-buildvcs=false)
# so that only the values below say where the binary comes from.
#
# The default binaries need no C toolchain: a build tag that pulls cgo in is
# not used here.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
targets=()
version=""
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --target) targets+=("${2:?--target needs OS/ARCH}"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "release.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$version" ] || { echo "release.sh: one VERSION only" >&2; exit 2; }; version=$1; shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(linux/amd64 linux/arm64)

have_git=false
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    have_git=true
fi
if [ -z "$version" ]; then
    $have_git || { echo "release.sh: not in a git checkout: give the VERSION" >&2; exit 2; }
    version=$(git describe --tags --always --dirty)
fi
case "$version" in
*[!A-Za-z0-9.+_-]*|'') echo "release.sh: version $version: letters, digits and .+_- only" >&2; exit 2 ;;
esac
commit=unknown
if $have_git; then
    commit=$(git rev-parse HEAD)
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
        echo "release.sh: warning: the tree has uncommitted changes; the binaries are not those of $commit" >&2
    fi
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    $have_git || { echo "release.sh: not in a git checkout: set SOURCE_DATE_EPOCH" >&2; exit 2; }
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
fi
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

ldflags="-s -w -buildid= -X main.version=$version -X main.commit=$commit -X main.date=$date"
mkdir -p "$out"
files=()
for t in "${targets[@]}"; do
    os=${t%/*} arch=${t#*/}
    name="otpgate-$version-$os-$arch"
    echo "building $name ($commit, $date)" >&2
    CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS= \
        go build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$out/$name" ./cmd/otpgate
    files+=("$name")
done
(cd "$out" && sha256sum "${files[@]}" >SHA256SUMS)
echo "$out/SHA256SUMS:" >&2
cat "$out/SHA256SUMS"
