//! Controllers, their shared context and the manager that runs them.

pub mod account_binding;
pub mod api_key;
pub mod backoff;
pub mod children;
pub mod conditions;
pub mod document;
pub mod domain_name;
pub mod error;
pub mod events;
pub mod leader;
pub mod memo;
pub mod metrics;
pub mod outcome;
pub mod owned;
pub mod ownership;
pub mod permissions;
pub mod preempt;
pub mod reasons;
pub mod rest_api;
pub mod stages;
pub mod structure;
pub mod tenancy;
#[cfg(test)]
pub mod test_support;
pub mod usage_plan;
pub mod websocket_api;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};

pub use error::Error;

use crate::aws::Aws;

/// Controller settings, from flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch only this namespace; None watches all (unless `namespaces` is set).
    pub namespace: Option<String>,
    /// Watch only these namespaces, each with watches of its own (so the operator
    /// needs Roles only there).
    pub namespaces: Vec<String>,
    /// Period of the resync that finds drift made behind the operator's back.
    pub resync: Duration,
    /// Reconciles running at once per kind.
    pub concurrency: u16,
    /// Longest wait between retries of a failing object.
    pub max_backoff: Duration,
    /// Refuse objects of namespaces no AwsAccountBinding matches, instead of using
    /// the operator's own identity for them.
    pub require_binding: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: None,
            namespaces: Vec::new(),
            resync: Duration::from_secs(600),
            concurrency: 4,
            max_backoff: Duration::from_secs(300),
            require_binding: false,
        }
    }
}

/// What every reconcile gets: what all share, and the AWS clients, allow-lists and
/// management policy of the object's tenant.
pub struct Context {
    shared: Arc<Shared>,
    pub aws: Arc<Aws>,
    pub access: crate::plan::access::Access,
    pub policy: crate::api::common::ManagementPolicy,
    /// ObserveOnly: the changes the operator would make.
    planned: Option<Arc<Mutex<Vec<String>>>>,
    /// Made by `scoped` for one object (its account and region are known).
    pub scoped: bool,
    /// The object's turn in its account's queue, held while this context lives.
    _turn: Option<Arc<tokio::sync::OwnedSemaphorePermit>>,
}

impl std::ops::Deref for Context {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// What every controller shares.
pub struct Shared {
    /// For requests (reads, writes, events, the lease).
    pub client: Client,
    /// For watches and the lists that start them.
    pub watch_client: Client,
    pub events: Arc<events::Publisher>,
    /// AwsAccountBindings, the clients made for them, per-account limiters.
    pub tenancy: Arc<tenancy::Tenancy>,
    pub settings: Settings,
    /// Consecutive failures per object, for exponential backoff.
    pub backoff: backoff::Backoff,
    /// When this process first saw each RestApi's deployable fingerprint (by uid).
    config_seen: Mutex<std::collections::HashMap<String, (String, String)>>,
    /// Objects (by uid) whose status this pass already changed (a progress
    /// write): the end of the pass writes its status even if it equals the old one.
    status_written: Mutex<std::collections::HashSet<String>>,
    /// The resourceVersion our last status write of each object returned (by uid).
    /// A pass that starts from a cached copy older than that write (its watch
    /// event has not arrived yet) reads the object again: acting on a status we
    /// already replaced would, for instance, make a second WebSocket route response
    /// whose first id is in the newer status (moto takes a second one silently).
    status_versions: Mutex<std::collections::HashMap<String, u64>>,
    /// The function policies this process verified, so converged APIs are not
    /// read again on every pass.
    pub policies: permissions::PolicyMemo,
    /// Each RestApi's settings as last read and found converged (by uid).
    pub rest_apis: memo::Memo<String, rest_api::KnownRestApi>,
    /// The REST APIs of each account and region (by (region, account)), as the
    /// last GetRestApis listed them, for resyncs; the lock makes one pass list.
    pub rest_api_listings: memo::Memo<(String, Option<String>), rest_api::ApiListing>,
    pub rest_api_listing_lock: tokio::sync::Mutex<()>,
    /// Each REST API's deployments as the last pass that listed them left them (by
    /// API id), its own creations and deletions included.
    pub deployments: memo::Memo<String, Vec<crate::plan::stage::ObservedDeployment>>,
    /// Each API's models and validators as last found converged (by API id): the
    /// models wanted then, and the validators' ids by name.
    pub models: memo::Memo<String, (String, std::collections::BTreeMap<String, String>)>,
    /// Set once the CRDs are found and the controllers run (`/readyz`).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Whether this replica holds the leader Lease (`/metrics`).
    pub leader: Arc<std::sync::atomic::AtomicBool>,
    /// Reconciles by kind, for `/metrics`.
    pub reconciles: Arc<metrics::ReconcileStats>,
}

impl Context {
    pub fn new(clients: impl Into<KubeClients>, aws: Arc<Aws>, settings: Settings) -> Arc<Context> {
        let KubeClients {
            requests: client,
            watches: watch_client,
        } = clients.into();
        let events = Arc::new(events::Publisher::new(
            client.clone(),
            "apigw-operator",
            std::env::var("POD_NAME").ok(),
        ));
        let tenancy = Arc::new(tenancy::Tenancy::new(
            aws.clone(),
            settings.require_binding,
            usize::from(settings.concurrency),
        ));
        Arc::new(Context {
            shared: Arc::new(Shared {
                client,
                watch_client,
                events,
                tenancy,
                backoff: backoff::Backoff::new(settings.max_backoff),
                config_seen: Mutex::default(),
                status_written: Mutex::default(),
                status_versions: Mutex::default(),
                policies: Default::default(),
                rest_apis: Default::default(),
                models: Default::default(),
                deployments: Default::default(),
                rest_api_listings: Default::default(),
                rest_api_listing_lock: Default::default(),
                settings,
                ready: Arc::default(),
                leader: Arc::default(),
                reconciles: Default::default(),
            }),
            aws,
            access: crate::plan::access::Access::unrestricted(),
            policy: Default::default(),
            planned: None,
            scoped: false,
            _turn: None,
        })
    }

