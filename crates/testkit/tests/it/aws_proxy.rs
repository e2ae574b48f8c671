//! The recording AWS proxy: classification of requests into IAM authorisations, and real
//! calls through it to moto (`GITOPS_TEST_AWS_ENDPOINT`) whose responses must pass unchanged.

use std::io::{Read as _, Write as _};

use gitops_testkit::aws_proxy::{AwsCall, MOTO_ACCOUNT, NO_REGION, RecordingProxy, classify};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

const ACCOUNT: &str = MOTO_ACCOUNT;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn auth(region: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDPROXYTEST/20250101/{region}/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0000"
    )
}

fn pairs(calls: &[AwsCall]) -> Vec<(String, String)> {
    calls
        .iter()
        .map(|c| (c.action.clone(), c.resource.clone()))
        .collect()
}

fn expect(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, r)| ((*a).to_owned(), (*r).to_owned()))
        .collect()
}

fn s3(method: &str, uri: &str, h: &[(&str, &str)], body: &str) -> Vec<(String, String)> {
    pairs(&classify(
        method,
        uri,
        &headers(h),
        body.as_bytes(),
        ACCOUNT,
    ))
}

#[test]
fn s3_requests_are_classified_as_aws_authorises_them() {
    let o = "arn:aws:s3:::bkt/dir/a b+c.txt";
    let b = "arn:aws:s3:::bkt";
    for (method, uri, h, want) in [
        (
            "GET",
            "/bkt/dir/a%20b+c.txt",
            vec![],
            vec![("s3:GetObject", o)],
        ),
        (
            "HEAD",
            "/bkt/dir/a%20b+c.txt",
            vec![],
            vec![("s3:GetObject", o)],
        ),
        (
            "GET",
            "/bkt/dir/a%20b+c.txt?versionId=3",
            vec![],
            vec![("s3:GetObjectVersion", o)],
        ),
        (
            "PUT",
            "/bkt/dir/a%20b+c.txt",
            vec![],
            vec![("s3:PutObject", o)],
        ),
        (
            "PUT",
            "/bkt/dir/a%20b+c.txt",
            vec![("x-amz-copy-source", "/src/in%20put.txt")],
            vec![
                ("s3:PutObject", o),
                ("s3:GetObject", "arn:aws:s3:::src/in put.txt"),
            ],
        ),
        (
            "PUT",
            "/bkt/k?partNumber=2&uploadId=U",
            vec![("x-amz-copy-source", "src/x?versionId=7")],
            vec![
                ("s3:PutObject", "arn:aws:s3:::bkt/k"),
                ("s3:GetObjectVersion", "arn:aws:s3:::src/x"),
            ],
        ),
        (
            "PUT",
            "/bkt/k",
            vec![("x-amz-tagging", "a=b"), ("x-amz-acl", "private")],
            vec![
                ("s3:PutObject", "arn:aws:s3:::bkt/k"),
                ("s3:PutObjectTagging", "arn:aws:s3:::bkt/k"),
                ("s3:PutObjectAcl", "arn:aws:s3:::bkt/k"),
            ],
        ),
        (
            "POST",
            "/bkt/k?uploads",
            vec![],
            vec![("s3:PutObject", "arn:aws:s3:::bkt/k")],
        ),
        (
            "PUT",
            "/bkt/k?partNumber=1&uploadId=U",
            vec![],
            vec![("s3:PutObject", "arn:aws:s3:::bkt/k")],
        ),
        (
            "POST",
            "/bkt/k?uploadId=U",
            vec![],
            vec![("s3:PutObject", "arn:aws:s3:::bkt/k")],
        ),
        (
            "DELETE",
            "/bkt/k?uploadId=U",
            vec![],
            vec![("s3:AbortMultipartUpload", "arn:aws:s3:::bkt/k")],
        ),
        (
            "GET",
            "/bkt/k?uploadId=U",
            vec![],
            vec![("s3:ListMultipartUploadParts", "arn:aws:s3:::bkt/k")],
        ),
        (
            "DELETE",
            "/bkt/k",
            vec![],
            vec![("s3:DeleteObject", "arn:aws:s3:::bkt/k")],
        ),
        (
            "GET",
            "/bkt/k?tagging",
            vec![],
            vec![("s3:GetObjectTagging", "arn:aws:s3:::bkt/k")],
        ),
        (
            "GET",
            "/bkt?list-type=2&prefix=dir%2F",
            vec![],
            vec![("s3:ListBucket", b)],
        ),
        ("GET", "/bkt/", vec![], vec![("s3:ListBucket", b)]),
        ("GET", "/bkt", vec![], vec![("s3:ListBucket", b)]),
        ("HEAD", "/bkt", vec![], vec![("s3:ListBucket", b)]),
        ("PUT", "/bkt", vec![], vec![("s3:CreateBucket", b)]),
        ("DELETE", "/bkt", vec![], vec![("s3:DeleteBucket", b)]),
        (
            "GET",
            "/bkt?location",
            vec![],
            vec![("s3:GetBucketLocation", b)],
        ),
        (
            "PUT",
            "/bkt?versioning",
            vec![],
            vec![("s3:PutBucketVersioning", b)],
        ),
        (
            "GET",
            "/bkt?uploads",
            vec![],
            vec![("s3:ListBucketMultipartUploads", b)],
        ),
        ("GET", "/", vec![], vec![("s3:ListAllMyBuckets", "*")]),
        ("PATCH", "/bkt/k", vec![], vec![("s3:UNKNOWN", "*")]),
        ("POST", "/bkt/k", vec![], vec![("s3:UNKNOWN", "*")]),
        ("PUT", "/bkt?analytics", vec![], vec![("s3:UNKNOWN", "*")]),
        (
            "PUT",
            "/bkt?x-id=CreateBucket",
            vec![],
            vec![("s3:CreateBucket", b)],
        ),
        (
            "GET",
            "/bkt/k?x-id=GetObject",
            vec![],
            vec![("s3:GetObject", "arn:aws:s3:::bkt/k")],
        ),
    ] {
        assert_eq!(
            s3(method, uri, &h, ""),
            expect(&want),
            "{method} {uri} {h:?}"
        );
    }
    let unknown = classify("PATCH", "/bkt/k?x=1", &HeaderMap::new(), b"", ACCOUNT);
    assert_eq!(
        unknown[0].detail, "PATCH /bkt/k?x=1",
        "the detail names the request"
    );
    // DeleteObjects needs DeleteObject on every key of the body.
    let body =
        "<Delete><Object><Key>a&amp;b</Key></Object><Object><Key>c/d</Key></Object></Delete>";
    assert_eq!(
        s3("POST", "/bkt?delete", &[], body),
        expect(&[
            ("s3:DeleteObject", "arn:aws:s3:::bkt/a&b"),
            ("s3:DeleteObject", "arn:aws:s3:::bkt/c/d")
        ])
    );
}

