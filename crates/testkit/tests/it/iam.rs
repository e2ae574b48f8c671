//! The IAM policy evaluator's semantics on hand-written policies.

use std::collections::BTreeMap;

use gitops_testkit::iam::{Policy, TrustPolicy, wildcard_findings, wildcard_match};
use serde_json::json;

const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
const AUD: &str = "token.actions.githubusercontent.com:aud";
const SUB: &str = "token.actions.githubusercontent.com:sub";
const ASSUME: &str = "sts:AssumeRoleWithWebIdentity";

fn claims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn trust(conditions: &serde_json::Value) -> TrustPolicy {
    TrustPolicy::parse(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER},
            "Action": ASSUME,
            "Condition": conditions,
        }]
    }))
    .expect("trust policy")
}

#[test]
fn wildcards_follow_iam_semantics() {
    assert!(wildcard_match(
        "arn:aws:s3:::bkt/*",
        "arn:aws:s3:::bkt/a/b/c"
    ));
    assert!(wildcard_match("arn:aws:s3:::*", "arn:aws:s3:::bkt/a:b"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("a*b*c", "aXXbYYbc"));
    assert!(wildcard_match("v?", "v1"));
    assert!(!wildcard_match("v?", "v"));
    assert!(!wildcard_match("v?", "v12"));
    assert!(wildcard_match("v?.*", "v1.2"));
    assert!(!wildcard_match("arn:aws:s3:::bkt/*", "arn:aws:s3:::bkt"));
    assert!(!wildcard_match("arn:aws:s3:::Bkt/*", "arn:aws:s3:::bkt/x"));
    assert!(!wildcard_match("abc", "abcd"));
}

#[test]
fn permission_policy_allows_and_deny_wins() {
    let p = Policy::parse(&json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Storage", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": "arn:aws:s3:::site/prod/*"},
            {"Sid": "Bucket", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": ["arn:aws:s3:::site"]},
            {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*",
             "Resource": "arn:aws:s3:::site/prod/secret*"},
            {"Sid": "Cdn", "Effect": "Allow", "Action": "cloudfront:Get?nvalidation",
             "Resource": "arn:aws:cloudfront::123456789012:distribution/E1"},
        ]
    }))
    .expect("parse");
    assert!(p.allows("s3:GetObject", "arn:aws:s3:::site/prod/importmap.json"));
    // Actions are case-insensitive, resources are not.
    assert!(p.allows("S3:getobject", "arn:aws:s3:::site/prod/mfe/a/1.0.0/x.js"));
    assert!(!p.allows("s3:GetObject", "arn:aws:s3:::SITE/prod/importmap.json"));
    assert!(!p.allows("s3:GetObject", "arn:aws:s3:::site/dev/importmap.json"));
    assert!(!p.allows("s3:DeleteObject", "arn:aws:s3:::site/prod/importmap.json"));
    assert!(p.allows("s3:ListBucket", "arn:aws:s3:::site"));
    assert!(!p.allows("s3:ListBucket", "arn:aws:s3:::site/prod/x"));
    // The explicit Deny wins over the Allow.
    assert!(!p.allows("s3:GetObject", "arn:aws:s3:::site/prod/secrets.json"));
    assert!(p.allows(
        "cloudfront:GetInvalidation",
        "arn:aws:cloudfront::123456789012:distribution/E1"
    ));
    assert!(!p.allows(
        "cloudfront:GetDistribution",
        "arn:aws:cloudfront::123456789012:distribution/E1"
    ));
    let grants = p.grants();
    assert_eq!(grants.len(), 4, "{grants:?}");
    assert!(grants.contains(&("s3:ListBucket".to_owned(), "arn:aws:s3:::site".to_owned())));
    assert!(!grants.iter().any(|(a, _)| a == "s3:*"), "Deny is no grant");
}

#[test]
fn a_single_statement_object_is_a_policy() {
    let p = Policy::parse(&json!({
        "Statement": {"Effect": "Allow", "Action": "dynamodb:GetItem",
                      "Resource": "arn:aws:dynamodb:us-east-1:1:table/t"}
    }))
    .expect("parse");
    assert!(p.allows("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t"));
    assert!(!p.allows("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t2"));
}