    /// The context of one object's reconcile: its tenant's clients (per account
    /// and region), allow-lists and management policy. Paused objects get no
    /// context: nothing may be called in AWS for them.
    pub async fn scoped(
        &self,
        kind: &'static str,
        namespace: &str,
        placement: &tenancy::Placement,
    ) -> Result<Context, Error> {
        use crate::api::common::ManagementPolicy;
        let scope = self.tenancy.scope(namespace, placement).await?;
        let turn = self.tenancy.turn(kind, &scope.aws).await;
        let (aws, planned) = match scope.policy {
            ManagementPolicy::Paused => return Err(Error::Paused("")),
            ManagementPolicy::Full => (scope.aws, None),
            ManagementPolicy::ObserveOnly => {
                let planned: Arc<Mutex<Vec<String>>> = Arc::default();
                (
                    Arc::new(scope.aws.observe_only(planned.clone())),
                    Some(planned),
                )
            }
        };
        Ok(Context {
            shared: self.shared.clone(),
            aws,
            access: scope.access,
            policy: scope.policy,
            planned,
            scoped: true,
            _turn: Some(Arc::new(turn)),
        })
    }

    /// The same controllers' context for one namespace of a `namespaces` list:
    /// shared tenancy, metrics, readiness and leadership, watches of its own.
    fn for_namespace(&self, namespace: &str) -> Arc<Context> {
        let shared = &self.shared;
        let mut settings = shared.settings.clone();
        settings.namespace = Some(namespace.to_string());
        settings.namespaces = Vec::new();
        Arc::new(Context {
            shared: Arc::new(Shared {
                client: shared.client.clone(),
                watch_client: shared.watch_client.clone(),
                events: shared.events.clone(),
                tenancy: shared.tenancy.clone(),
                backoff: backoff::Backoff::new(settings.max_backoff),
                config_seen: Mutex::default(),
                status_written: Mutex::default(),
                status_versions: Mutex::default(),
                policies: Default::default(),
                rest_apis: Default::default(),
                models: Default::default(),
                deployments: Default::default(),
                rest_api_listings: Default::default(),
                rest_api_listing_lock: Default::default(),
                settings,
                ready: shared.ready.clone(),
                leader: shared.leader.clone(),
                reconciles: shared.reconciles.clone(),
            }),
            aws: self.aws.clone(),
            access: self.access.clone(),
            policy: self.policy,
            planned: None,
            scoped: false,
            _turn: None,
        })
    }

    /// This context with every AWS write withheld (the cleanup of a retained object
    /// whose tenant scope is refused).
    fn withholding(&self) -> Context {
        Context {
            shared: self.shared.clone(),
            aws: Arc::new(self.aws.observe_only(Arc::default())),
            access: self.access.clone(),
            policy: crate::api::common::ManagementPolicy::ObserveOnly,
            planned: None,
            scoped: false,
            _turn: None,
        }
    }

    /// ObserveOnly: the changes noted so far (None in Full).
    pub fn planned_changes(&self) -> Option<Vec<String>> {
        self.planned.as_ref().map(|p| p.lock().unwrap().clone())
    }
}

impl Shared {
    pub fn mark_status_written(&self, uid: &str) {
        self.status_written.lock().unwrap().insert(uid.to_string());
    }

    /// Forget what this process remembers of a deleted object.
    pub fn forget(&self, uid: &str) {
        self.config_seen.lock().unwrap().remove(uid);
        self.rest_apis.forget(uid);
        self.status_written.lock().unwrap().remove(uid);
        self.status_versions.lock().unwrap().remove(uid);
    }

    /// Remember the resourceVersion a status write of object `uid` returned.
    pub fn note_status_version(&self, uid: &str, resource_version: Option<&str>) {
        if let Some(version) = resource_version.and_then(|v| v.parse::<u64>().ok()) {
            let mut versions = self.status_versions.lock().unwrap();
            let known = versions.entry(uid.to_string()).or_default();
            *known = (*known).max(version);
        }
    }

    /// Whether a copy of object `uid` at `resource_version` predates our last status
    /// write of it. resourceVersions are opaque to clients in principle; the API
    /// server's are etcd revisions, ordered integers, and anything else is taken
    /// as current (no extra read).
    pub fn predates_our_write(&self, uid: &str, resource_version: Option<&str>) -> bool {
        let written = self.status_versions.lock().unwrap().get(uid).copied();
        predates(resource_version, written)
    }

    /// Whether this pass wrote the object's status already; forgets it.
    pub fn take_status_written(&self, uid: &str) -> bool {
        self.status_written.lock().unwrap().remove(uid)
    }

