//! The OIDC tokens of jobs with `id-token: write`: JWTs with GitHub's claims, signed (HS256)
//! with a key fake-github draws at start and never shows; fake-github verifies its own tokens
//! for the stand-ins that exchange them (`POST /_fake/oidc/verify`).

use base64::Engine as _;
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The issuer GitHub's tokens carry, which AWS trust policies name.
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A signing key.
pub(crate) struct Signer(ring::hmac::Key);

impl Signer {
    /// A fresh random key.
    pub(crate) fn random() -> Self {
        let rng = ring::rand::SystemRandom::new();
        // Generation only fails without an OS random source, where nothing can run anyway.
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"fake-github"));
        Self(key)
    }

    /// A JWT of `claims`.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT","kid":"fake-github"}"#);
        let body = B64.encode(claims.to_string());
        let input = format!("{header}.{body}");
        let tag = ring::hmac::sign(&self.0, input.as_bytes());
        format!("{input}.{}", B64.encode(tag.as_ref()))
    }

    /// The claims of a token this key signed and that has not expired, or why not.
    pub(crate) fn verify(&self, token: &str, now: i64) -> Result<Value, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(b), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT".into());
        };
        let sig = B64
            .decode(s)
            .map_err(|_| "bad signature encoding".to_owned())?;
        ring::hmac::verify(&self.0, format!("{h}.{b}").as_bytes(), &sig)
            .map_err(|_| "signature mismatch: not issued by this fake-github".to_owned())?;
        let claims: Value = B64
            .decode(b)
            .ok()
            .and_then(|c| serde_json::from_slice(&c).ok())
            .ok_or_else(|| "bad claims".to_owned())?;
        match claims["exp"].as_i64() {
            Some(exp) if exp > now => Ok(claims),
            _ => Err("expired".into()),
        }
    }
}

/// What a job's token is about, for its claims.
#[derive(Debug, Clone)]
pub(crate) struct JobIdentity {
    pub(crate) repository: String,
    pub(crate) repository_id: u64,
    pub(crate) owner: String,
    pub(crate) git_ref: String,
    pub(crate) sha: String,
    pub(crate) environment: Option<String>,
    pub(crate) workflow: String,
    pub(crate) workflow_path: String,
    pub(crate) event_name: String,
    pub(crate) actor: String,
    pub(crate) run_id: u64,
    pub(crate) run_number: u64,
}

/// GitHub's claims for `id` and `audience`, valid five minutes from `now`.
pub(crate) fn claims(id: &JobIdentity, audience: &str, now: i64) -> Value {
    // `sub`: the environment when the job has one, else the pull request, else the ref.
    let sub = match (&id.environment, id.event_name.as_str()) {
        (Some(env), _) => format!("repo:{}:environment:{env}", id.repository),
        (None, "pull_request" | "pull_request_target") => {
            format!("repo:{}:pull_request", id.repository)
        }
        _ => format!("repo:{}:ref:{}", id.repository, id.git_ref),
    };
    let ref_type = if id.git_ref.starts_with("refs/tags/") {
        "tag"
    } else {
        "branch"
    };
    let workflow_ref = format!("{}/{}@{}", id.repository, id.workflow_path, id.git_ref);
    json!({
        "iss": ISSUER,
        "aud": audience,
        "sub": sub,
        "jti": format!("{}-{}", id.run_id, now),
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "repository": id.repository,
        "repository_id": id.repository_id.to_string(),
        "repository_owner": id.owner,
        "repository_visibility": "public",
        "ref": id.git_ref,
        "ref_type": ref_type,
        "sha": id.sha,
        "environment": id.environment,
        "workflow": id.workflow,
        "workflow_ref": workflow_ref,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": id.sha,
        "event_name": id.event_name,
        "actor": id.actor,
        "run_id": id.run_id.to_string(),
        "run_number": id.run_number.to_string(),
        "run_attempt": "1",
        "runner_environment": "self-hosted",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_key_only_and_until_it_expires() {
        let (a, b) = (Signer::random(), Signer::random());
        let t = a.sign(&json!({"sub": "x", "exp": 100}));
        assert_eq!(a.verify(&t, 99).unwrap()["sub"], "x");
        assert!(a.verify(&t, 100).unwrap_err().contains("expired"));
        assert!(b.verify(&t, 99).unwrap_err().contains("signature"));
        let mut forged = t.clone();
        forged.push('A');
        assert!(a.verify(&forged, 99).is_err());
        assert!(a.verify("a.b", 1).is_err());
    }

    #[test]
    fn the_subject_names_the_environment_the_pull_request_or_the_ref() {
        let mut id = JobIdentity {
            repository: "acme/gitops".into(),
            repository_id: 7,
            owner: "acme".into(),
            git_ref: "refs/heads/main".into(),
            sha: "abc".into(),
            environment: Some("prod".into()),
            workflow: "deploy".into(),
            workflow_path: ".github/workflows/d.yml".into(),
            event_name: "push".into(),
            actor: "octocat".into(),
            run_id: 1,
            run_number: 1,
        };
        let c = claims(&id, "sts.amazonaws.com", 10);
        assert_eq!(c["sub"], "repo:acme/gitops:environment:prod");
        assert_eq!(
            c["job_workflow_ref"],
            "acme/gitops/.github/workflows/d.yml@refs/heads/main"
        );
        id.environment = None;
        assert_eq!(
            claims(&id, "a", 10)["sub"],
            "repo:acme/gitops:ref:refs/heads/main"
        );
        id.event_name = "pull_request".into();
        assert_eq!(claims(&id, "a", 10)["sub"], "repo:acme/gitops:pull_request");
    }
}