#[test]
fn what_cannot_be_evaluated_faithfully_is_refused() {
    let refused = [
        json!({"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotResource": "x"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                              "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}),
        json!({"Statement": [{"Effect": "allow", "Action": "s3:GetObject", "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                              "Resource": "arn:aws:s3:::b/${aws:username}/*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                              "Typo": 1}]}),
        json!({"Version": "2020-01-01", "Statement": []}),
        json!({"Statement": []}),
        json!([]),
    ];
    for doc in refused {
        let r = Policy::parse(&doc);
        assert!(r.is_err(), "accepted {doc}");
    }
    let e = Policy::parse(&json!({"Statement": [{"Sid": "X", "Effect": "Allow",
        "NotAction": "s3:*", "Resource": "*"}]}))
    .unwrap_err();
    assert!(e.contains("Sid X") && e.contains("NotAction"), "{e}");
}

#[test]
fn trust_string_equals_needs_every_key_and_any_value() {
    let t = trust(&json!({
        "StringEquals": {
            AUD: "sts.amazonaws.com",
            SUB: ["repo:acme/gitops:environment:prod", "repo:acme/gitops:environment:dev"],
        }
    }));
    let ok = claims(&[
        (AUD, "sts.amazonaws.com"),
        (SUB, "repo:acme/gitops:environment:prod"),
    ]);
    assert!(t.admits(PROVIDER, ASSUME, &ok));
    let dev = claims(&[
        (AUD, "sts.amazonaws.com"),
        (SUB, "repo:acme/gitops:environment:dev"),
    ]);
    assert!(t.admits(PROVIDER, ASSUME, &dev), "any listed value holds");
    for bad in [
        claims(&[
            (AUD, "sts.amazonaws.com"),
            (SUB, "repo:acme/other:environment:prod"),
        ]),
        claims(&[
            (AUD, "sts.amazonaws.com"),
            (SUB, "repo:acme/gitops:environment:staging"),
        ]),
        claims(&[
            (AUD, "sts.amazonaws.com"),
            (SUB, "repo:acme/gitops:environment:PROD"),
        ]),
        claims(&[(AUD, "other"), (SUB, "repo:acme/gitops:environment:prod")]),
        // A missing claim fails a positive operator.
        claims(&[(SUB, "repo:acme/gitops:environment:prod")]),
        claims(&[]),
    ] {
        assert!(!t.admits(PROVIDER, ASSUME, &bad), "admitted {bad:?}");
    }
    // Condition keys compare case-insensitively, values do not.
    let upper = claims(&[
        (
            "Token.Actions.GithubUserContent.com:AUD",
            "sts.amazonaws.com",
        ),
        (SUB, "repo:acme/gitops:environment:prod"),
    ]);
    assert!(t.admits(PROVIDER, ASSUME, &upper));
    // Principal and action must match.
    let other = "arn:aws:iam::123456789012:oidc-provider/example.com";
    assert!(!t.admits(other, ASSUME, &ok));
    assert!(!t.admits(PROVIDER, "sts:AssumeRole", &ok));
    assert!(t.admits(PROVIDER, "STS:assumerolewithwebidentity", &ok));
}

#[test]
fn trust_string_like_matches_wildcards() {
    let t = trust(&json!({
        "StringEquals": {AUD: "sts.amazonaws.com"},
        "StringLike": {SUB: ["repo:acme/checkout:ref:refs/heads/main",
                             "repo:acme/checkout:ref:refs/tags/v*"]},
    }));
    let with = |sub: &str| claims(&[(AUD, "sts.amazonaws.com"), (SUB, sub)]);
    assert!(t.admits(
        PROVIDER,
        ASSUME,
        &with("repo:acme/checkout:ref:refs/heads/main")
    ));
    assert!(t.admits(
        PROVIDER,
        ASSUME,
        &with("repo:acme/checkout:ref:refs/tags/v1.2.3")
    ));
    assert!(!t.admits(
        PROVIDER,
        ASSUME,
        &with("repo:acme/checkout:ref:refs/heads/feature")
    ));
    assert!(!t.admits(
        PROVIDER,
        ASSUME,
        &with("repo:acme/checkout:ref:refs/tags/1.2.3")
    ));
    assert!(!t.admits(PROVIDER, ASSUME, &with("repo:acme/checkout:pull_request")));
    assert!(!t.admits(
        PROVIDER,
        ASSUME,
        &with("repo:acme/checkoutx:ref:refs/heads/main")
    ));
    let q = trust(&json!({"StringLike": {SUB: "repo:acme/m?:*"}}));
    assert!(q.admits(PROVIDER, ASSUME, &claims(&[(SUB, "repo:acme/m1:x")])));
    assert!(!q.admits(PROVIDER, ASSUME, &claims(&[(SUB, "repo:acme/m12:x")])));
}

#[test]
fn trust_negated_and_ignore_case_operators() {
    let ne = trust(&json!({"StringNotEquals": {SUB: ["repo:a/b:ref:refs/heads/x", "y"]}}));
    assert!(ne.admits(
        PROVIDER,
        ASSUME,
        &claims(&[(SUB, "repo:a/b:ref:refs/heads/main")])
    ));
    assert!(!ne.admits(PROVIDER, ASSUME, &claims(&[(SUB, "y")])));
    // IAM: an absent key satisfies a negated operator.
    assert!(ne.admits(PROVIDER, ASSUME, &claims(&[])));
    let nl = trust(&json!({"StringNotLike": {SUB: "repo:a/*"}}));
    assert!(!nl.admits(PROVIDER, ASSUME, &claims(&[(SUB, "repo:a/b")])));
    assert!(nl.admits(PROVIDER, ASSUME, &claims(&[(SUB, "repo:c/b")])));
    let ic = trust(&json!({"StringEqualsIgnoreCase": {SUB: "Repo:ACME/x"}}));
    assert!(ic.admits(PROVIDER, ASSUME, &claims(&[(SUB, "repo:acme/X")])));
    assert!(!ic.admits(PROVIDER, ASSUME, &claims(&[(SUB, "repo:acme/y")])));
    assert!(!ic.admits(PROVIDER, ASSUME, &claims(&[])));
    let ie = trust(&json!({"StringEqualsIfExists": {SUB: "a"}}));
    assert!(ie.admits(PROVIDER, ASSUME, &claims(&[])));
    assert!(!ie.admits(PROVIDER, ASSUME, &claims(&[(SUB, "b")])));
}

#[test]
fn trust_deny_wins_and_unknown_operators_are_errors() {
    let t = TrustPolicy::parse(&json!({
        "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": ASSUME},
            {"Effect": "Deny", "Principal": "*", "Action": "sts:*",
             "Condition": {"StringLike": {SUB: "*:pull_request"}}},
        ]
    }))
    .expect("parse");
    assert!(t.admits(
        PROVIDER,
        ASSUME,
        &claims(&[(SUB, "repo:a/b:ref:refs/heads/main")])
    ));
    assert!(!t.admits(PROVIDER, ASSUME, &claims(&[(SUB, "repo:a/b:pull_request")])));
    let base = |cond: serde_json::Value| {
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                              "Action": ASSUME, "Condition": cond}]})
    };
    for cond in [
        json!({"StringEqualz": {SUB: "x"}}),
        json!({"Bool": {"aws:SecureTransport": true}}),
        json!({"ForAnyValue:StringLike": {SUB: "x"}}),
        json!({"ForAllValues:StringEquals": {SUB: "x"}}),
        json!({"StringEquals": {SUB: []}}),
        json!({"StringEquals": {}}),
        json!({"StringEquals": {SUB: null}}),
    ] {
        let e = TrustPolicy::parse(&base(cond.clone()));
        assert!(e.is_err(), "accepted {cond}");
    }
    let e = TrustPolicy::parse(&base(json!({"StringEqualz": {SUB: "x"}}))).unwrap_err();
    assert!(e.contains("StringEqualz"), "{e}");
    for doc in [
        json!({"Statement": [{"Effect": "Allow", "Action": ASSUME}]}),
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                              "Action": ASSUME, "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "x"},
                              "Action": ASSUME}]}),
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Human": "x"},
                              "Action": ASSUME}]}),
    ] {
        assert!(TrustPolicy::parse(&doc).is_err(), "accepted {doc}");
    }
}

#[test]
fn wildcard_findings_flag_tflint_class_mistakes() {
    let clean = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Storage", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": "arn:aws:s3:::site/prod/*"},
            {"Sid": "StorageBucket", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": "arn:aws:s3:::site"},
            {"Sid": "Registry", "Effect": "Allow", "Action": "dynamodb:GetItem",
             "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/reg"},
        ]
    });
    assert_eq!(wildcard_findings(&clean), Vec::<String>::new());
    for (bad, what) in [
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}),
            "s3:*",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b"}),
            "s3:Get*",
        ),
        (
            json!({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"}),
            "\"*\"",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            "resource \"*\"",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*"}),
            "arn:aws:s3:::*",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt*/x"}),
            "bkt*",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/x*"}),
            "bkt/x*",
        ),
        (
            json!({"Effect": "Allow", "Action": "dynamodb:GetItem",
                "Resource": "arn:aws:dynamodb:*:*:table/x"}),
            "table/x",
        ),
        (
            json!({"Effect": "Allow", "Action": "dynamodb:GetItem",
                "Resource": "arn:aws:dynamodb:us-east-1:1:table/x/*"}),
            "table/x/*",
        ),
        (
            json!({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b"}),
            "NotAction",
        ),
        (
            json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
            "principal AWS",
        ),
    ] {
        let found = wildcard_findings(&json!({"Statement": [bad.clone()]}));
        assert!(
            found.iter().any(|f| f.contains(what)),
            "{bad}: expected a finding naming {what}, got {found:?}"
        );
    }
    assert!(!wildcard_findings(&json!({"Version": "2012-10-17"})).is_empty());
}