#[test]
fn dynamodb_requests_name_their_tables_and_transaction_items() {
    let h = |op: &str| {
        headers(&[
            ("x-amz-target", &format!("DynamoDB_20120810.{op}")),
            ("authorization", &auth("eu-west-2", "dynamodb")),
        ])
    };
    let t = |name: &str| format!("arn:aws:dynamodb:eu-west-2:{ACCOUNT}:table/{name}");
    let call = |op: &str, body: Value| {
        pairs(&classify(
            "POST",
            "/",
            &h(op),
            body.to_string().as_bytes(),
            ACCOUNT,
        ))
    };
    assert_eq!(
        call("GetItem", json!({"TableName": "reg", "Key": {}})),
        vec![("dynamodb:GetItem".to_owned(), t("reg"))]
    );
    assert_eq!(
        call("Query", json!({"TableName": "reg", "IndexName": "by-mfe"})),
        vec![(
            "dynamodb:Query".to_owned(),
            format!("{}/index/by-mfe", t("reg"))
        )]
    );
    assert_eq!(
        call(
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "a", "Item": {}}},
                {"Update": {"TableName": "a", "Key": {}}},
                {"ConditionCheck": {"TableName": "b", "Key": {}}},
                {"Delete": {"TableName": "b", "Key": {}}},
            ]})
        ),
        vec![
            ("dynamodb:PutItem".to_owned(), t("a")),
            ("dynamodb:UpdateItem".to_owned(), t("a")),
            ("dynamodb:ConditionCheckItem".to_owned(), t("b")),
            ("dynamodb:DeleteItem".to_owned(), t("b")),
        ]
    );
    assert_eq!(
        call(
            "TransactGetItems",
            json!({"TransactItems": [{"Get": {"TableName": "a"}}]})
        ),
        vec![("dynamodb:GetItem".to_owned(), t("a"))]
    );
    assert_eq!(
        call("BatchGetItem", json!({"RequestItems": {"a": {}, "b": {}}})),
        vec![
            ("dynamodb:BatchGetItem".to_owned(), t("a")),
            ("dynamodb:BatchGetItem".to_owned(), t("b"))
        ]
    );
    assert_eq!(
        call("ListTables", json!({})),
        vec![("dynamodb:ListTables".to_owned(), "*".to_owned())]
    );
    assert_eq!(
        call(
            "TransactWriteItems",
            json!({"TransactItems": [{"Put": {}}]})
        )[0]
        .0,
        "dynamodb:UNKNOWN"
    );
    // Without a credential scope the region is visibly missing.
    let none = classify(
        "POST",
        "/",
        &headers(&[("x-amz-target", "DynamoDB_20120810.GetItem")]),
        br#"{"TableName":"reg"}"#,
        "111122223333",
    );
    assert_eq!(
        none[0].resource,
        format!("arn:aws:dynamodb:{NO_REGION}:111122223333:table/reg")
    );
}

