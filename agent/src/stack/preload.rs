//! Preloading the stack images into the Docker data root of an image tree being built, so that
//! the VM's engine has them before the agent's first deploy, with no registry and no network.
//!
//! A private `dockerd` runs on that data root (in its own mount and network namespaces, with its
//! own socket,
//! no networking of its own and an empty configuration, so the host's `daemon.json` does not
//! apply), receives the images from the local engine (`docker save | docker load`, streamed),
//! and stops. What only a running engine needs is then removed (its engine id, its network
//! database, empty container and volume directories): every VM booted from the image starts
//! its engine as a new one, with the images already in place.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::Docker;
use futures_util::{StreamExt, TryStreamExt};

use super::StackError;
use crate::progress::LogFn;

/// The only entries of a data root that a preloaded image keeps: the image and layer metadata
/// and the layers themselves.
pub const KEPT: &[&str] = &["image", "overlay2"];

/// The storage driver of the VM's engine (Debian's docker.io on ext4).
pub const STORAGE_DRIVER: &str = "overlay2";

/// How long the private engine may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The private engine's command line (pure). `run` holds its socket, pid file, exec root and
/// the empty configuration file.
pub fn dockerd_args(data_root: &Path, run: &Path) -> Vec<String> {
    let p = |name: &str| run.join(name).display().to_string();
    vec![
        // Its own network namespace too: an engine started with `--bridge none` deletes the
        // host's `docker0` (moby's removeDefaultBridgeInterface) and would break the build
        // host's own engine.
        "--mount".into(),
        "--net".into(),
        "--propagation".into(),
        "private".into(),
        "--".into(),
        "dockerd".into(),
        "--config-file".into(),
        p("daemon.json"),
        "--data-root".into(),
        data_root.display().to_string(),
        "--exec-root".into(),
        p("exec"),
        "--pidfile".into(),
        p("dockerd.pid"),
        "--host".into(),
        format!("unix://{}", p("docker.sock")),
        "--storage-driver".into(),
        STORAGE_DRIVER.into(),
        "--bridge".into(),
        "none".into(),
        "--iptables=false".into(),
        "--ip6tables=false".into(),
        "--ip-masq=false".into(),
        "--containerd-namespace".into(),
        "solum-preload".into(),
        "--containerd-plugins-namespace".into(),
        "solum-preload-plugins".into(),
        "--log-level".into(),
        "warn".into(),
    ]
}

/// A running private engine; stopped (SIGTERM, then SIGKILL of its process group) on drop.
struct PrivateEngine {
    child: Child,
}

impl PrivateEngine {
    fn stop(&mut self) -> Result<(), String> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(());
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child we spawned (and its process group).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
        Err(format!(
            "the private dockerd did not stop within {} s and was killed",
            STOP_TIMEOUT.as_secs()
        ))
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        let _ = self.stop();
        // Whatever else is left in its group (a managed containerd).
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> StackError {
    move |source| StackError::Io { context, source }
}

/// Copies `images` from `local` into the engine data root `data_root` (created if missing),
/// then leaves only `KEPT` in it.
pub async fn preload(
    local: &Docker,
    images: &[&str],
    data_root: &Path,
    log: &LogFn,
) -> Result<(), StackError> {
    let started = Instant::now();
    std::fs::create_dir_all(data_root).map_err(io(format!("creating {}", data_root.display())))?;
    let data_root = data_root
        .canonicalize()
        .map_err(io(format!("resolving {}", data_root.display())))?;
    for image in images {
        local
            .inspect_image(image)
            .await
            .map_err(|e| StackError::Import {
                image: image.to_string(),
                message: format!("not in the local engine ({e})"),
            })?;
    }
    // Short paths: a unix socket path is limited to 107 bytes.
    let run = tempfile::Builder::new()
        .prefix("solum-preload-")
        .tempdir_in("/run")
        .or_else(|_| tempfile::Builder::new().prefix("solum-preload-").tempdir())
        .map_err(io("creating the private engine's run directory".into()))?;
    std::fs::write(run.path().join("daemon.json"), "{}\n")
        .map_err(io("writing the private engine's configuration".into()))?;
    let log_path = run.path().join("dockerd.log");
    let log_file =
        std::fs::File::create(&log_path).map_err(io(format!("creating {}", log_path.display())))?;
    let mut cmd = Command::new("unshare");
    cmd.args(dockerd_args(&data_root, run.path()))
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_err(io("duplicating the log file".into()))?,
        )
        .stderr(log_file);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().map_err(|e| StackError::Spawn {
        program: "unshare dockerd".into(),
        source: e,
    })?;
    let mut engine = PrivateEngine { child };
    log(&format!(
        "-----> preloading {} into {}",
        images.join(", "),
        data_root.display()
    ));
    let private = wait_for_engine(&mut engine, &run.path().join("docker.sock"), &log_path).await?;

