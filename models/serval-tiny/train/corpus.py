"""Builds serval-tiny's training and held-out corpora from source already on
the machine: the Go standard library, Python's standard library and the
TypeScript sources of rxjs (an npm package the project already fetches).

Whole packages are held out for evaluation: a Go package (directory), a Python
top-level module or package, or an rxjs directory goes to the held-out set when
a hash of its name falls in the held-out share. The same inputs give the same
split on every machine.

Output (under --out):
  train.jsonl, heldout.jsonl   one {"lang", "source", "path", "text"} per file
  heldout-go/src/...           the held-out Go packages as a GOROOT-like tree
                               (serval-bench --goroot takes it)
  heldout-python/...           the held-out Python modules (--python-dir)
  manifest.json                sources, licences, file and byte counts
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

HELDOUT_PERCENT = 8


def heldout(unit):
    h = int(hashlib.sha256(unit.encode()).hexdigest()[:8], 16)
    return h % 100 < HELDOUT_PERCENT


def read_text(path, limit):
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        return None  # generated tables and huge files teach little
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def go_files(goroot, with_tests):
    src = os.path.join(goroot, "src")
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        dirnames[:] = sorted(d for d in dirnames if d not in ("testdata", "vendor") and
                             not (rel_dir == "." and d == "cmd"))
        for name in sorted(filenames):
            if not name.endswith(".go"):
                continue
            if name.endswith("_test.go") and not with_tests:
                continue
            yield rel_dir, os.path.join(dirpath, name), os.path.join(rel_dir, name)


def python_files(pydir):
    for dirpath, dirnames, filenames in os.walk(pydir):
        rel_dir = os.path.relpath(dirpath, pydir)
        dirnames[:] = sorted(d for d in dirnames if "test" not in d and d not in (
            "site-packages", "dist-packages", "idlelib", "__pycache__", "config-3.11-x86_64-linux-gnu"))
        for name in sorted(filenames):
            if not name.endswith(".py") or "test" in name:
                continue
            rel = os.path.normpath(os.path.join(rel_dir, name))
            unit = rel.split(os.sep)[0]
            if unit.endswith(".py"):
                unit = unit[:-3]
            yield unit, os.path.join(dirpath, name), rel


def ts_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if name.endswith((".ts", ".js")) and not name.endswith(".d.ts"):
                yield rel_dir, os.path.join(dirpath, name), os.path.join(rel_dir, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--goroot", default=None)
    ap.add_argument("--python-dir", default="/usr/lib/python3.11")
    ap.add_argument("--rxjs-dir", default=None, help="rxjs package/src directory")
    ap.add_argument("--go-tests", action="store_true", help="include Go _test.go files")
    ap.add_argument("--max-file-bytes", type=int, default=100_000)
    args = ap.parse_args()

    goroot = args.goroot or subprocess.check_output(["go", "env", "GOROOT"], text=True).strip()
    go_version = open(os.path.join(goroot, "VERSION")).readline().strip()
    os.makedirs(args.out, exist_ok=True)
    for d in ("heldout-go", "heldout-python"):
        shutil.rmtree(os.path.join(args.out, d), ignore_errors=True)

    sources = [
        ("go", "Go standard library " + go_version, "BSD-3-Clause (" + os.path.join(goroot, "LICENSE") + ")",
         go_files(goroot, args.go_tests), "heldout-go/src"),
        ("python", "Python standard library " + sys.version.split()[0] + " (" + args.python_dir + ")",
         "PSF-2.0 (" + os.path.join(args.python_dir, "LICENSE.txt") + ")",
         python_files(args.python_dir), "heldout-python"),
    ]
    if args.rxjs_dir:
        sources.append(("typescript", "rxjs npm package sources (" + args.rxjs_dir + ")",
                        "Apache-2.0 (rxjs package LICENSE.txt)", ts_files(args.rxjs_dir), None))

    manifest = {"heldout_percent": HELDOUT_PERCENT, "sources": []}
    with open(os.path.join(args.out, "train.jsonl"), "w") as train, \
            open(os.path.join(args.out, "heldout.jsonl"), "w") as held:
        for lang, desc, licence, files, tree in sources:
            stats = {"lang": lang, "source": desc, "license": licence,
                     "train_files": 0, "train_bytes": 0, "heldout_files": 0, "heldout_bytes": 0,
                     "heldout_units": set()}
            for unit, path, rel in files:
                text = read_text(path, args.max_file_bytes)
                if not text or not text.strip():
                    continue
                rec = json.dumps({"lang": lang, "path": rel, "text": text})
                if heldout(lang + ":" + unit):
                    held.write(rec + "\n")
                    stats["heldout_files"] += 1
                    stats["heldout_bytes"] += len(text.encode())
                    stats["heldout_units"].add(unit)
                    if tree:
                        dst = os.path.join(args.out, tree, rel)
                        os.makedirs(os.path.dirname(dst), exist_ok=True)
                        shutil.copyfile(path, dst)
                else:
                    train.write(rec + "\n")
                    stats["train_files"] += 1
                    stats["train_bytes"] += len(text.encode())
            stats["heldout_units"] = sorted(stats["heldout_units"])
            manifest["sources"].append(stats)
            print(f"{lang}: train {stats['train_files']} files {stats['train_bytes']} bytes, "
                  f"held out {len(stats['heldout_units'])} units {stats['heldout_files']} files {stats['heldout_bytes']} bytes")
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
