//! `solum-image boot`: a quick look at an image in qemu (TCG, serial on the
//! terminal), optionally with an OpenStack config drive made from a
//! directory (iso9660, label `config-2`) or an Ignition config via fw_cfg.
//! The image itself is never written (`snapshot=on`).

use crate::cmd::{self, CmdError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a boot could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{0}: not found")]
    Missing(PathBuf),
    #[error("{0}: a vagrant box is not bootable directly; boot its box.img (or the .qcow2)")]
    IsBox(PathBuf),
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error("cannot run qemu-system-x86_64: {0}")]
    Qemu(std::io::Error),
    #[error("qemu exited with {0}")]
    QemuFailed(String),
}

/// What to boot and how.
#[derive(Debug, Clone, PartialEq)]
pub struct BootOptions {
    pub image: PathBuf,
    pub config_drive: Option<PathBuf>,
    pub ignition: Option<PathBuf>,
    pub uefi: bool,
    pub memory_mb: u32,
    /// Forward 127.0.0.1:PORT on the host to the guest's port 22.
    pub ssh_port: Option<u16>,
}

/// Disk format from the file name (pure).
pub fn image_format(image: &Path) -> Result<&'static str, BootError> {
    match image.extension().and_then(|e| e.to_str()) {
        Some("qcow2") => Ok("qcow2"),
        Some("box") => Err(BootError::IsBox(image.to_path_buf())),
        _ => Ok("raw"),
    }
}

/// qemu's arguments (pure). `iso` is the config drive image, if any.
pub fn qemu_args(
    o: &BootOptions,
    iso: Option<&Path>,
    vars: Option<&Path>,
) -> Result<Vec<String>, BootError> {
    let format = image_format(&o.image)?;
    let mut a: Vec<String> = vec![
        "-m".into(),
        o.memory_mb.to_string(),
        // KVM hangs guests on these machines; TCG always works.
        "-accel".into(),
        "tcg".into(),
        "-nographic".into(),
        "-drive".into(),
        format!(
            "file={},format={format},if=virtio,snapshot=on",
            o.image.display()
        ),
    ];
    if let (true, Some(vars)) = (o.uefi, vars) {
        a.extend([
            "-drive".into(),
            "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            "-drive".into(),
            format!("if=pflash,format=raw,file={}", vars.display()),
        ]);
    }
    if let Some(iso) = iso {
        a.extend([
            "-drive".into(),
            format!("file={},format=raw,if=virtio,readonly=on", iso.display()),
        ]);
    }
    if let Some(ign) = &o.ignition {
        a.extend([
            "-fw_cfg".into(),
            format!("name=opt/com.coreos/config,file={}", ign.display()),
        ]);
    }
    // Loopback only: the guest reaches no other address (hostfwd still works).
    let mut net = "user,id=n0,restrict=on".to_string();
    if let Some(p) = o.ssh_port {
        net.push_str(&format!(",hostfwd=tcp:127.0.0.1:{p}-:22"));
    }
    a.extend([
        "-netdev".into(),
        net,
        "-device".into(),
        "virtio-net-pci,netdev=n0".into(),
    ]);
    Ok(a)
}

/// Boot and wait for qemu to end (Ctrl-A X leaves).
pub fn boot(o: &BootOptions) -> Result<(), BootError> {
    for p in [Some(&o.image), o.config_drive.as_ref(), o.ignition.as_ref()]
        .into_iter()
        .flatten()
    {
        if !p.exists() {
            return Err(BootError::Missing(p.clone()));
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("solum-image-boot-")
        .tempdir()
        .map_err(BootError::Qemu)?;
    let iso = match &o.config_drive {
        Some(d) => {
            let iso = dir.path().join("config-drive.iso");
            cmd::run(
                Command::new("genisoimage")
                    .args(["-quiet", "-r", "-J", "-V", "config-2", "-o"])
                    .arg(&iso)
                    .arg(d),
            )?;
            Some(iso)
        }
        None => None,
    };
    let vars = if o.uefi {
        let v = dir.path().join("OVMF_VARS.fd");
        std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &v).map_err(BootError::Qemu)?;
        Some(v)
    } else {
        None
    };
    let args = qemu_args(o, iso.as_deref(), vars.as_deref())?;
    let mut child = Command::new("qemu-system-x86_64")
        .args(&args)
        .spawn()
        .map_err(BootError::Qemu)?;
    let mut stopping = false;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(BootError::Qemu)? {
            break st;
        }
        if crate::namespace::interrupted() && !stopping {
            // SAFETY: signalling the qemu we spawned.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            stopping = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    if stopping {
        return Ok(());
    }
    if !status.success() {
        return Err(BootError::QemuFailed(cmd::status_text(&status)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(image: &str) -> BootOptions {
        BootOptions {
            image: PathBuf::from(image),
            config_drive: None,
            ignition: Some(PathBuf::from("/c/config.ign")),
            uefi: true,
            memory_mb: 1024,
            ssh_port: Some(2222),
        }
    }

    #[test]
    fn args_for_qcow2_uefi_config_drive_ignition() {
        let a = qemu_args(
            &opts("/i/vm.qcow2"),
            Some(Path::new("/t/cd.iso")),
            Some(Path::new("/t/vars.fd")),
        )
        .unwrap();
        let line = a.join(" ");
        assert!(
            line.contains("file=/i/vm.qcow2,format=qcow2,if=virtio,snapshot=on"),
            "{line}"
        );
        assert!(line.contains("OVMF_CODE_4M.fd"), "{line}");
        assert!(line.contains("file=/t/vars.fd"), "{line}");
        assert!(
            line.contains("file=/t/cd.iso,format=raw,if=virtio,readonly=on"),
            "{line}"
        );
        assert!(
            line.contains("-fw_cfg name=opt/com.coreos/config,file=/c/config.ign"),
            "{line}"
        );
        assert!(line.contains("hostfwd=tcp:127.0.0.1:2222-:22"), "{line}");
        assert!(line.contains("user,id=n0,restrict=on"), "{line}");
        assert!(line.contains("-accel tcg"), "{line}");
    }

    #[test]
    fn formats() {
        assert_eq!(image_format(Path::new("a.raw")).unwrap(), "raw");
        assert_eq!(image_format(Path::new("a.qcow2")).unwrap(), "qcow2");
        assert!(matches!(
            image_format(Path::new("a.box")),
            Err(BootError::IsBox(_))
        ));
        let mut o = opts("/x.raw");
        o.uefi = false;
        let line = qemu_args(&o, None, None).unwrap().join(" ");
        assert!(!line.contains("pflash"), "{line}");
        assert!(line.contains("format=raw"), "{line}");
    }
}
