//! AwsAccountBindings: the reflectors every tenant lookup reads (bindings and
//! namespace labels), and the status of each binding (its account, the namespaces
//! it matches, whether its role can be assumed and whether another binding
//! claims one of its namespaces). It may touch: AwsAccountBinding status only.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::conditions::{READY, condition, now_rfc3339, set_condition};
use super::tenancy::Placement;
use super::{Context, Error};
use crate::api::account_binding::{AwsAccountBinding, AwsAccountBindingStatus};
use crate::plan::access::binds;

/// The reflectors of bindings and namespace labels, and a counter that moves on
/// every change of either that can change a tenant's scope.
pub fn reflectors(ctx: &Arc<Context>) -> tokio::sync::watch::Receiver<u64> {
    ctx.tenancy
        .reflectors(|writers| start_reflectors(ctx.watch_client.clone(), &ctx.tenancy, writers))
}

fn start_reflectors(
    client: kube::Client,
    tenancy: &super::tenancy::Tenancy,
    (binding_writer, namespace_writer): super::tenancy::StoreWriters,
) -> (
    tokio::sync::watch::Receiver<u64>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    let bump = {
        let tx = tx.clone();
        move || tx.send_modify(|n| *n += 1)
    };
    let bump_ns = bump.clone();
    // Only changes after the first list count (the controllers reconcile every
    // object at start anyway), and only those that can change a scope: a binding's
    // spec or deletion, a namespace's labels; not the binding's own status writes.
    let mut generations: HashMap<String, Option<i64>> = HashMap::new();
    let bindings = super::watch(Api::<AwsAccountBinding>::all(client.clone()))
        .modify(super::slim)
        .reflect(binding_writer)
        .for_each(move |event| {
            match event {
                Ok(watcher::Event::Apply(b)) => {
                    let name = b.name_any();
                    let generation = b.metadata.generation;
                    let deleting = b.metadata.deletion_timestamp.is_some();
                    if deleting || generations.insert(name, generation) != Some(generation) {
                        bump();
                    }
                }
                Ok(watcher::Event::Delete(b)) => {
                    generations.remove(&b.name_any());
                    bump();
                }
                Ok(watcher::Event::InitApply(b)) => {
                    generations.insert(b.name_any(), b.metadata.generation);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "watching AwsAccountBindings failed; retrying")
                }
            }
            futures::future::ready(())
        });
    let mut labels: HashMap<String, Option<BTreeMap<String, String>>> = HashMap::new();
    let selectors = tenancy.bindings.clone();
    let namespaces = super::watch(Api::<PartialObjectMeta<Namespace>>::all(client))
        .modify(super::slim)
        .reflect(namespace_writer)
        .for_each(move |event| {
            match event {
                Ok(watcher::Event::Apply(n)) => {
                    // A new namespace without labels matches no selector it did not
                    // match before (names are matched at reconcile).
                    let now = n.metadata.labels.clone().filter(|l| !l.is_empty());
                    let before = labels.insert(n.name_any(), now.clone()).flatten();
                    // Labels matter only to bindings that select by them.
                    let selected = selectors
                        .state()
                        .iter()
                        .any(|b| b.spec.namespace_selector.is_some());
                    if before != now && selected {
                        bump_ns();
                    }
                }
                Ok(watcher::Event::Delete(n)) => {
                    labels.remove(&n.name_any());
                }
                Ok(watcher::Event::InitApply(n)) => {
                    let now = n.metadata.labels.clone().filter(|l| !l.is_empty());
                    labels.insert(n.name_any(), now);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "watching Namespaces failed; retrying"),
            }
            futures::future::ready(())
        });
    let run = async move {
        futures::join!(bindings, namespaces);
    };
    (rx, run)
}

