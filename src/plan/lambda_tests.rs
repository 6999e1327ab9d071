use super::*;

const API: &str = "abc1234567";
const EXEC: &str = "arn:aws:execute-api:us-east-1:123456789012:abc1234567";
const FN: &str = "arn:aws:lambda:us-east-1:123456789012:function:upload-photo";

fn f(s: &str) -> FunctionRef {
    FunctionRef::parse(s).expect("test reference parses")
}

type Entry<'a> = ((&'a str, Option<&'a str>), &'a [(&'a str, Option<&'a str>)]);

fn observed(entries: &[Entry<'_>]) -> BTreeMap<PolicyKey, Vec<PolicyStatement>> {
    entries
        .iter()
        .map(|((function, qualifier), statements)| {
            (
                (function.to_string(), qualifier.map(str::to_string)),
                statements
                    .iter()
                    .map(|(sid, source)| (sid.to_string(), source.map(str::to_string)))
                    .collect(),
            )
        })
        .collect()
}

fn grants(entries: &[(&str, Option<&str>, &str)]) -> BTreeSet<GrantKey> {
    entries
        .iter()
        .map(|(f, q, s)| (f.to_string(), q.map(str::to_string), s.to_string()))
        .collect()
}

fn route_permission(qualifier: Option<&str>) -> Permission {
    Permission {
        function: FN.into(),
        qualifier: qualifier.map(str::to_string),
        statement_id: format!("apigw-{API}"),
        source_arn: format!("{EXEC}/*"),
    }
}

/// Every form the CRD admits parses into name, qualifier, region and account.
#[test]
fn function_references_parse_every_admitted_form() {
    assert_eq!(
        f("upload-photo"),
        FunctionRef {
            name: "upload-photo".into(),
            qualifier: None,
            region: None,
            account: None,
            partition: None,
        }
    );
    assert_eq!(f("upload-photo:live").qualifier.as_deref(), Some("live"));
    assert_eq!(f("upload-photo:3").qualifier.as_deref(), Some("3"));
    let arn = f("arn:aws:lambda:eu-west-1:210987654321:function:upload_photo:live");
    assert_eq!(arn.name, "upload_photo");
    assert_eq!(arn.qualifier.as_deref(), Some("live"));
    assert_eq!(arn.region.as_deref(), Some("eu-west-1"));
    assert_eq!(arn.account.as_deref(), Some("210987654321"));
    let cn = f("arn:aws-cn:lambda:cn-north-1:210987654321:function:x");
    assert_eq!(cn.qualifier, None);
    assert_eq!(cn.region.as_deref(), Some("cn-north-1"));
    assert_eq!(cn.partition.as_deref(), Some("aws-cn"));
}

/// A reference prints as it was written (`$LATEST` aside), ARN or name.
#[test]
fn references_print_as_written() {
    for s in [
        "upload-photo",
        "upload-photo:live",
        "arn:aws-cn:lambda:cn-north-1:210987654321:function:x:7",
        FN,
    ] {
        assert_eq!(f(s).to_string(), s);
        assert_eq!(s.parse::<FunctionRef>(), Ok(f(s)));
    }
}

/// `$LATEST` is the unqualified function: same policy, same invocation.
#[test]
fn latest_is_no_qualifier() {
    assert_eq!(f("upload-photo:$LATEST"), f("upload-photo"));
    assert_eq!(f(&format!("{FN}:$LATEST")), f(FN));
}

/// What is not a name, name:qualifier or function ARN is rejected with the input named.
#[test]
fn malformed_function_references_are_rejected() {
    for bad in [
        "",
        "a:b:c",
        "upload photo",
        "upload-photo:",
        "upload-photo:al/ias",
        &"x".repeat(65),
        "arn:aws:lambda:us-east-1:123:function:x",
        "arn:aws:lambda:us-east-1:123456789012:layer:x",
        "arn:aws:s3:us-east-1:123456789012:function:x",
        "arn:aws:lambda:us-east-1:123456789012:function:x:y:z",
        "arn:other:lambda:us-east-1:123456789012:function:x",
        "123456789012:function:x",
    ] {
        assert_eq!(
            FunctionRef::parse(bad),
            Err(InvalidFunctionRef(bad.to_string())),
            "{bad:?}"
        );
    }
}

/// A name is completed with the defaults; an ARN keeps its own region and account.
#[test]
fn function_arn_completes_names_and_keeps_arns() {
    assert_eq!(
        f("upload-photo").function_arn("aws", "us-east-1", "123456789012"),
        FN
    );
    assert_eq!(
        f("upload-photo:live").function_arn("aws", "us-east-1", "123456789012"),
        format!("{FN}:live")
    );
    assert_eq!(
        f("arn:aws:lambda:eu-west-1:210987654321:function:x:7").function_arn(
            "aws",
            "us-east-1",
            "123456789012"
        ),
        "arn:aws:lambda:eu-west-1:210987654321:function:x:7"
    );
    assert_eq!(
        f("upload-photo:live").unqualified_arn("aws", "us-east-1", "123456789012"),
        FN
    );
}

/// The invocation URI names the Lambda endpoint of the function's own region.
#[test]
fn invocation_uri_uses_the_functions_region() {
    assert_eq!(
        lambda_invocation_uri("aws", "us-east-1", FN),
        format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations")
    );
    assert_eq!(
        f("arn:aws:lambda:eu-west-1:210987654321:function:x").invocation_uri(
            "aws",
            "us-east-1",
            "123456789012"
        ),
        "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:210987654321:function:x/invocations"
    );
}

/// Reading an integration back yields the function ARN that was written, qualifier included.
#[test]
fn function_arn_round_trips_through_the_uri() {
    for arn in [FN.to_string(), format!("{FN}:live")] {
        let uri = lambda_invocation_uri("aws", "us-east-1", &arn);
        assert_eq!(function_arn_from_uri(&uri), Some(arn));
    }
}

/// URIs that are not Lambda invocations, or whose function is a stage variable, yield None.
#[test]
fn other_uris_have_no_function() {
    for uri in [
        "https://example.com/photos",
        "arn:aws:apigateway:us-east-1:sqs:path/123456789012/photo-queue",
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}/invocations",
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/upload-photo/invocations",
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:x",
        "",
    ] {
        assert_eq!(function_arn_from_uri(uri), None, "{uri}");
    }
}