    /// The time `fingerprint` of object `uid` first appeared: now, unless this
    /// process saw it already. A status read from a cache that missed our last
    /// write (a watch on a dead connection) would otherwise get a new change time
    /// on every pass, and a Stage waiting for the structure to settle would wait
    /// for ever.
    pub fn changed_at(&self, uid: &str, fingerprint: &str) -> String {
        let mut seen = self.config_seen.lock().unwrap();
        match seen.get(uid) {
            Some((known, at)) if known == fingerprint => at.clone(),
            _ => {
                let at = conditions::now_rfc3339();
                seen.insert(uid.to_string(), (fingerprint.to_string(), at.clone()));
                at
            }
        }
    }
    /// Api handle for a namespaced kind in the object's namespace.
    pub fn api_in<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Publish an Event (a repeat of the same note within six minutes raises the
    /// count of the first, see `events`); failures to publish are logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let published = self
            .events
            .publish(obj.object_ref(&()), type_, reason, action, &note)
            .await;
        if let Err(e) = published {
            tracing::warn!(error = %e, reason, "could not publish event");
        }
    }
}

/// One reconcile of `obj`, counted in the metrics; a success, or a failure after
/// writes to AWS (progress), resets its backoff. It starts from the API server's
/// copy when the cached one predates our own last status write. A deletion of
/// the object seen meanwhile preempts it ([`preempt`]): the cleanup runs next.
async fn reconciled<K, F>(
    kind: &'static str,
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: impl FnOnce(Arc<K>, Arc<Context>) -> F,
) -> Result<Action, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    F: Future<Output = Result<Action, Error>>,
{
    let obj = current_copy(obj, &ctx).await?;
    let key = backoff::Backoff::key(obj.as_ref());
    let uid = obj.meta().uid.clone().unwrap_or_default();
    // A cleanup is what a deletion asks for: it is never preempted.
    let running = obj
        .meta()
        .deletion_timestamp
        .is_none()
        .then(|| preempt::passes().start(&uid));
    let calls = Arc::new(crate::aws::PassCalls::default());
    // The pass is boxed where it is made: a reconcile is a large future, and each
    // wrapper below would otherwise move it through a worker's stack again.
    let pass = crate::aws::in_pass(
        calls.clone(),
        ctx.reconciles.measure(
            kind,
            obj.as_ref(),
            Box::pin(reconcile(obj.clone(), ctx.clone())),
        ),
    );
    let result = match &running {
        Some(running) => {
            tokio::select! {
                result = pass => result,
                () = running.preempted.notified() => {
                    tracing::info!(object = %key, writes = calls.writes(), "deleted during its pass: the pass stops, the cleanup follows");
                    Ok(Action::requeue(Duration::ZERO))
                }
            }
        }
        None => pass.await,
    };
    if result.is_ok() || calls.writes() > 0 {
        ctx.backoff.succeeded(&key);
    }
    result
}

/// Whether a copy at `resource_version` is older than the version `written`
/// returned; a version that is not an integer is taken as current.
fn predates(resource_version: Option<&str>, written: Option<u64>) -> bool {
    match (
        resource_version.and_then(|v| v.parse::<u64>().ok()),
        written,
    ) {
        (Some(version), Some(written)) => version < written,
        _ => false,
    }
}

async fn current_copy<K>(obj: Arc<K>, ctx: &Context) -> Result<Arc<K>, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let meta = obj.meta();
    let uid = meta.uid.as_deref().unwrap_or_default();
    if !ctx.predates_our_write(uid, meta.resource_version.as_deref()) {
        return Ok(obj);
    }
    let api: Api<K> = ctx.api_in(meta.namespace.as_deref().unwrap_or_default());
    match api
        .get_opt(meta.name.as_deref().unwrap_or_default())
        .await
        .map_err(Error::kube("read the object again"))?
    {
        Some(fresh) if fresh.meta().uid.as_deref() == Some(uid) => {
            tracing::debug!(resource_version = ?fresh.meta().resource_version, "cached copy predates our status write; read again");
            Ok(Arc::new(fresh))
        }
        // Gone or recreated: the cached copy's deletion path decides.
        _ => Ok(obj),
    }
}

/// Shared error policy: conflicts retry at once, other retryable errors back off
/// exponentially per object; terminal ones already set a condition and wait for
/// the spec to change.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = backoff::Backoff::key(obj.as_ref());
    if err.is_conflict() {
        let delay = ctx.backoff.after(&key, err);
        tracing::debug!(object = %key, error = %err, retry_in = ?delay, "write conflict; retrying");
        Action::requeue(delay)
    } else if err.is_retryable() {
        let delay = ctx.backoff.after(&key, err);
        tracing::warn!(object = %key, error = %err, retry_in = ?delay, "reconcile failed; will retry");
        Action::requeue(delay)
    } else if err.rechecked_at_resync() {
        tracing::warn!(object = %key, error = %err, retry_in = ?ctx.settings.resync, "reconcile failed; looking again at the resync");
        Action::requeue(ctx.settings.resync)
    } else {
        tracing::warn!(object = %key, error = %err, "reconcile failed; waiting for a spec change");
        Action::await_change()
    }
}

/// Fail early, with an install hint, when a CRD is missing.
async fn ensure_crd<K>(api: &Api<K>) -> anyhow::Result<()>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default().limit(1)).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot list {}: {e}. Are the CRDs installed? Run: apigw-operator crds | kubectl apply --server-side -f -",
            K::plural(&())
        )
    })?;
    Ok(())
}