    let exported = local
        .export_images(images)
        .map_err(|e| std::io::Error::other(e.to_string()));
    let mut loading = private.import_image(
        bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build(),
        bollard::body_try_stream(exported),
        None,
    );
    while let Some(item) = loading.next().await {
        let info = item.map_err(|e| StackError::Import {
            image: images.join(", "),
            message: format!("loading into the private engine: {e}"),
        })?;
        if let Some(s) = info
            .stream
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            log(&format!("       {s}"));
        }
    }
    for image in images {
        private
            .inspect_image(image)
            .await
            .map_err(|e| StackError::Import {
                image: image.to_string(),
                message: format!("missing from the private engine after loading: {e}"),
            })?;
    }
    drop(private);
    engine.stop().map_err(|message| StackError::Import {
        image: images.join(", "),
        message,
    })?;
    drop(engine);
    prune(&data_root)?;
    log(&format!(
        "-----> preloaded in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

async fn wait_for_engine(
    engine: &mut PrivateEngine,
    socket: &Path,
    log_path: &Path,
) -> Result<Docker, StackError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let failed = |why: String| StackError::Import {
        image: "the stack images".into(),
        message: format!("{why}; dockerd said:\n{}", tail(log_path)),
    };
    loop {
        if let Ok(Some(status)) = engine.child.try_wait() {
            return Err(failed(format!("the private dockerd exited ({status})")));
        }
        if socket.exists() {
            if let Ok(d) = Docker::connect_with_unix(
                &socket.display().to_string(),
                600,
                bollard::API_DEFAULT_VERSION,
            ) {
                if let Ok(d) = d.negotiate_version().await {
                    if d.ping().await.is_ok() {
                        return Ok(d);
                    }
                }
            }
        }
        if Instant::now() > deadline {
            return Err(failed(format!(
                "the private dockerd did not answer within {} s",
                START_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Removes everything but `KEPT` from a stopped engine's data root.
pub fn prune(data_root: &Path) -> Result<(), StackError> {
    let entries =
        std::fs::read_dir(data_root).map_err(io(format!("reading {}", data_root.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", data_root.display())))?;
        let name = entry.file_name();
        if KEPT.iter().any(|k| name == *k) {
            continue;
        }
        let path: PathBuf = entry.path();
        let removed = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io(format!("removing {}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_engine_is_isolated_from_the_hosts() {
        let a = dockerd_args(Path::new("/t/var/lib/docker"), Path::new("/run/p"));
        let joined = a.join(" ");
        assert!(joined.starts_with("--mount --net --propagation private -- dockerd "));
        assert!(joined.contains("--config-file /run/p/daemon.json"));
        assert!(joined.contains("--data-root /t/var/lib/docker"));
        assert!(joined.contains("--host unix:///run/p/docker.sock"));
        assert!(joined.contains("--bridge none --iptables=false"));
        assert!(joined.contains("--storage-driver overlay2"));
    }

    #[test]
    fn prune_keeps_only_images_and_layers() {
        let d = tempfile::tempdir().unwrap();
        for dir in [
            "image/overlay2",
            "overlay2/l",
            "network/files",
            "containers",
            "tmp",
        ] {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
        }
        std::fs::write(d.path().join("engine-id"), "x").unwrap();
        prune(d.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["image", "overlay2"]);
    }
}