/// Many routes on one function make one statement; a name and its ARN are the same
/// function; each qualifier has its own policy and so its own statement.
#[test]
fn routes_share_one_statement_per_function_and_qualifier() {
    let desired = desired_permissions(
        API,
        EXEC,
        &[
            f("upload-photo"),
            f("upload-photo"),
            f(FN),
            f("upload-photo:live"),
        ],
        &[],
    );
    assert_eq!(
        desired,
        BTreeSet::from([route_permission(None), route_permission(Some("live"))])
    );
}

/// Authorizers get their own statement scoped to `.../authorizers/ID`, even on a
/// function that routes use too.
#[test]
fn authorizers_get_scoped_statements() {
    let desired = desired_permissions(
        API,
        EXEC,
        &[f("upload-photo")],
        &[("au7h0r".into(), f("upload-photo"))],
    );
    assert_eq!(
        desired,
        BTreeSet::from([
            route_permission(None),
            Permission {
                function: FN.into(),
                qualifier: None,
                statement_id: format!("apigw-{API}-authorizer-au7h0r"),
                source_arn: format!("{EXEC}/authorizers/au7h0r"),
            }
        ])
    );
}

/// Without an execute-api ARN to complete names with, a name stays a name and an
/// ARN stays an ARN (never a half-filled ARN).
#[test]
fn unparsable_execute_api_arn_keeps_references_as_written() {
    let desired = desired_permissions(
        API,
        "not-an-arn",
        &[
            f("upload-photo:live"),
            f("arn:aws:lambda:eu-west-1:210987654321:function:x:1"),
        ],
        &[],
    );
    let functions: BTreeSet<(String, Option<String>)> = desired
        .iter()
        .map(|p| (p.function.clone(), p.qualifier.clone()))
        .collect();
    assert_eq!(
        functions,
        BTreeSet::from([
            ("upload-photo".to_string(), Some("live".to_string())),
            (
                "arn:aws:lambda:eu-west-1:210987654321:function:x".to_string(),
                Some("1".to_string())
            ),
        ])
    );
}