/// How long the API server keeps one watch open before the client starts the next
/// (from the last resourceVersion, so no relist). Short, so that a watch silent
/// for `WATCH_READ_TIMEOUT` can be taken for a dead connection: a dead watch is
/// found within 30 s, not after the default 295 s.
pub const WATCH_TIMEOUT_SECS: u32 = 20;

/// Longest silence on a watch before its connection is taken for dead (an API
/// server that went away without closing it, a load balancer that dropped it).
/// Above the watch timeout, so a healthy but quiet watch always ends first.
pub const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for an answer to a request (a read, a status patch) before its
/// connection is taken for dead; counted from the request, not from when a pooled
/// connection went idle. Short, and apart from the watches' clock: a request sent
/// into a dead connection just before the API server comes back holds its object's
/// reconcile for this long, and changes must be picked up within 30 s of the return.
pub const KUBE_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The operator's two Kubernetes clients, one connection pool each: requests give a
/// silent connection up after `KUBE_READ_TIMEOUT`, watches after
/// `WATCH_READ_TIMEOUT`. Connects and writes that hang are given up after 10 s.
#[derive(Clone)]
pub struct KubeClients {
    pub requests: Client,
    pub watches: Client,
}

/// One client for both (the tests' clients, which have no timeouts of their own).
impl From<Client> for KubeClients {
    fn from(client: Client) -> KubeClients {
        KubeClients {
            requests: client.clone(),
            watches: client,
        }
    }
}

pub fn kube_clients(config: kube::Config) -> Result<KubeClients, kube::Error> {
    let with_read_timeout = |read_timeout| {
        let mut config = config.clone();
        config.read_timeout = Some(read_timeout);
        config.reset_reader_on_write = true;
        config.connect_timeout = Some(Duration::from_secs(10));
        config.write_timeout = Some(Duration::from_secs(10));
        Client::try_from(config)
    };
    Ok(KubeClients {
        requests: with_read_timeout(KUBE_READ_TIMEOUT)?,
        watches: with_read_timeout(WATCH_READ_TIMEOUT)?,
    })
}

/// The watcher settings of every watch the operator runs. Lists are consistent
/// reads (`resourceVersion=""`), as client-go does after a watch expired: a list
/// served from a just-restarted API server's watch cache can carry a
/// resourceVersion older than the cache keeps, and the watch from it then fails
/// with 410 Expired on every retry, for ever (seen with kube-apiserver 1.34).
/// Lists happen only at start and after such an expiry, so the cost is small.
/// A watch of `api` with the operator's config and retry delays; its 410s go to
/// [`backoff::watch_trouble`].
pub fn watch<K>(
    api: Api<K>,
) -> impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    use futures::TryStreamExt;
    use kube::runtime::WatchStreamExt;
    watcher(api, watch_config())
        .inspect_err(|e| backoff::watch_trouble().saw(e, std::time::Instant::now()))
        .backoff(backoff::WatchBackoff::default())
}

pub fn watch_config() -> watcher::Config {
    watcher::Config::default()
        .timeout(WATCH_TIMEOUT_SECS)
        .list_semantic(watcher::ListSemantic::MostRecent)
}

fn watched_api<K>(ctx: &Context) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match &ctx.settings.namespace {
        Some(ns) => Api::namespaced(ctx.watch_client.clone(), ns),
        None => Api::all(ctx.watch_client.clone()),
    }
}

/// Whether a child changed in a way a reconcile must see (spec, deletion,
/// finalizers); status writes, which the operator makes itself, do not count.
fn child_spec_hash<K: Resource>(obj: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    child_trigger_hash(obj).hash(&mut h);
    obj.meta().finalizers.hash(&mut h);
    Some(h.finish())
}

/// Whether a child changed in a way its API's reconciler or its own reference
/// reconciler must see: its spec or its deletion. Status writes and finalizers
/// are the operator's own doing (the API's pass adds a finalizer and goes on in
/// the same pass), so they wake neither: a new Route of a new API costs one
/// reference pass, not one per write made to it.
fn child_trigger_hash<K: Resource>(obj: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    obj.meta().generation.hash(&mut h);
    obj.meta().deletion_timestamp.is_some().hash(&mut h);
    Some(h.finish())
}

/// A subscription to a shared watch, passing an object only when `hash` of it
/// changed since this subscription last passed it: the predicate filter of a
/// shared stream. Entries not seen for an hour are dropped (an object seen again
/// after that wakes its consumer once more, which is harmless).
fn changes_by<K: Resource + Send + Sync + 'static>(
    subscription: impl futures::Stream<Item = Arc<K>> + Send + 'static,
    hash: fn(&K) -> Option<u64>,
) -> impl futures::Stream<Item = Arc<K>> + Send + 'static {
    use futures::StreamExt;
    const FORGET_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);
    let mut seen: std::collections::HashMap<String, (u64, std::time::Instant)> =
        std::collections::HashMap::new();
    let mut passes = 0u32;
    subscription.filter(move |obj| {
        passes = passes.wrapping_add(1);
        if passes.is_multiple_of(1024) {
            seen.retain(|_, (_, at)| at.elapsed() < FORGET_AFTER);
        }
        let changed = match (obj.meta().uid.clone(), hash(obj)) {
            (Some(uid), Some(h)) => seen
                .insert(uid, (h, std::time::Instant::now()))
                .is_none_or(|(before, _)| before != h),
            _ => true,
        };
        std::future::ready(changed)
    })
}

