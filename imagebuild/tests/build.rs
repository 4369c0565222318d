//! End-to-end tests of `solum-image build`: real mmdebstrap, real chroot,
//! real mounts, real Docker. They need root, mmdebstrap and the Debian
//! mirror (or a warm cache) and FAIL, never skip, when those are missing.
//!
//! One cold mmdebstrap of a minbase tree lands in a shared cache
//! (`$SOLUM_IMAGE_TEST_CACHE`, default /var/tmp/solum-image-test-cache)
//! that every test and later run reuses; each test forces its own final
//! tree with a nonce so its phases really run, then removes that tree.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_solum-image");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/elements")
}

fn cache_dir() -> PathBuf {
    std::env::var_os("SOLUM_IMAGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/solum-image-test-cache"))
}

/// Fail (not skip) when the machine cannot run these tests.
fn require_builder() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests need root (mounts, chroot); CI must run them as root"
    );
    let have = Command::new("sh")
        .args(["-c", "command -v mmdebstrap || command -v debootstrap"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(have, "mmdebstrap or debootstrap must be installed");
}

/// A unique per-test name and a private TMPDIR (to see leftovers).
struct Scratch {
    dir: tempfile::TempDir,
    name: String,
    nonce: String,
}

impl Scratch {
    fn new(label: &str) -> Scratch {
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("solum-image-it-")
                .tempdir()
                .expect("temp dir"),
            name: format!("solum-image-it-{label}"),
            nonce,
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out").join(&self.name)
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_to(&self.out(), args)
    }

    /// `solum-image build -o OUT ARGS...` with this test's environment.
    fn command_to(&self, out: &Path, args: &[&str]) -> Command {
        std::fs::create_dir_all(self.tmp()).expect("tmp");
        std::fs::create_dir_all(self.dir.path().join("out")).expect("out");
        let mut c = Command::new(BIN);
        c.arg("build")
            .arg("-o")
            .arg(out)
            .args(args)
            .env("ELEMENTS_PATH", fixtures())
            .env("DIB_IMAGE_CACHE", cache_dir())
            .env("DIB_SOLUM_TEST_NONCE", &self.nonce)
            // The tests run in parallel and each removes its own trees
            // (TreeCleanup): the default pruning of all but the 8 newest
            // would take a tree from under a test that builds it twice.
            .env("DIB_IMAGE_CACHE_TREES", "1000")
            .env("TMPDIR", self.tmp())
            // Mount in the test's own namespace so that leftovers would show.
            .env("SOLUM_IMAGE_SHARED_MOUNTS", "1");
        c
    }

    /// Plan hash for these arguments (same env as the build).
    fn plan_hash(&self, args: &[&str]) -> String {
        let mut a = args.to_vec();
        a.extend(["--dry-run", "--json"]);
        let out = self.command(&a).output().expect("run dry-run");
        assert!(
            out.status.success(),
            "dry-run failed: {}",
            text(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["hash"].as_str().expect("hash").to_string()
    }

    fn assert_clean(&self) {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let tmp = self.tmp();
        let left: Vec<&str> = mounts
            .lines()
            .filter(|l| l.contains(tmp.to_string_lossy().as_ref()))
            .collect();
        assert!(left.is_empty(), "mounts left behind: {left:#?}");
        let entries: Vec<PathBuf> = std::fs::read_dir(&tmp)
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        assert!(entries.is_empty(), "build dirs left behind: {entries:?}");
        let parts: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("out"))
            .map(|r| {
                r.filter_map(|e| e.ok().map(|e| e.path()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".part-"))
            .collect();
        assert!(parts.is_empty(), "partial outputs left behind: {parts:?}");
    }
}

/// Removes this test's final tree from the shared cache.
struct TreeCleanup(Vec<String>);

impl Drop for TreeCleanup {
    fn drop(&mut self) {
        for h in &self.0 {
            let _ = std::fs::remove_dir_all(cache_dir().join(format!("solum-image/trees/{h}")));
        }
    }
}

/// Removes a docker image this test created.
struct DockerImage(String);

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(c: &mut Command) -> Output {
    c.output().expect("spawn solum-image")
}

/// Read one file out of a tar archive.
fn tar_file(archive: &Path, want: &str) -> Option<String> {
    let f = std::fs::File::open(archive).expect("open tar");
    let mut a = tar::Archive::new(f);
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let p = e.path().expect("path").to_string_lossy().into_owned();
        if p.trim_start_matches("./") == want {
            let mut s = String::new();
            e.read_to_string(&mut s).expect("read");
            return Some(s);
        }
    }
    None
}

fn tar_names(archive: &Path) -> Vec<String> {
    let f = std::fs::File::open(archive).expect("open tar");
    let mut a = tar::Archive::new(f);
    a.entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            e.path()
                .expect("path")
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string()
        })
        .collect()
}

#[test]
fn tree_build_runs_phases_outputs_tar_and_docker_then_reuses_cache() {
    require_builder();
    let s = Scratch::new("tree");
    let tag = format!("solum-image-it-{}:latest", s.nonce);
    let args = [
        "-n",
        "-t",
        "tar,docker",
        "--docker-tag",
        &tag,
        "debian-minimal",
        "test-tree",
    ];
    let hash = s.plan_hash(&args);
    let _tree = TreeCleanup(vec![hash.clone()]);
    let _image = DockerImage(tag.clone());

    let out = run(&mut s.command(&args));
    let err = text(&out.stderr);
    assert!(out.status.success(), "build failed:\n{err}");
    s.assert_clean();
    assert!(
        err.contains("install.d 50-test-inside [test-tree]"),
        "{err}"
    );
    assert!(err.contains("profile (seconds)"), "{err}");
    assert!(!err.contains("10-skipped.sh"), "a .sh hook ran:\n{err}");

    let tarball = PathBuf::from(format!("{}.tar", s.out().display()));
    let solum_test = tar_file(&tarball, "etc/solum-test").expect("etc/solum-test in the tar");
    assert_eq!(
        solum_test,
        "env=hello-from-env\n\
         distro=debian release=bookworm init=systemd label=cloudimg-rootfs\n\
         static=static-content\n\
         tool=tool-ok\n"
    );
    let marker = tar_file(&tarball, "root-d-marker").expect("root.d marker");
    assert_eq!(
        marker,
        "release=bookworm distro=debian arch=amd64 image=solum-image-it-tree env=hello-from-env\n"
    );
    assert_eq!(
        tar_file(&tarball, "etc/solum-finalised").as_deref(),
        Some("done\n")
    );
    let names = tar_names(&tarball);
    for absent in [
        "etc/solum-skipped-ran",
        "etc/solum-not-exec-ran",
        "usr/sbin/policy-rc.d",
        "tmp/in_target.d/install.d/50-test-inside",
    ] {
        assert!(
            !names.iter().any(|n| n == absent),
            "{absent} must not be in the tree"
        );
    }
    assert!(
        names.iter().any(|n| n == "usr/bin/hello"),
        "package-installs did not install hello"
    );
    assert!(names.iter().any(|n| n == "usr/local/bin/solum-test-tool"));

    // The .sha256 beside the tar is right.
    let sum_line =
        std::fs::read_to_string(format!("{}.sha256", tarball.display())).expect("sha256 file");
    let sha = Command::new("sha256sum")
        .arg(&tarball)
        .output()
        .expect("sha256sum");
    let real = text(&sha.stdout);
    assert_eq!(
        sum_line.split_whitespace().next(),
        real.split_whitespace().next()
    );
    assert!(
        sum_line.trim_end().ends_with("  solum-image-it-tree.tar"),
        "{sum_line}"
    );

    // The docker output runs.
    let d = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network=none",
            &tag,
            "cat",
            "/etc/solum-test",
        ])
        .output()
        .expect("docker run");
    assert!(d.status.success(), "docker run: {}", text(&d.stderr));
    assert_eq!(text(&d.stdout), solum_test);

    // Same plan again: the cached tree is reused, nothing runs, same bytes.
    let t0 = Instant::now();
    let again = run(&mut s.command(&args));
    let err2 = text(&again.stderr);
    assert!(again.status.success(), "rebuild failed:\n{err2}");
    assert!(err2.contains("reusing the cached tree"), "{err2}");
    assert!(
        !err2.contains("50-test-inside"),
        "phases ran again:\n{err2}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
    let sum_again =
        std::fs::read_to_string(format!("{}.sha256", tarball.display())).expect("sha256 file");
    assert_eq!(sum_line, sum_again);

    // And --offline works from the cache alone.
    let mut off_args = args.to_vec();
    off_args.push("--offline");
    let off = run(&mut s.command(&off_args));
    assert!(
        off.status.success(),
        "offline rebuild failed:\n{}",
        text(&off.stderr)
    );
    s.assert_clean();
}

