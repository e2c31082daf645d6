#!/usr/bin/env bash
# Build PostgreSQL MAJOR (17 or 18) from Debian's source package into a
# private prefix, for testing music_tm on versions Debian 12 does not ship.
#
#   tools/pg-build.sh 17        # prints the prefix's pg_config path
#
# Debian 12 has no binary packages of 17 or 18, but trixie (17) and sid (18)
# have their source packages on the mirror the machine already uses.  The
# script keeps an apt state of its own (sources list, indexes, cache) under
# the cache directory, so the system's apt configuration and its PostgreSQL
# are never touched; the upstream tarball inside the source package is built
# with PostgreSQL's own configure into $MUSIC_TM_PG_CACHE/pg-MAJOR (default
# /var/cache/music_tm), outside the clone.  A finished build leaves a stamp
# file naming the configure options; a prefix whose stamp names the current
# options is reused as it is, any other is rebuilt.
#
# Only what the suites need is built: the server and its programs (psql,
# pg_dump, pgbench, pg_amcheck, ...), contrib's amcheck and none of the rest
# of contrib, the isolation tester, and the Perl TAP modules.
set -euo pipefail

major=${1:?usage: $0 MAJOR (17 or 18)}
case $major in
    17) suite=trixie ;;
    18) suite=sid ;;
    *) echo "$0: unsupported major version $major" >&2; exit 2 ;;
esac

cache=${MUSIC_TM_PG_CACHE:-/var/cache/music_tm}
prefix=$cache/pg-$major
stamp=$prefix/.music_tm-complete
# Debian's own builds have lz4 (music_tm compresses raw_json with it) and
# libxml (the tests parse run_svg's output with xmlparse); ICU and readline
# are left out: nothing here needs them.
options=(--prefix="$prefix" --enable-tap-tests --enable-debug
         --with-lz4 --with-libxml --without-icu --without-readline)
# the stamp records the options: a build made with others is not reused
complete() {
    [ -x "$prefix/bin/pg_config" ] && [ "$(head -1 "$stamp" 2>/dev/null)" = "${options[*]}" ]
}
if complete; then
    echo "$prefix/bin/pg_config"
    exit 0
fi

log() { echo "pg-build $major: $*" >&2; }

# One build per version at a time; a second caller waits, then finds the
# stamp.
mkdir -p "$cache"
exec 9>"$cache/pg-$major.lock"
flock 9
if complete; then
    echo "$prefix/bin/pg_config"
    exit 0
fi
# nice: the machine's two cores are shared
jobs=${MUSIC_TM_PG_JOBS:-2}
run_nice() { nice -n 10 "$@"; }

# Build dependencies (bison and flex: since 17 the tarball has no generated
# parsers; perl and IPC::Run for the TAP modules; zlib for pg_dump -Fc; lz4
# and libxml2, see configure below).
need=()
for p in gcc make perl bison flex libipc-run-perl zlib1g-dev liblz4-dev libxml2-dev pkg-config dpkg-dev curl ca-certificates; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # MUSIC_TM_APT_LOCK: a lock file to hold around apt-get and dpkg
    ${MUSIC_TM_APT_LOCK:+flock "$MUSIC_TM_APT_LOCK"} apt-get update -q >/dev/null
    ${MUSIC_TM_APT_LOCK:+flock "$MUSIC_TM_APT_LOCK"} apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# A private apt state: deb-src lines for trixie and sid with the URI of the
# machine's own Debian mirror.
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
uri=$(grep -rhoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
      | grep -v -- -security | awk 'NR == 1 {print $2}' || true)
uri=${uri:-http://deb.debian.org/debian}
uri=${uri%/}
cat > "$apt_dir/sources.list" <<EOF
deb-src $uri trixie main
deb-src $uri sid main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "Dir::Cache::Archives=$apt_dir/archives" -o APT::Get::Only-Source=true
          -o Debug::NoLocking=true)