/// What no controller reads of a watched object, dropped before the store keeps
/// it: managed fields (often larger than the spec) and kubectl's copy of the last
/// applied manifest.
fn slim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(annotations) = obj.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A namespaced kind the operator watches and keeps in a store.
pub trait Watched:
    Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Watched for K where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// Every change of a kind, kept slim in the store the stream fills (returned, for
/// the controller and its mappers).
fn stored_changes<K>(
    ctx: &Context,
) -> (
    kube::runtime::reflector::Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Watched,
{
    use futures::TryStreamExt;
    use kube::runtime::WatchStreamExt;
    let (reader, writer) = kube::runtime::reflector::store();
    let changes = watch(watched_api::<K>(ctx))
        .modify(slim)
        .reflect(writer)
        .applied_objects()
        .inspect_ok(|obj: &K| {
            if obj.meta().deletion_timestamp.is_some()
                && let Some(uid) = obj.meta().uid.as_deref()
                && preempt::passes().deleted(uid)
            {
                tracing::debug!(uid, "deletion seen during a pass");
            }
        });
    (reader, changes)
}

/// The changes of a kind whose reconciler writes its own status and reads AWS on
/// every pass: spec, deletion and finalizers wake it, its own status writes do not
/// (resyncs come from requeues).
fn own_changes<K>(
    ctx: &Context,
) -> (
    kube::runtime::reflector::Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Watched,
{
    use kube::runtime::WatchStreamExt;
    let (reader, changes) = stored_changes::<K>(ctx);
    (
        reader,
        changes.predicate_filter(child_spec_hash::<K>, Default::default()),
    )
}

/// What of a Stage matters to the objects that refer to it (DomainName,
/// UsagePlan): its spec, deletion and finalizers, and the AWS stage its status
/// resolved to; not its condition messages, which change on every pass while an
/// automatic deployment waits out its debounce.
fn stage_reference_hash(stage: &crate::api::Stage) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    child_spec_hash(stage).hash(&mut h);
    if let Some(s) = &stage.status {
        (&s.rest_api_id, &s.web_socket_api_id, &s.deployment_id).hash(&mut h);
    }
    Some(h.finish())
}

fn parent_of<K: children::Child>(
    child: Arc<K>,
) -> Option<kube::runtime::reflector::ObjectRef<crate::api::RestApi>> {
    let ns = child.meta().namespace.clone()?;
    let name = children::Child::rest_api_name(child.as_ref())?;
    Some(kube::runtime::reflector::ObjectRef::new(name).within(&ns))
}

type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// How long watches may keep losing their place before the controllers start again
/// with new ones: the pickup the operator promises after the API server returns
/// is 30 s.
const STUCK_WATCH: Duration = Duration::from_secs(15);

/// Resolves once watches have been desynced (410) for [`STUCK_WATCH`]. Retrying a
/// watch does not always cure it: after an API server restarted in place,
/// relisted watches met 410 "too old resource version" on every resume for
/// minutes, while watches started afresh worked at once (which is why a leader
/// that lost its lease over the outage recovered and a lone replica did not).
async fn stuck_watches() {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(failing) = backoff::watch_trouble().longest_run(std::time::Instant::now())
            && failing >= STUCK_WATCH
        {
            tracing::warn!(
                failing_for = ?failing,
                "watches keep losing their place (410 Gone); restarting the controllers with fresh watches"
            );
            return;
        }
    }
}

/// Run every controller until `shutdown` resolves; restart them when watches are
/// stuck.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let scopes: Vec<Arc<Context>> = if ctx.settings.namespaces.is_empty() {
        vec![ctx.clone()]
    } else {
        ctx.settings
            .namespaces
            .iter()
            .map(|ns| ctx.for_namespace(ns))
            .collect()
    };
    for scope in &scopes {
        ensure_crds(scope).await?;
    }
    ensure_crd(&Api::<crate::api::AwsAccountBinding>::all(
        ctx.client.clone(),
    ))
    .await?;
    let config = controller::Config::default().concurrency(ctx.settings.concurrency);
    tracing::info!(namespace = ?ctx.settings.namespace, namespaces = ?ctx.settings.namespaces, "controllers starting");
    ctx.ready.store(true, std::sync::atomic::Ordering::Relaxed);

    use futures::FutureExt;
    let shutdown: StopSignal = Box::pin(shutdown);
    let shutdown = shutdown.shared();
    // Bindings and namespace labels are read once for all namespaces, by
    // reflectors that outlive a restart of the controllers.
    let bindings_changed = account_binding::reflectors(&ctx);
    loop {
        let restart = Arc::new(tokio::sync::Notify::new());
        let stop: StopSignal = Box::pin({
            let (shutdown, restart) = (shutdown.clone(), restart.clone());
            async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = restart.notified() => {}
                }
            }
        });
        let stop = stop.shared();
        let binding_status = account_binding::controller(&ctx, config.clone(), stop.clone());
        let kinds = futures::future::join_all(scopes.iter().map(|scope| {
            kind_controllers(
                scope.clone(),
                config.clone(),
                stop.clone(),
                bindings_changed.clone(),
            )
        }));
        let watchdog = async {
            tokio::select! {
                _ = shutdown.clone() => false,
                () = stuck_watches() => {
                    restart.notify_one();
                    true
                }
            }
        };
        let ((), _, restarting) = futures::join!(binding_status, kinds, watchdog);
        if !restarting {
            break;
        }
        backoff::watch_trouble().clear();
        tracing::warn!("controllers restarted with fresh watches");
    }
    tracing::info!("controllers stopped");
    Ok(())
}

