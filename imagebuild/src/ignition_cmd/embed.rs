//! `solum-image ignition --embed IMAGE --config FILE`: writes `ignition/config.ign` (dir 0700,
//! file 0600) and the `ignition.firstboot` flag into the `boot` ext4 filesystem of a Fedora
//! CoreOS/Flatcar-style disk image, without mounting or loop devices: the partition is found
//! from the GPT (sfdisk --json) and edited in place with `debugfs -w 'IMAGE?offset=N'`.
//! qcow2 images go through a raw copy next to them. Also writes the matching Heat snippet.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error("{path}: not a valid Ignition config: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{tool}: {message}")]
    Tool { tool: String, message: String },
}

/// One GPT partition, as sfdisk reports it (sectors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub start: u64,
    pub size: u64,
    pub name: String,
}

/// Partitions from `sfdisk --json` output, with the sector size.
pub fn parse_sfdisk(json: &str) -> Result<(u64, Vec<Partition>), String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("sfdisk output: {e}"))?;
    let table = &v["partitiontable"];
    if table["label"] != "gpt" {
        return Err("not a GPT disk (Fedora CoreOS and Flatcar images are GPT)".into());
    }
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    let parts = table["partitions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some(Partition {
                        start: p["start"].as_u64()?,
                        size: p["size"].as_u64()?,
                        name: p["name"].as_str().unwrap_or("").to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((sector, parts))
}

