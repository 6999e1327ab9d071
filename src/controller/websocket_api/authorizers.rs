//! The WebSocket API's Lambda REQUEST authorizers: observe, plan
//! (plan::websocket), apply, and the record kept in status.

use super::*;

/// Create and update the spec's authorizers; returns their ids by name. Authorizers
/// the spec dropped are recorded in status until the route pass has let go of them.
pub(super) async fn converge_authorizers(
    obj: &WebSocketApi,
    ctx: &Context,
    coords: &Observed,
    status: &mut WebSocketApiStatus,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<BTreeMap<String, String>, Error> {
    let aws = &ctx.aws;
    let mut desired = Vec::new();
    for a in &obj.spec.authorizers {
        // The schema refuses Cognito and JWT authorizers and requires lambda.
        let Some(lambda) = &a.lambda else { continue };
        desired.push(AuthorizerSettings {
            name: a.name.clone(),
            uri: coords.invocation_uri(&lambda.function_name)?,
            identity_sources: lambda.identity_sources.clone(),
            credentials_arn: lambda.credentials_role_arn.clone(),
        });
    }
    let api_id = coords.api_id.as_str();
    let recorded: BTreeSet<&str> = status
        .authorizers
        .iter()
        .map(|a| a.authorizer_id.as_str())
        .collect();
    let named = |a: &ObservedAuthorizer| desired.iter().any(|d| d.name == a.settings.name);
    // The operator's authorizers: those it recorded, and those with a name the spec
    // gives (one made by a pass that could not record it, or one an adopted API
    // already had). Any other authorizer of an adopted API is left alone.
    let candidates = match aws.list_websocket_authorizers(api_id).await? {
        Some(all) => all,
        None => {
            // Without a listing: the recorded ids, and those the spec's routes use.
            let ids: BTreeSet<&str> = recorded
                .iter()
                .copied()
                .chain(
                    coords
                        .routes
                        .iter()
                        .filter(|r| obj.spec.routes.iter().any(|s| s.route_key == r.key))
                        .filter_map(|r| r.authorizer_id.as_deref()),
                )
                .collect();
            let mut found = Vec::new();
            for id in ids {
                found.extend(aws.get_websocket_authorizer(api_id, id).await?);
            }
            found
        }
    };
    let mut candidates: Vec<ObservedAuthorizer> = candidates
        .into_iter()
        .filter(|a| recorded.contains(a.id.as_str()) || named(a))
        .collect();
    // With two of one name, the recorded one is kept; the other goes once unused.
    candidates.sort_by_key(|a| !recorded.contains(a.id.as_str()));
    let mut observed: Vec<ObservedAuthorizer> = Vec::new();
    let mut extra: Vec<ObservedAuthorizer> = Vec::new();
    for a in candidates {
        if !observed.iter().any(|o| o.settings.name == a.settings.name) {
            observed.push(a);
        } else if !status.adopted || recorded.contains(a.id.as_str()) {
            // A second one of a name: on its own API the operator made it (a pass
            // that could not record it); on an adopted one only if it recorded it.
            extra.push(a);
        }
    }
    let (upserts, _) = plan_authorizers(&desired, &observed);
    for action in upserts {
        match action {
            AuthorizerAction::Create(s) => {
                let id = aws.create_websocket_authorizer(api_id, &s).await?;
                tracing::info!(authorizer_id = %id, name = %s.name, "created authorizer");
                notes.push((
                    "AuthorizerCreated",
                    format!(
                        "created authorizer {} ({id}) on WebSocket API {api_id}",
                        s.name
                    ),
                ));
                observed.push(ObservedAuthorizer { id, settings: s });
            }
            AuthorizerAction::Update { id, settings } => {
                aws.update_websocket_authorizer(api_id, &id, &settings)
                    .await?;
                notes.push((
                    "AuthorizerUpdated",
                    format!("updated authorizer {} ({id})", settings.name),
                ));
            }
        }
        status.authorizers = record_authorizers(&observed, &extra);
    }
    status.authorizers = record_authorizers(&observed, &extra);
    Ok(desired
        .iter()
        .filter_map(|d| {
            observed
                .iter()
                .find(|o| o.settings.name == d.name)
                .map(|o| (d.name.clone(), o.id.clone()))
        })
        .collect())
}

/// The authorizers the operator manages, for status (the extra ones until deleted).
pub(super) fn record_authorizers(
    observed: &[ObservedAuthorizer],
    extra: &[ObservedAuthorizer],
) -> Vec<WebSocketAuthorizerStatus> {
    let mut out: Vec<WebSocketAuthorizerStatus> = observed
        .iter()
        .chain(extra)
        .map(|o| WebSocketAuthorizerStatus {
            name: o.settings.name.clone(),
            authorizer_id: o.id.clone(),
        })
        .collect();
    out.sort();
    out
}
