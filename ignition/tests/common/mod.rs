//! Shared by the test binaries of `solum-ignition`: running Ignition's own `ignition-validate`.
//! It must be installed (`scripts/setup.sh` installs Debian's `ignition`): a missing tool fails
//! the test, it never skips the comparison.

use std::io::Write;
use std::process::{Command, Stdio};

/// What `ignition-validate -` says of `config`: valid or not, and its stderr. ignition-validate
/// 2.14 knows 3.4.0 only as "3.4.0-experimental", so a 3.4.0 config is rewritten for its run.
pub fn ignition_validate(config: &[u8]) -> (bool, String) {
    let text = String::from_utf8_lossy(config).replace("\"3.4.0\"", "\"3.4.0-experimental\"");
    let mut child = match Command::new("ignition-validate")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "ignition-validate is not installed (Debian package `ignition`, see scripts/setup.sh): \
             the comparison with Ignition cannot run"
        ),
        Err(e) => panic!("running ignition-validate: {e}"),
    };
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(text.as_bytes())
        .expect("writing to ignition-validate");
    drop(stdin);
    let out = child
        .wait_with_output()
        .expect("waiting for ignition-validate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => (true, stderr),
        Some(1) => (false, stderr),
        other => panic!("ignition-validate exited with {other:?}: {stderr}"),
    }
}
