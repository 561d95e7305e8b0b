#!/usr/bin/env bash
# Puts the Java runtimes that the jvm/hsmem tests also read (besides the
# java on PATH) under /opt/jdkN: OpenJDK 8, 11, 21 and 25 as Debian builds
# them, taken from other Debian suites than the machine's. Nothing is
# installed into the system: apt-get downloads the packages with a private
# list of sources (it checks the suites' signatures and each file's SHA256),
# and dpkg -x unpacks them into /opt/jdkN/root.
#
# A runtime built against a newer glibc than the machine's gets that suite's
# libc6 unpacked beside it: its java's ELF interpreter is pointed at the
# private loader (/opt/jdkN/ld.so) and /opt/jdkN/bin/java is a wrapper that
# sets LD_LIBRARY_PATH. Otherwise /opt/jdkN/bin/java is a link to the real one.
#
# Idempotent: a /opt/jdkN whose java runs and says it is N is left alone.
# Fails soft: without the network (or when a suite no longer has a package)
# it says so loudly and exits 0; the tests then run on the JDKs present.
#
# Usage: scripts/fetch-test-jdks.sh [N...]   (default: 8 11 21 25)
# Environment: DEST (default /opt), MIRROR (default: the machine's Debian
# archive, as apt is set up).
set -uo pipefail

DEST=${DEST:-/opt}
# major:suite:package: a released suite that has the version (8 is only in
# sid), the oldest where two do.
CATALOG="8:sid:openjdk-8-jre-headless 11:bullseye:openjdk-11-jre-headless 21:trixie:openjdk-21-jre-headless 25:trixie:openjdk-25-jre-headless"
GLIBC_SUITE=trixie
WANT=${*:-8 11 21 25}

say() { echo "fetch-test-jdks: $*"; }
loud() {
	echo "fetch-test-jdks: ************************************************************" >&2
	echo "fetch-test-jdks: $*" >&2
	echo "fetch-test-jdks: ************************************************************" >&2
}

# major prints the feature release a java launcher says it is ("1.8.0_x" is 8).
major() {
	"$1" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9.]*\).*/\1/p' | head -1 |
		awk -F. '{ print ($1 == 1 ? $2 : $1) }'
}

installed() { [ -x "$DEST/jdk$1/bin/java" ] && [ "$(major "$DEST/jdk$1/bin/java")" = "$1" ]; }

todo=()
for n in $WANT; do
	if ! echo " $CATALOG" | grep -q " $n:"; then
		loud "JDK $n: not one of those this script knows ($CATALOG)"
	elif installed "$n"; then
		say "JDK $n: already in $DEST/jdk$n ($("$DEST/jdk$n/bin/java" -version 2>&1 | head -1))"
	else
		todo+=("$n")
	fi