/// Writes each binding's status.
pub fn controller(
    ctx: &Arc<Context>,
    config: controller::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    // Its own status writes do not wake it (a failing check whose message changes
    // would otherwise loop); resyncs come from the requeue.
    let (reader, writer) = kube::runtime::reflector::store();
    let changes = super::watch(Api::<AwsAccountBinding>::all(ctx.watch_client.clone()))
        .modify(super::slim)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(kube::runtime::predicates::generation, Default::default());
    Controller::for_stream(changes, reader)
        .with_config(config)
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| async move {
                ctx.reconciles
                    .measure(
                        "AwsAccountBinding",
                        obj.as_ref(),
                        reconcile(obj.clone(), ctx.clone()),
                    )
                    .await
            },
            |_obj, err, ctx| {
                tracing::warn!(error = %err, "AwsAccountBinding status failed; will retry");
                Action::requeue(ctx.settings.resync.min(std::time::Duration::from_secs(60)))
            },
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()))
}

async fn reconcile(obj: Arc<AwsAccountBinding>, ctx: Arc<Context>) -> Result<Action, Error> {
    use tracing::Instrument;
    let span =
        tracing::info_span!("reconcile", kind = "AwsAccountBinding", object_name = %obj.name_any());
    report(obj, ctx).instrument(span).await
}

async fn report(obj: Arc<AwsAccountBinding>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = obj.name_any();
    ctx.tenancy.wait_for_stores().await?;
    let matched: Vec<String> = ctx
        .tenancy
        .namespaces
        .state()
        .iter()
        .filter_map(|n| {
            let ns = n.metadata.name.clone()?;
            let labels = n.metadata.labels.clone().unwrap_or_default();
            binds(&obj.spec, &ns, &labels).then_some(ns)
        })
        .collect();
    // The store's order varies between lists: sorted, the status stays identical.
    let matched = {
        let mut matched = matched;
        matched.sort();
        matched
    };
    let mut status = obj.status.clone().unwrap_or_default();
    status.observed_generation = obj.metadata.generation;
    status.namespaces = (!matched.is_empty()).then(|| matched.join(","));
    let verdict = check(&ctx, &name, &matched).await;
    let now = now_rfc3339();
    let generation = obj.metadata.generation;
    let ready = match verdict {
        Ok(account) => {
            status.account_id = Some(account.clone());
            condition(
                READY,
                true,
                "Bound",
                format!("{} namespace(s) use account {account}", matched.len()),
                generation,
                &now,
            )
        }
        Err(e) => condition(READY, false, e.reason(), e.to_string(), generation, &now),
    };
    set_condition(&mut status.conditions, ready);
    write_status(&ctx, &obj, &status).await?;
    Ok(Action::requeue(ctx.settings.resync))
}

/// The account the binding resolves to, checked through a namespace it matches
/// (the role assumed, the region allowed); a namespace it shares with another
/// binding is a conflict on both.
async fn check(ctx: &Context, name: &str, matched: &[String]) -> Result<String, Error> {
    for ns in matched {
        ctx.tenancy.binding_of(ns)?;
    }
    let Some(first) = matched.first() else {
        return Err(Error::NoAccountBinding(format!(
            "AwsAccountBinding {name} matches no namespace yet"
        )));
    };
    // The binding's own default policy must not hide its account: a binding that
    // pauses its namespaces still says whether its role can be assumed.
    let check = Placement {
        policy: Some(crate::api::common::ManagementPolicy::Full),
        ..Placement::default()
    };
    let scope = ctx.tenancy.scope(first, &check).await?;
    Ok(scope.aws.account_id().await?.to_string())
}

async fn write_status(
    ctx: &Context,
    obj: &AwsAccountBinding,
    status: &AwsAccountBindingStatus,
) -> Result<(), Error> {
    if obj.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<AwsAccountBinding> = Api::all(ctx.client.clone());
    let patch = json!({
        "apiVersion": "apigw.rs/v1alpha1",
        "kind": "AwsAccountBinding",
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(crate::api::common::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::kube("patch AwsAccountBinding status"))?;
    Ok(())
}
