//! App mode's credentials against fake-github, which verifies the App's RS256 JWT as GitHub
//! does: installation tokens minted from the App's id and key, cached until shortly before they
//! expire, never shown.

use gitops_gh_pr::{AppCredentials, Error, Forge, InstallationTokens};
use gitops_testkit::FakeGithub;
use secrecy::{ExposeSecret, SecretString};

use crate::repo;

const APP_ID: u64 = 424_242;

fn key() -> SecretString {
    SecretString::from(
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testkit/fixtures/github-app-test-key.pem"
        ))
        .unwrap(),
    )
}

async fn github(owners: Option<&[&str]>) -> (tempfile::TempDir, FakeGithub) {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("data"), None)
        .await
        .unwrap();
    gh.create_repo("acme", "gitops", &[("gitops.yaml", "version: 1\n")])
        .await
        .unwrap();
    match owners {
        None => gh
            .register_app(
                APP_ID,
                "mfe-gitops",
                key().expose_secret(),
                &[("contents", "write"), ("pull_requests", "write")],
            )
            .await
            .unwrap(),
        Some(owners) => gh
            .register_app_on(
                APP_ID,
                "mfe-gitops",
                key().expose_secret(),
                &[("contents", "read")],
                owners,
            )
            .await
            .unwrap(),
    }
    (dir, gh)
}

async fn app_calls(gh: &FakeGithub) -> usize {
    gh.requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.path.ends_with("/installation") || r.path.ends_with("/access_tokens"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_token_is_minted_with_the_apps_jwt_and_cached() {
    let (_dir, gh) = github(None).await;
    let tokens =
        InstallationTokens::new(&gh.base_url, AppCredentials::new(APP_ID, &key()).unwrap());
    let gitops = repo("acme/gitops");
    let first = tokens.token_for(&gitops).await.unwrap();
    assert!(first.expose_secret().starts_with("ghs_"));
    assert_eq!(app_calls(&gh).await, 2, "the installation, then its token");
    let again = tokens.token_for(&gitops).await.unwrap();
    assert_eq!(
        again.expose_secret(),
        first.expose_secret(),
        "cached for the hour"
    );
    assert_eq!(app_calls(&gh).await, 2);
    // The token works: the forge reads the repository as the App's installation.
    let forge = tokens.forge_for(&gitops).await.unwrap();
    let tree = forge.read_tree("main").await.unwrap();
    assert!(tree.files.contains_key("gitops.yaml"));
    // Nothing secret in a Debug line.
    let shown = format!("{tokens:?} {forge:?}");
    assert!(!shown.contains(first.expose_secret()), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_of_another_app_or_signed_with_another_key_is_refused_and_an_absent_installation_is_named()
 {
    let (_dir, gh) = github(None).await;
    let gitops = repo("acme/gitops");
    // An App id fake-github does not know signs nothing it accepts.
    let stranger = InstallationTokens::new(&gh.base_url, AppCredentials::new(7, &key()).unwrap());
    let refused = stranger.token_for(&gitops).await.unwrap_err();
    assert!(matches!(refused, Error::Unauthorized { .. }), "{refused:?}");

    // The right App id, but a JWT signed with another key (a PKCS#8 one): refused.
    let other = SecretString::from(
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testkit/fixtures/github-app-other-key.pem"
        ))
        .unwrap(),
    );
    let forged =
        InstallationTokens::new(&gh.base_url, AppCredentials::new(APP_ID, &other).unwrap());
    let refused = forged.token_for(&gitops).await.unwrap_err();
    assert!(matches!(refused, Error::Unauthorized { .. }), "{refused:?}");

    let (_dir2, elsewhere) = github(Some(&["someone-else"])).await;
    let tokens = InstallationTokens::new(
        &elsewhere.base_url,
        AppCredentials::new(APP_ID, &key()).unwrap(),
    );
    let missing = tokens.token_for(&gitops).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
    assert!(
        missing
            .to_string()
            .contains("installation of App 424242 on acme/gitops"),
        "{missing}"
    );
}

#[test]
fn a_key_that_is_no_rsa_pem_is_refused_without_quoting_it() {
    let secret = "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n";
    let e = AppCredentials::new(1, &SecretString::from(secret)).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("GITOPS_APP_PRIVATE_KEY_FILE"), "{text}");
    assert!(!text.contains("bm90IGEga2V5"), "{text}");
    let shown = format!("{:?}", AppCredentials::new(1, &key()).unwrap());
    assert!(!shown.contains("PRIVATE"), "{shown}");
}
