//! `solum-image upload`: an image file to Glance v2, the OpenStack way. Owns the flow
//! (format check, auth, duplicate check, create, stream + hash, verify, clean up on failure
//! or Ctrl-C); the pieces live in `config` (who and where: `solum_edge::cloud`), `keystone`
//! (token, catalog: `solum_edge::keystone`), `glance` (the v2 calls) and `format` (magic
//! bytes, properties).

pub use solum_edge::cloud as config;
pub mod format;
pub mod glance;
pub mod keystone;

use glance::{image_state, str_of, ImageState};
use serde_json::Value;
use sha2::{Digest, Sha512};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why an upload failed. Never carries a password or token.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Client(#[from] solum_edge::http::HttpError),
    #[error("{path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("cannot reach {service} ({url}): {msg}")]
    Unreachable {
        service: &'static str,
        url: String,
        msg: String,
    },
    #[error("{what}: HTTP {status}{}: {body}", hint(*status))]
    Http {
        what: String,
        status: u16,
        body: String,
    },
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error(
        "an image named '{name}' with other contents exists ({ids}); use --replace to replace it"
    )]
    Exists { name: String, ids: String },
    #[error("Glance's os_hash_value for image {id} is {theirs}, but the file's sha512 is {ours}")]
    HashMismatch {
        id: String,
        ours: String,
        theirs: String,
    },
    #[error("image {id} ended in status '{status}'{detail}")]
    Failed {
        id: String,
        status: String,
        detail: String,
    },
    #[error("interrupted")]
    Interrupted,
    #[error("{cause}; {cleanup}")]
    Aborted {
        cause: Box<UploadError>,
        cleanup: String,
    },
}

fn hint(status: u16) -> &'static str {
    match status {
        413 => " (image too large for the cloud: image_size_cap or quota)",
        401 => " (token refused)",
        403 => " (not allowed)",
        500..=599 => " (Glance failed)",
        _ => "",
    }
}

/// How the bytes reach Glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// glance-direct import if the cloud offers it, else a plain upload.
    Auto,
    /// `PUT /v2/images/{id}/file`.
    Upload,
    /// `PUT .../stage` + `POST .../import` glance-direct.
    GlanceDirect,
}

/// What to upload and how.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    pub image: PathBuf,
    pub name: String,
    /// User properties; they override the builder's defaults.
    pub properties: Vec<(String, String)>,
    pub visibility: Option<String>,
    pub replace: bool,
    /// What the user claims the file is; refused if the bytes disagree.
    pub disk_format: Option<String>,
    pub method: Method,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Uploaded {
        id: String,
        bytes: u64,
        sha512: String,
        seconds: f64,
        replaced: Vec<String>,
    },
    /// An active image with this name and checksum exists: nothing uploaded.
    AlreadyThere { id: String },
}

/// The cloud configuration from OS_CLOUD + clouds.yaml (+ secure.yaml), or from OS_*
/// variables.
pub fn load_config(env: &BTreeMap<String, String>) -> Result<config::CloudConfig, UploadError> {
    Ok(config::load(env)?)
}

/// The file's disk format, checked against the claim.
pub fn file_format(path: &Path, claimed: Option<&str>) -> Result<&'static str, UploadError> {
    let ferr = |error| UploadError::File {
        path: path.to_path_buf(),
        error,
    };
    let mut f = std::fs::File::open(path).map_err(ferr)?;
    let mut head = Vec::with_capacity(format::HEADER_LEN);
    f.by_ref()
        .take(format::HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(ferr)?;
    format::check_claim(format::detect(&head), claimed).map_err(|msg| UploadError::Format {
        path: path.to_path_buf(),
        msg,
    })
}

fn sha512_file(path: &Path) -> Result<String, UploadError> {
    let ferr = |error| UploadError::File {
        path: path.to_path_buf(),
        error,
    };
    let mut f = std::fs::File::open(path).map_err(ferr)?;
    let mut h = Sha512::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(ferr)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Upload `opts.image` to the cloud described by `env` (OS_* / OS_CLOUD).
pub fn upload(
    opts: &UploadOptions,
    env: &BTreeMap<String, String>,
) -> Result<Outcome, UploadError> {
    let disk_format = file_format(&opts.image, opts.disk_format.as_deref())?;
    let cfg = load_config(env)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| UploadError::File {
            path: "tokio runtime".into(),
            error,
        })?;
    rt.block_on(run(opts, &cfg, disk_format))
}