/// Ownership is the exact Sid or the Sid followed by `-`: API `abc` never claims
/// API `abcd`'s statements, nor another tool's.
#[test]
fn own_statements_are_recognised_exactly() {
    assert!(is_own_statement("abc", "apigw-abc"));
    assert!(is_own_statement("abc", "apigw-abc-authorizer-x1"));
    assert!(!is_own_statement("abc", "apigw-abcd"));
    assert!(!is_own_statement("abc", "apigw-abcd-authorizer-x1"));
    assert!(!is_own_statement("abc", "terraform-abc"));
    assert!(!is_own_statement("abc", "apigw-"));
}

/// GetPolicy's document (the shape Lambda and moto return) yields Sid and SourceArn.
#[test]
fn policy_statements_are_read_from_lambdas_document() {
    let policy = r#"{"Version":"2012-10-17","Id":"default","Statement":[
            {"Sid":"apigw-abc1234567","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},
             "Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:upload-photo",
             "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:123456789012:abc1234567/*"}}},
            {"Sid":"s3-events","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction",
             "Resource":"arn:aws:lambda:us-east-1:123456789012:function:upload-photo",
             "Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},"ArnLike":{"aws:sourcearn":["arn:aws:s3:::bucket"]}}},
            {"Sid":"no-condition","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"},
            {"Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"}
        ]}"#;
    assert_eq!(
        parse_policy_statements(policy),
        vec![
            ("apigw-abc1234567".to_string(), Some(format!("{EXEC}/*"))),
            (
                "s3-events".to_string(),
                Some("arn:aws:s3:::bucket".to_string())
            ),
            ("no-condition".to_string(), None),
        ]
    );
}

/// A single statement object instead of a list, and a document that is not a
/// policy, are read without panicking.
#[test]
fn odd_policy_documents_are_tolerated() {
    assert_eq!(
        parse_policy_statements(
            r#"{"Statement":{"Sid":"one","Condition":{"ArnEquals":{"AWS:SourceArn":"x"}}}}"#
        ),
        vec![("one".to_string(), Some("x".to_string()))]
    );
    assert_eq!(parse_policy_statements("not json"), vec![]);
    assert_eq!(parse_policy_statements("{}"), vec![]);
    assert_eq!(parse_policy_statements(r#"{"Statement":[1,"x"]}"#), vec![]);
}

/// Filtering by qualifier keeps only the statements on that alias/version (or on
/// the unqualified function), as moto mixes them in one policy.
#[test]
fn statements_are_filtered_by_the_qualifier_of_their_resource() {
    let policy = format!(
        r#"{{"Statement":[
            {{"Sid":"apigw-abc1234567","Resource":"{FN}","Condition":{{"ArnLike":{{"AWS:SourceArn":"a"}}}}}},
            {{"Sid":"apigw-abc1234567","Resource":"{FN}:live","Condition":{{"ArnLike":{{"AWS:SourceArn":"b"}}}}}},
            {{"Sid":"other","Resource":"{FN}:$LATEST"}},
            {{"Sid":"no-resource"}}
        ]}}"#
    );
    let sids = |q| -> Vec<(String, Option<String>)> { parse_policy_statements_for(&policy, q) };
    assert_eq!(
        sids(None),
        vec![
            ("apigw-abc1234567".to_string(), Some("a".to_string())),
            ("other".to_string(), None),
            ("no-resource".to_string(), None),
        ]
    );
    assert_eq!(
        sids(Some("live")),
        vec![
            ("apigw-abc1234567".to_string(), Some("b".to_string())),
            ("no-resource".to_string(), None),
        ]
    );
    assert_eq!(sids(Some("$LATEST")), sids(None));
}

/// A converged API plans nothing: the resync makes no Lambda writes, and other
/// tools' statements in the same policy are left alone.
#[test]
fn converged_permissions_plan_nothing() {
    let desired = desired_permissions(
        API,
        EXEC,
        &[f("upload-photo"), f("upload-photo:live")],
        &[("au7h0r".into(), f("upload-photo"))],
    );
    let observed = observed(&[
        (
            (FN, None),
            &[
                ("apigw-abc1234567", Some(&format!("{EXEC}/*"))),
                (
                    "apigw-abc1234567-authorizer-au7h0r",
                    Some(&format!("{EXEC}/authorizers/au7h0r")),
                ),
                ("someone-else", Some("arn:aws:s3:::bucket")),
                (
                    "apigw-zzz9999999",
                    Some("arn:aws:execute-api:us-east-1:123456789012:zzz9999999/*"),
                ),
            ],
        ),
        (
            (FN, Some("live")),
            &[("apigw-abc1234567", Some(&format!("{EXEC}/*")))],
        ),
    ]);
    let granted: BTreeSet<GrantKey> = desired.iter().map(Permission::key).collect();
    assert_eq!(plan_permissions(API, &desired, &observed, &granted), vec![]);
}