#[test]
fn cloudfront_and_query_protocol_requests_are_classified() {
    let d = format!("arn:aws:cloudfront::{ACCOUNT}:distribution/E2ABC");
    for (method, uri, action) in [
        (
            "POST",
            "/2020-05-31/distribution/E2ABC/invalidation",
            "cloudfront:CreateInvalidation",
        ),
        (
            "GET",
            "/2020-05-31/distribution/E2ABC/invalidation/I1",
            "cloudfront:GetInvalidation",
        ),
        (
            "GET",
            "/2020-05-31/distribution/E2ABC/invalidation",
            "cloudfront:ListInvalidations",
        ),
        (
            "GET",
            "/2020-05-31/distribution/E2ABC",
            "cloudfront:GetDistribution",
        ),
        (
            "GET",
            "/2020-05-31/distribution/E2ABC/config",
            "cloudfront:GetDistributionConfig",
        ),
        (
            "DELETE",
            "/2020-05-31/distribution/E2ABC/invalidation",
            "cloudfront:UNKNOWN",
        ),
    ] {
        assert_eq!(
            s3(method, uri, &[], ""),
            vec![(action.to_owned(), d.clone())],
            "{method} {uri}"
        );
    }
    let form = (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    let sts = auth("us-east-1", "sts");
    assert_eq!(
        s3(
            "POST",
            "/",
            &[form, ("authorization", &sts)],
            "Action=GetCallerIdentity&Version=2011-06-15"
        ),
        expect(&[("sts:GetCallerIdentity", "*")])
    );
    assert_eq!(
        s3(
            "POST",
            "/",
            &[form],
            "Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fdeploy&WebIdentityToken=t"
        ),
        expect(&[(
            "sts:AssumeRoleWithWebIdentity",
            "arn:aws:iam::1:role/deploy"
        )])
    );
    assert_eq!(
        s3(
            "GET",
            "/?Action=GetRole&RoleName=x",
            &[("authorization", &auth("us-east-1", "iam"))],
            ""
        ),
        expect(&[("iam:GetRole", "*")])
    );
}

#[tokio::test]
async fn the_proxy_serves_while_the_caller_blocks_and_stops_on_drop() {
    // An upstream that refuses connections: the proxy answers 502 itself, naming the request.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    assert!(
        RecordingProxy::try_start("not a url", ACCOUNT)
            .await
            .is_err()
    );
    assert!(RecordingProxy::try_start("ftp://x", ACCOUNT).await.is_err());
    let proxy = RecordingProxy::start(&dead_url).await;
    let addr = proxy.url().trim_start_matches("http://").to_owned();
    // A blocking request on this (current-thread) runtime's only thread: the proxy runs on its
    // own, so this returns instead of deadlocking.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(b"GET /bkt/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("GET /bkt/key"), "{answer}");
    assert_eq!(
        pairs(&proxy.calls()),
        expect(&[("s3:GetObject", "arn:aws:s3:::bkt/key")])
    );
    let policy = gitops_testkit::iam::Policy::parse(&json!({"Statement": {"Effect": "Allow",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"}}))
    .unwrap();
    assert!(proxy.calls().iter().all(|c| c.allowed_by(&policy)));
    proxy.clear();
    assert!(proxy.calls().is_empty());
    drop(proxy);
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the proxy still listens after drop"
    );
}

// ---- against moto ----

/// A response as seen by the client.
struct Got {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

struct Moto {
    proxy: RecordingProxy,
    upstream: String,
    http: reqwest::Client,
}

impl Moto {
    async fn new(test: &str) -> Option<Self> {
        let upstream = gitops_testkit::aws_endpoint(test)?;
        Some(Self {
            proxy: RecordingProxy::start(&upstream).await,
            upstream,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_mins(2))
                .build()
                .unwrap(),
        })
    }

    async fn send(
        &self,
        direct: bool,
        method: &str,
        uri: &str,
        h: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Got {
        let base = if direct {
            &self.upstream
        } else {
            self.proxy.url()
        };
        let resp = self
            .http
            .request(method.parse().unwrap(), format!("{base}{uri}"))
            .headers(headers(h))
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        Got {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    async fn via(&self, method: &str, uri: &str, h: &[(&str, &str)], body: &str) -> Got {
        self.send(false, method, uri, h, body.to_owned()).await
    }

    /// The same request directly and through the proxy: identical status, headers (but the
    /// per-request ones) and body.
    async fn same(&self, method: &str, uri: &str, h: &[(&str, &str)]) -> Got {
        let direct = self.send(true, method, uri, h, Vec::new()).await;
        let proxied = self.send(false, method, uri, h, Vec::new()).await;
        assert_eq!(proxied.status, direct.status, "{method} {uri}");
        assert_eq!(
            without_ids(&proxied.body),
            without_ids(&direct.body),
            "{method} {uri}"
        );
        let stable = |g: &Got| {
            let mut v: Vec<(String, String)> = g
                .headers
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "date"
                            | "x-amzn-requestid"
                            | "x-amz-request-id"
                            | "x-amz-id-2"
                            | "connection"
                    )
                })
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(stable(&proxied), stable(&direct), "{method} {uri}");
        proxied
    }

    fn take(&self) -> Vec<(String, String)> {
        let calls = pairs(&self.proxy.calls());
        self.proxy.clear();
        calls
    }
}

/// The body with the per-request ids of an error document blanked.
fn without_ids(body: &[u8]) -> Vec<u8> {
    let mut s = String::from_utf8_lossy(body).into_owned();
    for tag in ["RequestId", "HostId"] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        if let (Some(a), Some(b)) = (s.find(&open), s.find(&close)) {
            s.replace_range(a + open.len()..b, "");
        }
    }
    s.into_bytes()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn between<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    &xml[start..end]
}

#[tokio::test]
async fn s3_through_the_proxy_to_moto() {
    let Some(m) = Moto::new("s3_through_the_proxy_to_moto").await else {
        return;
    };
    let a = auth("us-east-1", "s3");
    let h = [("authorization", a.as_str())];
    let bucket = unique("gtk-proxy");
    let arn = |k: &str| format!("arn:aws:s3:::{bucket}/{k}");
    let b = format!("/{bucket}");
    assert_eq!(m.via("PUT", &b, &h, "").await.status, 200);
    let put = m
        .via("PUT", &format!("{b}/dir/a%20b+c.txt"), &h, "hello")
        .await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let got = m.same("GET", &format!("{b}/dir/a%20b+c.txt"), &h).await;
    assert_eq!(got.body, b"hello");
    let head = m.same("HEAD", &format!("{b}/dir/a%20b+c.txt"), &h).await;
    assert_eq!(
        head.headers["content-length"], "5",
        "HEAD keeps the object's length"
    );
    let missing = m.same("GET", &format!("{b}/nope.json"), &h).await;
    assert_eq!(missing.status, 404);
    m.same("GET", &format!("{b}?list-type=2&prefix=dir%2F"), &h)
        .await;
    m.same("HEAD", &b, &h).await;
    assert_eq!(
        m.take(),
        vec![
            (
                "s3:CreateBucket".to_owned(),
                format!("arn:aws:s3:::{bucket}")
            ),
            ("s3:PutObject".to_owned(), arn("dir/a b+c.txt")),
            ("s3:GetObject".to_owned(), arn("dir/a b+c.txt")),
            ("s3:GetObject".to_owned(), arn("dir/a b+c.txt")),
            ("s3:GetObject".to_owned(), arn("nope.json")),
            ("s3:ListBucket".to_owned(), format!("arn:aws:s3:::{bucket}")),
            ("s3:ListBucket".to_owned(), format!("arn:aws:s3:::{bucket}")),
        ],
        "the direct requests are not recorded, the proxied ones are"
    );

    // Copy, multipart upload and abort, delete.
    let copy_src = format!("/{bucket}/dir/a%20b+c.txt");
    let copy = [
        ("authorization", a.as_str()),
        ("x-amz-copy-source", copy_src.as_str()),
    ];
    assert_eq!(
        m.via("PUT", &format!("{b}/copy.txt"), &copy, "")
            .await
            .status,
        200
    );
    let created = m.via("POST", &format!("{b}/big.bin?uploads"), &h, "").await;
    let created = String::from_utf8_lossy(&created.body).into_owned();
    let upload = between(&created, "UploadId").to_owned();
    let part = vec![7u8; 5 * 1024 * 1024 + 1];
    let uploaded = m
        .send(
            false,
            "PUT",
            &format!("{b}/big.bin?partNumber=1&uploadId={upload}"),
            &h,
            part.clone(),
        )
        .await;
    assert_eq!(uploaded.status, 200);
    let etag = uploaded.headers["etag"].to_str().unwrap().to_owned();
    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let done = m
        .via(
            "POST",
            &format!("{b}/big.bin?uploadId={upload}"),
            &h,
            &complete,
        )
        .await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let big = m.same("GET", &format!("{b}/big.bin"), &h).await;
    assert_eq!(big.body, part, "a 5 MiB body passes both ways unchanged");
    let created = m
        .via("POST", &format!("{b}/gone.bin?uploads"), &h, "")
        .await;
    let created = String::from_utf8_lossy(&created.body).into_owned();
    let upload2 = between(&created, "UploadId").to_owned();
    assert_eq!(
        m.via(
            "DELETE",
            &format!("{b}/gone.bin?uploadId={upload2}"),
            &h,
            ""
        )
        .await
        .status,
        204
    );
    assert_eq!(
        m.via("DELETE", &format!("{b}/copy.txt"), &h, "")
            .await
            .status,
        204
    );
    assert_eq!(
        m.take(),
        vec![
            ("s3:PutObject".to_owned(), arn("copy.txt")),
            ("s3:GetObject".to_owned(), arn("dir/a b+c.txt")),
            ("s3:PutObject".to_owned(), arn("big.bin")),
            ("s3:PutObject".to_owned(), arn("big.bin")),
            ("s3:PutObject".to_owned(), arn("big.bin")),
            ("s3:GetObject".to_owned(), arn("big.bin")),
            ("s3:PutObject".to_owned(), arn("gone.bin")),
            ("s3:AbortMultipartUpload".to_owned(), arn("gone.bin")),
            ("s3:DeleteObject".to_owned(), arn("copy.txt")),
        ]
    );
}

#[tokio::test]
async fn dynamodb_through_the_proxy_to_moto() {
    let Some(m) = Moto::new("dynamodb_through_the_proxy_to_moto").await else {
        return;
    };
    let a = auth("eu-west-1", "dynamodb");
    let (t1, t2) = (unique("gtk-proxy-a"), unique("gtk-proxy-b"));
    let arn = |t: &str| format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{t}");
    let op = |name: &'static str| {
        vec![
            ("authorization".to_owned(), a.clone()),
            (
                "x-amz-target".to_owned(),
                format!("DynamoDB_20120810.{name}"),
            ),
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.0".to_owned(),
            ),
        ]
    };
    let call = async |direct: bool, name: &'static str, body: Value| {
        let h = op(name);
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let got = m.send(direct, "POST", "/", &h, body.to_string()).await;
        assert_eq!(
            got.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&got.body)
        );
        serde_json::from_slice::<Value>(&got.body).unwrap()
    };
    for t in [&t1, &t2] {
        call(
            false,
            "CreateTable",
            json!({"TableName": t, "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                   "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
        )
        .await;
    }
    call(
        false,
        "PutItem",
        json!({"TableName": t1, "Item": {"pk": {"S": "x"}, "n": {"N": "1"}}}),
    )
    .await;
    call(
        false,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": t1, "Item": {"pk": {"S": "y"}}}},
            {"Update": {"TableName": t1, "Key": {"pk": {"S": "x"}},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "2"}}}},
            {"ConditionCheck": {"TableName": t2, "Key": {"pk": {"S": "z"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ]}),
    )
    .await;
    let get = json!({"TableName": t1, "Key": {"pk": {"S": "x"}}, "ConsistentRead": true});
    let proxied = call(false, "GetItem", get.clone()).await;
    assert_eq!(
        proxied,
        call(true, "GetItem", get).await,
        "the same answer as moto's own"
    );
    assert_eq!(proxied["Item"]["n"]["N"], "2");
    let both = call(
        false,
        "TransactGetItems",
        json!({"TransactItems": [{"Get": {"TableName": t1, "Key": {"pk": {"S": "y"}}}}]}),
    )
    .await;
    assert_eq!(both["Responses"][0]["Item"]["pk"]["S"], "y");
    call(false, "DescribeTable", json!({"TableName": t2})).await;
    assert_eq!(
        m.take(),
        vec![
            ("dynamodb:CreateTable".to_owned(), arn(&t1)),
            ("dynamodb:CreateTable".to_owned(), arn(&t2)),
            ("dynamodb:PutItem".to_owned(), arn(&t1)),
            ("dynamodb:PutItem".to_owned(), arn(&t1)),
            ("dynamodb:UpdateItem".to_owned(), arn(&t1)),
            ("dynamodb:ConditionCheckItem".to_owned(), arn(&t2)),
            ("dynamodb:GetItem".to_owned(), arn(&t1)),
            ("dynamodb:GetItem".to_owned(), arn(&t1)),
            ("dynamodb:DescribeTable".to_owned(), arn(&t2)),
        ]
    );
    for t in [&t1, &t2] {
        call(true, "DeleteTable", json!({"TableName": t})).await;
    }
}

