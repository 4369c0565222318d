//! diskimage-builder's own elements, unchanged: the elements of DIB 3.43.0
//! (its PyPI sdist, `scripts/dib-elements.sh`) that apply to a Debian base
//! are built with solum-image, in one build on `debian-minimal vm` and one
//! small minbase build, and each one's effect is checked in the image (the
//! file, unit, link or setting it makes). The README's table must list every
//! DIB element, and every element it says works must be built and checked
//! here. Also: the caller's environment reaches the scripts (`no_proxy` in
//! local-config's apt configuration), the build's secrets stay out of its log
//! and of `DIB_ENV`, and changing a file a `DIB_*` variable names rebuilds the
//! tree. Needs root, mmdebstrap and the Debian mirror; FAILS, never skips,
//! without them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_solum-image");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn cache_dir() -> PathBuf {
    std::env::var_os("SOLUM_IMAGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/solum-image-test-cache"))
}

/// DIB's elements directory (fetched once by scripts/dib-elements.sh).
fn dib_elements() -> PathBuf {
    let out = Command::new(workspace().join("scripts/dib-elements.sh"))
        .output()
        .expect("run scripts/dib-elements.sh");
    assert!(
        out.status.success(),
        "scripts/dib-elements.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        dir.join("base").is_dir(),
        "{} has no elements",
        dir.display()
    );
    dir
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root (mounts, chroot)");
    let have = Command::new("sh")
        .args(["-c", "command -v mmdebstrap || command -v debootstrap"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(have, "mmdebstrap or debootstrap must be installed");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One entry of an image tarball.
#[derive(Debug, Clone)]
struct Entry {
    /// 'f' file, 'd' directory, 'l' symlink, 'o' other.
    kind: char,
    mode: u32,
    uid: u64,
    link: String,
    /// The content of a regular file under 1 MiB in `KEEP` (lossy UTF-8).
    text: String,
}

/// Where elements write what the checks read (and where a leaked secret
/// would be): the content of these files is kept.
const KEEP: &[&str] = &[
    "etc/",
    "home/",
    "root/",
    "opt/",
    "tmp/",
    "usr/local/",
    "usr/share/svc-map/",
    "var/lib/cloud/",
];

/// An image's tree, read from its tarball.
struct Tree(BTreeMap<String, Entry>);

impl Tree {
    fn load(archive: &Path) -> Tree {
        let f = std::fs::File::open(archive).expect("open the image tarball");
        let mut a = tar::Archive::new(f);
        let mut map = BTreeMap::new();
        for e in a.entries().expect("tar entries") {
            let mut e = e.expect("tar entry");
            let path = e.path().expect("path").to_string_lossy().into_owned();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let h = e.header();
            let t = h.entry_type();
            let kind = if t.is_file() {
                'f'
            } else if t.is_dir() {
                'd'
            } else if t.is_symlink() {
                'l'
            } else {
                'o'
            };
            let mode = h.mode().unwrap_or(0);
            let uid = h.uid().unwrap_or(u64::MAX);
            let link = e
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut content = String::new();
            if kind == 'f' && e.size() < 1 << 20 && KEEP.iter().any(|k| path.starts_with(k)) {
                let mut b = Vec::new();
                e.read_to_end(&mut b).expect("read");
                content = text(&b);
            }
            map.insert(
                path,
                Entry {
                    kind,
                    mode,
                    uid,
                    link,
                    text: content,
                },
            );
        }
        Tree(map)
    }

    fn get(&self, p: &str) -> Result<&Entry, String> {
        self.0
            .get(p)
            .ok_or_else(|| format!("/{p} is not in the image"))
    }

    fn file(&self, p: &str) -> Result<&str, String> {
        let e = self.get(p)?;
        if e.kind != 'f' {
            return Err(format!("/{p} is not a file ({})", e.kind));
        }
        Ok(&e.text)
    }

    fn has(&self, p: &str) -> Result<(), String> {
        self.get(p).map(|_| ())
    }

    fn lacks(&self, p: &str) -> Result<(), String> {
        match self.0.get(p) {
            Some(_) => Err(format!("/{p} must not be in the image")),
            None => Ok(()),
        }
    }

    fn contains(&self, p: &str, needle: &str) -> Result<(), String> {
        let t = self.file(p)?;
        if t.contains(needle) {
            Ok(())
        } else {
            Err(format!("/{p} does not contain {needle:?}:\n{t}"))
        }
    }

    fn executable(&self, p: &str) -> Result<(), String> {
        let e = self.get(p)?;
        if e.mode & 0o111 == 0 {
            return Err(format!("/{p} is not executable ({:o})", e.mode));
        }
        Ok(())
    }

    /// A unit enabled the systemctl way: a link to it in a `.wants` directory.
    fn enabled(&self, unit: &str) -> Result<(), String> {
        let found = self.0.iter().any(|(p, e)| {
            e.kind == 'l'
                && e.link.ends_with(&format!("/{unit}"))
                && p.starts_with("etc/systemd/system/")
                && p.rsplit_once('/').is_some_and(|(dir, name)| {
                    name == unit && (dir.ends_with(".wants") || dir.ends_with(".requires"))
                })
        });
        if found {
            Ok(())
        } else {
            Err(format!("{unit} is not enabled"))
        }
    }

    /// An installed Debian package (its dpkg list file).
    fn package(&self, name: &str) -> Result<(), String> {
        let plain = format!("var/lib/dpkg/info/{name}.list");
        let arch = format!("var/lib/dpkg/info/{name}:amd64.list");
        self.has(&plain)
            .or_else(|_| self.has(&arch))
            .map_err(|_| format!("package {name} is not installed"))
    }
}

type Check = fn(&Tree) -> Result<(), String>;

/// The DIB elements of the big build (on `debian-minimal vm`).
const BIG: &[&str] = &[
    "apt-preferences",
    "apt-sources",
    "autoupdates",
    "cache-url",
    "cloud-init",
    "cloud-init-datasources",
    "cloud-init-disable-resizefs",
    "cloud-init-growpart",
    "cloud-init-nocloud",
    "debian",
    "devuser",
    "dhcp-all-interfaces",
    "dib-init-system",
    "dib-python",
    "disable-nouveau",
    "dkms",
    "dynamic-login",
    "element-manifest",
    "enable-serial-console",
    "ensure-venv",
    "fail2ban",
    "growvols",
    "grub2",
    "ibft-interfaces",
    "install-bin",
    "install-static",
    "install-types",
    "iscsi-boot",
    "journal-to-console",
    "local-config",
    "manifests",
    "modprobe",
    "nm-dhcp-ib-interfaces",
    "openssh-server",
    "openstack-ci-mirrors",
    "package-installs",
    "pip-and-virtualenv",
    "pip-cache",
    "pkg-map",
    "posix",
    "pypi",
    "runtime-ssh-host-keys",
    "source-repositories",
    "svc-map",
    "sysctl",
    "sysprep",
];

/// The DIB elements of the small build (minbase, `-n`): modprobe-blacklist
/// cannot share a build with modprobe (one script name in both).
const SMALL: &[&str] = &["apt-conf", "modprobe-blacklist"];

/// Each element's effect in the image.
fn effects() -> Vec<(&'static str, Check)> {
    vec![
        ("apt-conf", |t| {
            t.contains("etc/apt/apt.conf", "dib-compat apt-conf")
        }),
        ("apt-preferences", |t| {
            t.contains(
                "etc/apt/preferences",
                "Package: solum-probe-pin\nPin: version 1.0-1\nPin-Priority: 1001",
            )
        }),
        ("apt-sources", |t| {
            t.contains("etc/apt/sources.list", "# dib-compat apt-sources")
        }),
        ("autoupdates", |t| {
            t.package("unattended-upgrades")?;
            t.enabled("unattended-upgrades.service")?;
            t.contains(
                "etc/apt/apt.conf.d/50unattended-upgrades",
                "dib-compat autoupdates",
            )
        }),
        ("cache-url", |t| t.executable("usr/local/bin/cache-url")),
        ("cloud-init", |t| {
            t.package("cloud-init")?;
            t.enabled("cloud-init-local.service")?;
            t.enabled("cloud-final.service")?;
            t.contains(
                "etc/cloud/cloud.cfg",
                "ssh_genkeytypes:  ['rsa', 'ecdsa', 'ed25519']",
            )
        }),
        ("cloud-init-datasources", |t| {
            t.contains(
                "etc/cloud/cloud.cfg.d/91-dib-cloud-init-datasources.cfg",
                "datasource_list: [  NoCloud, None ]",
            )
        }),
        ("cloud-init-disable-resizefs", |t| {
            let cfg = t.file("etc/cloud/cloud.cfg")?;
            if cfg
                .lines()
                .any(|l| l == " - resizefs" || l == " - growpart")
            {
                return Err(format!("cloud.cfg still runs resizefs/growpart:\n{cfg}"));
            }
            Ok(())
        }),
        ("cloud-init-growpart", |t| {
            t.contains("etc/cloud/cloud.cfg.d/55-growpart.cfg", "devices: [\"/\"]")
        }),
        ("cloud-init-nocloud", |t| {
            t.has("var/lib/cloud/seed/nocloud/meta-data")?;
            t.has("var/lib/cloud/seed/nocloud/user-data")
        }),
        ("debian", |t| {
            t.package("netplan.io")?;
            t.contains("etc/apt/preferences.d/sysvinit", "Package: sysvinit")
        }),
        ("devuser", |t| {
            t.contains("etc/passwd", "solumdev:x:")?;
            t.contains("etc/passwd", ":/home/solumdev:/bin/bash")?;
            if !t.file("etc/shadow")?.contains("solumdev:$") {
                return Err("solumdev has no password hash".into());
            }
            t.contains("etc/sudoers.d/solumdev", "solumdev ALL=(ALL) NOPASSWD:ALL")?;
            t.contains(
                "home/solumdev/.ssh/authorized_keys",
                "AAAAIDevuserKey devuser@test",
            )
        }),
        ("dhcp-all-interfaces", |t| {
            t.executable("usr/local/sbin/dhcp-all-interfaces.sh")?;
            t.has("etc/udev/rules.d/99-dhcp-all-interfaces.rules")
        }),
        ("dib-init-system", |t| {
            t.contains("usr/local/bin/dib-init-system", "echo systemd")?;
            t.contains("etc/dib-compat-probe/dib-init-system", "systemd")
        }),
        ("dib-python", |t| {
            t.contains("etc/dib-compat-probe/dib-python", "/usr/bin/python3")?;
            t.contains("etc/dib-compat-probe/env", "DIB_PYTHON_VERSION=3\n")?;
            // A build-time interface: gone from the image, as in DIB.
            t.lacks("usr/local/bin/dib-python")
        }),
        ("disable-nouveau", |t| {
            t.contains("etc/modprobe.d/disable-nouveau.conf", "blacklist nouveau")
        }),
        ("dkms", |t| t.package("dkms")),
        ("dynamic-login", |t| {
            t.has("usr/lib/systemd/system/dynamic-login.service")?;
            t.executable("usr/local/bin/dynamic-login")?;
            t.enabled("dynamic-login.service")
        }),
        ("element-manifest", |t| {
            let m = t.file("etc/dib-manifests/dib-element-manifest")?;
            for e in ["element-manifest", "dib-compat-probe", "openssh-server"] {
                if !m.lines().any(|l| l == e) {
                    return Err(format!("{e} is not in the element manifest:\n{m}"));
                }
            }
            Ok(())
        }),
        ("enable-serial-console", |t| {
            t.contains("etc/udev/rules.d/99-serial-console.rules", "SYSTEMD_WANTS")
        }),
        ("ensure-venv", |t| t.package("python3-venv")),
        ("fail2ban", |t| {
            t.package("fail2ban")?;
            t.enabled("fail2ban.service")?;
            t.contains("etc/fail2ban/jail.local", "dib-compat fail2ban")
        }),
        ("growvols", |t| {
            t.executable("usr/local/sbin/growvols")?;
            t.has("usr/lib/systemd/system/growvols.service")?;
            t.enabled("growvols.service")?;
            t.contains("etc/default/growvols", "GROWVOLS_ARGS=")
        }),
        ("grub2", |t| {
            t.package("grub-efi-amd64-signed")?;
            t.package("shim-signed")
        }),
        ("ibft-interfaces", |t| {
            t.package("open-iscsi")?;
            t.enabled("init-ibft-interfaces.service")?;
            t.contains("etc/modules-load.d/ibft.conf", "iscsi_ibft")
        }),
        ("install-bin", |t| {
            // Every element's bin/: sysctl's, svc-map's, cache-url's.
            t.executable("usr/local/bin/sysctl-write-value")?;
            t.executable("usr/local/bin/svc-map")
        }),
        ("install-static", |t| {
            t.executable("usr/local/sbin/runtime-ssh-host-keys.sh")
        }),
        ("install-types", |t| {
            // The probe's <prefix>-source-install directory ran, not -package-.
            t.contains("etc/dib-compat-probe/installtype", "source")
        }),
        ("iscsi-boot", |t| {
            t.contains("etc/iscsi/iscsi.initramfs", "ISCSI_AUTO=true")
        }),
        ("journal-to-console", |t| {
            t.contains(
                "etc/systemd/journald.conf.d/log-to-console.conf",
                "ForwardToConsole=true",
            )
        }),
        ("local-config", |t| {
            // The caller's no_proxy (DIB passes its environment through).
            let conf = t.file("etc/apt/apt.conf.d/02-no-proxy")?;
            for host in ["example.invalid", "10.1.2.3"] {
                let line = format!("Acquire::http::Proxy::{host} \"DIRECT\";");
                if !conf.contains(&line) {
                    return Err(format!("no_proxy {host} did not reach apt:\n{conf}"));
                }
            }
            t.contains(
                "root/.ssh/authorized_keys",
                "AAAAIHostKeyFromLocalConfig local-config@test",
            )
        }),
        ("manifests", |t| {
            t.contains(
                "etc/dib-manifests/dib_environment",
                "declare -x DIB_DEV_USER_USERNAME=\"solumdev\"",
            )?;
            t.contains(
                "etc/dib-manifests/dib_environment",
                "declare -x DIB_DEV_USER_PASSWORD=\"***\"",
            )?;
            t.contains("etc/dib-manifests/dib_arguments", "dib-compat-probe")
        }),
        ("modprobe", |t| {
            let conf: String =
                t.0.iter()
                    .filter(|(p, _)| p.starts_with("etc/modprobe.d/"))
                    .map(|(_, e)| e.text.as_str())
                    .collect();
            for line in [
                "blacklist floppy",
                "blacklist pcspkr",
                "blacklist solum_probe_module",
            ] {
                if !conf.contains(line) {
                    return Err(format!("no '{line}' in /etc/modprobe.d:\n{conf}"));
                }
            }
            Ok(())
        }),
        ("modprobe-blacklist", |t| {
            t.contains("etc/modprobe.d/blacklist.conf", "blacklist floppy")
        }),
        ("nm-dhcp-ib-interfaces", |t| {
            t.contains(
                "etc/NetworkManager/system-connections/infiniband.nmconnection",
                "type=infiniband",
            )
        }),
        ("openssh-server", |t| {
            t.package("openssh-server")?;
            t.enabled("ssh.service")?;
            t.contains("etc/ssh/sshd_config", "MACs hmac-sha2-512-etm@openssh.com")
        }),
        ("openstack-ci-mirrors", |t| {
            t.contains(
                "etc/apt/apt.conf.d/99unauthenticated",
                "APT::Get::AllowUnauthenticated \"true\";",
            )
        }),
        ("package-installs", |t| {
            // Through its pkg-map (cloud-guest-utils for growpart_package).
            t.package("cloud-guest-utils")
        }),
        ("pip-and-virtualenv", |t| {
            t.package("python3-pip")?;
            t.package("python3-virtualenv")
        }),
        ("pip-cache", |t| {
            // Bound during the build, unmounted and emptied after it.
            t.get("tmp")?;
            t.lacks("tmp/pip")
        }),
        ("pkg-map", |t| {
            // fail2ban's and svc-map's names through their pkg-maps.
            t.package("python3-yaml")
        }),
        ("posix", |t| {
            for p in ["bc", "flex", "m4", "pax", "sharutils"] {
                t.package(p)?;
            }
            Ok(())
        }),
        ("pypi", |t| {
            t.contains(
                "etc/dib-compat-probe/pip.conf",
                "index-url = https://pypi.org/simple",
            )?;
            t.lacks("root/.pip/pip.conf")
        }),
        ("runtime-ssh-host-keys", |t| {
            t.has("usr/lib/systemd/system/ssh-keygen.service")?;
            t.enabled("ssh-keygen.service")?;
            t.lacks("etc/ssh/ssh_host_ed25519_key")
        }),
        ("source-repositories", |t| {
            t.contains("opt/solumprobe/README", "probe source")?;
            t.has("opt/solumprobe/.git")?;
            t.contains(
                "etc/dib-manifests/dib-manifest-git-dib-big",
                "solumprobe git /opt/solumprobe",
            )
        }),
        ("svc-map", |t| {
            t.contains(
                "usr/share/svc-map/services",
                "solum-probe: solum-probe-on-debian",
            )
        }),
        ("sysctl", |t| {
            t.executable("usr/local/bin/sysctl-set-value")?;
            t.executable("usr/local/bin/sysctl-write-value")
        }),
        ("sysprep", |t| t.contains("etc/machine-id", "uninitialized")),
    ]
}

/// The README's table: element -> status.
fn readme_table() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(workspace().join("imagebuild/README.md"))
        .expect("imagebuild/README.md");
    let start = readme
        .find("## diskimage-builder's own elements")
        .expect("the README has a section on DIB's elements");
    let mut rows = BTreeMap::new();
    for line in readme[start..].lines().skip(1) {
        if line.starts_with("## ") {
            break;
        }
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = rest.split(" | ").collect();
        let name = cells[0].trim_end_matches('`').to_string();
        let status = cells.get(1).copied().unwrap_or("").to_string();
        assert!(
            rows.insert(name.clone(), status).is_none(),
            "{name} is in the README's table twice"
        );
    }
    rows
}

const STATUSES: &[&str] = &[
    "works",
    "works with a variable",
    "not applicable to Debian",
    "not supported",
    "not verified here",
];

#[test]
fn readme_table_covers_every_dib_element_and_each_that_works_is_built_and_checked() {
    let dib = dib_elements();
    let mut on_disk = BTreeSet::new();
    for e in std::fs::read_dir(&dib).expect("read DIB's elements") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() && name != "__pycache__" {
            on_disk.insert(name);
        }
    }
    assert_eq!(on_disk.len(), 128, "DIB 3.43.0 has 128 elements");
    let table = readme_table();
    let listed: BTreeSet<String> = table.keys().cloned().collect();
    let missing: Vec<&String> = on_disk.difference(&listed).collect();
    let extra: Vec<&String> = listed.difference(&on_disk).collect();
    assert!(missing.is_empty(), "not in the README's table: {missing:?}");
    assert!(extra.is_empty(), "in the table but not DIB's: {extra:?}");
    for (name, status) in &table {
        assert!(
            STATUSES.contains(&status.as_str()),
            "{name}: unknown status '{status}'"
        );
    }
    let checked: BTreeSet<&str> = effects().iter().map(|(n, _)| *n).collect();
    let built: BTreeSet<&str> = BIG.iter().chain(SMALL).copied().collect();
    for (name, status) in &table {
        let works = status.starts_with("works");
        assert_eq!(
            works,
            checked.contains(name.as_str()),
            "{name} is '{status}' in the README, and {} an effect check here",
            if works { "has no" } else { "yet has" }
        );
        assert_eq!(
            works,
            built.contains(name.as_str()),
            "{name} is '{status}' in the README, and {} built here",
            if works { "is not" } else { "yet is" }
        );
    }
}

/// A scratch directory with everything the elements read.
struct Fixture {
    dir: tempfile::TempDir,
    nonce: String,
    password: String,
}

impl Fixture {
    fn new(label: &str) -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix(&format!("solum-image-it-dib-{label}-"))
            .tempdir()
            .expect("temp dir");
        let nonce = format!(
            "{label}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        );
        std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp");
        Fixture {
            password: format!("pw-{nonce}-not-for-logs"),
            dir,
            nonce,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
        p
    }

    fn command(&self, out: &str, dib: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("build")
            .arg("-o")
            .arg(self.path(out))
            .args(["-t", "tar"])
            .args(args)
            .current_dir(self.dir.path())
            .env(
                "ELEMENTS_PATH",
                format!(
                    "{}:{}:{}",
                    workspace().join("elements").display(),
                    workspace().join("imagebuild/tests/elements").display(),
                    dib.display()
                ),
            )
            .env("DIB_IMAGE_CACHE", cache_dir())
            // Tests share the cache and remove their own trees: no pruning
            // from under a parallel test.
            .env("DIB_IMAGE_CACHE_TREES", "1000")
            .env("DIB_SOLUM_TEST_NONCE", &self.nonce)
            .env("TMPDIR", self.path("tmp"))
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("no_proxy");
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// The plan hash of a command (its dry run), so the tree can be removed.
    fn hash(&self, cmd: &mut Command) -> String {
        let out = cmd.args(["--dry-run", "--json"]).output().expect("dry run");
        assert!(out.status.success(), "dry run: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan json");
        v["hash"].as_str().expect("hash").to_string()
    }
}

/// Removes cached final trees (they are big) when the test ends.
struct Trees(Vec<String>);

impl Drop for Trees {
    fn drop(&mut self) {
        for h in &self.0 {
            let t = cache_dir().join(format!("solum-image/trees/{h}"));
            let _ = std::fs::remove_dir_all(&t);
            let _ = std::fs::remove_file(t.with_extension("used"));
        }
    }
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run solum-image")
}

fn check_all(tree: &Tree, elements: &[&str]) {
    let effects = effects();
    let mut failures = Vec::new();
    for name in elements {
        let (_, check) = effects
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no effect check for {name}"));
        if let Err(e) = check(tree) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "elements that built without their effect:\n{}",
        failures.join("\n")
    );
}

#[test]
fn dib_elements_build_unchanged_and_have_their_effects() {
    require_root();
    let dib = dib_elements();
    let f = Fixture::new("big");
    // A git repository for source-repositories, and the files variables name.
    let repo = f.path("repo");
    f.write("repo/README", "probe source\n");
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "README"],
        vec![
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let s = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(&args)
            .status()
            .expect("git");
        assert!(s.success(), "git {args:?}");
    }
    f.write(
        "home/.ssh/authorized_keys",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyFromLocalConfig local-config@test\n",
    );
    let keys = f.write(
        "inputs/devuser.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDevuserKey devuser@test\n",
    );
    let sources = f.write(
        "inputs/sources.list",
        "# dib-compat apt-sources\n\
         deb http://deb.debian.org/debian bookworm main\n\
         deb http://deb.debian.org/debian bookworm-updates main\n\
         deb http://deb.debian.org/debian-security bookworm-security main\n",
    );
    let manifest = f.write(
        "inputs/dpkg-manifest.json",
        r#"{"packages": [{"package": "solum-probe-pin", "version": "1.0-1"}]}"#,
    );
    let jail = f.write(
        "inputs/jail.local",
        "[sshd]\nenabled = true\n# dib-compat fail2ban\n",
    );
    let updates = f.write(
        "inputs/50unattended",
        "// dib-compat autoupdates\nUnattended-Upgrade::Origins-Pattern { \"origin=Debian\"; };\n",
    );
    let s = |p: &Path| p.display().to_string();
    let env: Vec<(&str, String)> = vec![
        ("HOME", s(&f.path("home"))),
        ("DIB_REPOLOCATION_solumprobe", s(&repo)),
        ("DIB_APT_SOURCES", s(&sources)),
        ("DIB_DPKG_MANIFEST", s(&manifest)),
        ("DIB_FAIL2BAN_CONF", s(&jail)),
        ("DIB_DEB_UPDATES_CONF", s(&updates)),
        ("DIB_DEV_USER_USERNAME", "solumdev".into()),
        ("DIB_DEV_USER_PWDLESS_SUDO", "yes".into()),
        ("DIB_DEV_USER_AUTHORIZED_KEYS", s(&keys)),
        ("DIB_DEV_USER_PASSWORD", f.password.clone()),
        ("DIB_DEV_USER_SHELL", "/bin/bash".into()),
        ("DIB_MODPROBE_BLACKLIST", "floppy pcspkr".into()),
        ("DIB_GROWVOLS_TRIGGER", "systemd".into()),
        ("DIB_PYPI_MIRROR_URL", "https://pypi.org/simple".into()),
        ("DIB_CLOUD_INIT_GROWPART_DEVICES", "[\"/\"]".into()),
        ("DIB_INSTALLTYPE_pip_and_virtualenv", "package".into()),
        ("no_proxy", "example.invalid,10.1.2.3".into()),
    ];
    let mut args: Vec<&str> = vec!["debian-minimal", "vm", "dib-compat-probe"];
    args.extend(BIG);
    let hash = f.hash(&mut f.command("dib-big", &dib, &args, &env));
    let _trees = Trees(vec![hash]);

    let started = std::time::Instant::now();
    let out = run(&mut f.command("dib-big", &dib, &args, &env));
    let err = text(&out.stderr);
    assert!(out.status.success(), "build failed:\n{err}");
    eprintln!(
        "dib_elements: the big build took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // The build's secret never reaches its log, even when a script prints it.
    assert!(!err.contains(&f.password), "the password is in the log");
    assert!(
        err.contains("dib-compat-probe: the devuser password is ***"),
        "{err}"
    );
    // Nothing left behind in TMPDIR.
    assert_eq!(
        std::fs::read_dir(f.path("tmp")).expect("tmp").count(),
        0,
        "the build left files in TMPDIR"
    );

    let tree = Tree::load(&f.path("dib-big.tar"));
    check_all(&tree, BIG);
    // ... nor its image (where elements write: KEEP).
    let leaks: Vec<&String> = tree
        .0
        .iter()
        .filter(|(_, e)| e.text.contains(&f.password))
        .map(|(p, _)| p)
        .collect();
    assert!(leaks.is_empty(), "the password is in {leaks:?}");
    // DIB's variables, as the chroot saw them.
    let probe = tree.file("etc/dib-compat-probe/env").expect("probe env");
    for line in [
        "DIB_DEFAULT_INSTALLTYPE=source",
        "no_proxy=example.invalid,10.1.2.3",
        "LC_ALL=C",
        "get_image_element_array=function",
        "IMAGE_ELEMENT has probe=yes",
    ] {
        assert!(probe.contains(line), "{line} not in:\n{probe}");
    }
    // Root owns what the elements installed.
    for p in [
        "usr/lib/systemd/system/ssh-keygen.service",
        "usr/local/bin/cache-url",
        "etc/modprobe.d/disable-nouveau.conf",
    ] {
        assert_eq!(tree.get(p).map(|e| e.uid), Ok(0), "{p}");
    }
    // manifests' copy beside the outputs (IMAGE_NAME.d in the current directory).
    assert!(f.path("dib-big.d/dib-manifests/dib_arguments").is_file());
}

#[test]
fn changing_a_file_a_dib_variable_names_rebuilds_the_tree() {
    require_root();
    let dib = dib_elements();
    let f = Fixture::new("key");
    let conf = f.write("apt-conf", "// dib-compat apt-conf v1\n");
    let env: Vec<(&str, String)> = vec![
        ("DIB_APT_CONF", conf.display().to_string()),
        ("DIB_MODPROBE_BLACKLIST", "floppy".into()),
    ];
    // kmod: /etc/modprobe.d, which minbase lacks (any vm tree has it).
    let mut args: Vec<&str> = vec!["-n", "-p", "kmod", "debian-minimal"];
    args.extend(SMALL);
    let build = || {
        let out = run(&mut f.command("dib-small", &dib, &args, &env));
        let err = text(&out.stderr);
        assert!(out.status.success(), "build failed:\n{err}");
        (err, Tree::load(&f.path("dib-small.tar")))
    };
    let h1 = f.hash(&mut f.command("dib-small", &dib, &args, &env));
    let mut trees = Trees(vec![h1.clone()]);
    let (_, tree) = build();
    check_all(&tree, SMALL);
    tree.contains("etc/apt/apt.conf", "v1").expect("v1");

    // The same content again: the cached tree.
    let (err, _) = build();
    assert!(err.contains("reusing the cached tree"), "{err}");

    // New content in the file DIB_APT_CONF names: a new tree, with it.
    std::fs::write(&conf, "// dib-compat apt-conf v2\n").expect("write");
    let h2 = f.hash(&mut f.command("dib-small", &dib, &args, &env));
    trees.0.push(h2.clone());
    assert_ne!(h1, h2, "the plan hash ignores the file DIB_APT_CONF names");
    let (err, tree) = build();
    assert!(!err.contains("reusing the cached tree"), "{err}");
    tree.contains("etc/apt/apt.conf", "v2").expect("v2");
}