done
[ ${#todo[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
	loud "no apt-get/dpkg: JDKs ${todo[*]} NOT installed; the hsmem tests run only on the JDKs present"
	exit 0
fi
if [ "$(dpkg --print-architecture)" != amd64 ]; then
	loud "only amd64 is handled (this is $(dpkg --print-architecture)): JDKs ${todo[*]} NOT installed"
	exit 0
fi

# The machine's own Debian archive, where apt takes its release from.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
MIRROR=${MIRROR:-$(apt-get indextargets --no-release-info --format '$(REPO_URI)' 'Identifier: Packages' "Release: $codename" 2>/dev/null | head -1)}
MIRROR=${MIRROR%/}
if [ -z "$MIRROR" ]; then
	loud "no Debian archive in apt's sources (set MIRROR): JDKs ${todo[*]} NOT installed"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/debs"
: >"$work/status"
suites=$(for n in "${todo[@]}"; do
	for e in $CATALOG; do [ "${e%%:*}" = "$n" ] && echo "$e" | cut -d: -f2; done
done; echo "$GLIBC_SUITE")
for s in $(echo "$suites" | sort -u); do
	echo "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $s main"
done >"$work/sources.list"
apt=(apt-get -q -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts="$work/parts"
	-o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::status="$work/status"
	-o Debug::NoLocking=1 -o Acquire::Languages=none -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
	-o APT::Sandbox::User=root -o Acquire::Retries=3 -o Acquire::http::Timeout=30)

start=$(date +%s)
if ! "${apt[@]}" update >"$work/update.log" 2>&1 || grep -qE '^(E:|W: (Failed|GPG))' "$work/update.log"; then
	cat "$work/update.log" >&2
	loud "could not read the package lists ($MIRROR: $(echo "$suites" | sort -u | xargs)): JDKs ${todo[*]} NOT installed"
	exit 0
fi

# Every package in one call (apt reads its lists once per call), and one
# by one when that fails: a suite may have dropped one of them. libc6 comes
# along (3 MB) in case a runtime needs it.
wanted=("libc6/$GLIBC_SUITE")
for n in "${todo[@]}"; do
	for e in $CATALOG; do [ "${e%%:*}" = "$n" ] && wanted+=("$(echo "$e" | cut -d: -f3)/$(echo "$e" | cut -d: -f2)"); done
done
if ! (cd "$work/debs" && "${apt[@]}" download "${wanted[@]}" >/dev/null 2>"$work/dl.log"); then
	for w in "${wanted[@]}"; do
		(cd "$work/debs" && "${apt[@]}" download "$w" >/dev/null 2>>"$work/dl.log")
	done
fi
glibc_deb=$(ls "$work"/debs/libc6_*.deb 2>/dev/null)

# point_interp rewrites the ELF interpreter path of $1 in place to $2 (no
# longer than the old one, /lib64/ld-linux-x86-64.so.2), padding with NULs.
point_interp() {
	local old=/lib64/ld-linux-x86-64.so.2 off
	[ ${#2} -le ${#old} ] || return 1
	off=$(grep -obUaF -m1 "$old" "$1" | head -1 | cut -d: -f1)
	[ -n "$off" ] && [ "$off" -lt 4096 ] || return 1
	{ printf '%s' "$2"; head -c $((${#old} - ${#2})) /dev/zero; } |
		dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}

failed=()
for n in "${todo[@]}"; do
	entry=""
	for e in $CATALOG; do [ "${e%%:*}" = "$n" ] && entry=$e; done
	suite=$(echo "$entry" | cut -d: -f2)
	pkg=$(echo "$entry" | cut -d: -f3)
	deb=$(ls "$work"/debs/"$pkg"_*.deb 2>/dev/null)
	if [ -z "$deb" ]; then
		grep "$pkg" "$work/dl.log" >&2
		loud "JDK $n: could not download $pkg from $suite"
		failed+=("$n")
		continue
	fi
	dir=$DEST/jdk$n
	rm -rf "$dir.new"
	mkdir -p "$dir.new/bin"
	dpkg -x "$deb" "$dir.new/root"
	real=$(find "$dir.new/root/usr/lib/jvm" -path '*/bin/java' -type f | head -1)
	# Debian's configuration files are links into /etc/java-N-openjdk:
	# make them point into the unpacked tree.
	find "$dir.new/root/usr" -type l -lname '/etc/*' | while read -r l; do
		t=$(readlink "$l")
		[ -e "$dir.new/root$t" ] && ln -sfn "$dir/root$t" "$l"
	done
	how="the machine's glibc"
	# The tree is built in $dir.new but must work from $dir: move it first.
	rm -rf "$dir.old"
	[ -e "$dir" ] && mv "$dir" "$dir.old"
	mv "$dir.new" "$dir"
	rm -rf "$dir.old"
	real=${real/"$dir.new"/$dir}
	if "$real" -version >/dev/null 2>&1; then
		ln -sfn "$real" "$dir/bin/java"
	elif [ -n "$glibc_deb" ]; then
		dpkg -x "$glibc_deb" "$dir/root"
		ln -sfn root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$dir/ld.so"
		if ! point_interp "$real" "$dir/ld.so"; then
			loud "JDK $n: could not point $real at $dir/ld.so (path too long?)"
		fi
		cat >"$dir/bin/java" <<EOF
#!/bin/sh
# $pkg from Debian $suite needs a newer glibc than this machine's: its
# own ($(basename "$glibc_deb")), unpacked in $dir/root.
LD_LIBRARY_PATH=$dir/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} exec $real "\$@"
EOF
		chmod 755 "$dir/bin/java"
		how="glibc from $(basename "$glibc_deb")"
	fi
	if installed "$n"; then
		say "JDK $n: $(basename "$deb") from $suite in $dir, with $how: $("$dir/bin/java" -version 2>&1 | head -1)"
	else
		"$dir/bin/java" -version >&2
		loud "JDK $n: $(basename "$deb") unpacked but its java does not run: removed"
		rm -rf "$dir"
		failed+=("$n")
	fi
done
say "done in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
	loud "JDKs NOT installed: ${failed[*]}; the hsmem tests run only on the JDKs present"
fi
exit 0
