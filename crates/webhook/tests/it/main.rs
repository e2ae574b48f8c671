//! Deliveries verified and read: signatures (constant-time HMAC, refused before anything is
//! parsed), bounds and headers, and every example GitHub publishes of the events `gitops serve`
//! handles (npm `@octokit/webhooks-examples`, `GITOPS_TEST_WEBHOOK_EXAMPLES`).

// Test code runs on the harness's threads: blocking file calls are fine here.
#![allow(clippy::disallowed_methods)]

mod fake_github;

use gitops_webhook::{DeliveryId, Event, Headers, Limits, Rejection, read, signature, verify};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

fn secret() -> SecretString {
    SecretString::from("It's a Secret to Everybody")
}

fn headers<'a>(event: &'a str, signature: Option<&'a str>) -> Headers<'a> {
    Headers {
        event: Some(event),
        delivery: Some(DELIVERY),
        signature,
    }
}

/// `body` signed with [`secret`] and read as `event`.
fn deliver(event: &str, body: &[u8]) -> Result<gitops_webhook::Delivery, Rejection> {
    let signed = signature(&secret(), body);
    read(
        &secret(),
        headers(event, Some(&signed)),
        body,
        Limits::default(),
    )
}

#[test]
fn githubs_documented_signature_verifies() {
    // The example of GitHub's "Validating webhook deliveries" page.
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(signature(&secret(), b"Hello, World!"), expected);
    assert_eq!(verify(&secret(), b"Hello, World!", Some(expected)), Ok(()));
}

#[test]
fn unsigned_missigned_and_malformed_signatures_are_refused_with_401() {
    let body = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let good = signature(&secret(), body);
    let other = signature(&SecretString::from("another secret"), body);
    let upper = good.to_ascii_uppercase().replacen("SHA256", "sha256", 1);
    let cases: [(Option<&str>, Rejection); 7] = [
        (None, Rejection::Unsigned),
        (Some(&other), Rejection::BadSignature),
        (Some("sha1=0123"), Rejection::BadSignature),
        (Some(&good[..good.len() - 1]), Rejection::BadSignature),
        (
            Some(good.trim_start_matches("sha256=")),
            Rejection::BadSignature,
        ),
        (Some("sha256=zz"), Rejection::BadSignature),
        (Some(""), Rejection::BadSignature),
    ];
    for (header, expected) in cases {
        let got = read(&secret(), headers("ping", header), body, Limits::default());
        assert_eq!(got.as_ref().err(), Some(&expected), "{header:?}");
        assert_eq!(expected.status(), 401);
    }
    // Hex digits are case-insensitive, as GitHub's own libraries compare them.
    assert!(
        read(
            &secret(),
            headers("ping", Some(&upper)),
            body,
            Limits::default()
        )
        .is_ok()
    );
    // A tampered body no longer matches its signature.
    let tampered = br#"{"zen":"Design for failure!","hook_id":1}"#;
    assert_eq!(
        read(
            &secret(),
            headers("ping", Some(&good)),
            tampered,
            Limits::default()
        )
        .err(),
        Some(Rejection::BadSignature)
    );
}

#[test]
fn the_signature_is_checked_before_anything_else_is_read() {
    // Neither an unknown event, a bad delivery id nor a body that is no JSON is looked at
    // before the signature: an unsigned delivery learns nothing.
    let unsigned = Headers {
        event: Some("fork"),
        delivery: Some("not a delivery id!"),
        signature: None,
    };
    assert_eq!(
        read(&secret(), unsigned, b"not json", Limits::default()).err(),
        Some(Rejection::Unsigned)
    );
}

#[test]
fn an_oversized_body_is_refused_with_413_before_its_signature_is_computed() {
    let limits = Limits { max_body_bytes: 16 };
    let body = b"{\"zen\":\"0123456789\"}";
    let signed = signature(&secret(), body);
    let got = read(&secret(), headers("ping", Some(&signed)), body, limits).unwrap_err();
    assert_eq!(got, Rejection::TooLarge { limit: 16 });
    assert_eq!(got.status(), 413);
    assert!(read(&secret(), headers("ping", None), body, limits).is_err_and(|r| r.status() == 413));
}