/// A function whose policy has no statement of ours gets one Add; a function that
/// was not read is granted too, since granting is idempotent.
#[test]
fn missing_statements_are_added() {
    let desired = desired_permissions(API, EXEC, &[f("upload-photo"), f("other")], &[]);
    let observed = observed(&[((FN, None), &[("someone-else", None)])]);
    let plan = plan_permissions(API, &desired, &observed, &BTreeSet::new());
    assert_eq!(
        plan,
        vec![
            PermissionAction::Add(Permission {
                function: "arn:aws:lambda:us-east-1:123456789012:function:other".into(),
                ..route_permission(None)
            }),
            PermissionAction::Add(route_permission(None)),
        ]
    );
}

/// A statement of ours with a different source ARN (or none) is replaced: Remove, then Add.
#[test]
fn statement_with_wrong_source_is_replaced() {
    let desired = BTreeSet::from([route_permission(None)]);
    for wrong in [
        Some("arn:aws:execute-api:us-east-1:123456789012:abc1234567/prod/*"),
        None,
    ] {
        let observed = observed(&[((FN, None), &[("apigw-abc1234567", wrong)])]);
        assert_eq!(
            plan_permissions(API, &desired, &observed, &BTreeSet::new()),
            vec![
                PermissionAction::Remove {
                    function: FN.into(),
                    qualifier: None,
                    statement_id: "apigw-abc1234567".into()
                },
                PermissionAction::Add(route_permission(None)),
            ],
            "{wrong:?}"
        );
    }
}

/// A grant recorded in status and no longer desired is removed, even when its
/// function was not read (RemovePermission of a missing statement is harmless);
/// when the policy was read and the statement is already gone, nothing is planned.
#[test]
fn grants_no_longer_desired_are_removed() {
    let granted = grants(&[
        (FN, None, "apigw-abc1234567"),
        (FN, Some("live"), "apigw-abc1234567"),
        (FN, None, "apigw-abc1234567-authorizer-old"),
    ]);
    let observed = observed(&[((FN, Some("live")), &[])]);
    assert_eq!(
        plan_permissions(API, &BTreeSet::new(), &observed, &granted),
        vec![
            PermissionAction::Remove {
                function: FN.into(),
                qualifier: None,
                statement_id: "apigw-abc1234567".into()
            },
            PermissionAction::Remove {
                function: FN.into(),
                qualifier: None,
                statement_id: "apigw-abc1234567-authorizer-old".into()
            },
        ]
    );
}

/// A statement of this API found in a policy but neither desired nor recorded (a
/// crash between AddPermission and the status write) is removed.
#[test]
fn unrecorded_own_statements_are_removed() {
    let desired = BTreeSet::from([route_permission(None)]);
    let observed = observed(&[(
        (FN, None),
        &[
            ("apigw-abc1234567", Some(&format!("{EXEC}/*"))),
            ("apigw-abc1234567-authorizer-gone", Some("x")),
        ],
    )]);
    assert_eq!(
        plan_permissions(API, &desired, &observed, &BTreeSet::new()),
        vec![PermissionAction::Remove {
            function: FN.into(),
            qualifier: None,
            statement_id: "apigw-abc1234567-authorizer-gone".into()
        }]
    );
}

/// Statements whose Sid is not this API's are never removed or replaced, even if
/// status claims them or they grant the same source.
#[test]
fn foreign_statements_are_never_touched() {
    let granted = grants(&[
        (FN, None, "terraform-perm"),
        (FN, None, "apigw-abc1234567x"),
    ]);
    let observed = observed(&[(
        (FN, None),
        &[
            ("terraform-perm", Some(&format!("{EXEC}/*"))),
            ("apigw-abc1234567x", Some("y")),
            ("apigw-other", None),
        ],
    )]);
    assert_eq!(
        plan_permissions(API, &BTreeSet::new(), &observed, &granted),
        vec![]
    );
}

