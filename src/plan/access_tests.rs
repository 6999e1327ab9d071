use super::*;

fn team_a() -> Access {
    Access {
        binding: Some("team-a".into()),
        functions: Some(vec![
            "arn:aws:lambda:us-east-1:111111111111:function:team-a-*".into(),
        ]),
        roles: Some(vec![]),
        user_pools: Some(vec!["us-east-1_TeamA*".into()]),
        certificates: None,
        adoption: false,
    }
}

#[test]
fn globs_match_prefixes_suffixes_and_middles() {
    assert!(glob_match("abc", "abc"));
    assert!(!glob_match("abc", "abcd"));
    assert!(glob_match("*", ""));
    assert!(glob_match("*", "a:b/c"), "`*` alone allows every value");
    assert!(glob_match("a*", "a-b.c"));
    assert!(glob_match("*c", "abc"));
    assert!(glob_match("a*b*c", "a-x-b-y-c"));
    assert!(!glob_match("a*b*c", "a-x-c-y-b"));
    // The suffix must not overlap the prefix.
    assert!(!glob_match("ab*ba", "aba"));
}

/// A `*` stays inside one ARN part or path segment: a role list never admits a
/// role whose name goes on past the list's prefix under a path, nor a pattern of
/// one account another.
#[test]
fn a_star_never_crosses_a_slash_or_a_colon() {
    let pattern = "arn:aws:iam::111111111111:role/apigw-team-b-*";
    assert!(glob_match(
        pattern,
        "arn:aws:iam::111111111111:role/apigw-team-b-sqs"
    ));
    assert!(!glob_match(
        pattern,
        "arn:aws:iam::111111111111:role/apigw-team-b-x/anything"
    ));
    assert!(!glob_match(
        "arn:aws:lambda:us-east-1:*:function:f",
        "arn:aws:lambda:us-east-1:1:2:function:f"
    ));
    assert!(glob_match(
        "arn:aws:iam::111111111111:role/*/team-b-*",
        "arn:aws:iam::111111111111:role/service/team-b-x"
    ));
    assert!(!glob_match("a*b", "a:b"));
    assert!(!glob_match("a*b", "a/b"));
}

/// Without a binding the operator's own identity is used and nothing is restricted.
#[test]
fn no_binding_allows_everything() {
    let open = Access::unrestricted();
    assert!(
        open.function("arn:aws:lambda:us-east-1:1:function:x")
            .is_ok()
    );
    assert!(open.role("arn:aws:iam::1:role/admin").is_ok());
    assert!(open.adoption);
}

/// A function outside the pattern is refused with a message naming it and the binding.
#[test]
fn functions_outside_the_patterns_are_refused_by_name() {
    let access = team_a();
    assert!(
        access
            .function("arn:aws:lambda:us-east-1:111111111111:function:team-a-upload")
            .is_ok()
    );
    let err = access
        .function("arn:aws:lambda:us-east-1:111111111111:function:team-b-upload")
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("team-b-upload"), "{text}");
    assert!(text.contains("AwsAccountBinding team-a"), "{text}");
    assert!(text.contains("allowedLambdaFunctions"), "{text}");
}

/// An empty list allows nothing; an absent list allows everything.
#[test]
fn empty_lists_allow_nothing_absent_lists_everything() {
    let access = team_a();
    assert!(
        access
            .role("arn:aws:iam::111111111111:role/anything")
            .is_err()
    );
    assert!(
        access
            .certificate("arn:aws:acm:us-east-1:111111111111:certificate/x")
            .is_ok()
    );
}

const HOME: Home<'static> = Home {
    partition: "aws",
    region: "us-east-1",
    account: "111111111111",
};

