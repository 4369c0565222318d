//! `solum-agent init`: what cloud-init's first stage (or Afterburn) does in an app VM, from
//! Nova's metadata: the hostname (kernel, `/etc/hostname`, the `127.0.1.1` line of
//! `/etc/hosts`) and the ssh keys of the key pair Heat named, for the login user (a block of
//! `~/.ssh/authorized_keys` that the agent owns; lines outside it are kept). The edits are pure
//! functions over text; `apply` does the I/O under a root directory (`/` in the VM).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::metadata::NovaMetadata;
use crate::state::write_atomic;

/// First and last lines of the block of `authorized_keys` that the agent owns.
pub const KEYS_BEGIN: &str = "# solum-agent: keys from Nova metadata (replaced at each boot)";
pub const KEYS_END: &str = "# solum-agent: end";

/// Longest key line accepted (an RSA 16384-bit key is about 2.8 KB).
const MAX_KEY_BYTES: usize = 16 * 1024;
/// Most keys accepted.
const MAX_KEYS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum HostSetupError {
    #[error("hostname {0:?} from the metadata is not a valid host name (RFC 1123 labels of letters, digits and '-', at most 63 bytes each, 253 in all)")]
    BadHostname(String),
    #[error("login user {user:?} is not in {passwd}: add the app-vm element, or set login_user in the agent's configuration")]
    NoUser { user: String, passwd: PathBuf },
    #[error("{path}: is a symbolic link; refusing to write through it")]
    Symlink { path: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> HostSetupError {
    move |source| HostSetupError::Io { context, source }
}

/// A user as `/etc/passwd` has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The entry of `name` in the text of `/etc/passwd` (pure).
pub fn find_user(passwd: &str, name: &str) -> Option<User> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        Some(User {
            name: name.to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: PathBuf::from(f[5]),
        })
    })
}

/// The host name to set, from `meta_data.json`'s `hostname` (Nova's, possibly with a domain):
/// `(short, fqdn)`. Pure; refuses what is not a valid RFC 1123 name.
pub fn hostname(nova_hostname: &str) -> Result<(String, String), HostSetupError> {
    let fqdn = nova_hostname
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let bad = || HostSetupError::BadHostname(nova_hostname.chars().take(300).collect());
    if fqdn.is_empty() || fqdn.len() > 253 {
        return Err(bad());
    }
    for label in fqdn.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(bad());
        }
    }
    let short = fqdn.split('.').next().unwrap_or_default().to_string();
    Ok((short, fqdn))
}

/// `/etc/hosts` with its `127.0.1.1` line naming this host (Debian's convention, so that the
/// name resolves without DNS: sudo and many daemons look it up). Other lines are kept.
pub fn hosts_file(existing: &str, short: &str, fqdn: &str) -> String {
    let line = if fqdn == short {
        format!("127.0.1.1\t{short}")
    } else {
        format!("127.0.1.1\t{fqdn} {short}")
    };
    let mut out = Vec::new();
    let mut placed = false;
    for l in existing.lines() {
        if l.split_whitespace().next() == Some("127.0.1.1") {
            if !placed {
                out.push(line.clone());
                placed = true;
            }
            continue;
        }
        out.push(l.to_string());
    }
    if !placed {
        // After the localhost line, where Debian puts it.
        let at = out
            .iter()
            .position(|l| l.split_whitespace().next() == Some("127.0.0.1"))
            .map(|i| i + 1)
            .unwrap_or(0);
        out.insert(at, line);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The public keys of the metadata as `authorized_keys` lines: one key per line, no comments,
/// no control characters (a key with an embedded newline cannot add a second line). Pure.
pub fn key_lines(keys: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, value) in keys {
        for line in value.lines() {
            let line = line.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.len() > MAX_KEY_BYTES
                || line.chars().any(|c| c.is_control())
            {
                continue;
            }
            if !out.iter().any(|l| l == line) && out.len() < MAX_KEYS {
                out.push(line.to_string());
            }
        }
    }
    out
}

/// `authorized_keys` with the agent's block holding exactly `keys` (removed when there are
/// none); lines outside the block are kept as they are. Pure.
pub fn authorized_keys(existing: &str, keys: &[String]) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut inside = false;
    for l in existing.lines() {
        if l == KEYS_BEGIN {
            inside = true;
            continue;
        }
        if inside {
            if l == KEYS_END {
                inside = false;
            }
            continue;
        }
        out.push(l);
    }
    let mut text: String = out.iter().map(|l| format!("{l}\n")).collect();
    if !keys.is_empty() {
        text.push_str(KEYS_BEGIN);
        text.push('\n');
        for k in keys {
            text.push_str(k);
            text.push('\n');
        }
        text.push_str(KEYS_END);
        text.push('\n');
    }
    text
}