async fn ensure_crds(ctx: &Context) -> anyhow::Result<()> {
    use crate::api::{
        ApiKey, Authorizer, DomainName, RestApi, Route, Stage, UsagePlan, WebSocketApi,
    };
    ensure_crd(&watched_api::<RestApi>(ctx)).await?;
    ensure_crd(&watched_api::<Route>(ctx)).await?;
    ensure_crd(&watched_api::<Authorizer>(ctx)).await?;
    ensure_crd(&watched_api::<Stage>(ctx)).await?;
    ensure_crd(&watched_api::<DomainName>(ctx)).await?;
    ensure_crd(&watched_api::<UsagePlan>(ctx)).await?;
    ensure_crd(&watched_api::<ApiKey>(ctx)).await?;
    ensure_crd(&watched_api::<WebSocketApi>(ctx)).await
}

/// One watch of a kind that several controllers follow, with one store: each
/// controller takes a subscription before the watch starts (Stages were watched
/// five times, Routes and Authorizers twice).
struct SharedWatch<K: Watched> {
    reader: kube::runtime::reflector::Store<K>,
    writer: kube::runtime::reflector::store::Writer<K>,
}

/// Objects a slow subscriber may fall behind by before the watch waits for it.
const SHARED_BUFFER: usize = 1024;

impl<K: Watched> SharedWatch<K> {
    fn new() -> Self {
        let (reader, writer) = kube::runtime::reflector::store_shared(SHARED_BUFFER);
        SharedWatch { reader, writer }
    }

    /// Every object the watch applies, from the store.
    fn subscribe(&self) -> kube::runtime::reflector::ReflectHandle<K> {
        self.writer
            .subscribe()
            .expect("a store made by store_shared has subscriptions")
    }

    /// A subscription with the store, for a controller of the kind itself.
    fn subscription(
        &self,
    ) -> (
        kube::runtime::reflector::ReflectHandle<K>,
        kube::runtime::reflector::Store<K>,
    ) {
        (self.subscribe(), self.reader.clone())
    }

    /// The watch itself, until `shutdown`: the subscriptions see nothing unless it runs.
    async fn run(self, ctx: Arc<Context>, shutdown: impl Future<Output = ()>) {
        use futures::StreamExt;
        use kube::runtime::WatchStreamExt;
        let watching = watch(watched_api::<K>(&ctx))
            .modify(slim)
            .reflect_shared(self.writer)
            .for_each(|event| {
                if let Err(e) = event {
                    tracing::warn!(kind = std::any::type_name::<K>(), error = %e, "watch error");
                }
                std::future::ready(())
            });
        futures::pin_mut!(watching);
        futures::pin_mut!(shutdown);
        futures::future::select(watching, shutdown).await;
    }
}

/// The controllers of every namespaced kind, watching what `ctx` watches.
async fn kind_controllers(
    ctx: Arc<Context>,
    config: controller::Config,
    shutdown: futures::future::Shared<std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
    bindings_changed: tokio::sync::watch::Receiver<u64>,
) {
    use crate::api::{Authorizer, RestApi, Route, Stage};
    let bindings_changed = &bindings_changed;
    let (route_watch, authorizer_watch, stage_watch) = (
        SharedWatch::<Route>::new(),
        SharedWatch::<Authorizer>::new(),
        SharedWatch::<Stage>::new(),
    );
    // The kinds that call AWS queue their work per (kind, account, region) in
    // `Context::scoped` (`--concurrency` turns each), not here: a controller-wide
    // limit would let one account's backlog, waiting on its own quota, hold every
    // slot while another account's first object waits behind it.
    let per_account = config.clone().concurrency(0);
    let (reader, rest_api_changes) = own_changes::<RestApi>(&ctx);
    let by_document = reader.clone();
    let rest_api_controller = serve(
        Controller::for_stream(rest_api_changes, reader)
            .with_config(per_account.clone())
            .reconcile_all_on(binding_changes(bindings_changed))
            .watches_shared_stream(
                changes_by(route_watch.subscribe(), child_trigger_hash::<Route>),
                parent_of::<Route>,
            )
            .watches_shared_stream(
                changes_by(
                    authorizer_watch.subscribe(),
                    child_trigger_hash::<Authorizer>,
                ),
                parent_of::<Authorizer>,
            )
            .watches_shared_stream(
                changes_by(stage_watch.subscribe(), child_trigger_hash::<Stage>),
                parent_of::<Stage>,
            )
            .watches_stream(document_changes(&ctx), move |config_map| {
                naming(&by_document, &config_map, |api: &RestApi, name| {
                    api.spec
                        .openapi
                        .as_ref()
                        .and_then(|o| o.config_map_ref.as_ref())
                        .is_some_and(|r| r.name == name)
                })
            }),
        "RestApi",
        rest_api::reconcile,
        &ctx,
        shutdown.clone(),
    );
    let routes = reference_controller(
        &ctx,
        route_watch.subscription(),
        config.clone(),
        shutdown.clone(),
    );
    let authorizers = reference_controller(
        &ctx,
        authorizer_watch.subscription(),
        config.clone(),
        shutdown.clone(),
    );
    let stages = reference_controller(
        &ctx,
        stage_watch.subscription(),
        config.clone(),
        shutdown.clone(),
    );
    let stage_references = || changes_by(stage_watch.subscribe(), stage_reference_hash);
    let domains = domain_name_controller(
        &ctx,
        stage_references(),
        per_account.clone(),
        shutdown.clone(),
        bindings_changed,
    );
    let usage_plans = usage_plan_controller(
        &ctx,
        stage_references(),
        per_account.clone(),
        shutdown.clone(),
        bindings_changed,
    );
    let api_keys = api_key_controller(
        &ctx,
        per_account.clone(),
        shutdown.clone(),
        bindings_changed,
    );
    let websocket_apis = websocket_api_controller(
        &ctx,
        changes_by(stage_watch.subscribe(), child_trigger_hash::<Stage>),
        per_account,
        shutdown.clone(),
        bindings_changed,
    );
    // Every subscription is taken: the shared watches may start.
    let watches = futures::future::join3(
        route_watch.run(ctx.clone(), shutdown.clone()),
        authorizer_watch.run(ctx.clone(), shutdown.clone()),
        stage_watch.run(ctx.clone(), shutdown),
    );
    futures::join!(
        watches,
        rest_api_controller,
        websocket_apis,
        routes,
        authorizers,
        stages,
        domains,
        usage_plans,
        api_keys
    );
}