/// A pool may be written as an id or an ARN; an id pattern matches pools of the
/// home account only, an ARN pattern matches a bare id completed in the home account.
#[test]
fn user_pools_match_by_id_in_the_home_account_or_by_arn() {
    let access = team_a();
    assert!(access.user_pool("us-east-1_TeamA123", HOME).is_ok());
    assert!(
        access
            .user_pool(
                "arn:aws:cognito-idp:us-east-1:111111111111:userpool/us-east-1_TeamA123",
                HOME
            )
            .is_ok()
    );
    assert!(access.user_pool("us-east-1_TeamB123", HOME).is_err());
    assert!(
        access
            .user_pool(
                "arn:aws:cognito-idp:us-east-1:999999999999:userpool/us-east-1_TeamA123",
                HOME
            )
            .is_err(),
        "an id pattern never admits another account's pool"
    );
    let by_arn = Access {
        user_pools: Some(vec!["arn:aws:cognito-idp:*:111111111111:userpool/*".into()]),
        ..team_a()
    };
    assert!(by_arn.user_pool("us-east-1_Anything", HOME).is_ok());
}

/// Values with multi-byte characters never break the matcher.
#[test]
fn globs_are_safe_on_any_text() {
    assert!(!glob_match(
        "arn:aws:iam::*:role/apigw-sqs",
        "arn:aws:iam::1:role/ééé"
    ));
    assert!(glob_match("*é*", "aéb"));
    assert!(!glob_match("ab*ba", "aba"));
}

fn binding(yaml: &str) -> AwsAccountBindingSpec {
    serde_yaml::from_str(yaml).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A namespace is bound by name or by labels; two matches are a conflict naming both.
#[test]
fn namespaces_bind_by_name_or_selector_and_never_twice() {
    let by_name = binding("{namespaces: [team-a]}");
    let by_label = binding("{namespaceSelector: {matchLabels: {team: b}}}");
    let all = [("a", &by_name), ("b", &by_label)];
    assert_eq!(
        binding_for("team-a", &labels(&[]), all).unwrap().unwrap().0,
        "a"
    );
    assert_eq!(
        binding_for("x", &labels(&[("team", "b")]), all)
            .unwrap()
            .unwrap()
            .0,
        "b"
    );
    assert_eq!(
        binding_for("x", &labels(&[("team", "c")]), all).unwrap(),
        None
    );
    assert_eq!(
        binding_for("team-a", &labels(&[("team", "b")]), all).unwrap_err(),
        vec!["a".to_string(), "b".to_string()]
    );
}

#[test]
fn selector_expressions_follow_kubernetes() {
    let spec = binding(
        "{namespaceSelector: {matchExpressions: [{key: tier, operator: In, values: [prod, stage]}, {key: legacy, operator: DoesNotExist}]}}",
    );
    let selector = spec.namespace_selector.as_ref().unwrap();
    assert!(selector_matches(selector, &labels(&[("tier", "prod")])));
    assert!(!selector_matches(selector, &labels(&[("tier", "dev")])));
    assert!(!selector_matches(
        selector,
        &labels(&[("tier", "prod"), ("legacy", "1")])
    ));
}

/// Objects choose among the binding's regions; without a binding only the operator's.
#[test]
fn regions_come_from_the_object_the_binding_or_the_operator() {
    let spec =
        binding("{namespaces: [a], region: eu-west-1, allowedRegions: [eu-west-1, eu-central-1]}");
    let b = Some(("team-a", &spec));
    assert_eq!(region_for(None, b, "us-east-1").unwrap(), "eu-west-1");
    assert_eq!(
        region_for(Some("eu-central-1"), b, "us-east-1").unwrap(),
        "eu-central-1"
    );
    let err = region_for(Some("us-west-2"), b, "us-east-1").unwrap_err();
    assert!(
        err.contains("AwsAccountBinding team-a allows eu-west-1, eu-central-1"),
        "{err}"
    );
    assert_eq!(region_for(None, None, "us-east-1").unwrap(), "us-east-1");
    assert!(region_for(Some("us-west-2"), None, "us-east-1").is_err());
}
