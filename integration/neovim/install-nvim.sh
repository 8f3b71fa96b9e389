#!/usr/bin/env bash
# install-nvim.sh SUITE DEST
#
# Puts Debian SUITE's (trixie, sid) neovim into DEST without touching the
# system: the .debs (neovim plus every library it needs, resolved from that
# suite's own package lists) are fetched with `apt-get download` through a
# private apt state directory, unpacked with `dpkg -x`, and the nvim binary is
# patched with patchelf to use that suite's glibc and libraries. nvim 0.10+
# re-executes itself with --embed, so a loader wrapper would not be enough.
#
# Idempotent: DEST/bin/nvim is only (re)built when missing or broken.
# Exit status 3 means "cannot be had here" (no mirror access); callers skip.
set -euo pipefail

suite=${1:?usage: install-nvim.sh SUITE DEST}
dest=${2:?usage: install-nvim.sh SUITE DEST}
dest=$(mkdir -p "$dest" && cd "$dest" && pwd)

if [[ -x $dest/bin/nvim ]] && "$dest/bin/nvim" --headless -u NONE -i NONE --version >/dev/null 2>&1; then
	exit 0
fi

for tool in apt-get dpkg patchelf; do
	command -v "$tool" >/dev/null || { echo "install-nvim: $tool is needed" >&2; exit 1; }
done

# The mirror the host already uses, so this works wherever bookworm's apt does.
mirror=$(grep -hE '^[[:space:]]*(deb|URIs:)[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
	grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

work=$dest.work
rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs" "$work/root" "$work/sources.list.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$work/sources.list"
apt_opts=(
	-o "Dir::State::Lists=$work/lists"
	-o "Dir::Etc::SourceList=$work/sources.list"
	-o "Dir::Etc::SourceParts=$work/sources.list.d"
	-o "Dir::Cache::Archives=$work/archives"
	-o "Dir::Cache::pkgcache="
	-o "Dir::Cache::srcpkgcache="
	-o "Dir::State::status=/dev/null"
	-o "APT::Architecture=$(dpkg --print-architecture)"
	-o "Acquire::Retries=3"
	-o "Acquire::Languages=none"
	-o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
	-o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
	-o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
)

if ! apt-get "${apt_opts[@]}" update >"$work/update.log" 2>&1 || ! ls "$work"/lists/*_Packages* >/dev/null 2>&1; then
	echo "install-nvim: cannot read $suite's package lists from $mirror (see $work/update.log)" >&2
	exit 3
fi

# neovim and its Depends closure (Pre-Depends too), real packages only.
mapfile -t pkgs < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests \
	--no-conflicts --no-breaks --no-replaces --no-enhances neovim 2>/dev/null |
	grep -E '^[a-z0-9]' | grep -v '^<' | sort -u)
if [[ ${#pkgs[@]} -eq 0 ]]; then
	echo "install-nvim: $suite has no neovim package" >&2
	exit 3
fi
# Pieces nvim does not load and that would only pull the suite's whole base system.
skip='^(debconf|perl-base|dpkg|tar|coreutils|install-info|base-files|sensible-utils|init-system-helpers|libselinux1|libpcre2-8-0|zlib1g|libzstd1|liblzma5|libbz2-1.0|libmd0|libacl1|libattr1|libcrypt1|libgmp10|libssl3t64|libssl3|gcc-.*-base|xxd|vim-common)$'
download=()
for p in "${pkgs[@]}"; do
	[[ $p =~ $skip ]] || download+=("$p")
done
if ! (cd "$work/debs" && apt-get "${apt_opts[@]}" download "${download[@]}" >"$work/download.log" 2>&1); then
	echo "install-nvim: apt-get download failed for $suite (see $work/download.log)" >&2
	exit 3
fi
for deb in "$work"/debs/*.deb; do
	dpkg -x "$deb" "$work/root"
done

root=$work/root
nvim=$root/usr/bin/nvim
[[ -x $nvim ]] || { echo "install-nvim: $suite's neovim has no /usr/bin/nvim" >&2; exit 1; }
arch_dir=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
loader=$(ls "$root"/usr/lib/"$arch_dir"/ld-linux*.so.* "$root"/lib/"$arch_dir"/ld-linux*.so.* 2>/dev/null | head -n1 || true)
[[ -n $loader ]] || { echo "install-nvim: no dynamic loader in $suite's libc6" >&2; exit 1; }

# Relocate into DEST: bin/nvim, share/nvim/runtime, lib/ (all the suite's libraries).
rm -rf "$dest.new" && mkdir -p "$dest.new/bin" "$dest.new/lib"
cp -a "$root/usr/share" "$dest.new/share"
for d in "$root/usr/lib/$arch_dir" "$root/lib/$arch_dir"; do
	if [[ -d $d ]]; then cp -a "$d/." "$dest.new/lib/"; fi
done
cp "$nvim" "$dest.new/bin/nvim"
loader_name=$(basename "$loader")
patchelf --set-interpreter "$dest/lib/$loader_name" --set-rpath "$dest/lib" --force-rpath "$dest.new/bin/nvim"

# Make DEST complete in one step.
rm -rf "$dest.old"
[[ -e $dest ]] && mv "$dest" "$dest.old"
mv "$dest.new" "$dest"
rm -rf "$dest.old" "$work"
# nvim finds $VIM from its own path (../share/nvim); say it explicitly too.
if ! VIM=$dest/share/nvim "$dest/bin/nvim" --headless -u NONE -i NONE --version >/dev/null 2>&1; then
	echo "install-nvim: patched nvim from $suite does not start" >&2
	VIM=$dest/share/nvim "$dest/bin/nvim" --headless -u NONE -i NONE --version >&2 || true
	exit 1
fi
"$dest/bin/nvim" --version | head -n1