/// ConfigMaps, as metadata only (the operator keeps no ConfigMap data): a change
/// wakes the RestApis whose OpenAPI document it holds.
fn document_changes(
    ctx: &Context,
) -> impl futures::Stream<
    Item = Result<
        kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::ConfigMap>,
        watcher::Error,
    >,
> + Send
+ 'static {
    use kube::runtime::WatchStreamExt;
    watch(watched_api::<
        kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::ConfigMap>,
    >(ctx))
    .touched_objects()
}

/// The objects of `store` in `changed`'s namespace that name it (by `names`): whom
/// a change of a Stage, UsagePlan, Secret or ConfigMap wakes.
fn naming<K, O>(
    store: &kube::runtime::reflector::Store<K>,
    changed: &O,
    names: impl Fn(&K, &str) -> bool,
) -> Vec<kube::runtime::reflector::ObjectRef<K>>
where
    K: Watched,
    O: Resource,
{
    let namespace = changed.meta().namespace.as_deref();
    let name = changed.meta().name.as_deref().unwrap_or_default();
    store
        .state()
        .into_iter()
        .filter(|obj| obj.meta().namespace.as_deref() == namespace && names(obj, name))
        .map(|obj| kube::runtime::reflector::ObjectRef::from_obj(obj.as_ref()))
        .collect()
}

/// WebSocketApis: the one writer of each API and of its Stages, woken by changes of
/// those Stages. Like the RestApi, its own status writes do not wake it.
fn websocket_api_controller(
    ctx: &Arc<Context>,
    stage_changes: impl futures::Stream<Item = Arc<crate::api::Stage>> + Send + 'static,
    config: controller::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    bindings_changed: &tokio::sync::watch::Receiver<u64>,
) -> impl Future<Output = ()> {
    use crate::api::{Stage, WebSocketApi};
    use kube::runtime::reflector::ObjectRef;
    let (reader, api_changes) = own_changes::<WebSocketApi>(ctx);
    serve(
        Controller::for_stream(api_changes, reader)
            .with_config(config)
            .reconcile_all_on(binding_changes(bindings_changed))
            .watches_shared_stream(stage_changes, |stage: Arc<Stage>| {
                let ns = stage.meta().namespace.clone()?;
                match children::Child::parent(stage.as_ref()) {
                    children::Parent::WebSocketApi(name) => {
                        Some(ObjectRef::<WebSocketApi>::new(name).within(&ns))
                    }
                    children::Parent::RestApi(_) => None,
                }
            }),
        "WebSocketApi",
        websocket_api::reconcile,
        ctx,
        shutdown,
    )
}

/// DomainNames, woken also by changes of the Stages they map (a Stage that appears
/// or gets its first deployment lets a waiting mapping converge).
fn domain_name_controller(
    ctx: &Arc<Context>,
    stage_changes: impl futures::Stream<Item = Arc<crate::api::Stage>> + Send + 'static,
    config: controller::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    bindings_changed: &tokio::sync::watch::Receiver<u64>,
) -> impl Future<Output = ()> {
    use crate::api::{DomainName, Stage};
    let (reader, domain_changes) = own_changes::<DomainName>(ctx);
    let store = reader.clone();
    serve(
        Controller::for_stream(domain_changes, reader)
            .with_config(config)
            .reconcile_all_on(binding_changes(bindings_changed))
            .watches_shared_stream(stage_changes, move |stage: Arc<Stage>| {
                naming(&store, stage.as_ref(), |d: &DomainName, name| {
                    domain_name::referenced_stages(d).any(|s| s == name)
                })
            }),
        "DomainName",
        domain_name::reconcile,
        ctx,
        shutdown,
    )
}