#[test]
fn bad_headers_unknown_events_and_malformed_bodies_are_refused_with_400() {
    let body = br#"{"zen":"z"}"#;
    let signed = signature(&secret(), body);
    for delivery in [None, Some(""), Some("has space"), Some(&"x".repeat(65)[..])] {
        let h = Headers {
            event: Some("ping"),
            delivery,
            signature: Some(&signed),
        };
        let got = read(&secret(), h, body, Limits::default()).unwrap_err();
        assert!(
            matches!(got, Rejection::BadHeader { .. }),
            "{delivery:?}: {got:?}"
        );
        assert_eq!(got.status(), 400);
    }
    let no_event = Headers {
        event: None,
        delivery: Some(DELIVERY),
        signature: Some(&signed),
    };
    assert!(matches!(
        read(&secret(), no_event, body, Limits::default()),
        Err(Rejection::BadHeader { .. })
    ));
    let unknown = deliver("fork", body).unwrap_err();
    assert_eq!(unknown, Rejection::UnknownEvent("fork".to_owned()));
    assert_eq!(unknown.status(), 400);

    // Malformed: no JSON, a missing field, a wrong type; the reason names the field, never the
    // body's content.
    let secret_value = "ghp_s3cr3tValueThatMustNotLeak";
    for (body, needle) in [
        (b"{not json".to_vec(), "not JSON"),
        (
            json!({"ref": "refs/heads/main", "deleted": false, "repository": {"full_name": "acme/gitops", "default_branch": "main"}})
                .to_string()
                .into_bytes(),
            "missing field `after`",
        ),
        (
            json!({"ref": "refs/heads/main", "after": 7, "repository": {"full_name": secret_value, "default_branch": "main"}})
                .to_string()
                .into_bytes(),
            "wrong type",
        ),
        (
            json!({"ref": "refs/heads/main", "after": secret_value, "repository": {"full_name": "acme/gitops", "default_branch": "main"}})
                .to_string()
                .into_bytes(),
            "after is not a commit sha",
        ),
    ] {
        let got = deliver("push", &body).unwrap_err();
        let text = got.to_string();
        assert!(text.contains(needle), "{text}");
        assert!(!text.contains(secret_value), "{text}");
        assert_eq!(got.status(), 400);
    }
}