#[tokio::test]
async fn cloudfront_and_sts_through_the_proxy_to_moto() {
    let Some(m) = Moto::new("cloudfront_and_sts_through_the_proxy_to_moto").await else {
        return;
    };
    let a = auth("us-east-1", "cloudfront");
    let h = [("authorization", a.as_str()), ("content-type", "text/xml")];
    let reference = unique("gtk-proxy");
    let config = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
<CallerReference>{reference}</CallerReference><Comment>proxy test</Comment><Enabled>true</Enabled>
<Origins><Quantity>1</Quantity><Items><Origin><Id>o1</Id><DomainName>b.s3.amazonaws.com</DomainName>
<S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity></S3OriginConfig></Origin></Items></Origins>
<DefaultCacheBehavior><TargetOriginId>o1</TargetOriginId><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy></DefaultCacheBehavior>
</DistributionConfig>"#
    );
    let created = m
        .send(true, "POST", "/2020-05-31/distribution", &h, config)
        .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = between(&String::from_utf8_lossy(&created.body), "Id").to_owned();
    let d = format!("/2020-05-31/distribution/{id}");
    let got = m.same("GET", &d, &h).await;
    assert!(got.headers.contains_key("etag"), "the ETag passes through");
    m.same("GET", &format!("{d}/config"), &h).await;
    let batch = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
