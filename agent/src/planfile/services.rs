//! CAMP's services and requirements in a Planfile v1: the top-level `services:` list and each
//! artifact's `requirements:`, whose `fulfillment` names a service (`"id:<service id>"`) or
//! describes one inline. Checked strictly: an unknown `characteristic_type`, a fulfillment
//! naming no service, a duplicated id or a name that is not a plain name are errors naming the
//! field and line.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::convert::Ctx;
use super::fields::{is_env_name, Name, NonEmpty};
use super::locate::FieldPath;
use super::model::{Binding, Requirement, Service, ServiceKind};
use super::PlanError;

/// The most services one plan may declare (inline ones included).
pub const MAX_SERVICES: usize = 32;

#[derive(Deserialize)]
#[serde(expecting = "a service (a mapping with `name`, `id` and `characteristics`)")]
pub(super) struct RawService {
    name: Option<Name>,
    id: Option<Name>,
    #[allow(dead_code)] // CAMP's free text
    description: Option<String>,
    characteristics: Option<Vec<RawCharacteristic>>,
}

/// One characteristic: `{characteristic_type: redis}` or, as older Solum Planfiles write it,
/// the bare word `redis`.
pub(super) struct RawCharacteristic {
    characteristic_type: Option<String>,
    url_parameter: Option<String>,
}

#[derive(Deserialize)]
#[serde(expecting = "a characteristic (a mapping with `characteristic_type`)")]
struct CharacteristicMap {
    characteristic_type: Option<NonEmpty>,
    url_parameter: Option<NonEmpty>,
}

