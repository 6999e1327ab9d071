//! Lambda invoke permissions of one API (REST or WebSocket): grant what its routes
//! and authorizers call, take back what they no longer call, and revoke everything
//! when the API goes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Context, Error};
use crate::api::rest_api::LambdaPermissionGrant;
use crate::aws::lambda::Grant;
use crate::plan::lambda::{
    FunctionRef, GrantKey, Permission, PermissionAction, PolicyKey, PolicyStatement,
    plan_permissions, policy_reads,
};

/// What this process last verified of each function policy, per API: the statements
/// of that API it read or wrote there. A pass skips the policies whose wanted
/// statements it verified recently (`policy_reads`), so a converged API costs
/// no Lambda call; a policy edited outside the operator is found when its memory
/// expires (after the resync period, at least an hour).
#[derive(Debug, Default)]
pub struct PolicyMemo {
    verified: super::memo::Memo<ApiPolicy, BTreeSet<Permission>>,
}

/// One API's statements in one function policy: (API id, policy).
type ApiPolicy = (String, PolicyKey);

impl PolicyMemo {
    const MIN_RECHECK: Duration = Duration::from_secs(3600);

    /// The fresh memories of the policies in `keys`, for API `api_id`.
    fn fresh(
        &self,
        api_id: &str,
        keys: impl Iterator<Item = PolicyKey>,
        resync: Duration,
    ) -> BTreeMap<PolicyKey, BTreeSet<Permission>> {
        let recheck = resync.max(Self::MIN_RECHECK);
        keys.filter_map(|key| {
            let known = self
                .verified
                .fresh(&(api_id.to_string(), key.clone()), recheck)?;
            Some((key, known))
        })
        .collect()
    }

    fn remember(&self, api_id: &str, key: PolicyKey, statements: BTreeSet<Permission>) {
        self.verified
            .remember((api_id.to_string(), key), statements);
    }

    /// Forget everything of one API (it is gone, or its grants were revoked).
    pub fn forget_api(&self, api_id: &str) {
        self.verified.retain(|(api, _)| api != api_id);
    }

    /// Forget the policies of these grants, for every API (over-forgetting costs a read).
    fn forget_policies(&self, grants: &[LambdaPermissionGrant]) {
        self.verified
            .retain(|(_, (f, q))| !grants.iter().any(|g| &g.function == f && &g.qualifier == q));
    }
}

/// Converge an API's grants: one statement per function and qualifier for its
/// routes, one per authorizer id for its Lambda authorizers, against the grants
/// its status recorded (those no longer needed are taken back). Returns the
/// grants in place and the functions that do not exist.
pub async fn converge_for_api(
    ctx: &Context,
    api_id: &str,
    route_functions: &[FunctionRef],
    authorizer_functions: &[(String, FunctionRef)],
    recorded: &[LambdaPermissionGrant],
) -> Result<(Vec<LambdaPermissionGrant>, BTreeSet<PolicyKey>), Error> {
    let execute_api_arn = ctx.aws.execute_api_arn(api_id).await?;
    let wanted = crate::plan::lambda::desired_permissions(
        api_id,
        &execute_api_arn,
        route_functions,
        authorizer_functions,
    );
    let previously: BTreeSet<GrantKey> = recorded
        .iter()
        .map(|g| {
            (
                g.function.clone(),
                g.qualifier.clone(),
                g.statement_id.clone(),
            )
        })
        .collect();
    sync(ctx, api_id, wanted, &previously).await
}