async fn run(
    opts: &UploadOptions,
    cfg: &config::CloudConfig,
    disk_format: &str,
) -> Result<Outcome, UploadError> {
    let client = solum_edge::http::client(&solum_edge::http::ClientOptions {
        connect_timeout: Duration::from_secs(10),
        tls: cfg.tls.clone(),
        ..Default::default()
    })?;
    let session = keystone::authenticate(&client, cfg).await?;
    let g = glance::Glance {
        client,
        url: session.image_url,
        token: session.token,
    };
    let same_name: Vec<Value> = g
        .find_by_name(&opts.name)
        .await?
        .into_iter()
        .filter(|i| str_of(i, "status") == "active")
        .collect();
    if !same_name.is_empty() && !opts.replace {
        let path = opts.image.clone();
        let ours = tokio::task::spawn_blocking(move || sha512_file(&path))
            .await
            .map_err(|e| UploadError::Protocol(e.to_string()))??;
        if let Some(i) = same_name
            .iter()
            .find(|i| str_of(i, "os_hash_value") == ours)
        {
            return Ok(Outcome::AlreadyThere {
                id: str_of(i, "id").to_string(),
            });
        }
        return Err(UploadError::Exists {
            name: opts.name.clone(),
            ids: same_name
                .iter()
                .map(|i| str_of(i, "id"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let props = format::merge_properties(&opts.properties);
    let body = glance::create_body(&opts.name, disk_format, opts.visibility.as_deref(), &props);
    // Catch SIGINT/SIGTERM from before the image exists: a signal during create is kept
    // and acted on as soon as there is an image to delete.
    let mut signals = Signals::new();
    let id = g.create(&body).await?;
    let result = tokio::select! {
        r = send_and_verify(&g, &id, opts) => r,
        _ = signals.recv() => Err(UploadError::Interrupted),
    };
    match result {
        Ok((bytes, sha512, seconds)) => {
            let mut replaced = Vec::new();
            for old in &same_name {
                let old_id = str_of(old, "id");
                if old_id != id {
                    g.delete(old_id).await?;
                    replaced.push(old_id.to_string());
                }
            }
            Ok(Outcome::Uploaded {
                id,
                bytes,
                sha512,
                seconds,
                replaced,
            })
        }
        Err(cause) => {
            let cleanup = match g.delete(&id).await {
                Ok(()) => format!("image {id} was deleted"),
                Err(e) => format!("could not delete image {id} ({e}): delete it by hand"),
            };
            Err(UploadError::Aborted {
                cause: Box::new(cause),
                cleanup,
            })
        }
    }
}

/// SIGINT and SIGTERM, registered when made.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    async fn recv(&mut self) {
        let int = async {
            match &mut self.int {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let term = async {
            match &mut self.term {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = int => {}
            _ = term => {}
        }
    }
}

async fn send_and_verify(
    g: &glance::Glance,
    id: &str,
    opts: &UploadOptions,
) -> Result<(u64, String, f64), UploadError> {
    let ferr = |error| UploadError::File {
        path: opts.image.clone(),
        error,
    };
    let file = tokio::fs::File::open(&opts.image).await.map_err(ferr)?;
    let len = file.metadata().await.map_err(ferr)?.len();
    let bar = (opts.progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(len);
        if let Ok(s) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            b.set_style(s);
        }
        b
    });
    let direct = match opts.method {
        Method::Upload => false,
        Method::GlanceDirect => true,
        Method::Auto => g
            .import_methods()
            .await
            .iter()
            .any(|m| m == "glance-direct"),
    };
    let start = Instant::now();
    let sent = if direct {
        let s = g.put_data(id, "stage", file, len, bar).await?;
        g.import_direct(id).await?;
        s
    } else {
        g.put_data(id, "file", file, len, bar).await?
    };
    let image = wait_active(g, id).await?;
    let seconds = start.elapsed().as_secs_f64();
    let algo = str_of(&image, "os_hash_algo");
    let theirs = str_of(&image, "os_hash_value");
    if algo != "sha512" || theirs != sent.sha512 {
        return Err(UploadError::HashMismatch {
            id: id.to_string(),
            ours: sent.sha512,
            theirs: format!("{algo}:{theirs}"),
        });
    }
    Ok((sent.bytes, sent.sha512, seconds))
}

/// Poll until the image is active (imports finish in the background).
async fn wait_active(g: &glance::Glance, id: &str) -> Result<Value, UploadError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let image = g.show(id).await?;
        match image_state(&image) {
            ImageState::Active => return Ok(image),
            ImageState::Failed { status, detail } => {
                return Err(UploadError::Failed {
                    id: id.into(),
                    status,
                    detail,
                })
            }
            ImageState::Pending { status } if Instant::now() > deadline => {
                return Err(UploadError::Failed {
                    id: id.into(),
                    status,
                    detail: " after 600 s".into(),
                })
            }
            ImageState::Pending { .. } => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
