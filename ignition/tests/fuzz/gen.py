"""gen.py SEED N OUTDIR [mutate]: writes N random Ignition configs (OUTDIR/NNNN.ign) built from
tricky values (paths, URLs, data: URLs, hashes, modes, unit contents, devices); with a 4th
argument, also breaks 1-2 JSON nodes each (wrong types, nulls, unknown keys)."""
import json, random, hashlib, os, sys
random.seed(int(sys.argv[1]))
N = int(sys.argv[2])
OUT = sys.argv[3]
paths = ["/a", "/a/b", "a", "/a/", "//a", "/a/../b", "/", "", "/a/./b", "/a b", "/ä", "/etc/systemd/system/x.service", "/a/b/c", "/.", "/..", "/a//b", "/-", "/a\\b"]
urls = ["data:,x", "data:,hello", "data:;base64,aGVsbG8=", "data:", "data:,a b", "data:,%", "data:,%4", "data:,%41", "data:text/plain,x", "data:text/plain;base64,x", "data:;base64,aGVsbG8", "data:a/b;c=d,x", "data:a/b;c=,x", "data:a/b;=d,x", "data:;c=d;base64,aA==", "data:/b,x", "data:a/,x", "data:,~!*'()", "data:,#", "data:,[", "data:,\u00e9",
        "http://x", "https://x/y?z#w", "http://[::1]:80/", "http://x:/", "http://x:8a/", "http://u@x/", "http://%41/", "s3://b", "gs://b", "tftp://x", "arn:aws:s3:::b/k", "ftp://x", "x", "", ":", "h:", "http:", "http://", "http://x/%2", "HTTP://X", "a1+.-:b", "1a:b", "+a:b", "http://x y/", "http://x/\t", "oem:///x"]
hashes = ["sha512-" + hashlib.sha512(b"x").hexdigest(), "sha512-" + hashlib.sha512(b"hello").hexdigest(), "sha256-" + hashlib.sha256(b"x").hexdigest(), "sha512-", "sha512", "-", "sha512-" + "A" * 128, "SHA512-" + "a" * 128, "sha1-" + "a" * 40, "sha512-" + "a" * 127, "", "sha256-" + "Z" * 64]
modes = [None, 0, 420, 493, 4095, 4096, -1, 0o4755, 0o7777, 0o1777, 2**31, 2**40]
unitnames = ["a.service", "a.timer", "a", ".service", "a.Service", "a.conf", "a.service.d", "a@.service", "a.b.mount", "", "/a.service", "a/b.service", "a.snapshot", "a.slice", "a.scope"]
dropnames = ["a.conf", "a", ".conf", "a.CONF", "a.conf.x", "", "x/a.conf"]
contents = [None, "", "[Unit]", "[Unit]\nA=b", "[Install]\nWantedBy=x", "x", "[Unit]\nA", "[Unit]\n\n  A = b  \n", "#x\n[Unit]\n", "[Unit]x", "[Unit] \t\n", "[A]\nB=c\\\n", "[A]\nB=c\\", "[A]\n;x\\\n[Install]\nA=b", "\r\n[Install]\r\nA=b\r\n", "[A]\nB\rC=d", "[Install]\n=", "[Install]\n  =x", "[[x]]", "[]", "[a\nb]"]
compressions = [None, "", "gzip", "GZIP", "bz2"]
def pick(l): return random.choice(l)
def maybe(p=0.5): return random.random() < p
def resource():
    r = {}
    if maybe(0.8): r["source"] = pick(urls)
    if maybe(0.3): r["compression"] = pick(compressions)
    if maybe(0.3): r["verification"] = {"hash": pick(hashes)}
    if maybe(0.15): r["httpHeaders"] = [{"name": pick(["a", "", "A"]), "value": "v"} for _ in range(random.randint(1, 2))]
    return r
def owner():
    o = {}
    if maybe(0.3): o["id"] = pick([0, 1, -1])
    if maybe(0.3): o["name"] = pick(["", "root", "x"])
    return o
def node():
    n = {"path": pick(paths)}
    if maybe(0.2): n["overwrite"] = pick([True, False])
    if maybe(0.2): n["user"] = owner()
    if maybe(0.2): n["group"] = owner()
    return n
