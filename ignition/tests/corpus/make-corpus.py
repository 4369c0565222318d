#!/usr/bin/env python3
"""Writes the corpus: valid/, invalid/ and stricter/ (*.ign). File name = rule--detail.
valid: both validators accept. invalid: both reject. stricter: only we reject (the embedded
contents do not match their hash or do not decompress; Ignition finds out at first boot)."""
import gzip, hashlib, json, os, shutil, base64

HERE = os.path.dirname(os.path.abspath(__file__))
H = "sha512-" + hashlib.sha512(b"hello").hexdigest()
H256 = "sha256-" + hashlib.sha256(b"hello").hexdigest()
GZ = base64.b64encode(gzip.compress(b"hello")).decode()

def cfg(version="3.3.0", **sections):
    c = {"ignition": {"version": version}}
    c.update(sections)
    return c

def files(*fs, **more):
    s = {"files": list(fs)}
    s.update(more)
    return {"storage": s}

def f(path="/etc/a", **kw):
    d = {"path": path}
    d.update(kw)
    return d

def units(*us):
    return {"systemd": {"units": list(us)}}

V, I, S = {}, {}, {}
# --- versions
for v in ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0"]:
    V["version--" + v] = cfg(v)
V["version--leading-zeros-as-go-semver"] = cfg("3.03.0")
V["version--empty-prerelease-as-go-semver"] = cfg("3.3.0-")
I["version--metadata"] = cfg("3.3.0+meta")
I["version--prerelease"] = cfg("3.3.0-rc.1")
I["version--four-parts"] = cfg("3.3.0.0")
I["version--v-prefix"] = cfg("v3.3.0")
I["version--3.5.0-unknown"] = cfg("3.5.0")
I["version--2.2.0-old"] = cfg("2.2.0")
I["version--not-semver"] = cfg("three")
I["version--missing"] = {"ignition": {}}
I["version--empty-object"] = {}
I["json--truncated"] = '{"ignition":{"version":"3.3.0"}'
I["json--empty"] = ""
I["json--array"] = "[]"
I["type--mode-string"] = cfg(**files(f(mode="420")))
I["type--mode-float"] = cfg(**files(f(mode=1.5)))
I["type--path-number"] = cfg(**files({"path": 5}))
# --- unknown keys and version-gated fields are warnings
V["unknown-key--top"] = dict(cfg(), foo=1)
V["unknown-key--file"] = cfg(**files(f(colour="red")))
V["gated--kernelArguments-in-3.2"] = cfg("3.2.0", kernelArguments={"shouldExist": ["a", "a"]})
V["gated--httpHeaders-in-3.0"] = cfg("3.0.0", **files(f(contents={"source": "data:,x", "httpHeaders": [{"name": ""}]})))
V["gated--luks-in-3.1"] = cfg("3.1.0", storage={"luks": [{"name": "x"}]})
V["gated--shouldExist-in-3.1"] = cfg("3.1.0", passwd={"users": [{"name": "a", "shouldExist": False}]})
V["gated--proxy-in-3.0"] = cfg("3.0.0", ignition={"version": "3.0.0", "proxy": {"httpProxy": "ftp://x"}})
V["nulls--read-as-unset"] = cfg(**files(f(mode=None, user=None)))
# --- paths
I["path--relative"] = cfg(**files(f("etc/a")))
I["path--dotdot"] = cfg(**files(f("/a/../b")))
I["path--trailing-slash"] = cfg(**files(f("/a/")))
I["path--double-slash"] = cfg(**files(f("//a")))
I["path--dot"] = cfg(**files(f("/a/./b")))
I["path--empty"] = cfg(**files(f("")))
I["path--missing"] = cfg(**files({}))
I["path--dir-relative"] = cfg(storage={"directories": [{"path": "d"}]})
I["path--link-relative"] = cfg(storage={"links": [{"path": "l", "target": "/t"}]})
V["path--root"] = cfg(**files(f("/")))
V["path--deep"] = cfg(**files(f("/usr/local/share/app/conf.d/10-x.conf")))
# --- modes
V["mode--0644"] = cfg(**files(f(mode=420)))
V["mode--07777-max"] = cfg("3.4.0", **files(f(mode=0o7777)))
V["mode--setuid-warns-before-3.4"] = cfg(**files(f(mode=0o4755)))
I["mode--too-big"] = cfg(**files(f(mode=0o10000)))
I["mode--negative"] = cfg(**files(f(mode=-1)))
I["mode--directory-too-big"] = cfg(storage={"directories": [{"path": "/d", "mode": 4096}]})
# --- owners
V["owner--id"] = cfg(**files(f(user={"id": 0}, group={"name": "root"})))
I["owner--user-id-and-name"] = cfg(**files(f(user={"id": 1, "name": "x"})))
I["owner--group-id-and-name"] = cfg(**files(f(group={"id": 1, "name": "x"})))
# --- duplicates, links vs files
I["dup--file-file"] = cfg(**files(f("/a"), f("/a")))
I["dup--file-link"] = cfg(**files(f("/a"), links=[{"path": "/a", "target": "/b"}]))
I["dup--dir-file"] = cfg(**files(f("/a"), directories=[{"path": "/a"}]))
I["dup--unit"] = cfg(**units({"name": "a.service"}, {"name": "a.service"}))
I["dup--dropin"] = cfg(**units({"name": "a.service", "dropins": [{"name": "x.conf"}, {"name": "x.conf"}]}))
I["dup--user"] = cfg(passwd={"users": [{"name": "a"}, {"name": "a"}]})
I["dup--group"] = cfg(passwd={"groups": [{"name": "a"}, {"name": "a"}]})
I["dup--ssh-key"] = cfg(passwd={"users": [{"name": "a", "sshAuthorizedKeys": ["k", "k"]}]})
I["dup--kernel-argument-across-lists"] = cfg(kernelArguments={"shouldExist": ["a"], "shouldNotExist": ["a"]})
I["dup--http-header"] = cfg(**files(f(contents={"source": "https://x", "httpHeaders": [{"name": "a"}, {"name": "a"}]})))
I["dup--merge-source"] = cfg(ignition={"version": "3.3.0", "config": {"merge": [{"source": "data:,a"}, {"source": "data:,a"}]}})
I["dup--filesystem-device"] = cfg(storage={"filesystems": [{"device": "/d", "format": "ext4"}, {"device": "/d", "format": "xfs"}]})
V["dup--append-allowed"] = cfg(**files(f(append=[{"source": "data:,a"}, {"source": "data:,a"}])))
V["dup--mount-options-allowed"] = cfg(storage={"filesystems": [{"device": "/d", "format": "ext4", "mountOptions": ["x", "x"]}]})
I["link--file-below-link"] = cfg(**files(f("/a/x"), links=[{"path": "/a", "target": "/b"}]))
I["link--dir-below-link"] = cfg(storage={"directories": [{"path": "/a/d"}], "links": [{"path": "/a", "target": "/b"}]})
I["link--link-below-link"] = cfg(storage={"links": [{"path": "/a", "target": "/b"}, {"path": "/a/c", "target": "/b"}]})
I["link--target-missing"] = cfg(storage={"links": [{"path": "/a"}]})
I["link--target-empty"] = cfg(storage={"links": [{"path": "/a", "target": ""}]})
I["link--hard-to-directory"] = cfg(storage={"links": [{"path": "/l", "target": "/d", "hard": True}], "directories": [{"path": "/d"}]})
I["link--hard-relative-to-directory"] = cfg(storage={"links": [{"path": "/l", "target": "../d", "hard": True}], "directories": [{"path": "/d"}]})
V["link--relative-symlink"] = cfg(storage={"links": [{"path": "/l", "target": "d"}]})
V["link--sibling-prefix-ok"] = cfg(**files(f("/ab"), links=[{"path": "/a", "target": "/b"}]))
# --- resources
V["hash--sha512"] = cfg(**files(f(contents={"source": "data:,hello", "verification": {"hash": H}})))
V["hash--sha256-3.1"] = cfg("3.1.0", **files(f(contents={"source": "data:,hello", "verification": {"hash": H256}})))
V["hash--gzip-hashes-decompressed"] = cfg(**files(f(contents={"source": "data:;base64," + GZ, "compression": "gzip", "verification": {"hash": H}})))
V["hash--remote-not-checked"] = cfg(**files(f(contents={"source": "https://example.com/x", "verification": {"hash": "sha512-" + "0" * 128}})))
I["hash--sha256-in-3.0"] = cfg("3.0.0", **files(f(contents={"source": "data:,hello", "verification": {"hash": H256}})))
I["hash--too-short"] = cfg(**files(f(contents={"source": "data:,hello", "verification": {"hash": "sha512-abc"}})))
I["hash--too-long"] = cfg(**files(f(contents={"source": "data:,hello", "verification": {"hash": H + "00"}})))
I["hash--no-dash"] = cfg(**files(f(contents={"source": "data:,hello", "verification": {"hash": "sha512abc"}})))
I["hash--md5"] = cfg(**files(f(contents={"source": "data:,hello", "verification": {"hash": "md5-abc"}})))
I["hash--without-source"] = cfg(**files(f(contents={"verification": {"hash": H}})))
S["hash--mismatch"] = cfg(**files(f(contents={"source": "data:,hellx", "verification": {"hash": H}})))
S["hash--not-hex"] = cfg(**files(f(contents={"source": "data:,hello", "verification": {"hash": "sha512-" + "g" * 128}})))
S["hash--gzip-mismatch"] = cfg(**files(f(contents={"source": "data:;base64," + GZ, "compression": "gzip", "verification": {"hash": "sha512-" + hashlib.sha512(gzip.compress(b"hello")).hexdigest()}})))
S["compression--not-gzip-data"] = cfg(**files(f(contents={"source": "data:,hello", "compression": "gzip"})))
I["compression--bz2"] = cfg(**files(f(contents={"source": "https://x/y", "compression": "bz2"})))
V["compression--empty"] = cfg(**files(f(contents={"source": "data:,a", "compression": ""})))
V["source--schemes"] = cfg(**files(*[f("/f%d" % i, contents={"source": s}) for i, s in enumerate(["http://x/y", "HTTPS://x/y", "tftp://x/y", "s3://b/o", "gs://b/o", "data:,x", "http://x/?a=%zz"])]))
V["source--empty"] = cfg(**files(f(contents={"source": ""})))
V["source--arn-3.4"] = cfg("3.4.0", **files(f(contents={"source": "arn:aws:s3:::bucket/obj"})))
I["source--arn-3.3"] = cfg(**files(f(contents={"source": "arn:aws:s3:::bucket/obj"})))
I["source--gs-3.0"] = cfg("3.0.0", **files(f(contents={"source": "gs://b/o"})))
I["source--ftp"] = cfg(**files(f(contents={"source": "ftp://x/y"})))
I["source--absolute-path"] = cfg(**files(f(contents={"source": "/etc/x"})))
I["source--digit-scheme"] = cfg(**files(f(contents={"source": "1http://x"})))
I["source--bad-escape"] = cfg(**files(f(contents={"source": "http://x/%zz"})))
I["source--bad-port"] = cfg(**files(f(contents={"source": "http://x:abc/"})))
V["dataurl--base64-with-type"] = cfg(**files(f(contents={"source": "data:text/plain;charset=utf-8;base64,aGVsbG8="})))
V["dataurl--percent"] = cfg(**files(f(contents={"source": "data:,%41%0A"})))
V["dataurl--empty-data"] = cfg(**files(f(contents={"source": "data:,"})))
I["dataurl--no-comma"] = cfg(**files(f(contents={"source": "data:"})))
I["dataurl--no-slash"] = cfg(**files(f(contents={"source": "data:hello"})))
I["dataurl--space"] = cfg(**files(f(contents={"source": "data:,a b"})))
I["dataurl--braces"] = cfg(**files(f(contents={"source": "data:,{}"})))
I["dataurl--bad-escape"] = cfg(**files(f(contents={"source": "data:,a%zz"})))
I["dataurl--base64-unpadded"] = cfg(**files(f(contents={"source": "data:;base64,aGVsbG8"})))
I["dataurl--base64-bad-char"] = cfg(**files(f(contents={"source": "data:;base64,!!!"})))
I["dataurl--unknown-param"] = cfg(**files(f(contents={"source": "data:text/plain;foo,a"})))
I["overwrite--without-source"] = cfg(**files(f(overwrite=True)))
V["overwrite--with-source"] = cfg(**files(f(overwrite=True, contents={"source": "data:,a"})))
I["headers--data-scheme"] = cfg(**files(f(contents={"source": "data:,x", "httpHeaders": [{"name": "a", "value": "b"}]})))
I["headers--empty-name"] = cfg(**files(f(contents={"source": "https://x", "httpHeaders": [{"name": ""}]})))
V["headers--https"] = cfg(**files(f(contents={"source": "https://x", "httpHeaders": [{"name": "Authorization", "value": "x"}]})))
I["merge--without-source"] = cfg(ignition={"version": "3.3.0", "config": {"merge": [{}]}})
I["replace--hash-without-source"] = cfg(ignition={"version": "3.3.0", "config": {"replace": {"verification": {"hash": "sha512-x"}}}})
I["tls--ca-without-source"] = cfg(ignition={"version": "3.3.0", "security": {"tls": {"certificateAuthorities": [{}]}}})
I["proxy--ftp"] = cfg(ignition={"version": "3.3.0", "proxy": {"httpProxy": "ftp://x"}})
V["proxy--http"] = cfg(ignition={"version": "3.3.0", "proxy": {"httpProxy": "http://p:3128", "noProxy": ["a"]}})
# --- systemd
for ext in ["service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "snapshot", "slice", "scope"]:
    V["unit--suffix-" + ext] = cfg(**units({"name": "a." + ext}))
I["unit--suffix-foo"] = cfg(**units({"name": "a.foo"}))
I["unit--no-suffix"] = cfg(**units({"name": "a"}))
I["unit--empty-name"] = cfg(**units({"name": ""}))
V["unit--enabled-without-install-warns"] = cfg(**units({"name": "a.service", "enabled": True, "contents": "[Unit]\nA=b\n"}))
V["unit--contents-and-dropin"] = cfg(**units({"name": "a.service", "enabled": True, "contents": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n", "dropins": [{"name": "10-x.conf", "contents": "[Service]\nEnvironment=A=1\n"}]}))
V["unit--garbage-before-section"] = cfg(**units({"name": "a.service", "contents": "garbage"}))
I["unit--unterminated-section"] = cfg(**units({"name": "a.service", "contents": "[Unit"}))
I["unit--garbage-after-section"] = cfg(**units({"name": "a.service", "contents": "[Unit]]\nA=b"}))
I["unit--option-without-equals"] = cfg(**units({"name": "a.service", "contents": "[Unit]\nA\nB=c"}))
I["unit--option-at-eof"] = cfg(**units({"name": "a.service", "contents": "[Unit]\ngarbage"}))
I["unit--line-too-long"] = cfg(**units({"name": "a.service", "contents": "[Unit]\nA=" + "x" * 3000}))
I["dropin--suffix-cfg"] = cfg(**units({"name": "a.service", "dropins": [{"name": "x.cfg"}]}))
I["dropin--bad-contents"] = cfg(**units({"name": "a.service", "dropins": [{"name": "x.conf", "contents": "[Unit"}]}))
V["unit--masked"] = cfg(**units({"name": "a.service", "mask": True}))
# --- passwd, kernel arguments
V["passwd--user-with-keys"] = cfg(passwd={"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA core"], "groups": ["wheel"], "passwordHash": "$6$x"}], "groups": [{"name": "app", "gid": 900}]})
V["passwd--empty-name"] = cfg(passwd={"users": [{"name": ""}]})
V["kargs--3.3"] = cfg(kernelArguments={"shouldExist": ["console=ttyS0"], "shouldNotExist": ["quiet"]})
I["kargs--dup"] = cfg(kernelArguments={"shouldExist": ["a", "a"]})
# --- devices
V["fs--ext4"] = cfg(storage={"filesystems": [{"device": "/dev/vdb", "format": "ext4", "path": "/var", "label": "var", "wipeFilesystem": True}]})
I["fs--device-empty"] = cfg(storage={"filesystems": [{"device": ""}]})
I["fs--device-relative"] = cfg(storage={"filesystems": [{"device": "dev/x", "format": "ext4"}]})
I["fs--format-unknown"] = cfg(storage={"filesystems": [{"device": "/dev/x", "format": "ext9"}]})
I["fs--label-without-format"] = cfg(storage={"filesystems": [{"device": "/dev/x", "label": "l"}]})
I["fs--ext4-label-too-long"] = cfg(storage={"filesystems": [{"device": "/dev/x", "format": "ext4", "label": "x" * 17}]})
I["fs--path-relative"] = cfg(storage={"filesystems": [{"device": "/dev/x", "format": "ext4", "path": "rel"}]})
V["disk--partitions"] = cfg(storage={"disks": [{"device": "/dev/vda", "wipeTable": False, "partitions": [{"number": 1, "label": "root", "sizeMiB": 0, "typeGuid": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}]}]})
I["disk--device-empty"] = cfg(storage={"disks": [{"device": ""}]})
I["disk--device-relative"] = cfg(storage={"disks": [{"device": "d"}]})
I["disk--dup"] = cfg(storage={"disks": [{"device": "/d"}, {"device": "/d"}]})
I["partition--numbers-collide"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1}, {"number": 1}]}]})
I["partition--label-twice"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"label": "a"}, {"label": "a"}]}]})
I["partition--label-too-long"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"label": "x" * 37}]}]})
I["partition--no-number-no-label"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{}]}]})
I["partition--bad-type-guid"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1, "typeGuid": "x"}]}]})
V["raid--raid1"] = cfg(storage={"raid": [{"name": "md0", "level": "raid1", "devices": ["/dev/a", "/dev/b"]}]})
I["raid--level-unknown"] = cfg(storage={"raid": [{"name": "r", "level": "raid9", "devices": ["/a"]}]})
I["raid--level-missing"] = cfg(storage={"raid": [{"name": "r", "devices": ["/a"]}]})
I["raid--spares-raid0"] = cfg(storage={"raid": [{"name": "r", "level": "raid0", "spares": 1, "devices": ["/a"]}]})
I["raid--device-relative"] = cfg(storage={"raid": [{"name": "r", "level": "raid1", "devices": ["a"]}]})
V["luks--3.2"] = cfg("3.2.0", storage={"luks": [{"name": "root", "device": "/dev/vdb", "clevis": {"tpm2": True}}]})
I["luks--device-missing"] = cfg(storage={"luks": [{"name": "x"}]})
I["luks--device-relative"] = cfg(storage={"luks": [{"name": "a", "device": "d"}]})
I["luks--dup"] = cfg(storage={"luks": [{"name": "a", "device": "/d"}, {"name": "a", "device": "/e"}]})
I["luks--tang-without-thumbprint"] = cfg(storage={"luks": [{"name": "a", "device": "/d", "clevis": {"tang": [{"url": "http://t"}]}}]})