if [ -z "$(find "$apt_dir/lists" -name '*_Sources*' -mmin -1440 2>/dev/null | head -1)" ]; then
    log "apt-get update ($uri trixie, sid: deb-src)"
    apt-get "${apt_opts[@]}" update -q >&2
fi

src=$cache/src-$major
mkdir -p "$src"
cd "$src"
pkg=postgresql-$major
orig() { ls "$src"/${pkg}_*.orig.tar.* 2>/dev/null | head -1; }
if [ -z "$(orig)" ]; then
    log "apt-get source $pkg/$suite"
    if ! apt-get "${apt_opts[@]}" source --download-only "$pkg/$suite" >&2; then
        # The index can name an upload whose files the mirror no longer has;
        # the pool directory keeps earlier uploads (it has no listing): try
        # the previous few minor releases with the same Debian revision.
        listed=$(apt-cache "${apt_opts[@]}" showsrc "$pkg" 2>/dev/null | awk '/^Version:/{print $2; exit}')
        upstream=${listed%%-*}; revision=${listed#*-}; minor=${upstream#*.}
        pool="$uri/pool/main/p/$pkg"
        log "the listed upload $listed is missing; trying earlier ones in $pool"
        for ((m = minor - 1; m >= 0 && m >= minor - 4; m--)); do
            version=$major.$m-$revision
            dsc=${pkg}_$version.dsc
            rm -f "$src/${pkg}_"*
            curl -fsSL -o "$dsc" "$pool/${dsc//+/%2b}" 2>/dev/null || continue
            ok=1
            for f in $(awk '/^Files:/{f=1;next} /^[^ ]/{f=0} f{print $3}' "$dsc"); do
                curl -fsSL -o "$f" "$pool/${f//+/%2b}" || { ok=0; break; }
            done
            [ $ok = 1 ] && { log "downloaded $pkg $version"; break; }
        done
    fi
    [ -n "$(orig)" ] || { log "no source package of $pkg could be downloaded"; exit 1; }
fi

# Check the downloaded files against the .dsc's checksums.
dsc=$(ls "$src"/${pkg}_*.dsc | head -1)
awk '/^Checksums-Sha256:/{f=1;next} /^[^ ]/{f=0} f{print $1"  "$3}' "$dsc" | sha256sum -c --quiet - >&2

# The upstream tarball as it is (Debian's patches adapt paths to its own
# packaging, which a private prefix does not want).  An interrupted build
# resumes where it stopped: the tree stays until the install is complete.
build=$cache/build-$major
rm -rf "$prefix"
if [ ! -f "$build/.unpacked" ]; then
    rm -rf "$build"
    mkdir -p "$build"
    log "unpacking $(basename "$(orig)")"
    tar -xf "$(orig)" -C "$build" --strip-components=1
    touch "$build/.unpacked"
fi
cd "$build"
if [ ! -f config.status ] || [ "$(cat .music_tm-configure 2>/dev/null)" != "${options[*]}" ]; then
    log "configure (log: $build/configure.log)"
    rm -f .music_tm-configure
    run_nice ./configure "${options[@]}" >configure.log 2>&1 \
        || { tail -30 configure.log >&2; rm -f config.status; exit 1; }
    echo "${options[*]}" > .music_tm-configure
    # objects of an earlier configuration must not survive
    run_nice make -s clean >/dev/null 2>&1 || true
fi
started=$(date +%s)
log "make (log: $build/make.log)"
run_nice make -j"$jobs" -s >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
{
    run_nice make -s install
    run_nice make -s -C contrib/amcheck install
    run_nice make -j"$jobs" -s -C src/test/isolation install
    run_nice make -s -C src/test/perl install
} >install.log 2>&1 || { tail -30 install.log >&2; exit 1; }
{ echo "${options[*]}"; basename "$(orig)"; date -u +%FT%TZ; } > "$stamp"
log "installed in $prefix ($(( $(date +%s) - started )) s to build and install)"
cd "$cache" && rm -rf "$build"
echo "$prefix/bin/pg_config"