fn reference_controller<K: children::Child>(
    ctx: &Arc<Context>,
    (changes, reader): (
        kube::runtime::reflector::ReflectHandle<K>,
        kube::runtime::reflector::Store<K>,
    ),
    config: controller::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    // Only spec changes and deletion wake it: the statuses the API's reconciler
    // writes say nothing this reconciler answers.
    serve(
        Controller::for_shared_stream(changes_by(changes, child_trigger_hash::<K>), reader)
            .with_config(config),
        K::KIND,
        children::reconcile_reference::<K>,
        ctx,
        shutdown,
    )
}

/// UsagePlans, woken by changes of the Stages they name (a Stage getting its first
/// deployment binds it).
fn usage_plan_controller(
    ctx: &Arc<Context>,
    stage_changes: impl futures::Stream<Item = Arc<crate::api::Stage>> + Send + 'static,
    config: controller::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    bindings_changed: &tokio::sync::watch::Receiver<u64>,
) -> impl Future<Output = ()> {
    use crate::api::{Stage, UsagePlan};
    let (reader, plan_changes) = own_changes::<UsagePlan>(ctx);
    let store = reader.clone();
    serve(
        Controller::for_stream(plan_changes, reader)
            .with_config(config)
            .reconcile_all_on(binding_changes(bindings_changed))
            .watches_shared_stream(stage_changes, move |stage: Arc<Stage>| {
                naming(&store, stage.as_ref(), |p: &UsagePlan, name| {
                    p.spec.stages.iter().any(|s| s.stage_ref.name == name)
                })
            }),
        "UsagePlan",
        usage_plan::reconcile,
        ctx,
        shutdown,
    )
}

/// ApiKeys, woken by changes of the UsagePlans they name and of the Secrets holding
/// their values (watched as metadata only: the operator never caches Secret data).
fn api_key_controller(
    ctx: &Arc<Context>,
    config: controller::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    bindings_changed: &tokio::sync::watch::Receiver<u64>,
) -> impl Future<Output = ()> {
    use crate::api::{ApiKey, UsagePlan};
    use k8s_openapi::api::core::v1::Secret;
    use kube::core::PartialObjectMeta;
    use kube::runtime::WatchStreamExt;
    let (reader, key_changes) = own_changes::<ApiKey>(ctx);
    let (by_plan, by_secret) = (reader.clone(), reader.clone());
    let keys = Controller::for_stream(key_changes, reader);
    let secrets = watch(watched_api::<PartialObjectMeta<Secret>>(ctx)).touched_objects();
    serve(
        keys.with_config(config)
            .reconcile_all_on(binding_changes(bindings_changed))
            .watches_stream(
                watch(watched_api::<UsagePlan>(ctx)).touched_objects(),
                move |plan: UsagePlan| {
                    naming(&by_plan, &plan, |k: &ApiKey, name| {
                        k.spec.usage_plan_refs.iter().any(|r| r.name == name)
                    })
                },
            )
            .watches_stream(secrets, move |secret: PartialObjectMeta<Secret>| {
                naming(&by_secret, &secret, |k: &ApiKey, name| {
                    k.spec
                        .value
                        .as_ref()
                        .is_some_and(|v| v.secret_ref.name == name)
                        || k.spec
                            .generated_secret
                            .as_ref()
                            .is_some_and(|g| g.name == name)
                })
            }),
        "ApiKey",
        api_key::reconcile,
        ctx,
        shutdown,
    )
}

/// How every controller runs: until `shutdown`, each reconcile through
/// [`reconciled`] (metrics, backoff reset, stale-copy guard), failures through
/// [`error_policy`], and what the run reports through [`log_result`].
fn serve<K, R, F>(
    controller: Controller<K>,
    kind: &'static str,
    reconcile: R,
    ctx: &Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> + Send
where
    K: Watched,
    R: FnMut(Arc<K>, Arc<Context>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Action, Error>> + Send + 'static,
{
    controller
        .graceful_shutdown_on(shutdown)
        .run(
            move |obj, ctx| reconciled(kind, obj, ctx, reconcile.clone()),
            error_policy,
            ctx.clone(),
        )
        .for_each(log_result)
}

/// Each change of a binding (or of a namespace's labels) reconciles every object of
/// a kind: which account and allow-lists apply may have changed. Bindings change
/// rarely, and a converged object's pass costs only reads.
fn binding_changes(
    rx: &tokio::sync::watch::Receiver<u64>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    let mut rx = rx.clone();
    rx.mark_unchanged();
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
}

/// What a controller's run reports besides reconcile results: a watch or queue
/// error is a warning (the API server is unreachable or refuses the watch); a
/// failed reconcile was already logged, with its object, by the error policy.
async fn log_result<T: std::fmt::Debug, R: std::error::Error, Q: std::error::Error>(
    res: Result<T, controller::Error<R, Q>>,
) {
    match res {
        Err(controller::Error::QueueError(e)) => {
            tracing::warn!(error = %e, "watch failed; retrying")
        }
        Err(e) => tracing::debug!(error = %e, "reconcile loop event"),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::predates;

    #[test]
    fn a_copy_older_than_our_status_write_is_read_again() {
        assert!(predates(Some("41"), Some(42)));
        assert!(!predates(Some("42"), Some(42)));
        assert!(!predates(Some("57"), Some(42)), "newer than our write");
        assert!(!predates(Some("41"), None), "nothing written by us");
        assert!(
            !predates(Some("opaque-v1"), Some(42)),
            "not an etcd revision"
        );
        assert!(!predates(None, Some(42)));
    }
}