#[test]
fn failing_script_reports_name_phase_code_and_tail_and_unmounts() {
    require_builder();
    let s = Scratch::new("fail");
    let args = [
        "-n",
        "-t",
        "tar",
        "debian-minimal",
        "test-tree",
        "test-fail",
    ];
    let hash = s.plan_hash(&args);
    let _tree = TreeCleanup(vec![hash]);
    let out = run(&mut s.command(&args));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "build should fail:\n{err}");
    let msg = err
        .split("solum-image: error: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no error line in:\n{err}"));
    assert!(
        msg.starts_with(
            "install.d script '50-test-fail' (element 'test-fail') failed with exit code 3"
        ),
        "{msg}"
    );
    let tail: Vec<&str> = msg.lines().skip(1).collect();
    assert_eq!(tail.len(), 20, "{msg}");
    assert_eq!(tail[0], "fail-line-11");
    assert_eq!(tail[19], "fail-line-30");
    assert!(!PathBuf::from(format!("{}.tar", s.out().display())).exists());
    s.assert_clean();
}

#[test]
fn interrupt_unwinds_mounts_and_build_dir() {
    require_builder();
    let s = Scratch::new("intr");
    let args = ["-n", "-t", "tar", "debian-minimal", "test-slow"];
    let hash = s.plan_hash(&args);
    let _tree = TreeCleanup(vec![hash]);
    let mut child = s
        .command(&args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the slow script never started:\n{}", seen.join("\n")));
        let started = line.contains("test-slow: sleeping");
        seen.push(line);
        if started {
            break;
        }
    }
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "builder did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = reader.join();
    seen.extend(rx.try_iter());
    assert!(!status.success());
    assert!(
        seen.iter()
            .any(|l| l.contains("solum-image: error: interrupted")),
        "{}",
        seen.join("\n")
    );
    s.assert_clean();
}