/// Removes precede adds, so a policy near its size limit has room, and a replaced
/// statement is gone before its successor is added.
#[test]
fn removes_come_before_adds() {
    let desired = desired_permissions(API, EXEC, &[f("new-fn")], &[]);
    let granted = grants(&[(FN, None, "apigw-abc1234567")]);
    let plan = plan_permissions(API, &desired, &BTreeMap::new(), &granted);
    assert!(matches!(plan[0], PermissionAction::Remove { .. }));
    assert!(matches!(plan[1], PermissionAction::Add(_)));
    assert_eq!(plan.len(), 2);
}

/// API a1's grant on function `f`.
fn grant(f: &str) -> Permission {
    Permission {
        function: format!("arn:aws:lambda:us-east-1:123456789012:function:{f}"),
        qualifier: None,
        statement_id: "apigw-a1".into(),
        source_arn: "arn:aws:execute-api:us-east-1:123456789012:a1/*".into(),
    }
}

#[test]
fn a_policy_verified_with_the_wanted_statements_is_not_read_again() {
    let wanted: BTreeSet<Permission> = [grant("one"), grant("two")].into();
    let previously: BTreeSet<GrantKey> = wanted.iter().map(Permission::key).collect();
    let mut verified = BTreeMap::new();
    verified.insert(grant("one").policy_key(), BTreeSet::from([grant("one")]));
    // "two" was never verified by this process: read it.
    assert_eq!(
        policy_reads(&wanted, &previously, &verified).read,
        BTreeSet::from([grant("two").policy_key()])
    );
    verified.insert(grant("two").policy_key(), BTreeSet::from([grant("two")]));
    assert_eq!(
        policy_reads(&wanted, &previously, &verified),
        PolicyReads::default()
    );
    // A wanted statement that changed (another source ARN) is read.
    let mut moved = grant("one");
    moved.source_arn.push_str("/GET/x");
    let wanted2: BTreeSet<Permission> = [moved.clone(), grant("two")].into();
    assert_eq!(
        policy_reads(&wanted2, &previously, &verified).read,
        BTreeSet::from([moved.policy_key()])
    );
    // A grant status records that is no longer wanted: its policy is read to remove it.
    let only_two: BTreeSet<Permission> = [grant("two")].into();
    assert_eq!(
        policy_reads(&only_two, &previously, &verified).read,
        BTreeSet::from([grant("one").policy_key()])
    );
    // Status lost a grant (reset or crash): read.
    let partial: BTreeSet<GrantKey> = [grant("two").key()].into();
    assert_eq!(
        policy_reads(&wanted, &partial, &verified).read,
        BTreeSet::from([grant("one").policy_key()])
    );
}

/// A new API's grants are added without reading the policies first; a policy
/// is read as soon as something of this API may be there to take back.
#[test]
fn grants_with_nothing_to_take_back_are_added_unread() {
    let wanted: BTreeSet<Permission> = [grant("one"), grant("two")].into();
    let nothing = BTreeSet::new();
    let reads = policy_reads(&wanted, &nothing, &BTreeMap::new());
    assert!(reads.read.is_empty());
    assert_eq!(
        reads.add_unread,
        BTreeSet::from([grant("one").policy_key(), grant("two").policy_key()])
    );
    // Read before and found without this API's statements: still nothing to take back.
    let mut verified = BTreeMap::new();
    verified.insert(grant("one").policy_key(), BTreeSet::new());
    // Remembered with a statement that status lost: read, the statement may be stale.
    verified.insert(grant("two").policy_key(), BTreeSet::from([grant("two")]));
    let mut moved = grant("two");
    moved.source_arn.push_str("/GET/x");
    let wanted: BTreeSet<Permission> = [grant("one"), moved].into();
    let reads = policy_reads(&wanted, &nothing, &verified);
    assert_eq!(
        reads.add_unread,
        BTreeSet::from([grant("one").policy_key()])
    );
    assert_eq!(reads.read, BTreeSet::from([grant("two").policy_key()]));
}