<Paths><Quantity>1</Quantity><Items><Path>/importmap.json</Path></Items></Paths>
<CallerReference>{reference}-inv</CallerReference></InvalidationBatch>"#
    );
    let inv = m
        .via("POST", &format!("{d}/invalidation"), &h, &batch)
        .await;
    assert_eq!(inv.status, 201, "{}", String::from_utf8_lossy(&inv.body));
    let iid = between(&String::from_utf8_lossy(&inv.body), "Id").to_owned();
    m.same("GET", &format!("{d}/invalidation/{iid}"), &h).await;
    m.same("GET", &format!("{d}/invalidation"), &h).await;
    let dist = format!("arn:aws:cloudfront::{ACCOUNT}:distribution/{id}");
    assert_eq!(
        m.take(),
        [
            "cloudfront:GetDistribution",
            "cloudfront:GetDistributionConfig",
            "cloudfront:CreateInvalidation",
            "cloudfront:GetInvalidation",
            "cloudfront:ListInvalidations",
        ]
        .map(|a| (a.to_owned(), dist.clone()))
    );

    let sts = auth("us-east-1", "sts");
    let form = [
        ("authorization", sts.as_str()),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let who = m
        .via(
            "POST",
            "/",
            &form,
            "Action=GetCallerIdentity&Version=2011-06-15",
        )
        .await;
    assert_eq!(who.status, 200, "{}", String::from_utf8_lossy(&who.body));
    assert!(String::from_utf8_lossy(&who.body).contains(ACCOUNT));
    let role = "arn:aws:iam::123456789012:role/gtk-proxy-deploy";
    let assumed = m
        .via(
            "POST",
            "/",
            &form[1..],
            &format!(
                "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=s\
                 &RoleArn={}&WebIdentityToken=token",
                role.replace(':', "%3A").replace('/', "%2F")
            ),
        )
        .await;
    assert_eq!(
        assumed.status,
        200,
        "{}",
        String::from_utf8_lossy(&assumed.body)
    );
    assert_eq!(
        m.take(),
        expect(&[
            ("sts:GetCallerIdentity", "*"),
            ("sts:AssumeRoleWithWebIdentity", role)
        ])
    );
}