#[test]
fn offline_without_a_cached_base_fails_clearly() {
    require_builder();
    let s = Scratch::new("offline");
    let empty = tempfile::tempdir().expect("tmp");
    let out = run(s
        .command(&[
            "-n",
            "-t",
            "tar",
            "--offline",
            "debian-minimal",
            "test-tree",
        ])
        .env("DIB_IMAGE_CACHE", empty.path()));
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--offline: no cached base tree for bookworm/amd64"),
        "{err}"
    );
    s.assert_clean();
}

#[test]
fn dry_run_prints_plan_and_errors_name_the_chain() {
    let s = Scratch::new("dry");
    let plan = [
        "-n",
        "-t",
        "tar",
        "--dry-run",
        "debian-minimal",
        "test-tree",
    ];
    let out = run(&mut s.command(&plan));
    let so = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(so.contains("install.d (in chroot)"), "{so}");
    assert!(so.contains("[install] hello"), "{so}");
    assert!(so.contains("root.d (outside)"), "{so}");
    assert!(so.contains("plan hash: "), "{so}");
    assert!(!so.contains("10-skipped.sh"), "{so}");

    // A variable that is not UTF-8: left out with a warning, no panic, and
    // the same plan as without it.
    let mut odd = s.command(&plan);
    odd.env(
        "DIB_NOT_UTF8",
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"caf\xe9"),
    );
    let o = run(&mut odd);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr)
            .contains("solum-image: warning: DIB_NOT_UTF8 is ignored: its value is not UTF-8"),
        "{}",
        text(&o.stderr)
    );
    let hash_of = |t: &str| {
        t.lines()
            .find(|l| l.contains("plan hash: "))
            .map(str::to_string)
    };
    assert_eq!(hash_of(&text(&o.stdout)), hash_of(&so));

    let out = run(&mut s.command(&["-n", "--dry-run", "debian-minimal", "test-broken-deps"]));
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        "solum-image: error: missing element 'not-there' (wanted by vm-like <- test-broken-deps)"
    );
    let out = run(&mut s.command(&["-n", "--dry-run", "test-tree"]));
    assert!(text(&out.stderr).contains("no operating-system element"));
    let out = run(&mut s.command(&["-t", "iso", "--dry-run", "debian-minimal"]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("invalid value 'iso' for '-t <TYPES>'")
            && err.contains("[possible values: qcow2, raw, tar, docker, vagrant]"),
        "{err}"
    );
}

