//! The environment diskimage-builder gives element scripts, pure.
//!
//! DIB runs its phases with the caller's environment (`sudo -E`), so a
//! build's `http_proxy`, `no_proxy`, `HOME` ... reach the scripts; this
//! module says which of the caller's variables pass (`passes`), which look
//! secret (`is_secret_name`, `secret_values`), and renders the variables DIB
//! itself exports to every script: `DIB_ENV` (its `declare -p` of the
//! `DIB_*` variables), `IMAGE_ELEMENT_YAML` and the exported bash function
//! `get_image_element_array`.

use crate::plan::Plan;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the merged hooks appear inside the chroot.
pub const IN_TARGET: &str = "/tmp/in_target.d";
/// The builder's own files in the hooks directory (helpers, the runner,
/// the environment.d order, resolved pkg-maps, the files tarball): a name no
/// element directory has, so DIB's layout of the rest stays as DIB makes it.
pub const OWN_DIR: &str = ".solum";
/// The chroot's PATH after the helpers.
const INSIDE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a running build adds to every script's environment.
#[derive(Debug, Clone)]
pub struct Runtime<'a> {
    pub cache_dir: &'a Path,
    pub elements_path: &'a [PathBuf],
    pub offline: bool,
    pub trace: bool,
}

/// Where a script runs.
#[derive(Debug, Clone)]
pub enum View<'a> {
    /// On the host, with the tree at `root`.
    Outside {
        root: &'a Path,
        hooks: &'a Path,
        build_dir: &'a Path,
        image_dir: &'a Path,
    },
    /// In the chroot (hooks at `IN_TARGET`).
    Inside,
}

