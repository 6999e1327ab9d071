//! The API's Authorizers: converged before the methods that refer to them by
//! id, released once no method uses them, and reported into each object.

use super::*;

/// How one Authorizer object came out of this pass.
#[derive(Clone, Debug)]
pub(super) struct AuthorizerResult {
    pub(super) state: AuthorizerState,
    pub(super) readiness: Option<Readiness>,
    pub(super) id: Option<String>,
    pub(super) settings: Option<AuthorizerSettings>,
}

impl AuthorizerResult {
    fn not_ready(readiness: Readiness, id: Option<String>) -> Self {
        AuthorizerResult {
            state: AuthorizerState::NotReady,
            readiness: Some(readiness),
            id,
            settings: None,
        }
    }
}

pub(super) async fn converge_authorizers(
    ctx: &Context,
    api_id: &str,
    authorizers: &[Authorizer],
    coords: &Coordinates,
    first_error: &mut Option<Error>,
) -> Result<BTreeMap<String, AuthorizerResult>, Error> {
    let mut out = BTreeMap::new();
    if authorizers.is_empty() {
        return Ok(out);
    }
    let observed = ctx.aws.get_authorizers(api_id).await?;
    let mut changed: Vec<(&Authorizer, &str, String)> = Vec::new();
    for a in authorizers {
        let name = a.name_any();
        let known_id = a.status.as_ref().and_then(|s| s.authorizer_id.clone());
        let cognito = a.spec.cognito.is_some();
        if is_deleting(a) {
            // Still in AWS until its routes are gone: keep them working meanwhile.
            let state = match &known_id {
                Some(id) => AuthorizerState::Ready {
                    id: id.clone(),
                    cognito,
                },
                None => AuthorizerState::NotReady,
            };
            out.insert(
                name,
                AuthorizerResult {
                    state,
                    readiness: None,
                    id: known_id,
                    settings: None,
                },
            );
            continue;
        }
        let desired = match desired_authorizer(
            &a.spec,
            &name,
            coords.partition,
            &coords.region,
            &coords.account,
        ) {
            Ok(d) => d,
            Err(e) => {
                out.insert(
                    name,
                    AuthorizerResult::not_ready(
                        Readiness::not("InvalidSpec", e.to_string()),
                        known_id,
                    ),
                );
                continue;
            }
        };
        let existing = find_observed(&desired.name, known_id.as_deref(), &observed);
        let home = crate::plan::access::Home {
            partition: coords.partition,
            region: &coords.region,
            account: &coords.account,
        };
        if let Err(refused) = ctx.access.authorizer(&a.spec, home) {
            out.insert(
                name,
                AuthorizerResult::not_ready(
                    Readiness::not("ReferenceNotAllowed", refused.to_string()),
                    existing.map(|o| o.id.clone()),
                ),
            );
            continue;
        }
        let ops = existing.map(|o| authorizer_patch_operations(&desired, &o.settings));
        let must_write = ops.as_ref().is_none_or(|ops| !ops.is_empty());
        let new_generation =
            a.status.as_ref().and_then(|s| s.observed_generation) != a.metadata.generation;
        // Pools are checked when about to be written or when the spec changed, not on every resync.
        if let Some(spec) = &a.spec.cognito
            && (must_write || new_generation)
        {
            let mut missing = Vec::new();
            for pool in &spec.user_pools {
                if !ctx.aws.user_pool_exists(pool).await? {
                    missing.push(pool.clone());
                }
            }
            if !missing.is_empty() {
                let readiness = Readiness::not(
                    "UserPoolNotFound",
                    format!(
                        "Cognito user pool {} does not exist in this account; create it or fix spec.cognito.userPools",
                        missing.join(", ")
                    ),
                );
                out.insert(
                    name,
                    AuthorizerResult::not_ready(readiness, existing.map(|o| o.id.clone())),
                );
                continue;
            }
        }
        // The function of a Lambda authorizer likewise: API Gateway accepts an
        // authorizer whose function does not exist, and every request then fails.
        if let Some(spec) = &a.spec.lambda
            && (must_write || new_generation)
            && let Ok(function) = FunctionRef::parse(&spec.function_name)
            && !ctx
                .aws
                .function_exists(
                    &function.unqualified_arn(coords.partition, &coords.region, &coords.account),
                    function.qualifier.as_deref(),
                )
                .await?
        {
            let readiness = Readiness::not(
                "LambdaFunctionNotFound",
                format!(
                    "Lambda function {} of this authorizer does not exist; deploy it or fix spec.lambda.functionName (its routes wait)",
                    spec.function_name
                ),
            );
            out.insert(
                name,
                AuthorizerResult::not_ready(readiness, existing.map(|o| o.id.clone())),
            );
            continue;
        }
        let result = match (existing, ops) {
            (Some(o), Some(ops)) if ops.is_empty() => Ok(o.id.clone()),
            (Some(o), Some(ops)) => {
                ctx.aws
                    .update_authorizer(api_id, &o.id, &ops)
                    .await
                    .map(|_| {
                        tracing::info!(authorizer_id = %o.id, "updated authorizer");
                        changed.push((
                            a,
                            "Updated",
                            format!("updated authorizer {} in REST API {api_id}", o.id),
                        ));
                        o.id.clone()
                    })
            }
            _ => ctx
                .aws
                .create_authorizer(api_id, &desired)
                .await
                .map(|created| {
                    tracing::info!(authorizer_id = %created.id, "created authorizer");
                    changed.push((
                        a,
                        "Created",
                        format!("created authorizer {} in REST API {api_id}", created.id),
                    ));
                    created.id
                }),
        };
        match result {
            Ok(id) => {
                let readiness = Readiness::ok(
                    "Available",
                    format!(
                        "authorizer {id} ({}) is in effect in REST API {api_id}",
                        desired.type_
                    ),
                );
                let state = AuthorizerState::Ready {
                    id: id.clone(),
                    cognito,
                };
                out.insert(
                    name,
                    AuthorizerResult {
                        state,
                        readiness: Some(readiness),
                        id: Some(id),
                        settings: Some(desired),
                    },
                );
            }
            Err(e) => {
                let e = Error::from(e);
                let readiness = Readiness::not(e.reason(), e.to_string());
                // Routes keep using the authorizer as it is while its update fails.
                let mut result =
                    AuthorizerResult::not_ready(readiness, existing.map(|o| o.id.clone()));
                if let Some(o) = existing {
                    result.state = AuthorizerState::Ready {
                        id: o.id.clone(),
                        cognito,
                    };
                }
                out.insert(name, result);
                first_error.get_or_insert(e);
            }
        }
    }
    for (authorizer, reason, note) in changed {
        ctx.event(authorizer, EventType::Normal, reason, reason, note)
            .await;
    }
    Ok(out)
}

