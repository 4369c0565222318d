#!/usr/bin/env python3
"""bench/dib-tree-diff.py: what a set of elements did to an image, by two builders.

    dib-tree-diff.py DIB_BASE.tar DIB_SET.tar SOLUM_BASE.tar SOLUM_SET.tar

Each builder's set image is compared with its own base image (the set's OS and `vm`
alone), so the builders' different bases cancel out, then the two are compared:

- packages: those the elements installed under DIB that solum-image's image lacks, and
  the other way round;
- files no package owns (what element scripts, static/, bin/ and init-scripts/ made) that
  one builder's elements made: missing from the other's image, or there with another
  type, mode, owner (by name, from each image's passwd and group) or link target;
- units one builder's elements enabled that the other's image does not enable;
- as information, files under /etc both changed, with other content.

Exits 1 if packages, files, modes, owners, links or units differ."""

import hashlib
import sys
import tarfile

# Paths every build changes whatever its elements: not the elements' effects.
NOISE = (
    "var/log/", "var/cache/", "var/lib/apt/", "var/lib/dpkg/", "var/lib/systemd/",
    "var/lib/ucf/", "var/lib/dhcp/", "var/lib/cloud/instance", "tmp/", "run/", "dev/",
    "boot/", "etc/ssh/ssh_host_", "etc/machine-id", "etc/ld.so.cache", "etc/dib-manifests/",
    "etc/alternatives/", "etc/ssl/certs/", "usr/share/", "usr/lib/python3/",
)


def names(text):
    """id -> name from a passwd or group file."""
    out = {}
    for line in text.splitlines():
        f = line.split(":")
        if len(f) > 2 and f[2].isdigit():
            out[int(f[2])] = f[0]
    return out


def load(path):
    tree, owned, packages, raw = {}, set(), set(), {}
    with tarfile.open(path) as t:
        for m in t:
            name = m.name.lstrip("./").rstrip("/")
            if not name or "__pycache__" in name or name.endswith(".pyc"):
                continue
            data = b""
            if m.isfile() and (name.startswith("etc/") or name.startswith("var/lib/dpkg/")):
                f = t.extractfile(m)
                data = f.read() if f else b""
            if name.startswith("var/lib/dpkg/info/") and name.endswith(".list"):
                for p in data.decode(errors="replace").splitlines():
                    p = p.strip("/")
                    owned.add(p)
                    # merged /usr: /bin/ip is at usr/bin/ip
                    if p.split("/", 1)[0] in ("bin", "sbin", "lib", "lib32", "lib64"):
                        owned.add("usr/" + p)
            if name == "var/lib/dpkg/status":
                for block in data.decode(errors="replace").split("\n\n"):
                    fields = dict(line.split(": ", 1) for line in block.splitlines()
                                  if ": " in line and not line.startswith(" "))
                    if fields.get("Status") == "install ok installed":
                        packages.add(fields.get("Package"))
            if name in ("etc/passwd", "etc/group"):
                raw[name] = names(data.decode(errors="replace"))
            kind = "f" if m.isfile() else "d" if m.isdir() else "l" if m.issym() else "o"
            digest = hashlib.sha256(data).hexdigest() if data else str(m.size)
            tree[name] = [kind, oct(m.mode & 0o7777), (m.uid, m.gid), m.linkname, digest]
    users, groups = raw.get("etc/passwd", {}), raw.get("etc/group", {})
    for e in tree.values():
        uid, gid = e[2]
        e[2] = f"{users.get(uid, uid)}:{groups.get(gid, gid)}"
    return {p: tuple(e) for p, e in tree.items()}, owned, packages


def units(tree):
    return {p.rsplit("/", 1)[1] for p, e in tree.items()
            if e[0] == "l" and p.startswith("etc/systemd/system/")
            and p.rsplit("/", 1)[0].endswith(".wants")}


def report(label, items, limit=60):
    items = sorted(items)
    if items:
        print(f"{label} ({len(items)}):")
        for i in items[:limit]:
            print(f"  {i}")
        if len(items) > limit:
            print(f"  ... {len(items) - limit} more")
    return len(items)


def main():
    (db, _, dbp), (ds, dso, dsp), (sb, _, sbp), (ss, sso, ssp) = map(load, sys.argv[1:5])
    failures = 0
    print(f"packages the elements installed: DIB {len(dsp - dbp)}, solum-image {len(ssp - sbp)}")
    failures += report("  installed under DIB, missing from solum-image's image", (dsp - dbp) - ssp)
    failures += report("  installed by solum-image, missing from DIB's image", (ssp - sbp) - dsp)

    def made(base, after):
        return {p for p, e in after.items()
                if base.get(p) != e and p not in dso and p not in sso
                and not p.startswith(NOISE) and "/.git/" not in p}

    attrs = ("type", "mode", "owner", "link")

    def compare(p, mine, theirs):
        d, s = mine[p], theirs[p]
        return [f"{a} {d[i]} vs {s[i]}" for i, a in enumerate(attrs)
                if d[i] != s[i] and not (a == "mode" and d[0] == "l")]

    dib, solum = made(db, ds), made(sb, ss)
    print(f"files no package owns, made or changed by the elements: DIB {len(dib)}, "
          f"solum-image {len(solum)}")
    failures += report("  made under DIB, missing from solum-image's image",
                       ("/" + p for p in dib if p not in ss))
    failures += report("  made by solum-image, missing from DIB's image",
                       ("/" + p for p in solum if p not in ds))
    differ = []
    for p in sorted((dib | solum) & set(ds) & set(ss)):
        diffs = compare(p, ds, ss)
        if diffs:
            differ.append(f"/{p}: " + ", ".join(diffs) + " (DIB vs solum-image)")
    failures += report("  in both images, with another type, mode, owner or link", differ)
    content = ["/" + p for p in dib & solum if p.startswith("etc/") and ds[p][0] == "f"
               and ds[p][4] != ss[p][4]]
    report("  (information) under /etc, made by both with other content", content, 40)
    du, su = units(ds) - units(db), units(ss) - units(sb)
    print(f"units the elements enabled: DIB {len(du)}, solum-image {len(su)}")
    failures += report("  enabled under DIB, not in solum-image's image", du - units(ss))
    failures += report("  enabled by solum-image, not in DIB's image", su - units(ds))
    print("RESULT: " + ("same" if failures == 0 else f"{failures} differences"))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
