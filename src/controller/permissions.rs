//! Lambda invoke permissions of one API (REST or WebSocket): grant what its routes
//! and authorizers call, take back what they no longer call, and revoke everything
//! when the API goes.

use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Error};
use crate::api::rest_api::LambdaPermissionGrant;
use crate::plan::lambda::{
    GrantKey, Permission, PermissionAction, PolicyKey, PolicyStatement, plan_permissions,
};

/// Make the functions' policies hold `wanted` for this API, and drop grants of
/// `previously` no longer wanted. Functions that do not exist are skipped and
/// returned, so the caller can report them; their grants follow once they exist.
pub async fn sync(
    ctx: &Context,
    api_id: &str,
    mut wanted: BTreeSet<Permission>,
    previously: &BTreeSet<GrantKey>,
) -> Result<(Vec<LambdaPermissionGrant>, BTreeSet<PolicyKey>), Error> {
    // One policy read per function in use or granted before; nothing else.
    let mut policies: BTreeSet<PolicyKey> = wanted.iter().map(|p| p.policy_key()).collect();
    policies.extend(previously.iter().map(|(f, q, _)| (f.clone(), q.clone())));
    let mut observed: BTreeMap<PolicyKey, Vec<PolicyStatement>> = BTreeMap::new();
    let mut missing: BTreeSet<PolicyKey> = BTreeSet::new();
    for key in policies {
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
    wanted.retain(|p| !missing.contains(&p.policy_key()));
    for action in plan_permissions(api_id, &wanted, &observed, previously) {
        match action {
            PermissionAction::Add(p) => {
                ctx.aws.add_permission(&p).await?;
                tracing::info!(function = %p.function, qualifier = ?p.qualifier, statement_id = %p.statement_id, "granted invoke permission");
            }
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

/// Take back every grant made for a deleted API, so functions' 20 KB policies do
/// not fill up with statements of APIs that are gone.
pub async fn revoke_all(ctx: &Context, grants: &[LambdaPermissionGrant]) -> Result<(), Error> {
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
