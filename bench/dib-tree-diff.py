#!/usr/bin/env python3
"""bench/dib-tree-diff.py: what a set of elements changed in an image, by two builders.

    dib-tree-diff.py DIB_BASE.tar DIB_SET.tar SOLUM_BASE.tar SOLUM_SET.tar

Each builder's change is its set image against its own base image (`debian-minimal vm`
alone), so the builders' different bases (kernels, package versions) cancel out. The two
changes are then compared: paths only one builder made, and for paths both made, type,
mode and owner; the units enabled (links in /etc/systemd/system/*.wants); and, for files
under /etc, their content. Prints a report; exits 1 if an element's file, mode, owner or
unit differs."""

import hashlib
import sys
import tarfile

# Paths every build changes whatever its elements (logs, caches, apt lists, package
# database backups, compiled Python): not the elements' effects.
NOISE = (
    "var/log/", "var/cache/", "var/lib/apt/", "var/lib/dpkg/", "var/lib/systemd/",
    "var/lib/ucf/", "var/lib/dhcp/", "var/lib/cloud/instance", "tmp/", "run/",
    "usr/share/doc/", "usr/share/man/", "usr/share/locale/", "boot/", "lib/modules/",
    "usr/lib/modules/", "etc/ssh/ssh_host_", "etc/machine-id", "etc/ld.so.cache",
    "etc/dib-manifests/", "etc/alternatives/", "usr/lib/python3/dist-packages/",
)


def load(path):
    tree = {}
    with tarfile.open(path) as t:
        for m in t:
            name = m.name.lstrip("./").rstrip("/")
            if not name or "__pycache__" in name or name.endswith(".pyc"):
                continue
            digest = ""
            if m.isfile():
                f = t.extractfile(m)
                digest = hashlib.sha256(f.read()).hexdigest() if f else ""
            kind = "f" if m.isfile() else "d" if m.isdir() else "l" if m.issym() else "o"
            tree[name] = (kind, m.mode & 0o7777, m.uid, m.gid, m.linkname, digest)
    return tree


def change(base, after):
    return {p: e for p, e in after.items()
            if base.get(p) != e and not p.startswith(NOISE)}


def units(tree):
    return {p.rsplit("/", 1)[1] for p, e in tree.items()
            if e[0] == "l" and p.startswith("etc/systemd/system/")
            and p.rsplit("/", 1)[0].endswith(".wants")}


def main():
    dib_base, dib_set, solum_base, solum_set = map(load, sys.argv[1:5])
    dib, solum = change(dib_base, dib_set), change(solum_base, solum_set)
    failures = 0
    only_dib = sorted(set(dib) - set(solum))
    only_solum = sorted(set(solum) - set(dib))
    both = sorted(set(dib) & set(solum))
    print(f"changed by the elements: DIB {len(dib)} paths, solum-image {len(solum)}, "
          f"both {len(both)}")
    for label, paths in (("only DIB", only_dib), ("only solum-image", only_solum)):
        if paths:
            failures += len(paths)
            print(f"{label} ({len(paths)}):")
            for p in paths[:60]:
                print(f"  /{p}")
            if len(paths) > 60:
                print(f"  ... {len(paths) - 60} more")
    attrs = ("type", "mode", "uid", "gid", "link")
    differ = 0
    for p in both:
        d, s = dib[p], solum[p]
        diffs = [f"{a} {d[i]!r} vs {s[i]!r}" for i, a in enumerate(attrs)
                 if d[i] != s[i] and not (a == "mode" and d[0] == "l")]
        if diffs:
            differ += 1
            print(f"  /{p}: " + ", ".join(diffs))
    failures += differ
    print(f"same type, mode, owner and link: {len(both) - differ} of {len(both)}")
    content = [p for p in both if p.startswith("etc/") and dib[p][0] == "f"
               and dib[p][5] != solum[p][5]]
    if content:
        print(f"files under /etc both made, with other content ({len(content)}; "
              "package versions and paths differ, so this is information):")
        for p in content[:40]:
            print(f"  /{p}")
    du = units(dib_set) - units(dib_base)
    su = units(solum_set) - units(solum_base)
    print(f"units enabled by the elements: DIB {len(du)}, solum-image {len(su)}, "
          f"both {len(du & su)}")
    for label, us in (("only DIB", du - su), ("only solum-image", su - du)):
        if us:
            failures += len(us)
            print(f"  {label}: {' '.join(sorted(us))}")
    print("RESULT: " + ("same" if failures == 0 else f"{failures} differences"))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
