//! The routes file (`routes.json`) shared by the agent and the supervisor, and its
//! acknowledgement (`routes.ack`): which public ports go to which container. Pure
//! (de)serialization and diff logic, plus the small locked read-modify-write the agent uses.
//!
//! The agent is the only writer of `routes.json` and the supervisor the only writer of
//! `routes.ack`. Every change bumps `generation`; the supervisor writes the generation it has
//! applied (listeners open, upstreams in place) to the ack, so the agent knows when it may stop
//! the old release.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::HealthConfig;
use crate::state::{read_json, write_json};

/// The whole routes file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    pub generation: u64,
    #[serde(default)]
    pub apps: BTreeMap<String, AppRoute>,
}

/// Where one app's public ports go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AppRouteFile")]
pub struct AppRoute {
    pub release: String,
    /// The web containers of the release, in instance order: the proxy spreads new
    /// connections over the healthy ones.
    pub instances: Vec<InstanceRoute>,
    /// Address the public ports are bound on.
    pub bind: IpAddr,
    pub ports: Vec<PortRoute>,
    /// Health policy of the app (the supervisor probes `health.path`).
    #[serde(default)]
    pub health: HealthConfig,
}

/// One web container behind an app's public ports (names are stable across restarts, ids
/// too, but the name is what a human reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceRoute {
    pub container: String,
    pub container_id: String,
}

/// `AppRoute` as read: also the form written before instances existed (one `container` and
/// its `container_id` instead of `instances`), so a new supervisor reads an old agent's file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppRouteFile {
    release: String,
    #[serde(default)]
    instances: Option<Vec<InstanceRoute>>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    container_id: Option<String>,
    bind: IpAddr,
    ports: Vec<PortRoute>,
    #[serde(default)]
    health: HealthConfig,
}

impl TryFrom<AppRouteFile> for AppRoute {
    type Error = String;

