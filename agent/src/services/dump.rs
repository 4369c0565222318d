//! `services export` and `import`: a database's dump (pg_dump's plain SQL for PostgreSQL,
//! mysqldump's for MariaDB) streamed out of, or into, the service container by
//! `solum-service KIND export|import` over the exec API. The export file appears under its
//! name only when complete (a temporary file beside it, fsynced, renamed), mode 0600: a dump
//! holds the app's data.

use std::path::Path;

use bollard::Docker;

use crate::planfile::ServiceKind;

use super::{exec, naming, record_kind, ServiceError, ServiceRecord};

/// Only databases have a dump format.
fn check_dumpable(record: &ServiceRecord, what: &str) -> Result<ServiceKind, ServiceError> {
    let kind = record_kind(record)?;
    if record.url_parameter.is_some() {
        return Err(ServiceError::Invalid(format!(
            "{}: a bound service runs elsewhere; use its own tools to {what} it",
            record.id
        )));
    }
    match kind {
        ServiceKind::Postgresql | ServiceKind::Mysql => Ok(kind),
        ServiceKind::Redis | ServiceKind::Rabbitmq => Err(ServiceError::Invalid(format!(
            "{}: {what} is for databases (postgresql, mysql); a {} service keeps its data in the volume {}",
            record.id,
            kind.as_str(),
            naming::resource_name(&record.plan, &record.id)
        ))),
    }
}

/// Writes the dump of `record`'s database to `file`; returns its size in bytes.
pub async fn export(
    docker: &Docker,
    record: &ServiceRecord,
    file: &Path,
) -> Result<u64, ServiceError> {
    let kind = check_dumpable(record, "export")?;
    let container = naming::resource_name(&record.plan, &record.id);
    let io = |what: &str, e: std::io::Error| ServiceError::Io {
        context: format!("{what} {}", file.display()),
        source: e,
    };
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".solum-export-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| io("creating a temporary file for", e))?;
    let std_file = tmp.as_file().try_clone().map_err(|e| io("opening", e))?;
    let mut out = tokio::fs::File::from_std(std_file);
    let finished = exec::run(
        docker,
        &container,
        &["solum-service", kind.as_str(), "export"],
        None,
        Some(&mut out),
    )
    .await?;
    if finished.code != 0 {
        return Err(ServiceError::Exec(format!(
            "exporting {} from {container} failed (exit {}): {}",
            record.id,
            finished.code,
            finished.last_line()
        )));
    }
    drop(out);
    tmp.as_file().sync_all().map_err(|e| io("writing", e))?;
    let size = tmp
        .as_file()
        .metadata()
        .map_err(|e| io("writing", e))?
        .len();
    tmp.persist(file).map_err(|e| io("naming", e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(size)
}

/// Loads the dump in `file` into `record`'s database; returns the bytes read.
pub async fn import(
    docker: &Docker,
    record: &ServiceRecord,
    file: &Path,
) -> Result<u64, ServiceError> {
    let kind = check_dumpable(record, "import")?;
    let container = naming::resource_name(&record.plan, &record.id);
    let meta = std::fs::metadata(file).map_err(|e| ServiceError::Io {
        context: format!("the dump to import, {}", file.display()),
        source: e,
    })?;
    if !meta.is_file() {
        return Err(ServiceError::Invalid(format!(
            "{}: not a file to import",
            file.display()
        )));
    }
    let mut input = tokio::fs::File::open(file)
        .await
        .map_err(|e| ServiceError::Io {
            context: format!("opening {}", file.display()),
            source: e,
        })?;
    let finished = exec::run(
        docker,
        &container,
        &["solum-service", kind.as_str(), "import"],
        Some(&mut input),
        None,
    )
    .await?;
    if finished.code != 0 {
        return Err(ServiceError::Exec(format!(
            "importing {} into {container} failed (exit {}): {}",
            file.display(),
            finished.code,
            finished.last_line()
        )));
    }
    Ok(meta.len())
}