impl<'de> Deserialize<'de> for RawCharacteristic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCharacteristic;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a characteristic (`{characteristic_type: KIND}` or `KIND`)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCharacteristic, E> {
                Ok(RawCharacteristic {
                    characteristic_type: Some(v.to_owned()),
                    url_parameter: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawCharacteristic, A::Error> {
                let m = CharacteristicMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawCharacteristic {
                    characteristic_type: m.characteristic_type.map(|t| t.0),
                    url_parameter: m.url_parameter.map(|u| u.0),
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a requirement (a mapping with `requirement_type` and `fulfillment`)")]
pub(super) struct RawRequirement {
    requirement_type: Option<NonEmpty>,
    fulfillment: Option<RawFulfillment>,
}

/// `fulfillment: "id:<service id>"`, or an inline service.
pub(super) enum RawFulfillment {
    Reference(String),
    Inline(Box<RawService>),
}

impl<'de> Deserialize<'de> for RawFulfillment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFulfillment;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a fulfillment (`\"id:<service id>\"` or an inline service)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawFulfillment, E> {
                Ok(RawFulfillment::Reference(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawFulfillment, A::Error> {
                let s = RawService::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawFulfillment::Inline(Box::new(s)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The plan's services from `services:` (in order), before any requirement is read.
pub(super) fn services(
    ctx: &Ctx,
    path: &FieldPath,
    raw: Vec<RawService>,
) -> Result<Vec<Service>, PlanError> {
    if raw.len() > MAX_SERVICES {
        return Err(ctx.error(
            path,
            &format!(
                "{} services: a plan may declare at most {MAX_SERVICES}",
                raw.len()
            ),
        ));
    }
    let mut out: Vec<Service> = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        let at = path.index(i);
        let service = service(ctx, &at, s)?;
        add(ctx, &at.key("id"), &mut out, service)?;
    }
    Ok(out)
}

/// One artifact's requirements, each resolved to a service id; inline services join `all`.
pub(super) fn requirements(
    ctx: &Ctx,
    path: &FieldPath,
    raw: Vec<RawRequirement>,
    all: &mut Vec<Service>,
) -> Result<Vec<Requirement>, PlanError> {
    let mut out = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = path.index(i);
        let Some(NonEmpty(requirement_type)) = r.requirement_type else {
            return Err(ctx.error(
                &at.key("requirement_type"),
                "missing: every requirement names its type (e.g. `database`)",
            ));
        };
        let fpath = at.key("fulfillment");
        let service = match r.fulfillment {
            None => {
                return Err(ctx.error(
                    &fpath,
                    "missing: say which service fulfills it (`\"id:<service id>\"`)",
                ))
            }
            Some(RawFulfillment::Reference(text)) => {
                let Some(id) = text.strip_prefix("id:").map(str::trim) else {
                    return Err(ctx.error(
                        &fpath,
                        &format!(
                            "{:?} is not a reference: write `\"id:<service id>\"` or the service inline",
                            shown(&text)
                        ),
                    ));
                };
                if !all.iter().any(|s| s.id == id) {
                    let known: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
                    return Err(ctx.error(
                        &fpath,
                        &format!(
                            "no service has the id {:?} (the plan's services: {})",
                            shown(id),
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                id.to_owned()
            }
            Some(RawFulfillment::Inline(raw)) => {
                let s = service(ctx, &fpath, *raw)?;
                let id = s.id.clone();
                match all.iter().find(|o| o.id == id) {
                    // The same inline service required by several artifacts is one service.
                    Some(same) if *same == s => {}
                    Some(_) => {
                        return Err(ctx.error(
                            &fpath.key("id"),
                            &format!(
                            "another service already has the id {id:?} and differs from this one"
                        ),
                        ))
                    }
                    None => add(ctx, &fpath.key("id"), all, s)?,
                }
                id
            }
        };
        out.push(Requirement {
            requirement_type,
            service,
        });
    }
    Ok(out)
}

fn add(
    ctx: &Ctx,
    at: &FieldPath,
    all: &mut Vec<Service>,
    service: Service,
) -> Result<(), PlanError> {
    if all.iter().any(|s| s.id == service.id) {
        return Err(ctx.error(at, &format!("duplicate service id {:?}", service.id)));
    }
    if all.len() >= MAX_SERVICES {
        return Err(ctx.error(
            at,
            &format!("a plan may declare at most {MAX_SERVICES} services"),
        ));
    }
    all.push(service);
    Ok(())
}

fn service(ctx: &Ctx, at: &FieldPath, s: RawService) -> Result<Service, PlanError> {
    let Some(Name(name)) = s.name else {
        return Err(ctx.error(&at.key("name"), "missing: every service needs a name"));
    };
    let id = s.id.map_or_else(|| name.clone(), |Name(id)| id);
    let chars = s.characteristics.unwrap_or_default();
    let cpath = at.key("characteristics");
    let (kind, binding) = match chars.as_slice() {
        [] => {
            return Err(ctx.error(
                &cpath,
                &format!(
                    "missing: name the service's kind (`[{{characteristic_type: KIND}}]`, KIND one of {})",
                    kinds()
                ),
            ))
        }
        [one] => characteristic(ctx, &cpath.index(0), one)?,
        _ => {
            return Err(ctx.error(
                &cpath.index(1),
                "a service has one characteristic, its kind (with `url_parameter` when it is bound)",
            ))
        }
    };
    Ok(Service {
        id,
        name,
        kind,
        binding,
    })
}

fn characteristic(
    ctx: &Ctx,
    at: &FieldPath,
    c: &RawCharacteristic,
) -> Result<(ServiceKind, Binding), PlanError> {
    let tpath = at.key("characteristic_type");
    let Some(word) = c.characteristic_type.as_deref() else {
        return Err(ctx.error(&tpath, &format!("missing: one of {}", kinds())));
    };
    let Some(kind) = ServiceKind::parse(word.trim()) else {
        return Err(ctx.error(
            &tpath,
            &format!(
                "unknown service kind {:?}: solum-agent runs {}",
                shown(word),
                kinds()
            ),
        ));
    };
    let binding = match &c.url_parameter {
        None => Binding::Local,
        Some(p) if is_env_name(p) => Binding::Bound {
            url_parameter: p.clone(),
        },
        Some(p) => {
            return Err(ctx.error(
                &at.key("url_parameter"),
                &format!(
                "{:?} is not a parameter name (letters, digits and _, not starting with a digit)",
                shown(p)
            ),
            ))
        }
    };
    Ok((kind, binding))
}

fn kinds() -> String {
    ServiceKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// At most 60 characters of a value, for messages.
fn shown(s: &str) -> String {
    s.chars().take(60).collect()
}
