//! Lambda invoke permissions of the API's Routes and Authorizers: one statement
//! per function per API, one per authorizer id.

use super::*;

/// The functions (unqualified ARN, qualifier) the API's Routes and Authorizers name,
/// whatever their state: where statements of the API may be.
pub async fn referenced_functions(
    obj: &RestApi,
    ctx: &Context,
) -> Result<BTreeSet<PolicyKey>, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let routes: Vec<Route> = list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let authorizers: Vec<Authorizer> =
        list_children(ctx, &namespace, Parent::RestApi(&name)).await?;
    let account = ctx.aws.account_id().await?.to_string();
    let (partition, region) = (ctx.aws.partition(), ctx.aws.region.clone());
    let named = routes
        .iter()
        .filter_map(|r| {
            r.spec
                .integration
                .lambda
                .as_ref()
                .map(|l| l.function_name.as_str())
        })
        .chain(
            authorizers
                .iter()
                .filter_map(|a| a.spec.lambda.as_ref().map(|l| l.function_name.as_str())),
        );
    Ok(named
        .filter_map(|f| FunctionRef::parse(f).ok())
        .map(|f| {
            (
                f.unqualified_arn(partition, &region, &account),
                f.qualifier.clone(),
            )
        })
        .collect())
}

pub(super) fn previous_grants(obj: &RestApi) -> Vec<LambdaPermissionGrant> {
    obj.status
        .as_ref()
        .map(|s| s.lambda_permissions.clone())
        .unwrap_or_default()
}

/// The objects whose functions need invoke permissions.
pub(super) struct PermissionInputs<'a> {
    pub(super) routes: &'a [Route],
    pub(super) desired: &'a DesiredStructure,
    pub(super) authorizers: &'a [Authorizer],
}

/// Grant API Gateway the right to invoke every function the API's routes and
/// authorizers call, one statement per function per API, and take back grants no
/// longer needed. Returns the grants now in place and the functions that do not exist.
pub(super) async fn converge_permissions(
    ctx: &Context,
    obj: &RestApi,
    api_id: &str,
    inputs: &PermissionInputs<'_>,
    authorizer_results: &BTreeMap<String, AuthorizerResult>,
) -> Result<(Vec<LambdaPermissionGrant>, BTreeSet<PolicyKey>), Error> {
    let route_functions: Vec<FunctionRef> = inputs
        .routes
        .iter()
        .filter(|r| {
            let name = r.metadata.name.as_deref().unwrap_or_default();
            matches!(
                inputs.desired.outcomes.get(name),
                Some(RouteOutcome::Accepted { .. })
            )
        })
        .filter_map(|r| r.spec.integration.lambda.as_ref())
        .filter_map(|l| FunctionRef::parse(&l.function_name).ok())
        .collect();
    let previous = previous_grants(obj);
    let authorizer_functions: Vec<(String, FunctionRef)> = inputs
        .authorizers
        .iter()
        .filter(|a| !is_deleting(*a))
        .filter_map(|a| {
            let result = authorizer_results.get(&a.name_any())?;
            let id = result.id.clone()?;
            let refused = result
                .readiness
                .as_ref()
                .is_some_and(|r| r.reason == "ReferenceNotAllowed");
            let f = if refused {
                // Not updated in AWS, so it still calls the function it was granted
                // for: that grant stays while the binding still allows its function
                // (a narrowed list takes it back), and the refused function gets none.
                let statement = crate::plan::lambda::authorizer_statement_id(api_id, &id);
                let grant = previous.iter().find(|g| g.statement_id == statement)?;
                ctx.access.function(&grant.function).ok()?;
                let named = match &grant.qualifier {
                    Some(q) => format!("{}:{q}", grant.function),
                    None => grant.function.clone(),
                };
                FunctionRef::parse(&named).ok()?
            } else {
                authorizer_permission_function(&a.spec).ok()??
            };
            Some((id, f))
        })
        .collect();
    crate::controller::permissions::converge_for_api(
        ctx,
        api_id,
        &route_functions,
        &authorizer_functions,
        &previous,
    )
    .await
}