/// Every variable a script gets, as DIB gives them: the caller's variables
/// that pass (secret ones too: scripts need them; they are kept out of
/// logs by `redact`), the plan's, the ones disk-image-create exports, and
/// the view's own (paths, PATH, HOME).
pub fn script_env(
    plan: &Plan,
    caller: &BTreeMap<String, String>,
    rt: &Runtime<'_>,
    view: &View<'_>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = caller
        .iter()
        .filter(|(k, _)| passes(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(plan.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let elements: Vec<(String, &Path)> = plan
        .elements
        .iter()
        .map(|e| (e.name.clone(), e.path.as_path()))
        .collect();
    let names: Vec<&str> = plan.elements.iter().map(|e| e.name.as_str()).collect();
    let path_list: Vec<String> = rt
        .elements_path
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (fname, fvalue) = element_array_function(&elements);
    env.insert(fname, fvalue);
    for (k, v) in [
        ("IMAGE_ELEMENT", names.join(" ")),
        ("IMAGE_ELEMENT_YAML", element_yaml(&elements)),
        ("ELEMENTS_PATH", path_list.join(":")),
        ("DIB_ENV", dib_env(&plan.env, &plan.secret_vars)),
        ("DIB_IMAGE_CACHE", rt.cache_dir.display().to_string()),
        (
            "DIB_LOCKFILES",
            rt.cache_dir
                .join("solum-image/lockfiles")
                .display()
                .to_string(),
        ),
        ("DIB_OFFLINE", if rt.offline { "1" } else { "" }.to_string()),
        (
            "DIB_DEBUG_TRACE",
            if rt.trace { "1" } else { "0" }.to_string(),
        ),
    ] {
        env.insert(k.to_string(), v);
    }
    match view {
        View::Inside => {
            env.remove("TMPDIR");
            for (k, v) in [
                ("TMP_HOOKS_PATH", IN_TARGET.to_string()),
                ("PATH", format!("{IN_TARGET}/{OWN_DIR}/bin:{INSIDE_PATH}")),
                ("HOME", "/root".to_string()),
                ("DEBIAN_FRONTEND", "noninteractive".to_string()),
            ] {
                env.insert(k.to_string(), v);
            }
        }
        View::Outside {
            root,
            hooks,
            build_dir,
            image_dir,
        } => {
            if let Some(t) = caller.get("TMPDIR") {
                env.insert("TMPDIR".into(), t.clone());
            }
            let host_path = caller
                .get("PATH")
                .cloned()
                .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_string());
            let mut path = format!(
                "{h}/{OWN_DIR}/host-bin:{h}/{OWN_DIR}/bin:{host_path}",
                h = hooks.display()
            );
            // As DIB does: the sbin directories are on it, whatever sudo left.
            for d in ["/sbin", "/usr/sbin", "/usr/local/sbin"] {
                if !host_path.split(':').any(|p| p == d) {
                    path.push(':');
                    path.push_str(d);
                }
            }
            let root = root.display().to_string();
            for (k, v) in [
                ("TMP_HOOKS_PATH", hooks.display().to_string()),
                ("TARGET_ROOT", root.clone()),
                ("TMP_MOUNT_PATH", root),
                ("TMP_BUILD_DIR", build_dir.display().to_string()),
                ("TMP_IMAGE_DIR", image_dir.display().to_string()),
                ("PATH", path),
            ] {
                env.insert(k.to_string(), v);
            }
        }
    }
    env
}

/// Variables the builder sets itself for scripts; whatever the caller had
/// under these names does not pass, so they key nothing.
pub const RUNTIME_ONLY: &[&str] = &[
    "DIB_OFFLINE",
    "DIB_DEBUG_TRACE",
    "DIB_IMAGE_CACHE",
    "DIB_IMAGE_CACHE_TREES",
    "DIB_CHECKSUM",
    "DIB_LOCKFILES",
    "TMPDIR",
];

/// A login or terminal session's variables: nothing a tree can depend on.
/// They neither pass to scripts nor key the cache (otherwise every new ssh
/// session would miss it).
const SESSION: &[&str] = &[
    "_",
    "COLORTERM",
    "COLUMNS",
    "DBUS_SESSION_BUS_ADDRESS",
    "DISPLAY",
    "HISTCONTROL",
    "HISTFILE",
    "HISTFILESIZE",
    "HISTSIZE",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "LESSCLOSE",
    "LESSOPEN",
    "LINES",
    "LS_COLORS",
    "MAIL",
    "MOTD_SHOWN",
    "OLDPWD",
    "PROMPT_COMMAND",
    "PS1",
    "PS2",
    "PWD",
    "SHELL",
    "SHLVL",
    "STY",
    "TERM",
    "TERMCAP",
    "TMUX",
    "TMUX_PANE",
    "WINDOW",
    "WINDOWID",
    "XAUTHORITY",
];
const SESSION_PREFIXES: &[&str] = &["SSH_", "XDG_", "SUDO_"];

/// What sudo deletes even with `-E` (its `env_delete` list, in part): they
/// change how a shell or the dynamic linker behaves, not what it builds.
const UNSAFE: &[&str] = &[
    "BASHOPTS",
    "BASH_ENV",
    "CDPATH",
    "ENV",
    "GLOBIGNORE",
    "IFS",
    "PS4",
    "PYTHONHOME",
    "PYTHONPATH",
    "SHELLOPTS",
    "VIRTUAL_ENV",
];
const UNSAFE_PREFIXES: &[&str] = &["LD_", "BASH_FUNC_"];

/// Whether a name is a portable shell identifier (`[A-Za-z_][A-Za-z0-9_]*`).
/// Other names are dropped by some shells (dash, busybox sh): a build run
/// from such a shell would otherwise key a different tree than one run
/// directly, and a shell script can never read them anyway.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a caller's variable passes to the scripts (and so keys the tree).
pub fn passes(name: &str) -> bool {
    let listed = |list: &[&str], prefixes: &[&str]| {
        list.contains(&name) || prefixes.iter().any(|p| name.starts_with(p))
    };
    is_identifier(name)
        && !RUNTIME_ONLY.contains(&name)
        && !listed(SESSION, SESSION_PREFIXES)
        && !listed(UNSAFE, UNSAFE_PREFIXES)
}

/// The caller's environment as text (`std::env::vars` panics on a name or
/// value that is not UTF-8). Such a variable is left out; the returned
/// warnings name the ones that would have passed to the scripts (lossily).
pub fn caller_env(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = BTreeMap::new();
    let mut warnings = Vec::new();
    for (k, v) in vars {
        match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => {
                env.insert(k, v);
            }
            (Ok(k), Err(_)) if passes(&k) => {
                warnings.push(format!("{k} is ignored: its value is not UTF-8"));
            }
            _ => {}
        }
    }
    (env, warnings)
}

/// Whether a variable's value must not be printed.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "SECRET",
        "CREDENTIAL",
        "PRIVATE",
        "_KEY",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Values long enough to be worth hiding in logs (a one-character
/// "password" would hide every `1` in the output).
pub const MIN_SECRET_LEN: usize = 4;

/// The values of the secret-looking variables among `env`, longest first
/// (so a secret that contains another is hidden whole).
pub fn secret_values(env: &BTreeMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = env
        .iter()
        .filter(|(k, v)| is_secret_name(k) && v.len() >= MIN_SECRET_LEN)
        .map(|(_, v)| v.clone())
        .collect();
    v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    v.dedup();
    v
}

/// `line` with every secret replaced by `***`.
pub fn redact(line: &str, secrets: &[String]) -> String {
    solum_edge::redact::secrets(line, secrets)
}

/// A word as bash would read it back: bare when it is plain, else in
/// single quotes.
pub fn shell_quote(s: &str) -> String {
    solum_edge::cmd::quote(s)
}

/// A value in double quotes as `declare -p` prints it.
fn declare_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `DIB_ENV`: the `DIB_*` variables as `declare -x NAME="value"` lines, as
/// disk-image-create records them at its start (the manifests element
/// writes them into the image). Secret-looking ones say `***`, so no
/// password ends up in an image file.
pub fn dib_env(vars: &BTreeMap<String, String>, secret_names: &[String]) -> String {
    let mut lines: BTreeMap<&str, String> = BTreeMap::new();
    for (k, v) in vars {
        if k.starts_with("DIB_") && k != "DIB_ENV" {
            lines.insert(k, format!("declare -x {k}={}", declare_quote(v)));
        }
    }
    for k in secret_names.iter().filter(|k| k.starts_with("DIB_")) {
        lines.insert(k, format!("declare -x {k}=\"***\""));
    }
    lines.into_values().collect::<Vec<_>>().join("\n")
}

/// `IMAGE_ELEMENT_YAML`: element name to directory, as PyYAML's
/// `safe_dump` of a dict writes it (keys sorted).
pub fn element_yaml(elements: &[(String, &Path)]) -> String {
    let mut sorted: Vec<&(String, &Path)> = elements.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::new();
    for (name, path) in sorted {
        let p = path.display().to_string();
        let plain = !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        let value = if plain {
            p
        } else {
            format!("'{}'", p.replace('\'', "''"))
        };
        s.push_str(&format!("{name}: {value}\n"));
    }
    s
}

/// The exported bash function `get_image_element_array` as an environment
/// entry (name, value): it prints `[name]=path ...` for
/// `eval declare -A image_elements=($(get_image_element_array))`, paths
/// quoted for that `eval` when they need it.
pub fn element_array_function(elements: &[(String, &Path)]) -> (String, String) {
    let mut words = String::new();
    for (name, path) in elements {
        words.push_str(&format!(
            "[{name}]={} ",
            shell_quote(&path.display().to_string())
        ));
    }
    (
        "BASH_FUNC_get_image_element_array%%".to_string(),
        format!("() {{  printf '%s\\n' {}\n}}", shell_quote(&words)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn session_and_unsafe_variables_do_not_pass() {
        for n in ["http_proxy", "no_proxy", "HOME", "PATH", "DIB_X", "LANG"] {
            assert!(passes(n), "{n}");
        }
        for n in [
            "TERM",
            "PWD",
            "SHELL",
            "SSH_AUTH_SOCK",
            "XDG_RUNTIME_DIR",
            "LD_PRELOAD",
            "BASH_ENV",
            "BASH_FUNC_x%%",
            "FOO-BAR",
            "a.b",
            "1X",
            "TMPDIR",
            "DIB_IMAGE_CACHE",
            "",
        ] {
            assert!(!passes(n), "{n}");
        }
    }

    #[test]
    fn caller_env_leaves_out_what_is_not_utf8_and_says_so() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let (env, warnings) = caller_env([
            (OsString::from("DIB_OK"), OsString::from("yes")),
            (OsString::from("DIB_BAD"), OsString::from_vec(vec![0xff])),
            (OsString::from("TERM"), OsString::from_vec(vec![0xfe])),
            (OsString::from_vec(vec![b'X', 0xff]), OsString::from("v")),
        ]);
        assert_eq!(env.len(), 1);
        assert_eq!(env["DIB_OK"], "yes");
        assert_eq!(warnings, vec!["DIB_BAD is ignored: its value is not UTF-8"]);
    }

    #[test]
    fn secrets_are_found_and_redacted_longest_first() {
        let env: BTreeMap<String, String> = [
            ("DIB_DEV_USER_PASSWORD", "hunter2hunter2"),
            ("OS_PASSWORD", "hunter2"),
            ("MY_TOKEN", "abc"),
            ("DIB_RELEASE", "hunter2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = secret_values(&env);
        assert_eq!(s, vec!["hunter2hunter2".to_string(), "hunter2".to_string()]);
        assert_eq!(
            redact("pw=hunter2hunter2 and hunter2", &s),
            "pw=*** and ***"
        );
    }

    #[test]
    fn dib_env_reads_back_in_bash_and_hides_secrets() {
        let vars: BTreeMap<String, String> = [
            ("DIB_A", "plain"),
            ("DIB_B", "a \"quoted\" $HOME `x` \\ value"),
            ("OTHER", "no"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let text = dib_env(&vars, &["DIB_DEV_USER_PASSWORD".to_string()]);
        assert!(!text.contains("OTHER"));
        assert!(text.contains("declare -x DIB_DEV_USER_PASSWORD=\"***\""));
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{text}\nprintf '%s|%s' \"$DIB_A\" \"$DIB_B\""))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "plain|a \"quoted\" $HOME `x` \\ value"
        );
    }

    #[test]
    fn element_array_works_with_dibs_own_eval() {
        let a = Path::new("/e/plain");
        let b = Path::new("/e/with space/it's");
        let els = vec![("one".to_string(), a), ("two-x".to_string(), b)];
        let (name, value) = element_array_function(&els);
        // How DIB's elements use it (modprobe's extra-data.d, for one).
        let script = "eval declare -A image_elements=($(get_image_element_array))\n\
                      for i in $(printf '%s\\n' \"${!image_elements[@]}\" | sort); do\n\
                      printf '%s=%s\\n' \"$i\" \"${image_elements[$i]}\"; done";
        let out = Command::new("bash")
            .arg("-c")
            .arg(script)
            .env(&name, &value)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "one=/e/plain\ntwo-x=/e/with space/it's\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            element_yaml(&els),
            "one: /e/plain\ntwo-x: '/e/with space/it''s'\n"
        );
    }
}