# --- regressions found by differential fuzzing (tests/fuzz)
V["fuzz--link-without-target-3.2"] = cfg("3.2.0", storage={"links": [{"path": "/a", "hard": False}]})
V["fuzz--null-list-elements"] = cfg(passwd={"users": [None, {"name": "a", "sshAuthorizedKeys": [None]}]})
V["fuzz--gated-field-of-wrong-type"] = cfg("3.2.0", kernelArguments=True)
V["fuzz--fs-empty-path"] = cfg(storage={"filesystems": [{"device": "/d", "format": "ext4", "path": "", "label": ""}]})
V["fuzz--fs-none-3.3"] = cfg(storage={"filesystems": [{"device": "/d", "format": "none"}]})
V["fuzz--partition-empty-label"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"label": ""}]}]})
V["fuzz--dataurl-x-type"] = cfg(**files(f(contents={"source": "data:x-a/b;c=d,x"})))
V["fuzz--host-escape-25"] = cfg(**files(f(contents={"source": "http://x%25/"})))
I["fuzz--storage-array"] = cfg(storage=[])
I["fuzz--null-file"] = cfg(storage={"files": [None]})
I["fuzz--dataurl-unknown-type"] = cfg(**files(f(contents={"source": "data:a/b,x"})))
I["fuzz--dataurl-empty-param-name"] = cfg(**files(f(contents={"source": "data:text/plain;=d,x"})))
I["fuzz--host-space"] = cfg(ignition={"version": "3.3.0", "proxy": {"httpProxy": "http://x y/"}})
I["fuzz--host-escape"] = cfg(**files(f(contents={"source": "http://%41/"})))
I["fuzz--userinfo-space"] = cfg(**files(f(contents={"source": "http://u v@x/"})))
I["fuzz--proxy-empty"] = cfg(ignition={"version": "3.3.0", "proxy": {"httpsProxy": ""}})
I["fuzz--merge-empty-source"] = cfg(ignition={"version": "3.3.0", "config": {"merge": [{"source": ""}]}})
I["fuzz--no-proxy-dup"] = cfg(ignition={"version": "3.3.0", "proxy": {"noProxy": ["a", "a"]}})
I["fuzz--fs-none-3.2"] = cfg("3.2.0", storage={"filesystems": [{"device": "/d", "format": "none"}]})
I["fuzz--raid-no-devices"] = cfg(storage={"raid": [{"name": "r", "level": "raid1"}]})
I["fuzz--raid-device-dup"] = cfg(storage={"raid": [{"name": "r", "level": "raid1", "devices": ["/a", "/a"]}]})
I["fuzz--raid0-negative-spares"] = cfg(storage={"raid": [{"name": "r", "level": "0", "devices": ["/a"], "spares": -1}]})
I["fuzz--partition-overlap"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1, "startMiB": 1, "sizeMiB": 10}, {"number": 2, "startMiB": 5, "sizeMiB": 10}]}]})
I["fuzz--partition-label-twice-numbered"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1, "label": "a"}, {"number": 2, "label": "a"}]}]})
I["fuzz--partition-absent-with-size"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1, "shouldExist": False, "sizeMiB": 0}]}]})
I["fuzz--partition-absent-and-unnumbered"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1, "shouldExist": False}, {"label": "x"}]}]})
I["fuzz--clevis-custom-unknown-pin"] = cfg(storage={"luks": [{"name": "r", "device": "/d", "clevis": {"custom": {"pin": "x", "config": "{}"}}}]})
I["fuzz--clevis-custom-with-tpm2"] = cfg(storage={"luks": [{"name": "r", "device": "/d", "clevis": {"custom": {"pin": "tpm2", "config": "{}"}, "tpm2": True}}]})
I["fuzz--tang-dup"] = cfg(storage={"luks": [{"name": "r", "device": "/d", "clevis": {"tang": [{"url": "http://t", "thumbprint": "a"}, {"url": "http://t", "thumbprint": "b"}]}}]})
I["fuzz--luks-label-too-long"] = cfg(storage={"luks": [{"name": "r", "device": "/d", "label": "x" * 48}]})
V["fuzz--3.0-merge-needs-no-source"] = cfg("3.0.0", ignition={"version": "3.0.0", "config": {"merge": [{}], "replace": {"compression": "bz2"}}})
I["fuzz--3.0-ca-empty-source"] = cfg("3.0.0", ignition={"version": "3.0.0", "security": {"tls": {"certificateAuthorities": [{}]}}})
I["fuzz--partition-empty-label-twice"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1, "label": ""}, {"number": 2, "label": ""}]}]})
I["fuzz--partition-label-bytes"] = cfg(storage={"disks": [{"device": "/d", "partitions": [{"number": 1, "label": "\u00e9" * 19}]}]})
# --- Go encoding/json reading (see src/gojson.rs)
V["gojson--keys-any-case"] = '{"Ignition":{"VERSION":"3.3.0"},"Storage":{"files":[{"Path":"/a","MODE":420}]}}'
V["gojson--invalid-utf8"] = b'{"ignition":{"version":"3.3.0"},"passwd":{"users":[{"name":"\xff"}]}}'
V["gojson--lone-surrogate"] = '{"ignition":{"version":"3.3.0"},"passwd":{"users":[{"name":"\\ud800"}]}}'
V["gojson--minus-zero"] = '{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a","mode":-0}]}}'
I["gojson--keys-any-case-relative-path"] = '{"ignition":{"version":"3.3.0"},"STORAGE":{"Files":[{"PATH":"a"}]}}'
I["gojson--minus-zero-float"] = '{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a","mode":-0.0}]}}'
I["gojson--trailing-data"] = '{"ignition":{"version":"3.3.0"}} {}'
I["gojson--bom"] = b'\xef\xbb\xbf{"ignition":{"version":"3.3.0"}}'

for d, cases in [("valid", V), ("invalid", I), ("stricter", S)]:
    out = os.path.join(HERE, d)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, c in cases.items():
        if isinstance(c, bytes):
            data = c
        else:
            data = (c if isinstance(c, str) else json.dumps(c, indent=1) + "\n").encode()
        with open(os.path.join(out, name + ".ign"), "wb") as fh:
            fh.write(data)
print(len(V), "valid,", len(I), "invalid,", len(S), "stricter")