#[test]
fn a_delivery_id_is_a_guid_like_token() {
    assert_eq!(DeliveryId::parse(DELIVERY).unwrap().as_str(), DELIVERY);
    for bad in ["", "a/b", "a b", "é", "a\n"] {
        assert!(DeliveryId::parse(bad).is_err(), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn a_signature_verifies_exactly_its_own_body(
        key in ".{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        flip in any::<(usize, u8)>(),
    ) {
        let key = SecretString::from(key);
        let signed = signature(&key, &body);
        prop_assert!(verify(&key, &body, Some(&signed)).is_ok());
        if !body.is_empty() && flip.1 != 0 {
            let mut other = body.clone();
            let i = flip.0 % other.len();
            other[i] ^= flip.1;
            prop_assert_eq!(verify(&key, &other, Some(&signed)), Err(Rejection::BadSignature));
        }
    }

    /// Arbitrary bytes and headers, signed or not: never a panic.
    #[test]
    fn arbitrary_deliveries_never_panic(
        event in prop_oneof![Just("push".to_owned()), Just("deployment".to_owned()), ".{0,20}"],
        body in proptest::collection::vec(any::<u8>(), 0..256),
        delivery in ".{0,70}",
        sign in any::<bool>(),
    ) {
        let signed = signature(&secret(), &body);
        let h = Headers {
            event: Some(&event),
            delivery: Some(&delivery),
            signature: sign.then_some(signed.as_str()),
        };
        let _ = read(&secret(), h, &body, Limits::default());
    }
}

/// GitHub's published examples of `name` (every action).
fn examples(name: &str) -> Option<Vec<Value>> {
    let Some(path) = std::env::var_os("GITOPS_TEST_WEBHOOK_EXAMPLES") else {
        gitops_testkit::skip(
            "webhook examples",
            "GITOPS_TEST_WEBHOOK_EXAMPLES is not set (scripts/fetch-webhook-examples)",
        );
        return None;
    };
    let all: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let event = all
        .into_iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("GitHub's examples have no {name}"));
    let list = event["examples"].as_array().unwrap().clone();
    assert!(!list.is_empty(), "{name}");
    Some(list)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn every_github_example_of_a_handled_event_is_read() {
    let acted: &[(&str, &[&str])] = &[
        (
            "pull_request",
            &["opened", "reopened", "synchronize", "ready_for_review"],
        ),
        ("pull_request_review", &["submitted", "dismissed"]),
        ("check_suite", &["completed"]),
        (
            "installation",
            &["created", "deleted", "suspend", "unsuspend"],
        ),
    ];
    for (name, actions) in acted {
        let Some(list) = examples(name) else { return };
        for example in list {
            let action = example["action"].as_str().unwrap().to_owned();
            let delivery =
                deliver(name, &bytes(&example)).unwrap_or_else(|r| panic!("{name} {action}: {r}"));
            let ignored = matches!(delivery.event, Event::Ignored { .. });
            assert_eq!(
                ignored,
                !actions.contains(&action.as_str()),
                "{name} {action}: {delivery:?}"
            );
            assert_eq!(
                delivery.installation,
                example["installation"]["id"].as_u64(),
                "{name} {action}"
            );
            match delivery.event {
                Event::PullRequest(p) => {
                    assert_eq!(p.number, example["number"].as_u64().unwrap());
                    assert_eq!(p.head_sha.as_str(), example["pull_request"]["head"]["sha"]);
                    assert_eq!(p.head_ref, example["pull_request"]["head"]["ref"]);
                    assert_eq!(p.base_ref, example["pull_request"]["base"]["ref"]);
                    assert_eq!(p.repository.to_string(), example["repository"]["full_name"]);
                }
                Event::Review(r) => {
                    assert_eq!(
                        r.number,
                        example["pull_request"]["number"].as_u64().unwrap()
                    );
                    assert_eq!(
                        r.state,
                        example["review"]["state"]
                            .as_str()
                            .unwrap()
                            .to_ascii_lowercase()
                    );
                }
                Event::CheckSuite(c) => {
                    assert_eq!(c.head_sha.as_str(), example["check_suite"]["head_sha"]);
                    let prs: Vec<u64> = example["check_suite"]["pull_requests"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["number"].as_u64().unwrap())
                        .collect();
                    assert_eq!(c.pull_requests, prs);
                }
                Event::Installation(i) => {
                    assert_eq!(Some(i.installation), example["installation"]["id"].as_u64());
                    assert_eq!(
                        i.account.as_str(),
                        example["installation"]["account"]["login"]
                    );
                }
                Event::Ignored { .. } => {}
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

#[test]
fn pushes_pings_and_dispatches_from_github_are_read() {
    let Some(pushes) = examples("push") else {
        return;
    };
    for example in pushes {
        let delivery = deliver("push", &bytes(&example)).unwrap();
        let git_ref = example["ref"].as_str().unwrap();
        let branch = git_ref.starts_with("refs/heads/") && example["deleted"] != true;
        match delivery.event {
            Event::Push(p) => {
                assert!(branch, "{git_ref}");
                assert_eq!(p.git_ref, git_ref);
                assert_eq!(p.after.as_str(), example["after"]);
                assert_eq!(
                    p.to_default_branch,
                    git_ref
                        == format!(
                            "refs/heads/{}",
                            example["repository"]["default_branch"].as_str().unwrap()
                        )
                );
            }
            Event::Ignored { .. } => assert!(!branch, "{git_ref}"),
            other => panic!("push: {other:?}"),
        }
    }
    for example in examples("ping").unwrap_or_default() {
        assert_eq!(
            deliver("ping", &bytes(&example)).unwrap().event,
            Event::Ping
        );
    }
    for example in examples("repository_dispatch").unwrap_or_default() {
        let Event::Dispatch(d) = deliver("repository_dispatch", &bytes(&example))
            .unwrap()
            .event
        else {
            panic!("a dispatch")
        };
        assert_eq!(d.event_type, example["action"]);
        assert_eq!(d.client_payload, example["client_payload"]);
    }
}

#[test]
fn a_deployment_is_a_request_only_when_it_carries_a_deploy_requests_payload() {
    let Some(list) = examples("deployment") else {
        return;
    };
    for example in list {
        // As GitHub publishes them: payloads of other tools, not ours.
        let delivery = deliver("deployment", &bytes(&example)).unwrap();
        assert!(
            matches!(delivery.event, Event::Ignored { why, .. } if why.contains("payload")),
            "{delivery:?}"
        );
        // The same delivery with a deploy request's payload, as an object and as the string
        // GitHub may send.
        let ours =
            json!({"id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "mfe": "checkout", "version": "1.2.3"});
        for payload in [ours.clone(), Value::String(ours.to_string())] {
            let mut mine = example.clone();
            mine["deployment"]["payload"] = payload;
            mine["deployment"]["environment"] = json!("prod");
            let Event::Deployment(d) = deliver("deployment", &bytes(&mine)).unwrap().event else {
                panic!("a request")
            };
            assert_eq!(d.repository.to_string(), example["repository"]["full_name"]);
            assert_eq!(
                d.deployment_id,
                example["deployment"]["id"].as_u64().unwrap()
            );
            assert_eq!(d.sha.as_str(), example["deployment"]["sha"]);
            assert_eq!(
                d.creator.as_str(),
                example["deployment"]["creator"]["login"]
            );
            assert_eq!(
                (
                    d.environment.as_str(),
                    d.payload.version.to_string().as_str()
                ),
                ("prod", "1.2.3")
            );
        }
        // An environment that is no environment name of ours: not a request.
        let mut odd = example.clone();
        odd["deployment"]["payload"] = ours;
        odd["deployment"]["environment"] = json!("github pages");
        assert!(matches!(
            deliver("deployment", &bytes(&odd)).unwrap().event,
            Event::Ignored { .. }
        ));
    }
}
