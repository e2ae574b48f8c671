//! Webhooks delivered as GitHub delivers them (issue 19, App mode). A test registers a hook
//! (`POST /_fake/hooks` `{"url", "secret", "events"?}`, [`crate::FakeGithub::add_webhook`]);
//! every event fake-github computes for a repository (the payloads its workflow runner gets,
//! plus `deployment`) is POSTed to each hook whose `events` name it (all when absent): the JSON
//! body, `X-GitHub-Event`, a fresh `X-GitHub-Delivery` GUID, `X-Hub-Signature-256` (HMAC-SHA256
//! of the body under the hook's secret, computed here with `ring`, independently of the
//! server's own verification), `User-Agent: GitHub-Hookshot/fake`, within GitHub's 10 seconds.
//! Every delivery is recorded (`GET /_fake/hooks/deliveries`: guid, event, action, status or
//! error) and can be sent again with the same GUID (`POST
//! /_fake/hooks/deliveries/{guid}/redeliver`), as GitHub's "Redeliver" does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::lock;
use super::wire::{Resp, err};
use crate::runner::Trigger;

/// GitHub's limit on a webhook's answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The registered hooks and the deliveries made.
#[derive(Default)]
pub(super) struct Hooks {
    registered: Mutex<Vec<Hook>>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    http: reqwest::Client,
}

struct Hook {
    url: String,
    secret: String,
    events: Option<Vec<String>>,
}

/// One delivery as recorded (the body and secret kept for a redelivery, never listed).
#[derive(Clone, Serialize)]
struct Delivery {
    guid: String,
    event: String,
    action: Option<String>,
    url: String,
    /// The hook's answer; `None` while in flight or when it failed to answer.
    status: Option<u16>,
    /// Why it got no answer (refused, timed out).
    error: Option<String>,
    #[serde(skip)]
    body: Vec<u8>,
    #[serde(skip)]
    secret: String,
}

impl Hooks {
    /// Whether any hook is registered (events are then computed for every change).
    pub(super) fn any(&self) -> bool {
        !lock(&self.registered).is_empty()
    }

    /// Delivers each trigger's event to every hook that takes it.
    pub(super) fn deliver(&self, triggers: &[Trigger]) {
        let hooks = lock(&self.registered);
        for t in triggers {
            for h in hooks.iter() {
                if h.events.as_ref().is_some_and(|e| !e.contains(&t.event)) {
                    continue;
                }
                let delivery = Delivery {
                    guid: guid(),
                    event: t.event.clone(),
                    action: t.payload["action"].as_str().map(str::to_owned),
                    url: h.url.clone(),
                    status: None,
                    error: None,
                    body: serde_json::to_vec(&t.payload).unwrap_or_default(),
                    secret: h.secret.clone(),
                };
                self.send(delivery);
            }
        }
    }

    /// Records `delivery` and POSTs it in the background.
    fn send(&self, delivery: Delivery) {
        let signature = signature(&delivery.secret, &delivery.body);
        let request = self
            .http
            .post(&delivery.url)
            .timeout(DELIVERY_TIMEOUT)
            .header("Content-Type", "application/json")
            .header("User-Agent", "GitHub-Hookshot/fake")
            .header("X-GitHub-Event", &delivery.event)
            .header("X-GitHub-Delivery", &delivery.guid)
            .header("X-Hub-Signature-256", signature)
            .body(delivery.body.clone());
        let index = {
            let mut all = lock(&self.deliveries);
            all.push(delivery);
            all.len() - 1
        };
        let deliveries = Arc::clone(&self.deliveries);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            lock(&deliveries)[index].error = Some("no runtime to deliver from".to_owned());
            return;
        };
        runtime.spawn(async move {
            let answer = request.send().await;
            let mut all = lock(&deliveries);
            match answer {
                Ok(r) => all[index].status = Some(r.status().as_u16()),
                Err(e) => all[index].error = Some(e.to_string()),
            }
        });
    }

    /// `POST /_fake/hooks` `{"url", "secret", "events"?}`.
    pub(super) fn register(&self, body: &[u8]) -> Resp {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return err(400, "Problems parsing JSON").into_resp(),
        };
        let (Some(url), Some(secret)) = (v["url"].as_str(), v["secret"].as_str()) else {
            return err(422, "url and secret are required").into_resp();
        };
        let events = v["events"].as_array().map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        });
        lock(&self.registered).push(Hook {
            url: url.to_owned(),
            secret: secret.to_owned(),
            events,
        });
        Resp::empty(201)
    }

    /// `GET /_fake/hooks/deliveries`.
    pub(super) fn list(&self) -> Resp {
        Resp::json(200, json!(*lock(&self.deliveries)))
    }

    /// `POST /_fake/hooks/deliveries/{guid}/redeliver`: the same body, GUID and signature.
    pub(super) fn redeliver(&self, guid: &str) -> Resp {
        let found = lock(&self.deliveries)
            .iter()
            .find(|d| d.guid == guid)
            .cloned();
        match found {
            Some(mut d) => {
                d.status = None;
                d.error = None;
                self.send(d);
                Resp::empty(202)
            }
            None => err(404, "Not Found").into_resp(),
        }
    }
}

/// `sha256=<hex>` of `body` under `secret`.
fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex(ring::hmac::sign(&key, body).as_ref()))
}

/// A random GUID, as GitHub names deliveries.
fn guid() -> String {
    let mut b = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    let hex = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