/// Make the functions' policies hold `wanted` for this API, and drop grants of
/// `previously` no longer wanted. Functions that do not exist are skipped and
/// returned, so the caller can report them; their grants follow once they exist.
pub async fn sync(
    ctx: &Context,
    api_id: &str,
    mut wanted: BTreeSet<Permission>,
    previously: &BTreeSet<GrantKey>,
) -> Result<(Vec<LambdaPermissionGrant>, BTreeSet<PolicyKey>), Error> {
    // One policy read per function whose statements could differ; none when this
    // process verified them recently and status agrees, or when there is nothing
    // of this API to take back (then the grant is added unread).
    let memo = &ctx.shared.policies;
    let in_use = wanted
        .iter()
        .map(Permission::policy_key)
        .chain(previously.iter().map(|(f, q, _)| (f.clone(), q.clone())));
    let fresh = memo.fresh(api_id, in_use, ctx.shared.settings.resync);
    let mut reads = policy_reads(&wanted, previously, &fresh);
    if ctx.aws.is_observe_only() {
        // The preview shows what would be added, which needs the policy as it is.
        let unread = std::mem::take(&mut reads.add_unread);
        reads.read.extend(unread);
    }
    let mut observed: BTreeMap<PolicyKey, Vec<PolicyStatement>> = BTreeMap::new();
    let mut missing: BTreeSet<PolicyKey> = BTreeSet::new();
    for p in wanted
        .iter()
        .filter(|p| reads.add_unread.contains(&p.policy_key()))
    {
        let key = p.policy_key();
        if missing.contains(&key) || observed.contains_key(&key) {
            // Settled by an earlier statement of this policy: planned below, or missing.
            continue;
        }
        match ctx.aws.add_permission(p).await? {
            Grant::Added => granted_log(p),
            Grant::AlreadyThere => {}
            Grant::FunctionMissing => {
                missing.insert(key);
            }
            Grant::StatementIdTaken { existing, .. } => {
                observed.insert(key, existing);
            }
        }
    }
    for key in reads.read {
        match ctx
            .aws
            .get_policy_statements(&key.0, key.1.as_deref())
            .await?
        {
            Some(statements) => {
                observed.insert(key, statements);
            }
            None => {
                missing.insert(key);
            }
        }
    }
    // Only the policies read are planned: the others hold what is wanted already.
    let read: BTreeSet<Permission> = wanted
        .iter()
        .filter(|p| observed.contains_key(&p.policy_key()))
        .cloned()
        .collect();
    let recorded: BTreeSet<GrantKey> = previously
        .iter()
        .filter(|(f, q, _)| observed.contains_key(&(f.clone(), q.clone())))
        .cloned()
        .collect();
    for action in plan_permissions(api_id, &read, &observed, &recorded) {
        match action {
            PermissionAction::Add(p) => match ctx.aws.add_permission(&p).await? {
                Grant::Added => granted_log(&p),
                Grant::AlreadyThere => {}
                // Deleted since it was read: reported as missing, granted once it is back.
                Grant::FunctionMissing => {
                    missing.insert(p.policy_key());
                }
                // Written by someone else since the read (or the Remove before this
                // Add was undone): the next pass reads it again.
                Grant::StatementIdTaken { error, .. } => return Err(error.into()),
            },
            PermissionAction::Remove {
                function,
                qualifier,
                statement_id,
            } => {
                ctx.aws
                    .remove_permission(&function, qualifier.as_deref(), &statement_id)
                    .await?;
                tracing::info!(%function, ?qualifier, %statement_id, "revoked invoke permission");
            }
        }
    }
    wanted.retain(|p| !missing.contains(&p.policy_key()));
    if !ctx.aws.is_observe_only() {
        // A policy granted unread whose statement id turned out taken was read
        // too: each is remembered once.
        let settled: BTreeSet<&PolicyKey> = observed
            .keys()
            .chain(reads.add_unread.iter())
            .filter(|key| !missing.contains(*key))
            .collect();
        for key in settled {
            let now: BTreeSet<Permission> = wanted
                .iter()
                .filter(|p| &p.policy_key() == key)
                .cloned()
                .collect();
            memo.remember(api_id, key.clone(), now);
        }
    }
    let mut granted: Vec<LambdaPermissionGrant> = wanted
        .into_iter()
        .map(|p| LambdaPermissionGrant {
            function: p.function,
            qualifier: p.qualifier,
            statement_id: p.statement_id,
        })
        .collect();
    granted.sort();
    Ok((granted, missing))
}

fn granted_log(p: &Permission) {
    tracing::info!(function = %p.function, qualifier = ?p.qualifier, statement_id = %p.statement_id, "granted invoke permission");
}

/// Take back every grant made for a deleted API, so functions' 20 KB policies do
/// not fill up with statements of APIs that are gone.
pub async fn revoke_all(ctx: &Context, grants: &[LambdaPermissionGrant]) -> Result<(), Error> {
    ctx.shared.policies.forget_policies(grants);
    for grant in grants {
        ctx.aws
            .remove_permission(
                &grant.function,
                grant.qualifier.as_deref(),
                &grant.statement_id,
            )
            .await?;
    }
    Ok(())
}

/// Take back every statement of API `api_id`: the grants status recorded, and any
/// statement of this API (`apigw-{apiId}`, `apigw-{apiId}-...`) on the functions in
/// `referenced`. The second finds what status never recorded: a crash between the
/// AddPermission and the status write, or a status reset when the API was made
/// again. One policy read per referenced function, at deletion only.
pub async fn revoke_api(
    ctx: &Context,
    api_id: &str,
    recorded: &[LambdaPermissionGrant],
    referenced: &BTreeSet<PolicyKey>,
) -> Result<usize, Error> {
    ctx.shared.policies.forget_api(api_id);
    let mut statements: BTreeSet<(String, Option<String>, String)> = recorded
        .iter()
        .filter(|g| crate::plan::lambda::is_own_statement(api_id, &g.statement_id))
        .map(|g| {
            (
                g.function.clone(),
                g.qualifier.clone(),
                g.statement_id.clone(),
            )
        })
        .collect();
    for (function, qualifier) in referenced {
        let Some(found) = ctx
            .aws
            .get_policy_statements(function, qualifier.as_deref())
            .await?
        else {
            continue;
        };
        for (sid, _) in found {
            if crate::plan::lambda::is_own_statement(api_id, &sid) {
                statements.insert((function.clone(), qualifier.clone(), sid));
            }
        }
    }
    for (function, qualifier, sid) in &statements {
        ctx.aws
            .remove_permission(function, qualifier.as_deref(), sid)
            .await?;
        tracing::info!(%function, ?qualifier, statement_id = %sid, "revoked invoke permission");
    }
    Ok(statements.len())
}
