//! The placement rules of embedded (local) targets across environments.

use crate::load::LoadOptions;
use crate::model::STATE_DIR;
use crate::parse::shown;
use crate::raw::RawEnvironment;

/// The role of a local target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Storage,
    Registry,
    Cdn,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Storage => "storage",
            Role::Registry => "registry",
            Role::Cdn => "cdn",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Role::Storage => "storage directory",
            Role::Registry => "registry file",
            Role::Cdn => "CDN log",
        }
    }
}

/// A local target of one environment: its path split in components, compared ignoring case (a
/// case-insensitive file system would merge `local/Dev` and `local/dev`).
#[derive(Debug)]
struct LocalTarget<'a> {
    env: usize,
    role: Role,
    raw: &'a str,
    components: Vec<String>,
}

impl LocalTarget<'_> {
    fn field(&self) -> String {
        format!("environments[{}].{}", self.env, self.role.key())
    }
}

/// Whether `inner` is `outer` or lies under it.
fn within(inner: &[String], outer: &[String]) -> bool {
    inner.len() >= outer.len() && inner[..outer.len()] == *outer
}

/// The placement rules of embedded targets: absolute paths only when allowed; no two storage
/// directories the same or nested; no registry or CDN log inside a storage directory (it would
/// be served); no file where another target needs a directory; registry and CDN log distinct.
/// Returns `(field, value, message)` for each problem.
pub(crate) fn check_targets(
    environments: &[RawEnvironment],
    options: LoadOptions,
) -> Vec<(String, &str, String)> {
    let mut found = Vec::new();
    let mut targets = Vec::new();
    for (env, e) in environments.iter().enumerate() {
        for (role, path) in [
            (Role::Storage, e.storage.local_path()),
            (Role::Registry, e.registry.local_path()),
            (Role::Cdn, e.cdn.local_path()),
        ] {
            let Some(raw) = path else { continue };
            let target = LocalTarget {
                env,
                role,
                raw,
                // An absolute path keeps its leading empty component, so it never compares
                // equal to a relative one.
                components: raw.split('/').map(str::to_lowercase).collect(),
            };
            if raw.starts_with('/') && !options.allow_absolute_targets {
                found.push((
                    target.field(),
                    raw,
                    format!(
                        "an absolute path is refused unless the operator allows absolute targets; use a path under `{STATE_DIR}/`"
                    ),
                ));
            }
            targets.push(target);
        }
    }
    let name = |t: &LocalTarget<'_>| shown(&environments[t.env].name);
    for (j, later) in targets.iter().enumerate() {
        for earlier in &targets[..j] {
            let same = later.components == earlier.components;
            let later_inside = within(&later.components, &earlier.components);
            let earlier_inside = within(&earlier.components, &later.components);
            if !later_inside && !earlier_inside {
                continue;
            }
            let pair = format!(
                "the {} of {} ({})",
                earlier.role.what(),
                name(earlier),
                earlier.field()
            );
            let message = match (later.role, earlier.role) {
                (Role::Storage, Role::Storage) => format!(
                    "this storage directory overlaps {pair}: environments' storage directories must not be the same or nested"
                ),
                (Role::Registry | Role::Cdn, Role::Storage) => format!(
                    "this {} lies inside {pair}, which is served publicly",
                    later.role.what()
                ),
                (Role::Storage, Role::Registry | Role::Cdn) if earlier_inside => {
                    // Reported on the file, wherever it is declared.
                    let storage = format!(
                        "the storage directory of {} ({})",
                        name(later),
                        later.field()
                    );
                    found.push((
                        earlier.field(),
                        earlier.raw,
                        format!(
                            "this {} lies inside {storage}, which is served publicly",
                            earlier.role.what()
                        ),
                    ));
                    continue;
                }
                (a, b) if a == b && same => continue, // one registry or log shared by environments
                _ if same => format!(
                    "this {} is the same path as {pair}: each target needs its own path",
                    later.role.what()
                ),
                _ => format!(
                    "this {} and {pair} are nested: one of them would have to be both a file and a directory",
                    later.role.what()
                ),
            };
            found.push((later.field(), later.raw, message));
        }
    }
    found
}
