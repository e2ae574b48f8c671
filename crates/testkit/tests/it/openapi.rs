//! The OpenAPI checker itself: it must be able to fail.

use gitops_testkit::openapi::{OpenApi, convert};
use serde_json::json;

fn mini() -> OpenApi {
    let doc = json!({
        "openapi": "3.0.3",
        "paths": {
            "/repos/{owner}/{repo}/thing/{ref}": {"get": {"responses": {
                "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/thing"}}}},
                "404": {"$ref": "#/components/responses/not_found"}
            }}},
            "/repos/{owner}/{repo}/thing/{ref}/status": {"get": {"responses": {
                "200": {"content": {"application/json": {"schema": {"type": "object", "required": ["state"], "properties": {"state": {"type": "string"}}}}}}
            }}},
            "/empty": {"post": {"responses": {"204": {"description": "No Content"}}}}
        },
        "components": {
            "schemas": {
                "thing": {"type": "object", "required": ["id", "owner", "note"], "properties": {
                    "id": {"type": "integer"},
                    "owner": {"$ref": "#/components/schemas/nullable-user"},
                    "note": {"type": "string", "nullable": true, "enum": ["a", "b"]},
                    "example": {"type": "boolean"}
                }},
                "nullable-user": {"type": "object", "nullable": true, "required": ["login"], "properties": {"login": {"type": "string"}}},
                "basic-error": {"type": "object", "properties": {"message": {"type": "string"}}}
            },
            "responses": {"not_found": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/basic-error"}}}}}
        }
    });
    OpenApi::from_value(&doc).expect("load")
}

fn check(
    api: &OpenApi,
    method: &str,
    path: &str,
    status: u16,
    body: &serde_json::Value,
) -> Vec<String> {
    let bytes = serde_json::to_vec(body).expect("json");
    api.check(method, path, status, &bytes, true)
        .expect("operation found")
        .1
}

#[test]
fn nullable_becomes_a_null_type_and_enum_member() {
    let s = convert(&json!({"type": "string", "nullable": true, "enum": ["x"], "example": "x"}));
    assert_eq!(s, json!({"type": ["string", "null"], "enum": ["x", null]}));
    let r = convert(&json!({"allOf": [{"$ref": "#/components/schemas/a"}], "nullable": true}));
    assert_eq!(
        r,
        json!({"anyOf": [{"allOf": [{"$ref": "#/components/schemas/a"}]}, {"type": "null"}]})
    );
}

#[test]
fn conforming_and_non_conforming_bodies() {
    let api = mini();
    assert!(
        check(
            &api,
            "GET",
            "/repos/o/r/thing/heads/main",
            200,
            &json!({"id": 1, "owner": null, "note": null})
        )
        .is_empty()
    );
    assert!(
        check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            200,
            &json!({"id": 1, "owner": {"login": "a"}, "note": "b", "example": true})
        )
        .is_empty()
    );
    assert!(
        !check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            200,
            &json!({"id": "1", "owner": null, "note": null})
        )
        .is_empty()
    );
    assert!(
        !check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            200,
            &json!({"id": 1, "owner": {}, "note": null})
        )
        .is_empty()
    );
    assert!(
        !check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            200,
            &json!({"id": 1, "owner": null, "note": "c"})
        )
        .is_empty()
    );
    assert!(
        !check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            200,
            &json!({"id": 1, "note": null})
        )
        .is_empty()
    );
    // Multi-segment refs still find the more specific operation.
    assert!(
        check(
            &api,
            "GET",
            "/repos/o/r/thing/heads/main/status",
            200,
            &json!({"state": "ok"})
        )
        .is_empty()
    );
    assert!(
        !check(
            &api,
            "GET",
            "/repos/o/r/thing/heads/main/status",
            200,
            &json!({})
        )
        .is_empty()
    );
    // Documented error responses, undocumented errors as basic-error, undocumented successes.
    assert!(
        check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            404,
            &json!({"message": "Not Found"})
        )
        .is_empty()
    );
    assert!(
        check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            401,
            &json!({"message": "Requires authentication"})
        )
        .is_empty()
    );
    assert!(
        !check(
            &api,
            "GET",
            "/repos/o/r/thing/x",
            401,
            &json!({"message": 1})
        )
        .is_empty()
    );
    assert!(!check(&api, "GET", "/repos/o/r/thing/x", 201, &json!({})).is_empty());
    assert!(
        api.check("POST", "/empty", 204, b"", false)
            .expect("op")
            .1
            .is_empty()
    );
    assert!(api.check("GET", "/unknown", 200, b"{}", true).is_none());
}

#[test]
fn github_description_rejects_a_toy_pull_request() {
    let Some(path) = crate::openapi() else { return };
    let api = OpenApi::load_shared(&path).expect("load");
    let toy = json!({"number": 1, "state": "open", "head": {"sha": "abc"}});
    let (op, errors) = api
        .check(
            "GET",
            "/repos/o/r/pulls/1",
            200,
            &serde_json::to_vec(&toy).expect("json"),
            true,
        )
        .expect("op");
    assert_eq!(op, "/repos/{owner}/{repo}/pulls/{pull_number}");
    assert!(errors.len() > 5, "{errors:?}");
    let (_, errors) = api
        .check(
            "PUT",
            "/repos/o/r/pulls/1/merge",
            409,
            br#"{"message":"Head branch was modified"}"#,
            true,
        )
        .expect("op");
    assert!(errors.is_empty(), "{errors:?}");
    let (op, _) = api
        .check("GET", "/repos/o/r/contents/a/b/c.yaml", 200, b"[]", true)
        .expect("op");
    assert_eq!(op, "/repos/{owner}/{repo}/contents/{path}");
}