def cfg():
    v = pick(["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0"])
    c = {"ignition": {"version": v}}
    st = {}
    if maybe(0.8):
        fs = []
        for _ in range(random.randint(0, 3)):
            f = node()
            m = pick(modes)
            if m is not None: f["mode"] = m
            if maybe(0.7): f["contents"] = resource()
            if maybe(0.2): f["append"] = [resource()]
            fs.append(f)
        st["files"] = fs
    if maybe(0.4):
        st["directories"] = [dict(node(), **({"mode": pick(modes[1:])} if maybe() else {})) for _ in range(random.randint(0, 2))]
    if maybe(0.4):
        ls = []
        for _ in range(random.randint(0, 2)):
            l = node()
            if maybe(0.8): l["target"] = pick(paths + ["d", "../a", "a/b"])
            if maybe(0.4): l["hard"] = pick([True, False])
            ls.append(l)
        st["links"] = ls
    if maybe(0.3):
        st["filesystems"] = [{k: v for k, v in {"device": pick(paths + ["/dev/vda"]), "format": pick([None, "", "ext4", "xfs", "vfat", "swap", "none", "btrfs", "zfs", "EXT4"]),
            "label": pick([None, "", "x" * 11, "x" * 12, "x" * 13, "x" * 16, "x" * 17, "x" * 257, "l:b"]), "path": pick([None, "/var", "var", "/var/", ""]),
            "uuid": pick([None, "", "u"]), "wipeFilesystem": pick([None, True, False]), "options": pick([None, [], ["-a"]]), "mountOptions": pick([None, [], ["ro"]])}.items() if v is not None}
            for _ in range(random.randint(0, 2))]
    if maybe(0.3):
        guids = [None, "", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "0fc63daf-8483-4772-8e79-3d69d8477de4", "x", "0FC63DAF84834772-8E79-3D69D8477DE4", "0FC63DAF-8483-4772-8E79-3D69D8477DE", "{0FC63DAF-8483-4772-8E79-3D69D8477DE4}"]
        st["disks"] = [{"device": pick(paths + ["/dev/vda"]), "partitions": [{k: v for k, v in {"number": pick([None, 0, 1, 2, -1]), "label": pick([None, "", "root", "a:b", "x" * 36, "x" * 37, "é" * 36]),
            "sizeMiB": pick([None, 0, 10]), "startMiB": pick([None, 0, 1]), "typeGuid": pick(guids), "guid": pick(guids), "shouldExist": pick([None, True, False]),
            "wipePartitionEntry": pick([None, True]), "resize": pick([None, True])}.items() if v is not None} for _ in range(random.randint(0, 3))]} for _ in range(random.randint(0, 2))]
    if maybe(0.2):
        st["raid"] = [{k: v for k, v in {"name": pick(["md0", "", "md1"]), "level": pick([None, "", "raid0", "raid1", "linear", "raid5", "raid6", "raid10", "raid4", "0", "1", "5", "stripe", "mirror", "raid9", "RAID1", "raid01"]),
            "devices": [pick(paths + ["/dev/a"]) for _ in range(random.randint(0, 2))], "spares": pick([None, 0, 1, -1])}.items() if v is not None} for _ in range(random.randint(0, 2))]
    if maybe(0.2):
        st["luks"] = [{k: v for k, v in {"name": pick(["r", "", "s"]), "device": pick([None] + paths), "keyFile": pick([None, {}, resource()]),
            "clevis": pick([None, {}, {"tpm2": True}, {"tang": [{"url": pick(urls), **({"thumbprint": pick(["", "t"])} if maybe() else {})}]}, {"custom": {"pin": pick(["tpm2", "tang", "sss", "", "x"]), "config": pick(["{}", "", "x"]), "needsNetwork": True}}, {"threshold": pick([0, 1, 2, -1])}])}.items() if v is not None}
            for _ in range(random.randint(0, 2))]
    if st: c["storage"] = st
    if maybe(0.5):
        us = []
        for _ in range(random.randint(0, 2)):
            u = {"name": pick(unitnames)}
            if maybe(): u["contents"] = pick(contents[1:])
            if maybe(0.3): u["enabled"] = pick([True, False])
            if maybe(0.2): u["mask"] = True
            if maybe(0.3): u["dropins"] = [{"name": pick(dropnames), **({"contents": pick(contents[1:])} if maybe() else {})} for _ in range(random.randint(1, 2))]
            us.append(u)
        c["systemd"] = {"units": us}
    if maybe(0.2):
        c["kernelArguments"] = {"shouldExist": [pick(["a", "b", ""]) for _ in range(random.randint(0, 2))], "shouldNotExist": [pick(["a", "c"]) for _ in range(random.randint(0, 1))]}
    if maybe(0.2):
        c["passwd"] = {"users": [{"name": pick(["a", "b", ""]), **({"sshAuthorizedKeys": [pick(["k", "j"]) for _ in range(2)]} if maybe() else {})} for _ in range(random.randint(0, 2))]}
    if maybe(0.15):
        c["ignition"]["proxy"] = {"httpProxy": pick(urls), "noProxy": ["x"]}
    if maybe(0.1):
        c["ignition"]["config"] = {"merge": [resource() for _ in range(random.randint(0, 2))]}
    return c
def nodes(x, out):
    out.append(x)
    if isinstance(x, dict):
        for v in x.values(): nodes(v, out)
    elif isinstance(x, list):
        for v in x: nodes(v, out)
    return out
def mutate(c):
    conts = [n for n in nodes(c, []) if isinstance(n, (dict, list)) and n]
    if not conts: return c
    n = pick(conts)
    vals = [None, "", "x", 0, 1, -1, 1.5, True, False, [], {}, [None], ["x"], [{}], {"x": 1}, 420, "/a", 2**63]
    if isinstance(n, dict) and maybe(0.3):
        k = pick(list(n.keys()))
        n[pick([k.upper(), k.capitalize(), k.lower()])] = n.pop(k)
    elif isinstance(n, dict):
        k = pick(list(n.keys()) + ["unknownKey"])
        n[k] = pick(vals)
    else:
        n[random.randrange(len(n))] = pick(vals)
    return c
os.makedirs(OUT, exist_ok=True)
for i in range(N):
    with open(os.path.join(OUT, "%04d.ign" % i), "w") as fh:
        c = cfg()
        if len(sys.argv) > 4:
            for _ in range(random.randint(1, 2)): c = mutate(c)
            if c.get("ignition", {}) is None or not isinstance(c.get("ignition"), dict) or "version" not in c["ignition"] or not isinstance(c["ignition"]["version"], str):
                c["ignition"] = {"version": "3.3.0"}
        json.dump(c, fh)
