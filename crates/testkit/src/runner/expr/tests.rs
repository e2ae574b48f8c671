use super::*;
use serde_json::json;

fn ctx() -> Value {
    json!({
        "github": {"ref": "refs/heads/main", "event_name": "push",
                   "event": {"labels": [{"name": "a"}, {"name": "B"}, {"id": 3}],
                             "commits": {"x": {"id": 1}, "y": {"id": 2}}}},
        "inputs": {"env": "dev", "count": "3", "flag": true},
        "needs": {"plan": {"result": "success",
                           "outputs": {"pairs": "[{\"mfe\":\"checkout\",\"env\":\"dev\"}]",
                                       "n": "2", "quote": "it's }} here"}}},
        "matrix": {"os": "linux", "n": 1},
    })
}

fn ev(e: &str) -> Value {
    eval(e, &ctx(), JobStatus::Success).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn literals() {
    assert_eq!(ev("null"), Value::Null);
    assert_eq!(ev("true"), json!(true));
    assert_eq!(ev("711"), json!(711));
    assert_eq!(ev("-9.2"), json!(-9.2));
    assert_eq!(ev("0xff"), json!(255));
    assert_eq!(ev("-2.99e-2"), json!(-0.0299));
    assert_eq!(ev("'It''s open source!'"), json!("It's open source!"));
    assert!(eval("'open", &ctx(), JobStatus::Success).is_err());
    assert!(eval("1 2", &ctx(), JobStatus::Success).is_err());
}

#[test]
fn access_and_missing_properties() {
    assert_eq!(ev("github.ref"), json!("refs/heads/main"));
    assert_eq!(ev("github['ref']"), json!("refs/heads/main"));
    assert_eq!(ev("GitHub.REF"), json!("refs/heads/main"));
    assert_eq!(ev("github.event.labels[1].name"), json!("B"));
    assert_eq!(ev("github.nothing.deeper"), Value::Null);
    assert_eq!(ev("github.event.labels[7]"), Value::Null);
    assert_eq!(ev("vars.missing"), Value::Null);
    assert_eq!(ev("needs.plan.outputs.n"), json!("2"));
    let e = eval("foo.bar", &ctx(), JobStatus::Success).unwrap_err();
    assert!(e.message.contains("unrecognized named-value"), "{e}");
}

#[test]
fn object_filters() {
    assert_eq!(ev("github.event.labels.*.name"), json!(["a", "B"]));
    assert_eq!(ev("github.event.commits.*.id"), json!([1, 2]));
    assert_eq!(ev("contains(github.event.labels.*.name, 'b')"), json!(true));
}

#[test]
fn loose_equality_and_comparison() {
    assert_eq!(ev("'ABC' == 'abc'"), json!(true));
    assert_eq!(ev("'1' == 1"), json!(true));
    assert_eq!(ev("null == 0"), json!(true));
    assert_eq!(ev("true == 1"), json!(true));
    assert_eq!(ev("'abc' == 0"), json!(false));
    assert_eq!(ev("'abc' != 0"), json!(true));
    assert_eq!(ev("'' == 0"), json!(true));
    assert_eq!(ev("inputs.count > 2"), json!(true));
    assert_eq!(ev("'a' < 'B'"), json!(true));
    assert_eq!(ev("2 <= 2"), json!(true));
    assert_eq!(ev("'x' >= 1"), json!(false));
    assert_eq!(ev("0x10 == 16"), json!(true));
    assert_eq!(ev("fromJSON('[]') == fromJSON('[]')"), json!(false));
    assert_eq!(ev("matrix != null"), json!(true));
}

#[test]
fn logic_returns_operands_and_precedence() {
    assert_eq!(ev("inputs.env == 'dev' && 'yes' || 'no'"), json!("yes"));
    assert_eq!(ev("inputs.env == 'prod' && 'yes' || 'no'"), json!("no"));
    assert_eq!(ev("'' || null"), Value::Null);
    assert_eq!(ev("0 && 'x'"), json!(0));
    assert_eq!(ev("!inputs.flag"), json!(false));
    assert_eq!(ev("!(1 == 2)"), json!(true));
    // `==` binds looser than `<`; `&&` tighter than `||`.
    assert_eq!(ev("1 < 2 == true"), json!(true));
    assert_eq!(ev("true || false && false"), json!(true));
    // Short-circuit: the right side is not evaluated.
    assert_eq!(ev("true || fromJSON('not json')"), json!(true));
}

#[test]
fn functions() {
    assert_eq!(ev("contains('Hello world', 'LLO')"), json!(true));
    assert_eq!(ev("contains(fromJSON('[\"a\",1]'), 'A')"), json!(true));
    assert_eq!(ev("contains(fromJSON('[\"a\",1]'), 'b')"), json!(false));
    assert_eq!(ev("contains(fromJSON('[1]'), '1')"), json!(true));
    // Arrays and objects are not strings: no match, not a match on `Array`.
    assert_eq!(ev("contains('an Array', fromJSON('[]'))"), json!(false));
    assert_eq!(ev("startsWith(matrix, 'Obj')"), json!(false));
    assert_eq!(ev("startsWith(github.ref, 'REFS/heads/')"), json!(true));
    assert_eq!(ev("endsWith(github.ref, '/dev')"), json!(false));
    assert_eq!(ev("format('{0}-{1} {{x}}', 'a', 2)"), json!("a-2 {x}"));
    assert!(eval("format('{1}', 'a')", &ctx(), JobStatus::Success).is_err());
    assert!(eval("format('{0', 'a')", &ctx(), JobStatus::Success).is_err());
    assert_eq!(ev("join(github.event.labels.*.name)"), json!("a,B"));
    assert_eq!(
        ev("join(github.event.labels.*.name, ' + ')"),
        json!("a + B")
    );
    assert_eq!(ev("join('x', ';')"), json!("x"));
    // Pretty-printed as GitHub does; key order is serde_json's (sorted, or insertion order when
    // a workspace member turns `preserve_order` on).
    let printed = ev("toJSON(matrix)");
    let printed = printed.as_str().unwrap();
    assert!(printed.starts_with("{\n  \""), "{printed}");
    assert_eq!(
        serde_json::from_str::<Value>(printed).unwrap(),
        json!({"n": 1, "os": "linux"})
    );
    assert_eq!(ev("toJson('s')"), json!("\"s\""));
    assert_eq!(
        ev("fromJSON(needs.plan.outputs.pairs)[0].mfe"),
        json!("checkout")
    );
    assert_eq!(ev("fromJSON('3') == 3"), json!(true));
    let e = eval("fromJSON('{')", &ctx(), JobStatus::Success).unwrap_err();
    assert!(e.message.contains("not JSON"), "{e}");
    let e = eval("hashFiles('**/x')", &ctx(), JobStatus::Success).unwrap_err();
    assert!(e.message.contains("not supported"), "{e}");
    assert!(eval("nope(1)", &ctx(), JobStatus::Success).is_err());
    assert!(eval("contains(1)", &ctx(), JobStatus::Success).is_err());
}

#[test]
fn status_functions() {
    let c = ctx();
    assert_eq!(
        eval("success()", &c, JobStatus::Failure).unwrap(),
        json!(false)
    );
    assert_eq!(
        eval("failure()", &c, JobStatus::Failure).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("cancelled()", &c, JobStatus::Cancelled).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("always()", &c, JobStatus::Cancelled).unwrap(),
        json!(true)
    );
}

#[test]
fn coercion_to_string() {
    assert_eq!(to_string(&Value::Null), "");
    assert_eq!(to_string(&json!(true)), "true");
    assert_eq!(to_string(&json!(3)), "3");
    assert_eq!(to_string(&json!(3.0)), "3");
    assert_eq!(to_string(&json!(0.5)), "0.5");
    assert_eq!(to_string(&json!(-9.2)), "-9.2");
    assert_eq!(to_string(&json!(1e20)), "1E+20");
    assert_eq!(to_string(&json!(0.000_001)), "1E-06");
    assert_eq!(to_string(&json!(0.1 + 0.2)), "0.3");
    assert_eq!(to_string(&json!(123_456.789)), "123456.789");
    assert_eq!(to_string(&json!([1])), "Array");
    assert_eq!(to_string(&json!({"a": 1})), "Object");
    assert_eq!(
        interpolate(
            "${{ matrix }} ${{ toJSON(github.event.labels[0]) }}",
            &ctx(),
            JobStatus::Success
        )
        .unwrap(),
        "Object {\n  \"name\": \"a\"\n}"
    );
    assert!(truthy(&json!("0")) && !truthy(&json!(0)) && !truthy(&json!("")));
    assert!(truthy(&json!([])) && truthy(&json!({})) && !truthy(&Value::Null));
}

#[test]
fn interpolation() {
    let c = ctx();
    let s = interpolate(
        "env=${{ inputs.env }} n=${{matrix.n}} q=${{ '}}' }} none=${{ vars.x }}.",
        &c,
        JobStatus::Success,
    )
    .unwrap();
    assert_eq!(s, "env=dev n=1 q=}} none=.");
    assert_eq!(
        interpolate("plain", &c, JobStatus::Success).unwrap(),
        "plain"
    );
    assert!(interpolate("a ${{ inputs.env", &c, JobStatus::Success).is_err());
}

#[test]
fn templates_keep_the_type_of_a_lone_expression() {
    let c = ctx();
    let t = |v: Value| eval_template(&v, &c, JobStatus::Success).unwrap();
    assert_eq!(
        t(json!("${{ fromJSON(needs.plan.outputs.pairs) }}")),
        json!([{"mfe": "checkout", "env": "dev"}])
    );
    assert_eq!(t(json!(" ${{ inputs.env != 'prod' }} ")), json!(true));
    assert_eq!(t(json!("${{ '}}' }}")), json!("}}"));
    assert_eq!(t(json!("x-${{ matrix.n }}")), json!("x-1"));
    assert_eq!(t(json!("${{ 1 }}${{ 2 }}")), json!("12"));
    assert_eq!(t(json!(false)), json!(false));
}

#[test]
fn if_conditions() {
    let c = ctx();
    let t = |cond: &str, s: JobStatus| eval_if(cond, &c, s).unwrap();
    assert!(t("inputs.env == 'dev'", JobStatus::Success));
    assert!(t("${{ inputs.env == 'dev' }}", JobStatus::Success));
    // Implicit success(): a failed job skips a plain condition ...
    assert!(!t("inputs.env == 'dev'", JobStatus::Failure));
    // ... but not one that calls a status function.
    assert!(t("failure() && inputs.env == 'dev'", JobStatus::Failure));
    assert!(t("always()", JobStatus::Cancelled));
    assert!(!t("!cancelled()", JobStatus::Cancelled));
    assert!(t("", JobStatus::Success));
    assert!(!t("", JobStatus::Failure));
    // Text around `${{ }}` makes a non-empty string: always true on GitHub.
    assert!(t("${{ false }} == true", JobStatus::Success));
    assert!(!t("${{ false }}", JobStatus::Success));
}

#[test]
fn bind_replaces_known_contexts_only() {
    let known = json!({"needs": ctx()["needs"].clone()});
    let bound = bind("${{ fromJSON(needs.plan.outputs.pairs) }}", &known).unwrap();
    assert!(!bound.contains("needs."), "{bound}");
    assert!(bound.starts_with("${{ fromJSON('"), "{bound}");
    assert_eq!(
        eval(
            bound.trim_start_matches("${{").trim_end_matches("}}"),
            &json!({}),
            JobStatus::Success
        )
        .unwrap(),
        ev("fromJSON(needs.plan.outputs.pairs)")
    );

    let text = "x ${{ needs.plan.outputs.quote }} ${{ matrix.os == 'linux' && needs.plan.result == 'success' }} ${{ toJSON(needs.plan.outputs) }} ${{ join(needs.*.result) }} ${{ needs.plan.outputs.missing }}";
    let bound = bind(text, &known).unwrap();
    assert!(!bound.contains("needs"), "{bound}");
    assert!(bound.contains("matrix.os == 'linux'"), "{bound}");
    let full = interpolate(text, &ctx(), JobStatus::Success).unwrap();
    let partial = interpolate(&bound, &ctx(), JobStatus::Success).unwrap();
    assert_eq!(full, partial);

    // A context that is not known stays; parentheses survive where they matter.
    let b = bind(
        "${{ (inputs.env == 'dev' || needs.plan.result == 'x') && github.ref }}",
        &known,
    )
    .unwrap();
    assert_eq!(
        b,
        "${{ (inputs.env == 'dev' || 'success' == 'x') && github.ref }}"
    );
    // An index that depends on an unknown context: the known part becomes a literal, the
    // rest stays, and the result evaluates as the original would.
    let b = bind("${{ needs[matrix.job].result }}", &known).unwrap();
    assert!(
        b.starts_with("${{ fromJSON('{") && b.ends_with("')[matrix.job].result }}"),
        "{b}"
    );
    let c = json!({"matrix": {"job": "plan"}});
    assert_eq!(interpolate(&b, &c, JobStatus::Success).unwrap(), "success");
    assert_eq!(bind("no expressions", &known).unwrap(), "no expressions");
}

#[test]
fn bind_if_gives_bare_expressions() {
    let known = json!({"needs": ctx()["needs"].clone()});
    assert_eq!(
        bind_if("${{ needs.plan.outputs.n > 1 }}", &known).unwrap(),
        "'2' > 1"
    );
    assert_eq!(
        bind_if("always() && needs.plan.result == 'success'", &known).unwrap(),
        "always() && 'success' == 'success'"
    );
    for cond in [
        "needs.plan.outputs.n > 1 && inputs.env == 'dev'",
        "failure() || !needs.plan.outputs.n",
    ] {
        let bound = bind_if(cond, &known).unwrap();
        for s in [JobStatus::Success, JobStatus::Failure] {
            assert_eq!(
                eval_if(&bound, &ctx(), s).unwrap(),
                eval_if(cond, &ctx(), s).unwrap(),
                "{cond} -> {bound}"
            );
        }
    }
}

#[test]
fn errors_never_panic() {
    for bad in [
        "",
        "(",
        "a.",
        "github.",
        "github[",
        "!",
        "1 ==",
        "'",
        "github..x",
        "format(",
        "0xZZ",
        "github.*.",
        "==",
        "]",
    ] {
        assert!(
            eval(bad, &ctx(), JobStatus::Success).is_err(),
            "{bad:?} should fail"
        );
    }
    let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    assert!(eval(&deep, &ctx(), JobStatus::Success).is_err());
    let long = format!("github{}", ".a".repeat(5000));
    assert!(
        eval(&long, &ctx(), JobStatus::Success)
            .unwrap_err()
            .message
            .contains("longer")
    );
    let ok = format!("github{}", ".a".repeat(40));
    assert_eq!(eval(&ok, &ctx(), JobStatus::Success).unwrap(), Value::Null);
    let chain = format!("github{}", ".a".repeat(60));
    assert!(
        eval(&chain, &ctx(), JobStatus::Success)
            .unwrap_err()
            .message
            .contains("too deeply")
    );
}