/// Delete authorizers whose objects are going, once no live route uses them.
pub(super) async fn release_authorizers(
    ctx: &Context,
    api_id: &str,
    authorizers: &[Authorizer],
    routes: &[Route],
    results: &mut BTreeMap<String, AuthorizerResult>,
) -> Result<(), Error> {
    for a in authorizers.iter().filter(|a| is_deleting(*a)) {
        let name = a.name_any();
        let users: Vec<String> = routes
            .iter()
            .filter(|r| !is_deleting(*r))
            .filter(|r| {
                r.spec
                    .authorization
                    .as_ref()
                    .and_then(|x| x.authorizer_ref.as_ref())
                    .is_some_and(|x| x.name == name)
            })
            .map(|r| r.name_any())
            .collect();
        if !users.is_empty() {
            let readiness = Readiness::not(
                "InUse",
                format!(
                    "still used by Route {}: change or delete those routes first; the authorizer stays until then",
                    users.join(", ")
                ),
            );
            if let Some(r) = results.get_mut(&name) {
                r.readiness = Some(readiness);
            }
            continue;
        }
        if a.spec.deletion_policy == DeletionPolicy::Delete
            && let Some(id) = a.status.as_ref().and_then(|s| s.authorizer_id.clone())
        {
            ctx.aws.delete_authorizer(api_id, &id).await?;
            tracing::info!(authorizer_id = %id, "deleted authorizer");
            ctx.event(
                a,
                EventType::Normal,
                "Deleted",
                "Delete",
                format!("deleted authorizer {id} from REST API {api_id}"),
            )
            .await;
        }
        remove_finalizer(ctx, a).await?;
        results.remove(&name);
    }
    Ok(())
}

pub(super) async fn report_authorizers(
    ctx: &Context,
    api_id: &str,
    authorizers: &[Authorizer],
    results: &BTreeMap<String, AuthorizerResult>,
    report: &mut StructureReport,
) -> Result<(), Error> {
    for a in authorizers {
        let Some(result) = results.get(&a.name_any()) else {
            continue;
        };
        let Some(readiness) = &result.readiness else {
            continue;
        };
        if !readiness.ready {
            report.all_in_effect = false;
            report.blocking.push(format!(
                "Authorizer {} ({})",
                a.name_any(),
                readiness.reason
            ));
        }
        let (conditions, changed) = next_conditions(a, readiness);
        let mut status = json!({
            "observedGeneration": a.metadata.generation,
            "restApiId": api_id,
            "conditions": conditions,
        });
        if let Some(id) = &result.id {
            status["authorizerId"] = json!(id);
        }
        apply_status(ctx, a, &status).await?;
        if changed {
            readiness_event(ctx, a, readiness).await;
        }
    }
    Ok(())
}