/// The ext4 volume label from a superblock (the 2048 bytes at the start of a partition),
/// or None when it is not ext2/3/4.
pub fn ext4_label(head: &[u8]) -> Option<String> {
    let sb = head.get(1024..1024 + 136)?;
    if sb[56..58] != [0x53, 0xEF] {
        return None;
    }
    let raw = &sb[120..136];
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// The debugfs script that (re)writes the config and the first-boot flag. Errors from `rm`
/// and `mkdir` of things that are (not) there are expected; the result is checked afterwards.
pub fn debugfs_script(config: &Path, empty: &Path) -> String {
    format!(
        "rm ignition/config.ign\nrm ignition.firstboot\nmkdir ignition\n\
         write \"{}\" ignition/config.ign\nsif ignition/config.ign mode 0100600\n\
         sif ignition mode 040700\nwrite \"{}\" ignition.firstboot\n",
        config.display(),
        empty.display()
    )
}

/// A Heat resource snippet passing `config` (Ignition JSON) as RAW user_data.
pub fn heat_snippet(config: &str) -> String {
    let mut s = String::from(
        "# Heat snippet written by `solum-image ignition --embed`: the same Ignition config as\n\
         # instance user_data, for booting the image on OpenStack (platform `openstack`).\n\
         resources:\n  server:\n    type: OS::Nova::Server\n    properties:\n\
         \x20     image: {get_param: image}\n      flavor: {get_param: flavor}\n\
         \x20     config_drive: true\n      user_data_format: RAW\n      user_data: |\n",
    );
    for line in config.lines() {
        s.push_str("        ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

fn tool(cmd: &mut Command, name: &str) -> Result<Vec<u8>, EmbedError> {
    let out = cmd.output().map_err(|e| EmbedError::Tool {
        tool: name.into(),
        message: format!("cannot run: {e}"),
    })?;
    if !out.status.success() {
        return Err(EmbedError::Tool {
            tool: name.into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

fn image_err(path: &Path, message: impl Into<String>) -> EmbedError {
    EmbedError::Image {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Embeds into a raw image in place; returns the partition used.
fn embed_raw(raw: &Path, shown: &Path, config: &Path) -> Result<Partition, EmbedError> {
    let json = tool(Command::new("sfdisk").arg("--json").arg(raw), "sfdisk")?;
    let (sector, parts) =
        parse_sfdisk(&String::from_utf8_lossy(&json)).map_err(|m| image_err(shown, m))?;
    let mut found = None;
    for p in &parts {
        let mut head = vec![0u8; 2048];
        let f = std::fs::File::open(raw).map_err(|e| image_err(shown, e.to_string()))?;
        use std::os::unix::fs::FileExt;
        if f.read_exact_at(&mut head, p.start * sector).is_err() {
            continue;
        }
        if ext4_label(&head).as_deref() == Some("boot") {
            found = Some(p.clone());
            break;
        }
    }
    let part = found.ok_or_else(|| {
        image_err(
            shown,
            "no ext4 filesystem labelled `boot` (Fedora CoreOS and Flatcar have one)",
        )
    })?;
    let target = format!("{}?offset={}", raw.display(), part.start * sector);
    let dir = tempfile::tempdir().map_err(|e| image_err(shown, e.to_string()))?;
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").map_err(|e| image_err(shown, e.to_string()))?;
    // debugfs reads its script word by word: give it a path we chose, not the user's.
    let staged = dir.path().join("config.ign");
    std::fs::copy(config, &staged).map_err(|e| image_err(config, e.to_string()))?;
    let script = dir.path().join("script");
    std::fs::write(&script, debugfs_script(&staged, &empty))
        .map_err(|e| image_err(shown, e.to_string()))?;
    tool(
        Command::new("debugfs")
            .arg("-w")
            .arg("-f")
            .arg(&script)
            .arg(&target),
        "debugfs",
    )?;
    // Read back what Ignition will read.
    let back = tool(
        Command::new("debugfs")
            .arg("-R")
            .arg("cat ignition/config.ign")
            .arg(&target),
        "debugfs",
    )?;
    let want = std::fs::read(config).map_err(|e| image_err(config, e.to_string()))?;
    if back != want {
        return Err(image_err(
            shown,
            "ignition/config.ign did not read back the same",
        ));
    }
    let stat = tool(
        Command::new("debugfs")
            .arg("-R")
            .arg("stat ignition.firstboot")
            .arg(&target),
        "debugfs",
    )?;
    if !String::from_utf8_lossy(&stat).contains("Type: regular") {
        return Err(image_err(shown, "ignition.firstboot was not created"));
    }
    Ok(part)
}

fn is_qcow2(path: &Path) -> Result<bool, EmbedError> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| image_err(path, e.to_string()))?;
    Ok(f.read_exact(&mut magic).is_ok() && magic == *b"QFI\xfb")
}

/// Validates `config`, embeds it into `image` (raw or qcow2) and optionally writes the Heat
/// snippet. Returns a one-line report.
pub fn embed_file(
    image: &Path,
    config: &Path,
    snippet: Option<&Path>,
) -> Result<String, EmbedError> {
    let bytes = std::fs::read(config).map_err(|e| image_err(config, e.to_string()))?;
    solum_ignition::parse_valid(&bytes).map_err(|e| EmbedError::Config {
        path: config.to_path_buf(),
        message: e.to_string(),
    })?;
    let part = if is_qcow2(image)? {
        let dir = image
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".solum-embed-")
            .tempdir_in(dir)
            .map_err(|e| image_err(image, e.to_string()))?;
        let raw = tmp.path().join("disk.raw");
        let out = tmp.path().join("disk.qcow2");
        tool(
            Command::new("qemu-img")
                .args(["convert", "-O", "raw"])
                .arg(image)
                .arg(&raw),
            "qemu-img",
        )?;
        let part = embed_raw(&raw, image, config)?;
        tool(
            Command::new("qemu-img")
                .args(["convert", "-O", "qcow2"])
                .arg(&raw)
                .arg(&out),
            "qemu-img",
        )?;
        std::fs::rename(&out, image).map_err(|e| image_err(image, e.to_string()))?;
        part
    } else {
        embed_raw(image, image, config)?
    };
    if let Some(s) = snippet {
        let text = String::from_utf8_lossy(&bytes);
        std::fs::write(s, heat_snippet(&text)).map_err(|e| image_err(s, e.to_string()))?;
    }
    Ok(format!(
        "{}: wrote ignition/config.ign and ignition.firstboot into partition `{}` (sector {})",
        image.display(),
        part.name,
        part.start
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sfdisk_json_is_read() {
        let j = r#"{"partitiontable":{"label":"gpt","sectorsize":512,"partitions":[
            {"node":"d1","start":2048,"size":8192,"name":"boot"},{"node":"d2","start":10240,"size":5}]}}"#;
        let (s, p) = parse_sfdisk(j).expect("parse");
        assert_eq!(s, 512);
        assert_eq!(
            p[0],
            Partition {
                start: 2048,
                size: 8192,
                name: "boot".into()
            }
        );
        assert_eq!(p[1].name, "");
        assert!(parse_sfdisk(r#"{"partitiontable":{"label":"dos"}}"#).is_err());
        assert!(parse_sfdisk("nope").is_err());
    }

    #[test]
    fn ext4_label_from_superblock() {
        let mut head = vec![0u8; 2048];
        assert_eq!(ext4_label(&head), None);
        head[1024 + 56] = 0x53;
        head[1024 + 57] = 0xEF;
        head[1024 + 120..1024 + 124].copy_from_slice(b"boot");
        assert_eq!(ext4_label(&head).as_deref(), Some("boot"));
        assert_eq!(ext4_label(&head[..100]), None);
    }

    #[test]
    fn heat_snippet_is_yaml_with_raw_user_data() {
        let cfg = "{\n  \"ignition\": {\"version\": \"3.3.0\"}\n}";
        let s = heat_snippet(cfg);
        let v: serde_norway::Value = serde_norway::from_str(&s).expect("yaml");
        let props = &v["resources"]["server"]["properties"];
        assert_eq!(props["user_data_format"].as_str(), Some("RAW"));
        let ud = props["user_data"].as_str().expect("user_data");
        let parsed: serde_json::Value = serde_json::from_str(ud).expect("json");
        assert_eq!(parsed["ignition"]["version"], "3.3.0");
    }

    #[test]
    fn script_writes_config_and_flag() {
        let s = debugfs_script(Path::new("/t/c.ign"), Path::new("/t/e"));
        assert!(s.contains("write \"/t/c.ign\" ignition/config.ign"));
        assert!(s.contains("sif ignition mode 040700"));
        assert!(s.contains("write \"/t/e\" ignition.firstboot"));
    }
}