/// What `apply` should do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `/etc` and the home directories are (`/` in the VM; a scratch tree in tests).
    pub root: PathBuf,
    /// The user whose `authorized_keys` gets the keys; None: no keys are installed.
    pub login_user: Option<String>,
    /// Also set the kernel's host name (only when `root` is `/`).
    pub set_kernel_hostname: bool,
}

/// What `apply` did, for its log line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub hostname: Option<String>,
    pub keys: usize,
    pub user: Option<String>,
}

/// Applies the hostname and the keys of `nova`. Each part is attempted; the first error is
/// returned after both ran (a bad hostname does not cost the operator their ssh access).
pub fn apply(nova: &NovaMetadata, o: &Options) -> Result<Report, HostSetupError> {
    let mut report = Report::default();
    let mut first_error = None;
    if let Some(name) = nova.meta_data.get("hostname").and_then(|v| v.as_str()) {
        match set_hostname(name, o) {
            Ok(short) => report.hostname = Some(short),
            Err(e) => first_error = Some(e),
        }
    }
    if let Some(user) = &o.login_user {
        match install_keys(user, &key_lines(&nova.public_keys()), o) {
            Ok(n) => {
                report.keys = n;
                report.user = Some(user.clone());
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

fn set_hostname(name: &str, o: &Options) -> Result<String, HostSetupError> {
    let (short, fqdn) = hostname(name)?;
    let etc = o.root.join("etc");
    let hostname_path = etc.join("hostname");
    let current = std::fs::read_to_string(&hostname_path).unwrap_or_default();
    if current.trim() != short {
        write_atomic(&hostname_path, format!("{short}\n").as_bytes())
            .map_err(io(format!("writing {}", hostname_path.display())))?;
    }
    let hosts_path = etc.join("hosts");
    let hosts = std::fs::read_to_string(&hosts_path)
        .unwrap_or_else(|_| "127.0.0.1\tlocalhost\n".to_string());
    let new_hosts = hosts_file(&hosts, &short, &fqdn);
    if new_hosts != hosts {
        write_atomic(&hosts_path, new_hosts.as_bytes())
            .map_err(io(format!("writing {}", hosts_path.display())))?;
        let _ = std::fs::set_permissions(&hosts_path, std::fs::Permissions::from_mode(0o644));
    }
    if o.set_kernel_hostname {
        // SAFETY: the pointer and length describe a live byte string.
        let rc = unsafe { libc::sethostname(short.as_ptr().cast(), short.len()) };
        if rc != 0 {
            return Err(HostSetupError::Io {
                context: format!("setting the host name to {short}"),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(short)
}

fn install_keys(user: &str, keys: &[String], o: &Options) -> Result<usize, HostSetupError> {
    let passwd_path = o.root.join("etc/passwd");
    let passwd = std::fs::read_to_string(&passwd_path)
        .map_err(io(format!("reading {}", passwd_path.display())))?;
    let u = find_user(&passwd, user).ok_or_else(|| HostSetupError::NoUser {
        user: user.to_string(),
        passwd: passwd_path.clone(),
    })?;
    let home = o.root.join(u.home.strip_prefix("/").unwrap_or(&u.home));
    let ssh = home.join(".ssh");
    for p in [&home, &ssh] {
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(HostSetupError::Symlink { path: p.clone() });
        }
    }
    if !home.exists() {
        std::fs::create_dir_all(&home).map_err(io(format!("creating {}", home.display())))?;
        chown(&home, &u)?;
    }
    if !ssh.exists() {
        std::fs::create_dir(&ssh).map_err(io(format!("creating {}", ssh.display())))?;
    }
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("setting the mode of {}", ssh.display())))?;
    chown(&ssh, &u)?;
    let path = ssh.join("authorized_keys");
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(HostSetupError::Symlink { path });
    }
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let text = authorized_keys(&existing, keys);
    let meta = std::fs::metadata(&path).ok();
    let owned = meta
        .as_ref()
        .is_some_and(|m| m.uid() == u.uid && m.mode() & 0o777 == 0o600);
    if text != existing || !owned {
        write_atomic(&path, text.as_bytes()).map_err(io(format!("writing {}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("setting the mode of {}", path.display())))?;
        chown(&path, &u)?;
    }
    Ok(keys.len())
}

fn chown(path: &Path, u: &User) -> Result<(), HostSetupError> {
    std::os::unix::fs::lchown(path, Some(u.uid), Some(u.gid))
        .map_err(io(format!("changing the owner of {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hostnames_are_validated_and_shortened() {
        assert_eq!(
            hostname("App-VM-0.novalocal").unwrap(),
            ("app-vm-0".into(), "app-vm-0.novalocal".into())
        );
        assert_eq!(hostname("web").unwrap(), ("web".into(), "web".into()));
        assert_eq!(hostname("web.").unwrap().1, "web");
        for bad in [
            "",
            "-web",
            "web-",
            "we b",
            "a..b",
            "x/../../etc",
            "ünï",
            &"a".repeat(64),
            &format!("{}.x", "a.".repeat(130)),
        ] {
            assert!(hostname(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn hosts_file_names_the_host_once_and_keeps_the_rest() {
        let debian = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n";
        assert_eq!(
            hosts_file(debian, "web", "web.novalocal"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tweb.novalocal web\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
        );
        let twice = "127.0.0.1 localhost\n127.0.1.1 old\n10.0.0.1 db\n127.0.1.1 older\n";
        assert_eq!(
            hosts_file(twice, "web", "web"),
            "127.0.0.1 localhost\n127.0.1.1\tweb\n10.0.0.1 db\n"
        );
        assert_eq!(hosts_file("", "web", "web"), "127.0.1.1\tweb\n");
    }

    #[test]
    fn key_lines_take_each_key_once_and_never_a_second_line() {
        let keys = vec![
            ("k1".to_string(), "ssh-ed25519 AAAA1 a@b\n".to_string()),
            (
                "k2".to_string(),
                "ssh-rsa AAAA2 c@d\n\n# comment\nssh-ed25519 AAAA1 a@b\n".to_string(),
            ),
            ("k3".to_string(), "ssh-ed25519 AAAA3 x\u{7}y".to_string()),
        ];
        assert_eq!(
            key_lines(&keys),
            ["ssh-ed25519 AAAA1 a@b", "ssh-rsa AAAA2 c@d"]
        );
    }

    #[test]
    fn authorized_keys_replaces_only_its_block() {
        let own = "ssh-ed25519 MINE me@laptop\n";
        let once = authorized_keys(own, &["ssh-ed25519 HEAT heat".into()]);
        assert_eq!(
            once,
            format!("{own}{KEYS_BEGIN}\nssh-ed25519 HEAT heat\n{KEYS_END}\n")
        );
        let twice = authorized_keys(&once, &["ssh-rsa NEW heat".into()]);
        assert_eq!(
            twice,
            format!("{own}{KEYS_BEGIN}\nssh-rsa NEW heat\n{KEYS_END}\n")
        );
        assert_eq!(authorized_keys(&twice, &[]), own);
    }

    #[test]
    fn passwd_entries_are_found_by_name() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndebian:x:1000:1000:Debian:/home/debian:/bin/bash\nbroken:x\n";
        assert_eq!(
            find_user(passwd, "debian"),
            Some(User {
                name: "debian".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/debian".into()
            })
        );
        assert_eq!(find_user(passwd, "broken"), None);
        assert_eq!(find_user(passwd, "deb"), None);
    }

    fn nova(meta: serde_json::Value) -> NovaMetadata {
        NovaMetadata {
            origin: "test".into(),
            meta_data: meta.as_object().unwrap().clone(),
            ..NovaMetadata::default()
        }
    }

    #[test]
    fn apply_writes_hostname_hosts_and_keys_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let (uid, gid) = (unsafe { libc::getuid() }, unsafe { libc::getgid() });
        std::fs::write(
            etc.join("passwd"),
            format!("debian:x:{uid}:{gid}::/home/debian:/bin/bash\n"),
        )
        .unwrap();
        std::fs::write(etc.join("hosts"), "127.0.0.1\tlocalhost\n").unwrap();
        let n = nova(json!({"hostname": "web-1.novalocal",
            "public_keys": {"heat": "ssh-ed25519 AAAAHEAT heat\n"}}));
        let o = Options {
            root: root.path().to_path_buf(),
            login_user: Some("debian".into()),
            set_kernel_hostname: false,
        };
        let r = apply(&n, &o).unwrap();
        assert_eq!(r.hostname.as_deref(), Some("web-1"));
        assert_eq!(r.keys, 1);
        assert_eq!(
            std::fs::read_to_string(etc.join("hostname")).unwrap(),
            "web-1\n"
        );
        assert!(std::fs::read_to_string(etc.join("hosts"))
            .unwrap()
            .contains("127.0.1.1\tweb-1.novalocal web-1"));
        let ak = root.path().join("home/debian/.ssh/authorized_keys");
        assert!(std::fs::read_to_string(&ak)
            .unwrap()
            .contains("ssh-ed25519 AAAAHEAT heat"));
        assert_eq!(std::fs::metadata(&ak).unwrap().mode() & 0o777, 0o600);
        let ssh = root.path().join("home/debian/.ssh");
        assert_eq!(std::fs::metadata(&ssh).unwrap().mode() & 0o777, 0o700);

        // A bad hostname is reported, and the keys are still installed.
        std::fs::remove_file(&ak).unwrap();
        let bad = nova(json!({"hostname": "-bad-", "public_keys": {"k": "ssh-rsa AAAAB k"}}));
        let e = apply(&bad, &o).unwrap_err();
        assert!(e.to_string().contains("-bad-"), "{e}");
        assert!(std::fs::read_to_string(&ak)
            .unwrap()
            .contains("ssh-rsa AAAAB k"));
    }

    #[test]
    fn a_symlinked_ssh_directory_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::create_dir_all(root.path().join("home/debian")).unwrap();
        std::fs::create_dir_all(root.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(
            root.path().join("elsewhere"),
            root.path().join("home/debian/.ssh"),
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "debian:x:1000:1000::/home/debian:/bin/bash\n",
        )
        .unwrap();
        let n = nova(json!({"public_keys": {"k": "ssh-rsa AAAAB k"}}));
        let o = Options {
            root: root.path().to_path_buf(),
            login_user: Some("debian".into()),
            set_kernel_hostname: false,
        };
        let e = apply(&n, &o).unwrap_err();
        assert!(matches!(e, HostSetupError::Symlink { .. }), "{e}");
        assert!(!root.path().join("elsewhere/authorized_keys").exists());
    }

    #[test]
    fn a_missing_login_user_is_named() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\n",
        )
        .unwrap();
        let o = Options {
            root: root.path().to_path_buf(),
            login_user: Some("debian".into()),
            set_kernel_hostname: false,
        };
        let e = apply(&nova(json!({})), &o).unwrap_err();
        assert!(e.to_string().contains("\"debian\""), "{e}");
    }
}
