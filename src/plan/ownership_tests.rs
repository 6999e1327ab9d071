use super::*;

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn other() -> Claim {
    Claim::of(
        &tags(&[
            (OWNER_UID_TAG, "uid-a"),
            (OWNER_TAG, "team-a/photos"),
            (KIND_TAG, "RestApi"),
        ]),
        "uid-b",
    )
}

/// Resources made by hand carry no owner tags and may be adopted.
#[test]
fn untagged_resources_are_unclaimed_and_adoptable() {
    let claim = Claim::of(&tags(&[("team", "x")]), "uid-b");
    assert_eq!(claim, Claim::Unclaimed);
    assert_eq!(
        judge("REST API a", &claim, Liveness::Gone, false, "RestApi"),
        Ok(())
    );
}

/// After a crash, the object finds its own resource again: never a refusal.
#[test]
fn our_own_resource_is_ours() {
    let claim = Claim::of(&tags(&[(OWNER_UID_TAG, "uid-b")]), "uid-b");
    assert_eq!(claim, Claim::Ours);
    assert_eq!(
        judge("REST API a", &claim, Liveness::Alive, false, "RestApi"),
        Ok(())
    );
}

/// Another live object's resource is never taken, whatever adoptOrphaned says.
#[test]
fn a_live_owner_refuses_even_with_adopt_orphaned() {
    for adopt_orphaned in [false, true] {
        let refusal = judge(
            "REST API a",
            &other(),
            Liveness::Alive,
            adopt_orphaned,
            "RestApi",
        )
        .unwrap_err();
        assert!(matches!(refusal, Refusal::OwnedByLiveObject { .. }));
        assert!(
            refusal.to_string().contains("RestApi team-a/photos"),
            "{refusal}"
        );
    }
}

/// An owner that cannot be looked at counts as alive: two writers are worse than a
/// refused adoption.
#[test]
fn an_unknown_owner_counts_as_alive() {
    let refusal = judge("REST API a", &other(), Liveness::Unknown, true, "RestApi").unwrap_err();
    assert!(matches!(refusal, Refusal::OwnedByLiveObject { .. }));
}

/// A resource left behind by a deleted object is adopted only when asked.
#[test]
fn an_orphan_needs_adopt_orphaned() {
    let refusal = judge("REST API a", &other(), Liveness::Gone, false, "RestApi").unwrap_err();
    assert!(matches!(refusal, Refusal::Orphaned { .. }));
    assert!(refusal.to_string().contains("adoptOrphaned"), "{refusal}");
    assert_eq!(
        judge("REST API a", &other(), Liveness::Gone, true, "RestApi"),
        Ok(())
    );
}

/// Tags written by old versions carry no kind: the adopter's kind is named.
#[test]
fn a_missing_kind_tag_names_the_adopters_kind() {
    let claim = Claim::of(
        &tags(&[(OWNER_UID_TAG, "uid-a"), (OWNER_TAG, "a/b")]),
        "uid-b",
    );
    let refusal = judge(
        "WebSocket API w",
        &claim,
        Liveness::Alive,
        false,
        "WebSocketApi",
    )
    .unwrap_err();
    assert!(
        refusal.to_string().contains("WebSocketApi a/b"),
        "{refusal}"
    );
}

/// Adopted resources are retained unless the spec says Delete; created ones are
/// deleted unless it says Retain.
#[test]
fn deletion_policy_defaults_by_origin() {
    assert_eq!(deletion_policy(None, false), DeletionPolicy::Delete);
    assert_eq!(deletion_policy(None, true), DeletionPolicy::Retain);
    assert_eq!(
        deletion_policy(Some(DeletionPolicy::Delete), true),
        DeletionPolicy::Delete
    );
    assert_eq!(
        deletion_policy(Some(DeletionPolicy::Retain), false),
        DeletionPolicy::Retain
    );
}