#[test]
fn disk_layout_table_is_accepted_by_sfdisk_on_a_plain_file() {
    use solum_image::layout;
    let dir = tempfile::tempdir().expect("tmp");
    let disk = dir.path().join("disk.raw");
    let l = layout::plan(300 * layout::MIB, None).expect("layout");
    let f = std::fs::File::create(&disk).expect("create");
    f.set_len(l.disk_bytes).expect("sparse file");
    drop(f);
    let mut child = Command::new("sfdisk")
        .arg("--no-reread")
        .arg("--no-tell-kernel")
        .arg(&disk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sfdisk must be installed");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(layout::sfdisk_script(&l).as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("sfdisk");
    assert!(out.status.success(), "sfdisk: {}", text(&out.stderr));
    let dump = Command::new("sfdisk")
        .arg("--json")
        .arg(&disk)
        .output()
        .expect("sfdisk --json");
    let v: serde_json::Value = serde_json::from_slice(&dump.stdout).expect("json");
    let parts = v["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions");
    assert_eq!(parts.len(), 3);
    for (got, want) in parts.iter().zip(&l.partitions) {
        assert_eq!(got["start"].as_u64(), Some(want.start_lba));
        assert_eq!(got["size"].as_u64(), Some(want.sectors));
        assert_eq!(got["type"].as_str(), Some(want.type_guid));
        assert_eq!(got["name"].as_str(), Some(want.name));
    }
}

/// A qemu process killed on drop.
struct Qemu(std::process::Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boot `disk` (snapshot: the file is not changed) and wait for a login prompt.
fn boots_to_login(
    disk: &Path,
    format: &str,
    firmware: &[String],
    log: &Path,
    limit: Duration,
) -> Result<Duration, String> {
    let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let child = Command::new("qemu-system-x86_64")
        .args(["-m", "1024", "-nographic", "-no-reboot", "-monitor", "none"])
        .args(firmware)
        .arg("-drive")
        .arg(format!(
            "file={},format={format},if=virtio,snapshot=on",
            disk.display()
        ))
        .args([
            "-netdev",
            "user,id=n0,restrict=on",
            "-device",
            "virtio-net-pci,netdev=n0",
        ])
        .args(["-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("qemu-system-x86_64 must be installed: {e}"))?;
    let _qemu = Qemu(child);
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        let seen = std::fs::read(log).unwrap_or_default();
        if String::from_utf8_lossy(&seen).contains("login:") {
            return Ok(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let seen = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&seen);
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    Err(format!(
        "no login prompt after {limit:?}; last lines:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

#[test]
fn vm_disks_raw_qcow2_and_box_boot_under_bios_and_uefi() {
    require_builder();
    let s = Scratch::new("raw");
    let args = [
        "-t",
        "raw,qcow2,vagrant",
        "debian-minimal",
        "vm",
        "growroot",
        "config-drive",
    ];
    let hash = s.plan_hash(&args);
    let _tree = TreeCleanup(vec![hash]);
    let out = run(&mut s.command(&args));
    let err = text(&out.stderr);
    assert!(out.status.success(), "build failed:\n{err}");
    assert!(err.contains("config-drive: kernel"), "{err}");
    s.assert_clean();
    let disk = PathBuf::from(format!("{}.raw", s.out().display()));
    let dump = Command::new("sfdisk")
        .arg("--json")
        .arg(&disk)
        .output()
        .expect("sfdisk");
    let v: serde_json::Value = serde_json::from_slice(&dump.stdout).expect("sfdisk json");
    let parts = v["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions");
    let types: Vec<&str> = parts.iter().filter_map(|p| p["type"].as_str()).collect();
    assert_eq!(
        types,
        vec![
            solum_image::layout::TYPE_BIOS_BOOT,
            solum_image::layout::TYPE_ESP,
            solum_image::layout::TYPE_LINUX_ROOT_X86_64
        ]
    );
    // The qcow2 holds the same disk; the box holds the qcow2.
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(format!("{}.qcow2", s.out().display()))
        .output()
        .expect("qemu-img (package qemu-utils) must be installed");
    assert!(
        info.status.success(),
        "qemu-img info: {}",
        text(&info.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("qemu-img json");
    let raw_len = std::fs::metadata(&disk).expect("raw").len();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"].as_u64(), Some(raw_len));
    let boxfile = PathBuf::from(format!("{}.box", s.out().display()));
    let meta: serde_json::Value =
        serde_json::from_str(&tar_file(&boxfile, "metadata.json").expect("metadata.json"))
            .expect("json");
    assert_eq!(meta["provider"], "libvirt");
    assert_eq!(meta["format"], "qcow2");
    assert_eq!(
        meta["virtual_size"].as_u64(),
        Some(raw_len.div_ceil(1 << 30))
    );
    assert!(tar_names(&boxfile).iter().any(|n| n == "box.img"));
    for ext in ["raw", "qcow2", "box"] {
        let sum = std::fs::read_to_string(format!("{}.{ext}.sha256", s.out().display()))
            .expect("sha256 file");
        assert!(
            sum.trim_end()
                .ends_with(&format!("  solum-image-it-raw.{ext}")),
            "{sum}"
        );
    }
    let limit = Duration::from_secs(240);
    let bios = boots_to_login(&disk, "raw", &[], &s.dir.path().join("bios.log"), limit)
        .unwrap_or_else(|e| panic!("SeaBIOS boot: {e}"));
    let vars = s.dir.path().join("OVMF_VARS.fd");
    std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars)
        .expect("OVMF (package ovmf) must be installed");
    let fw = vec![
        "-drive".to_string(),
        "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd".to_string(),
        "-drive".to_string(),
        format!("if=pflash,format=raw,file={}", vars.display()),
    ];
    let qcow2 = PathBuf::from(format!("{}.qcow2", s.out().display()));
    // The UEFI boot uses the disk inside the Vagrant box: what `vagrant up` would start.
    let unboxed = s.dir.path().join("unboxed");
    std::fs::create_dir_all(&unboxed).expect("unboxed dir");
    let untar = Command::new("tar")
        .arg("-xf")
        .arg(&boxfile)
        .arg("-C")
        .arg(&unboxed)
        .arg("box.img")
        .output()
        .expect("tar");
    assert!(untar.status.success(), "tar: {}", text(&untar.stderr));
    let box_img = unboxed.join("box.img");
    let uefi = boots_to_login(
        &box_img,
        "qcow2",
        &fw,
        &s.dir.path().join("uefi.log"),
        limit,
    )
    .unwrap_or_else(|e| panic!("OVMF boot of the box's disk: {e}"));
    eprintln!("login prompt after {bios:?} (BIOS), {uefi:?} (UEFI)");
    // `solum-image boot` with a config drive: the guest sees a disk labelled
    // config-2; SIGTERM stops qemu and leaves no temp files.
    let cd = s.dir.path().join("cd/openstack/latest");
    std::fs::create_dir_all(&cd).expect("cd dir");
    std::fs::write(cd.join("meta_data.json"), "{\"uuid\": \"it\"}").expect("meta");
    let log = s.dir.path().join("boot-cmd.log");
    let mut child = Command::new(BIN)
        .arg("boot")
        .arg(&qcow2)
        .arg("--config-drive")
        .arg(s.dir.path().join("cd"))
        .env("TMPDIR", s.tmp())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("solum-image boot");
    let t0 = Instant::now();
    loop {
        let seen = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        if seen.contains("login:") {
            assert!(seen.contains("[vdb]"), "no config drive disk in:\n{seen}");
            break;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("solum-image boot: no login prompt:\n{seen}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let t1 = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "boot did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(st.success(), "boot exit: {st:?}");
    s.assert_clean();

    // Every unit came up (e.g. sshd found host keys made at first boot).
    for log in ["bios.log", "uefi.log"] {
        let serial = String::from_utf8_lossy(&std::fs::read(s.dir.path().join(log)).expect("log"))
            .into_owned();
        assert!(
            !serial.contains("FAILED"),
            "a unit failed during boot ({log}):\n{serial}"
        );
    }

    // The same tree on a disk that is too small, and onto a full file system: a clear
    // error, and nothing half-written left under any name.
    let mut small = vec!["--image-size", "0.3"];
    small.extend(args);
    let out = run(&mut s.command(&small));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("is too small: the tree needs a disk of at least"),
        "{err}"
    );
    s.assert_clean();
    let full = s.dir.path().join("full");
    std::fs::create_dir_all(&full).expect("full dir");
    let _tmpfs = TmpfsMount::new(&full, "64m");
    let out = run(&mut s.command_to(&full.join("img"), &args));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&full)
        .expect("read full")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert!(left.is_empty(), "left on the full file system: {left:?}");
    s.assert_clean();
}

/// A size-limited tmpfs (a full disk on demand), unmounted when dropped.
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    fn new(dir: &Path, size: &str) -> TmpfsMount {
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "solum-it-full",
            ])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        TmpfsMount(dir.to_path_buf())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Copies nothing: writes a small element (`files` as (relative path, text, executable)).
fn write_element(dir: &Path, name: &str, files: &[(&str, &str, bool)]) {
    use std::os::unix::fs::PermissionsExt;
    for (rel, text, exec) in files {
        let p = dir.join(name).join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("element dir");
        std::fs::write(&p, text).expect("element file");
        let mode = if *exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

#[test]
fn odd_element_paths_work_and_malformed_package_installs_name_file_and_line() {
    require_builder();
    let s = Scratch::new("odd");
    // Spaces, quotes, a dollar sign and a glob character in the element directory's path.
    let odd = s.dir.path().join("odd dir 'q' \"d\" $HOME *");
    write_element(
        &odd,
        "test-odd",
        &[
            (
                "install.d/50-test-odd",
                "#!/bin/bash\nset -eu\necho \"odd ok from $IMAGE_ELEMENT\" > /etc/solum-odd\n",
                true,
            ),
            ("static/etc/solum-odd-static", "static ok\n", false),
        ],
    );
    write_element(
        &odd,
        "test-badyaml",
        &[(
            "package-installs.yaml",
            "hello:\n  phase: [unclosed\n",
            false,
        )],
    );
    let path = format!("{}:{}", odd.display(), fixtures().display());

    let out = run(s
        .command(&["-n", "--dry-run", "debian-minimal", "test-badyaml"])
        .env("ELEMENTS_PATH", &path));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let yaml = odd.join("test-badyaml/package-installs.yaml");
    assert!(
        err.contains(&format!("{}:", yaml.display())),
        "the error does not name the file:\n{err}"
    );
    assert!(
        err.contains("line 2"),
        "the error does not name the line:\n{err}"
    );

    let args = ["-n", "-t", "tar", "debian-minimal", "test-odd"];
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let plan = run(s.command(&dry).env("ELEMENTS_PATH", &path));
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    let v: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    let _tree = TreeCleanup(vec![v["hash"].as_str().expect("hash").to_string()]);
    let out = run(s.command(&args).env("ELEMENTS_PATH", &path));
    assert!(out.status.success(), "build failed:\n{}", text(&out.stderr));
    let tarball = PathBuf::from(format!("{}.tar", s.out().display()));
    assert_eq!(
        tar_file(&tarball, "etc/solum-odd").as_deref(),
        Some("odd ok from debian-minimal test-odd\n")
    );
    assert_eq!(
        tar_file(&tarball, "etc/solum-odd-static").as_deref(),
        Some("static ok\n")
    );
    s.assert_clean();
}

/// `sha256sum`/`md5sum` of a file, as the tool prints it.
fn tool_sum(tool: &str, file: &Path) -> String {
    let out = Command::new(tool).arg(file).output().expect(tool);
    assert!(out.status.success(), "{tool}: {}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_string()
}

/// The byte offset of a raw disk's root (third) partition.
fn root_offset(disk: &Path) -> u64 {
    let dump = Command::new("sfdisk")
        .arg("--json")
        .arg(disk)
        .output()
        .expect("sfdisk");
    let v: serde_json::Value = serde_json::from_slice(&dump.stdout).expect("sfdisk json");
    v["partitiontable"]["partitions"][2]["start"]
        .as_u64()
        .expect("root start")
        * 512
}

/// Whether any cluster of a qcow2 is compressed (`qemu-img map`).
fn qcow2_compressed(image: &Path) -> bool {
    let out = Command::new("qemu-img")
        .args(["map", "--output=json"])
        .arg(image)
        .output()
        .expect("qemu-img (package qemu-utils) must be installed");
    assert!(out.status.success(), "qemu-img map: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("map json");
    let extents = v.as_array().expect("extents");
    assert!(extents.iter().any(|e| e["data"] == true), "no data: {v}");
    extents.iter().any(|e| e["compressed"] == true)
}

/// One JSON document on stdout, whatever went to stderr.
fn json_doc(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

#[test]
fn dib_flags_json_checksums_and_the_output_name_on_a_tiny_disk() {
    require_builder();
    let s = Scratch::new("tiny");
    let common = ["-n", "--root-label", "tinyroot", "tiny-disk"];
    let out_a = s.dir.path().join("out/tiny-a");
    let out_b = s.dir.path().join("out/tiny-b");
    // A DIB variable solum-image ignores: warned about, once.
    let cmd = |out: &Path, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(common);
        let mut c = s.command_to(out, &all);
        c.env("DIB_GRUB_TIMEOUT", "5");
        c
    };
    let dry = run(&mut cmd(&out_a, &["--dry-run", "--json"]));
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let plan = json_doc(&dry);
    let hash = plan["hash"].as_str().expect("hash").to_string();
    assert_eq!(plan["name_in_hash"], false);
    let _tree = TreeCleanup(vec![hash.clone()]);

    // A: every DIB flag, the result as JSON.
    let a = run(&mut cmd(
        &out_a,
        &[
            "-t",
            "raw,qcow2,tar",
            "--json",
            "--checksum",
            "-u",
            "--qemu-img-options",
            "cluster_size=131072",
            "--mkfs-options",
            "-m 0 -O ^has_journal",
        ],
    ));
    let err = text(&a.stderr);
    assert!(a.status.success(), "build failed:\n{err}");
    assert_eq!(
        err.matches("warning: DIB_GRUB_TIMEOUT is set but ignored by solum-image")
            .count(),
        1,
        "{err}"
    );
    let doc = json_doc(&a);
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["cache_hit"], false, "{doc}");
    assert_eq!(doc["plan_hash"].as_str(), Some(hash.as_str()));
    assert_eq!(doc["elements"], serde_json::json!(["tiny-disk"]));
    assert!(
        doc["timings"]["phases"]
            .as_array()
            .expect("phases")
            .iter()
            .any(|p| p["phase"] == "root.d"),
        "{doc}"
    );
    let outputs = doc["outputs"].as_array().expect("outputs");
    let formats: Vec<&str> = outputs
        .iter()
        .filter_map(|o| o["format"].as_str())
        .collect();
    assert_eq!(formats, vec!["tar", "qcow2", "raw"]);
    let out_dir = s.dir.path().join("out");
    for o in outputs {
        let path = PathBuf::from(o["path"].as_str().expect("path"));
        assert_eq!(
            o["size"].as_u64(),
            Some(std::fs::metadata(&path).expect("output").len())
        );
        assert_eq!(
            o["sha256"].as_str(),
            Some(tool_sum("sha256sum", &path).as_str()),
            "{}",
            path.display()
        );
        // --checksum: the files `sha256sum -c` and `md5sum -c` check.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (tool, ext) in [("sha256sum", "sha256"), ("md5sum", "md5")] {
            let check = Command::new(tool)
                .args(["-c", &format!("{name}.{ext}")])
                .current_dir(&out_dir)
                .output()
                .expect(tool);
            assert!(
                check.status.success(),
                "{tool} -c {name}.{ext}: {}{}",
                text(&check.stdout),
                text(&check.stderr)
            );
        }
    }
    let raw = PathBuf::from(format!("{}.raw", out_a.display()));
    let at = root_offset(&raw);
    // --root-label: the root file system's label.
    let label = Command::new("blkid")
        .args(["-p", "-O", &at.to_string(), "-s", "LABEL", "-o", "value"])
        .arg(&raw)
        .output()
        .expect("blkid");
    assert_eq!(text(&label.stdout).trim(), "tinyroot");
    // --mkfs-options: no reserved blocks, no journal.
    let dump = Command::new("dumpe2fs")
        .arg("-h")
        .arg(format!("{}?offset={at}", raw.display()))
        .output()
        .expect("dumpe2fs");
    let header = text(&dump.stdout);
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    assert!(header.contains("Reserved block count:     0\n"), "{header}");
    let features = header
        .lines()
        .find(|l| l.starts_with("Filesystem features:"))
        .expect("features");
    assert!(!features.contains("has_journal"), "{features}");
    assert!(features.contains("extent"), "{features}");
    // -u and --qemu-img-options: nothing compressed, 128 KiB clusters.
    let qcow2 = PathBuf::from(format!("{}.qcow2", out_a.display()));
    assert!(!qcow2_compressed(&qcow2), "-u: compressed clusters");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&qcow2)
        .output()
        .expect("qemu-img info");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info json");
    assert_eq!(info["cluster-size"].as_u64(), Some(131072), "{info}");

    // B: another output name, the same elements: the same tree from the
    // cache; the qcow2 compressed as DIB's is; --docker-target as DIB says it.
    let tag = format!("solum-image-it-{}:tiny", s.nonce);
    let _image = DockerImage(tag.clone());
    let b = run(&mut cmd(
        &out_b,
        &["-t", "qcow2,docker", "--docker-target", &tag, "--json"],
    ));
    let err = text(&b.stderr);
    assert!(b.status.success(), "build failed:\n{err}");
    assert!(err.contains("reusing the cached tree"), "{err}");
    let doc = json_doc(&b);
    assert_eq!(doc["cache_hit"], true, "{doc}");
    assert_eq!(doc["plan_hash"].as_str(), Some(hash.as_str()));
    assert_eq!(doc["image_name"], "tiny-b");
    assert!(qcow2_compressed(&PathBuf::from(format!(
        "{}.qcow2",
        out_b.display()
    ))));
    let docker = doc["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["format"] == "docker"))
        .expect("a docker output");
    assert_eq!(docker["tag"].as_str(), Some(tag.as_str()));
    let inspect = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &tag])
        .output()
        .expect("docker");
    assert_eq!(
        text(&inspect.stdout).trim(),
        docker["id"].as_str().unwrap_or("?")
    );

    // --image-cache: another cache, the same plan hash, built there.
    let other = s.dir.path().join("cache2");
    let c = run(&mut cmd(
        &s.dir.path().join("out/tiny-c"),
        &[
            "-t",
            "tar",
            "--json",
            "--image-cache",
            other.to_str().unwrap(),
        ],
    ));
    assert!(c.status.success(), "{}", text(&c.stderr));
    let doc = json_doc(&c);
    assert_eq!(doc["cache_hit"], false, "{doc}");
    assert_eq!(doc["plan_hash"].as_str(), Some(hash.as_str()));
    assert!(other.join(format!("solum-image/trees/{hash}")).is_dir());
    s.assert_clean();

    // An element that reads IMAGE_NAME makes the name part of the hash.
    let named = |out: &str| {
        let o = run(&mut s.command_to(
            &s.dir.path().join(out),
            &["-n", "--dry-run", "--json", "tiny-named"],
        ));
        assert!(o.status.success(), "{}", text(&o.stderr));
        json_doc(&o)
    };
    let (n1, n2) = (named("vm"), named("vm2"));
    assert_ne!(n1["hash"], n2["hash"]);
    assert_eq!(n1["name_in_hash"], true);
    assert_eq!(n1["name_readers"], serde_json::json!(["tiny-named"]));
    let text_plan = run(&mut s.command(&["-n", "--dry-run", "tiny-disk"]));
    assert!(
        text(&text_plan.stdout).contains(
            "the output name (-o, IMAGE_NAME) is not in it: no element file mentions IMAGE_NAME"
        ),
        "{}",
        text(&text_plan.stdout)
    );

    // Errors as JSON too, with a non-zero exit.
    let bad = run(&mut s.command(&["-n", "--json", "not-there-at-all"]));
    assert!(!bad.status.success());
    let doc = json_doc(&bad);
    assert_eq!(doc["ok"], false);
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("not-there-at-all")),
        "{doc}"
    );
    // Bad flag values: one clear line each, before anything runs.
    for (flag, value, says) in [
        ("--qemu-img-options", "nonsense", "key=value"),
        ("--root-label", "a-label-far-too-long", "16 bytes"),
        ("--root-label", "has space", "without spaces"),
    ] {
        let o = run(&mut s.command(&[flag, value, "-n", "tiny-disk"]));
        assert_eq!(o.status.code(), Some(2), "{flag} {value}");
        assert!(text(&o.stderr).contains(says), "{}", text(&o.stderr));
    }
    // An output directory that does not exist: said at once, nothing built.
    let missing = s.dir.path().join("no-such-dir/x");
    let o = run(&mut s.command_to(&missing, &["-n", "-t", "tar", "tiny-disk"]));
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("no-such-dir does not exist (make it first)"),
        "{err}"
    );
    assert!(!err.contains("root.d"), "it built before saying so:\n{err}");
}

#[test]
fn progress_on_a_terminal_and_plain_lines_otherwise() {
    require_builder();
    let s = Scratch::new("progress");
    let args = ["-n", "-t", "qcow2,tar", "tiny-disk"];
    // tiny-disk needs no base tree: a cache of its own, in the scratch dir.
    let cache = s.dir.path().join("cache");
    let command = |args: &[&str]| {
        let mut c = s.command(args);
        c.env("DIB_IMAGE_CACHE", &cache)
            // A name dash drops on its way to the build; so must we, or a
            // build started from `sh -c` would key another tree.
            .env("SOLUM-TEST-NOT-AN-IDENTIFIER", "1");
        c
    };
    let mut dry = command(&args);
    dry.args(["--dry-run", "--json"]);
    let hash = json_doc(&run(&mut dry))["hash"]
        .as_str()
        .expect("hash")
        .to_string();
    let trees = cache.join("solum-image/trees");
    // Under a pseudo-terminal (util-linux `script`, the command run by
    // /bin/sh): a spinner naming the script, bars for the tar and the
    // qcow2, and the log lines as before.
    let build = command(&args);
    let line = std::iter::once(build.get_program())
        .chain(build.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let typescript = s.dir.path().join("typescript");
    let mut tty = Command::new("script");
    tty.args(["-q", "-e", "-c", &line])
        .arg(&typescript)
        .env("SHELL", "/bin/sh");
    for (k, v) in build.get_envs() {
        if let Some(v) = v {
            tty.env(k, v);
        }
    }
    let o = run(&mut tty);
    let shown =
        String::from_utf8_lossy(&std::fs::read(&typescript).expect("typescript")).into_owned();
    assert!(o.status.success(), "{shown}");
    assert!(
        shown.contains(" root.d 10-tiny-disk [tiny-disk] 0s"),
        "no spinner for the script:\n{shown}"
    );
    assert!(shown.contains("qcow2 ["), "no qcow2 bar:\n{shown}");
    assert!(shown.contains("tar ["), "no tar bar:\n{shown}");
    assert!(
        shown.contains("solum-image: root.d 10-tiny-disk [tiny-disk]\r\n"),
        "{shown}"
    );
    assert!(shown.contains("profile (seconds)"), "{shown}");

    // The same tree as the plan said, whatever the shell left out.
    let built: Vec<String> = std::fs::read_dir(&trees)
        .expect("trees")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".used"))
        .collect();
    assert_eq!(built, vec![hash], "the terminal's build keyed another tree");

    // Not a terminal: the plain lines only, no escape codes, no spinner.
    std::fs::remove_dir_all(&trees).expect("remove the trees");
    let o = run(&mut command(&args));
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("solum-image: root.d 10-tiny-disk [tiny-disk]\n"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "escape codes in a log:\n{err}");
    assert!(!err.contains(" 0s"), "progress in a log:\n{err}");
    s.assert_clean();
}