    fn try_from(f: AppRouteFile) -> Result<AppRoute, String> {
        let instances = match (f.instances, f.container, f.container_id) {
            (Some(i), None, None) if !i.is_empty() => i,
            (None, Some(container), Some(container_id)) => vec![InstanceRoute {
                container,
                container_id,
            }],
            _ => {
                return Err(format!(
                    "route of release {}: give either a non-empty `instances` or `container` and `container_id`",
                    f.release
                ))
            }
        };
        Ok(AppRoute {
            release: f.release,
            instances,
            bind: f.bind,
            ports: f.ports,
            health: f.health,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRoute {
    pub public: u16,
    pub container_port: u16,
}

/// What the supervisor writes once it applied a generation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub generation: u64,
    /// App -> why its listeners could not be opened (e.g. a public port in use).
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
}

/// The target of one public listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub app: String,
    /// The app's web containers (names), in instance order.
    pub containers: Vec<String>,
    pub container_port: u16,
}

/// The listeners a routes file asks for, by socket address.
pub fn listeners(routes: &Routes) -> BTreeMap<SocketAddr, Upstream> {
    let mut out = BTreeMap::new();
    for (app, route) in &routes.apps {
        for p in &route.ports {
            out.insert(
                SocketAddr::new(route.bind, p.public),
                Upstream {
                    app: app.clone(),
                    containers: route
                        .instances
                        .iter()
                        .map(|i| i.container.clone())
                        .collect(),
                    container_port: p.container_port,
                },
            );
        }
    }
    out
}

/// What changes between two sets of listeners.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerDiff {
    /// New addresses: bind a listener.
    pub open: Vec<SocketAddr>,
    /// Gone addresses: close the listener (established connections drain on their own).
    pub close: Vec<SocketAddr>,
    /// Same address, new upstream: switch new connections over, keep the socket.
    pub retarget: Vec<SocketAddr>,
}

pub fn diff(
    old: &BTreeMap<SocketAddr, Upstream>,
    new: &BTreeMap<SocketAddr, Upstream>,
) -> ListenerDiff {
    let mut d = ListenerDiff::default();
    for (addr, up) in new {
        match old.get(addr) {
            None => d.open.push(*addr),
            Some(o) if o != up => d.retarget.push(*addr),
            Some(_) => {}
        }
    }
    d.close = old
        .keys()
        .filter(|a| !new.contains_key(a))
        .copied()
        .collect();
    d
}

/// Checks that no two apps claim the same public socket (or the same port on a wildcard
/// address and a specific one).
pub fn validate(routes: &Routes) -> Result<(), String> {
    let mut seen: Vec<(IpAddr, u16, &str)> = Vec::new();
    for (app, route) in &routes.apps {
        for p in &route.ports {
            for (ip, port, other) in &seen {
                let overlap =
                    *ip == route.bind || ip.is_unspecified() || route.bind.is_unspecified();
                if *port == p.public && overlap && *other != app.as_str() {
                    return Err(format!(
                        "public port {} is claimed by both {other} and {app}",
                        p.public
                    ));
                }
            }
            seen.push((route.bind, p.public, app));
        }
    }
    Ok(())
}

/// The app that owns a public port on `addr`, if any.
pub fn owner_of(routes: &Routes, addr: IpAddr, port: u16) -> Option<&str> {
    routes.apps.iter().find_map(|(app, r)| {
        let overlap = r.bind == addr || r.bind.is_unspecified() || addr.is_unspecified();
        (overlap && r.ports.iter().any(|p| p.public == port)).then_some(app.as_str())
    })
}

pub fn routes_path(root: &Path) -> PathBuf {
    crate::state::layout::routes(root)
}

pub fn ack_path(root: &Path) -> PathBuf {
    crate::state::layout::routes_ack(root)
}

pub fn read_routes(root: &Path) -> std::io::Result<Routes> {
    Ok(read_json(&routes_path(root))?.unwrap_or_default())
}

pub fn read_ack(root: &Path) -> std::io::Result<Option<Ack>> {
    read_json(&ack_path(root))
}

pub fn write_ack(root: &Path, ack: &Ack) -> std::io::Result<()> {
    write_json(&ack_path(root), ack)
}

/// Read-modify-write of the routes file under an exclusive lock (two agent commands may run at
/// once). `change` edits the routes; the generation is bumped when it changed anything.
/// Returns the routes as written.
pub fn update<E>(
    root: &Path,
    change: impl FnOnce(&mut Routes) -> Result<(), E>,
) -> Result<Routes, UpdateError<E>> {
    let _lock = Lock::acquire(&crate::state::layout::routes_lock(root)).map_err(UpdateError::Io)?;
    let before = read_routes(root).map_err(UpdateError::Io)?;
    let mut after = before.clone();
    change(&mut after).map_err(UpdateError::Change)?;
    if after.apps == before.apps {
        return Ok(before);
    }
    validate(&after)
        .map_err(|m| UpdateError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, m)))?;
    after.generation = before.generation + 1;
    write_json(&routes_path(root), &after).map_err(UpdateError::Io)?;
    Ok(after)
}

#[derive(Debug)]
pub enum UpdateError<E> {
    Io(std::io::Error),
    Change(E),
}

/// An exclusive `flock` on a lock file, released on drop.
struct Lock(std::fs::File);

impl Lock {
    fn acquire(path: &Path) -> std::io::Result<Lock> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock on a file descriptor we own; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above; closing the file would release the lock anyway.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(container: &str, bind: &str, ports: &[(u16, u16)]) -> AppRoute {
        AppRoute {
            release: "r1".into(),
            instances: vec![InstanceRoute {
                container: container.into(),
                container_id: format!("id-{container}"),
            }],
            bind: bind.parse().unwrap(),
            ports: ports
                .iter()
                .map(|&(public, container_port)| PortRoute {
                    public,
                    container_port,
                })
                .collect(),
            health: HealthConfig::default(),
        }
    }

    impl Routes {
        fn with_generation(mut self, generation: u64) -> Routes {
            self.generation = generation;
            self
        }
    }

    fn routes(apps: &[(&str, AppRoute)]) -> Routes {
        Routes {
            generation: 1,
            apps: apps
                .iter()
                .map(|(a, r)| (a.to_string(), r.clone()))
                .collect(),
        }
    }

    #[test]
    fn round_trips_and_refuses_unknown_keys() {
        let r = routes(&[("a", route("c1", "127.0.0.1", &[(8080, 8080)]))]);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Routes>(&text).unwrap(), r);
        let err = serde_json::from_str::<Routes>(r#"{"generation":1,"appz":{}}"#).unwrap_err();
        assert!(err.to_string().contains("appz"), "{err}");
    }

    #[test]
    fn reads_the_single_container_form_and_writes_instances() {
        let old = r#"{"generation":3,"apps":{"a":{"release":"r1","container":"c1","container_id":"id-c1","bind":"127.0.0.1","ports":[{"public":8080,"container_port":8080}]}}}"#;
        let r: Routes = serde_json::from_str(old).unwrap();
        assert_eq!(
            r,
            routes(&[("a", route("c1", "127.0.0.1", &[(8080, 8080)]))]).with_generation(3)
        );
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains(r#""instances":[{"container":"c1","container_id":"id-c1"}]"#),
            "{text}"
        );
        assert!(
            !text.contains(r#""container":"c1","container_id":"id-c1","bind""#),
            "{text}"
        );
        for bad in [
            r#"{"release":"r","bind":"127.0.0.1","ports":[]}"#,
            r#"{"release":"r","instances":[],"bind":"127.0.0.1","ports":[]}"#,
            r#"{"release":"r","container":"c","container_id":"i","instances":[{"container":"c","container_id":"i"}],"bind":"127.0.0.1","ports":[]}"#,
            r#"{"release":"r","container":"c","container_id":"i","bind":"127.0.0.1","ports":[],"x":1}"#,
        ] {
            assert!(serde_json::from_str::<AppRoute>(bad).is_err(), "{bad}");
        }
        let mut three = route("c1", "127.0.0.1", &[(8080, 8080)]);
        for c in ["c2", "c3"] {
            three.instances.push(InstanceRoute {
                container: c.into(),
                container_id: format!("id-{c}"),
            });
        }
        let text = serde_json::to_string(&three).unwrap();
        assert_eq!(serde_json::from_str::<AppRoute>(&text).unwrap(), three);
        let l = listeners(&routes(&[("a", three)]));
        assert_eq!(l.values().next().unwrap().containers, ["c1", "c2", "c3"]);
    }

    #[test]
    fn diff_opens_closes_and_retargets() {
        let old = routes(&[
            (
                "a",
                route("a-v1", "127.0.0.1", &[(8080, 8080), (8443, 8443)]),
            ),
            ("b", route("b-v1", "127.0.0.1", &[(9000, 9000)])),
        ]);
        let new = routes(&[
            ("a", route("a-v2", "127.0.0.1", &[(8080, 8080)])),
            ("b", route("b-v1", "127.0.0.1", &[(9000, 9000)])),
            ("c", route("c-v1", "127.0.0.1", &[(7000, 7000)])),
        ]);
        let d = diff(&listeners(&old), &listeners(&new));
        let sa = |p: u16| SocketAddr::new("127.0.0.1".parse().unwrap(), p);
        assert_eq!(
            d,
            ListenerDiff {
                open: vec![sa(7000)],
                close: vec![sa(8443)],
                retarget: vec![sa(8080)]
            }
        );
        assert_eq!(
            diff(&listeners(&new), &listeners(&new)),
            ListenerDiff::default()
        );
    }

    #[test]
    fn validate_refuses_shared_ports() {
        let ok = routes(&[
            ("a", route("a", "127.0.0.1", &[(8080, 8080)])),
            ("b", route("b", "127.0.0.2", &[(8080, 8080)])),
        ]);
        assert!(validate(&ok).is_ok());
        let clash = routes(&[
            ("a", route("a", "0.0.0.0", &[(8080, 8080)])),
            ("b", route("b", "127.0.0.1", &[(8080, 8080)])),
        ]);
        let err = validate(&clash).unwrap_err();
        assert!(
            err.contains("8080") && err.contains("a") && err.contains("b"),
            "{err}"
        );
        assert_eq!(
            owner_of(&clash, "127.0.0.1".parse().unwrap(), 8080),
            Some("a")
        );
        assert_eq!(owner_of(&clash, "127.0.0.1".parse().unwrap(), 8081), None);
    }

    #[test]
    fn update_bumps_generation_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let r = update::<()>(dir.path(), |r| {
            r.apps
                .insert("a".into(), route("a", "127.0.0.1", &[(1, 1)]));
            Ok(())
        })
        .unwrap();
        assert_eq!(r.generation, 1);
        let r = update::<()>(dir.path(), |_| Ok(())).unwrap();
        assert_eq!(r.generation, 1);
        let r = update::<()>(dir.path(), |r| {
            r.apps.clear();
            Ok(())
        })
        .unwrap();
        assert_eq!(r.generation, 2);
        assert_eq!(read_routes(dir.path()).unwrap(), r);
        assert!(matches!(
            update(dir.path(), |_| Err("no")),
            Err(UpdateError::Change("no"))
        ));
    }
}
