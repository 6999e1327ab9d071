//! Which AWS account, region, allow-lists and management policy an object lives
//! under: resolved from the AwsAccountBindings once per reconcile, before any AWS
//! call, for every kind that owns AWS resources. Clients are cached per (role,
//! region) and limiters per (account, region), because that is where AWS's quotas
//! live.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};

use super::Error;
use crate::api::account_binding::{AwsAccountBinding, AwsAccountBindingSpec};
use crate::api::common::ManagementPolicy;
use crate::aws::assume_role::{AssumedRole, RoleToAssume, account_of_role};
use crate::aws::{Aws, Limiter};
use crate::plan::access::{Access, binding_for, region_for};

/// Where an object says it wants to live, and where its status says it lives.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub region: Option<String>,
    pub policy: Option<ManagementPolicy>,
    /// (account, region) recorded in status, when the object has AWS resources
    /// (None inside: not recorded, as by versions before bindings).
    pub recorded: Option<(Option<String>, Option<String>)>,
}

/// What one reconcile works with.
#[derive(Clone, Debug)]
pub struct Scope {
    pub aws: Arc<Aws>,
    pub access: Access,
    pub policy: ManagementPolicy,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    role: Option<RoleToAssume>,
    region: String,
}

/// The writing ends of the binding and namespace stores.
pub type StoreWriters = (
    Writer<AwsAccountBinding>,
    Writer<PartialObjectMeta<Namespace>>,
);

/// The bindings, the clients made for them and the per-account limiters.
pub struct Tenancy {
    base: Arc<Aws>,
    require_binding: bool,
    pub bindings: Store<AwsAccountBinding>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    writers: Mutex<Option<StoreWriters>>,
    /// Once started, the reflectors filling the stores run as long as the Tenancy
    /// lives (across restarts of the controllers after a lost lease); the receiver
    /// is bumped on every change that can change a scope.
    reflectors: Mutex<Option<(tokio::sync::watch::Receiver<u64>, tokio::task::AbortHandle)>>,
    clients: Mutex<HashMap<ClientKey, Arc<Aws>>>,
    limiters: Mutex<BTreeMap<(String, String), Arc<Limiter>>>,
    /// Failed AssumeRole attempts by binding, for `/metrics`.
    assume_failures: Mutex<BTreeMap<String, u64>>,
    /// Reconciles that may work in one account and region at once, per kind.
    turns_per_account: usize,
    /// The queues of work, one per (kind, account, region): see `turn`.
    turns: Mutex<HashMap<TurnKey, Arc<tokio::sync::Semaphore>>>,
}

/// (kind, account, region): one queue of work.
type TurnKey = (&'static str, String, String);

impl Drop for Tenancy {
    fn drop(&mut self) {
        if let Some((_, task)) = self.reflectors.lock().unwrap().take() {
            task.abort();
        }
    }
}

impl Tenancy {
    pub fn new(base: Arc<Aws>, require_binding: bool, turns_per_account: usize) -> Tenancy {
        let (bindings, binding_writer) = kube::runtime::reflector::store();
        let (namespaces, namespace_writer) = kube::runtime::reflector::store();
        Tenancy {
            base,
            require_binding,
            bindings,
            namespaces,
            writers: Mutex::new(Some((binding_writer, namespace_writer))),
            reflectors: Mutex::default(),
            clients: Mutex::default(),
            limiters: Mutex::default(),
            assume_failures: Mutex::default(),
            turns_per_account: turns_per_account.max(1),
            turns: Mutex::default(),
        }
    }

    /// Wait for a turn to work in `aws`'s account and region (held until the
    /// permit drops). Work is queued per (kind, account, region), not per kind:
    /// a reconcile waiting on its account's AWS quota holds a turn of its own
    /// account only, so one tenant's bulk apply never delays another account's
    /// first call.
    pub async fn turn(&self, kind: &'static str, aws: &Aws) -> tokio::sync::OwnedSemaphorePermit {
        let key = (
            kind,
            aws.known_account().unwrap_or_default().to_string(),
            aws.region.clone(),
        );
        let queue = self
            .turns
            .lock()
            .unwrap()
            .entry(key)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.turns_per_account)))
            .clone();
        queue
            .acquire_owned()
            .await
            .expect("the turn semaphores are never closed")
    }

    /// The operator's own clients.
    pub fn base(&self) -> &Arc<Aws> {
        &self.base
    }

    /// The change counter of the running reflectors, starting them with `start`
    /// (given the stores' writers) on the first call.
    pub fn reflectors<F>(
        &self,
        start: impl FnOnce(StoreWriters) -> (tokio::sync::watch::Receiver<u64>, F),
    ) -> tokio::sync::watch::Receiver<u64>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut running = self.reflectors.lock().unwrap();
        if let Some((changed, _)) = running.as_ref() {
            return changed.clone();
        }
        let writers = self
            .writers
            .lock()
            .unwrap()
            .take()
            .expect("the store writers are taken only here");
        let (changed, run) = start(writers);
        let task = tokio::spawn(run).abort_handle();
        *running = Some((changed.clone(), task));
        changed
    }

    /// The binding of a namespace, or why there is none to use.
    pub fn binding_of(
        &self,
        namespace: &str,
    ) -> Result<Option<(String, AwsAccountBindingSpec)>, Error> {
        // A namespace the reflector has not seen yet (created together with the
        // object) may carry the labels a binding selects: never judged unbound.
        let labels = self
            .namespaces
            .get(&ObjectRef::new(namespace))
            .ok_or_else(|| Error::Kube {
                operation: "read namespace labels",
                source: kube::Error::Service(
                    format!("namespace {namespace} is not in the namespace cache yet").into(),
                ),
            })?
            .metadata
            .labels
            .clone()
            .unwrap_or_default();
        let bindings = self.bindings.state();
        let named: Vec<(String, &AwsAccountBindingSpec)> = bindings
            .iter()
            .filter(|b| b.metadata.deletion_timestamp.is_none())
            .map(|b| (b.metadata.name.clone().unwrap_or_default(), &b.spec))
            .collect();
        match binding_for(
            namespace,
            &labels,
            named.iter().map(|(n, s)| (n.as_str(), *s)),
        ) {
            Ok(found) => Ok(found.map(|(n, s)| (n.to_string(), s.clone()))),
            Err(names) => Err(Error::AccountBindingConflict(format!(
                "namespace {namespace} is matched by AwsAccountBindings {}; a namespace may be bound once: \
                 narrow their namespaces or namespaceSelector",
                names.join(" and ")
            ))),
        }
    }

    /// Resolve the scope of an object in `namespace`.
    pub async fn scope(&self, namespace: &str, placement: &Placement) -> Result<Scope, Error> {
        self.wait_for_stores().await?;
        let binding = self.binding_of(namespace)?;
        if binding.is_none() && self.require_binding {
            return Err(Error::NoAccountBinding(format!(
                "no AwsAccountBinding matches namespace {namespace}, and the operator requires one \
                 (--require-account-binding): nothing is called in AWS until the platform team binds it"
            )));
        }
        let policy = placement
            .policy
            .or_else(|| binding.as_ref().and_then(|(_, s)| s.management_policy))
            .unwrap_or_default();
        // Paused means no AWS call at all, not even AssumeRole.
        if policy == ManagementPolicy::Paused {
            return Err(Error::Paused(""));
        }
        let binding_ref = binding.as_ref().map(|(n, s)| (n.as_str(), s));
        let region = region_for(placement.region.as_deref(), binding_ref, &self.base.region)
            .map_err(Error::RegionNotAllowed)?;
        let role = binding.as_ref().and_then(|(_, spec)| {
            spec.role_arn.as_ref().map(|arn| RoleToAssume {
                role_arn: arn.clone(),
                external_id: spec.external_id.clone(),
                session_name: RoleToAssume::session_name_for(namespace),
            })
        });
        let binding_name = binding.as_ref().map(|(n, _)| n.as_str()).unwrap_or("");
        let aws = self.client(role, &region, binding_name).await?;
        let access = match &binding {
            Some((name, spec)) => Access::from_binding(name, spec),
            None => Access::unrestricted(),
        };
        if let Some((account, old_region)) = &placement.recorded {
            // Objects from before bindings existed record no location: their
            // resources are where the operator's own identity and region put them.
            let base_account = self.base.account_id().await?.to_string();
            let account = account.as_deref().unwrap_or(&base_account);
            let old_region = old_region.as_deref().unwrap_or(&self.base.region);
            let now = aws.known_account().unwrap_or_default();
            if account != now || old_region != region {
                return Err(Error::AccountChanged(format!(
                    "this object's AWS resources are in account {account} region {old_region}, but its \
                     namespace now maps to account {now} region {region}; the operator neither makes a \
                     second copy nor leaves the first behind: restore the AwsAccountBinding, or delete \
                     this object with deletionPolicy: Retain and create it again"
                )));
            }
        }
        // Every write of this scope is judged at the gate by the binding's lists,
        // whatever code path builds it.
        let aws = match &binding {
            Some(_) => Arc::new(aws.gated(access.clone())),
            None => aws,
        };
        Ok(Scope {
            aws,
            access,
            policy,
        })
    }

    /// Reconciles start before the first list of bindings may have arrived; a
    /// namespace judged unbound meanwhile would act in the wrong account.
    pub async fn wait_for_stores(&self) -> Result<(), Error> {
        let ready = async {
            let _ = self.bindings.wait_until_ready().await;
            let _ = self.namespaces.wait_until_ready().await;
        };
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .map_err(|_| Error::Kube {
                operation: "list AwsAccountBindings and Namespaces",
                source: kube::Error::Service("the first list did not arrive within 30 s".into()),
            })
    }

    /// Clients for a role (None: the operator's identity) in a region, made once.
    async fn client(
        &self,
        role: Option<RoleToAssume>,
        region: &str,
        binding: &str,
    ) -> Result<Arc<Aws>, Error> {
        let key = ClientKey {
            role: role.clone(),
            region: region.to_string(),
        };
        if let Some(found) = self.clients.lock().unwrap().get(&key) {
            return Ok(found.clone());
        }
        let base_account = self.base.account_id().await?.to_string();
        self.limiters
            .lock()
            .unwrap()
            .entry((base_account.clone(), self.base.region.clone()))
            .or_insert_with(|| self.base.limiter());
        let aws = match role {
            None if region == self.base.region => self.base.clone(),
            None => {
                let limiter = self.limiter(&base_account, region);
                Arc::new(self.base.derive(region, None, Some(base_account), limiter))
            }
            Some(role) => {
                let account = account_of_role(&role.role_arn)
                    .unwrap_or_default()
                    .to_string();
                let provider = AssumedRole {
                    base: self.base.clone(),
                    role: role.clone(),
                };
                // Assumed once here, so a role that cannot be assumed is a clear
                // condition rather than a failure inside some later call.
                if let Err(e) = provider.provide_credentials().await {
                    *self
                        .assume_failures
                        .lock()
                        .unwrap()
                        .entry(binding.to_string())
                        .or_default() += 1;
                    return Err(Error::AssumeRoleFailed {
                        role: role.role_arn.clone(),
                        binding: binding.to_string(),
                        message: std::error::Error::source(&e)
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| e.to_string()),
                    });
                }
                let limiter = self.limiter(&account, region);
                Arc::new(self.base.derive(
                    region,
                    Some(SharedCredentialsProvider::new(provider)),
                    Some(account),
                    limiter,
                ))
            }
        };
        self.clients.lock().unwrap().insert(key, aws.clone());
        Ok(aws)
    }

    fn limiter(&self, account: &str, region: &str) -> Arc<Limiter> {
        self.limiters
            .lock()
            .unwrap()
            .entry((account.to_string(), region.to_string()))
            .or_insert_with(|| Arc::new(Limiter::new(&self.base.limits)))
            .clone()
    }

    /// (account, region) -> limiter, for `/metrics`.
    pub fn limiters(&self) -> Vec<((String, String), Arc<Limiter>)> {
        self.limiters
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn assume_failures(&self) -> BTreeMap<String, u64> {
        self.assume_failures.lock().unwrap().clone()
    }
}

/// A kind that owns AWS resources and so lives in a tenant's account and region.
pub trait Tenant {
    fn placement(&self) -> Placement;
    /// Whether the status records an AWS resource of the object.
    fn has_resource(&self) -> bool;
    /// Whether deleting the object leaves its AWS resources (effective
    /// deletionPolicy Retain).
    fn retains(&self) -> bool;
    /// The object as if its spec said `deletionPolicy: Retain` (deleting an
    /// ObserveOnly object leaves AWS as it is).
    fn retained(&self) -> Self;
}

macro_rules! tenant {
    ($kind:ty, |$status:ident| $has_resource:expr, |$spec:ident| $retain:expr, |$obj:ident| $retains:expr) => {
        impl Tenant for $kind {
            fn retains(&self) -> bool {
                let $obj = self;
                $retains
            }
            fn has_resource(&self) -> bool {
                self.status.as_ref().is_some_and(|$status| $has_resource)
            }
            fn placement(&self) -> Placement {
                let recorded = self.status.as_ref().and_then(|$status| {
                    ($has_resource).then(|| {
                        (
                            $status.tenant.account_id.clone(),
                            $status.tenant.region.clone(),
                        )
                    })
                });
                Placement {
                    region: self.spec.tenant.region.clone(),
                    policy: self.spec.tenant.management_policy,
                    recorded,
                }
            }
            fn retained(&self) -> Self {
                let mut copy = self.clone();
                let $spec = &mut copy.spec;
                $retain;
                copy
            }
        }
    };
}

use crate::api::common::DeletionPolicy;
use crate::api::{ApiKey, DomainName, RestApi, UsagePlan, WebSocketApi};
use crate::plan::ownership::deletion_policy;

tenant!(
    RestApi,
    |s| s.rest_api_id.is_some(),
    |spec| spec.deletion_policy = Some(DeletionPolicy::Retain),
    |o| deletion_policy(o.spec.deletion_policy, o.spec.rest_api_id.is_some())
        == DeletionPolicy::Retain
);
tenant!(
    WebSocketApi,
    |s| s.api_id.is_some(),
    |spec| spec.deletion_policy = Some(DeletionPolicy::Retain),
    |o| deletion_policy(o.spec.deletion_policy, o.spec.api_id.is_some()) == DeletionPolicy::Retain
);
tenant!(
    DomainName,
    |s| s.target.is_some() || s.adopted,
    |spec| spec.deletion_policy = Some(DeletionPolicy::Retain),
    |o| deletion_policy(
        o.spec.deletion_policy,
        o.status.as_ref().is_some_and(|s| s.adopted)
    ) == DeletionPolicy::Retain
);
tenant!(
    UsagePlan,
    |s| s.usage_plan_id.is_some(),
    |spec| spec.deletion_policy = DeletionPolicy::Retain,
    |o| o.spec.deletion_policy == DeletionPolicy::Retain
);
tenant!(
    ApiKey,
    |s| s.api_key_id.is_some(),
    |spec| spec.deletion_policy = DeletionPolicy::Retain,
    |o| o.spec.deletion_policy == DeletionPolicy::Retain
);

/// A referenced object's AWS location must be the referrer's: a usage plan binds
/// stages, a domain maps stages, a key joins usage plans of its own account and
/// region. `what` names the referenced object ("Stage prod of RestApi photos");
/// `account`/`region` are what its status records (None: not recorded yet).
pub fn same_location(
    ctx: &super::Context,
    what: &str,
    account: Option<&str>,
    region: Option<&str>,
) -> Result<(), Error> {
    let here_account = ctx.aws.known_account();
    let here_region = ctx.aws.region.as_str();
    let account_differs = matches!((account, here_account), (Some(a), Some(b)) if a != b);
    let region_differs = region.is_some_and(|r| r != here_region);
    if account_differs || region_differs {
        return Err(Error::LocationMismatch(format!(
            "{what} lives in account {} region {}, but this object lives in account {} region {here_region}: \
             it can only use what is in its own account and region (set spec.region to match)",
            account.unwrap_or("?"),
            region.unwrap_or("?"),
            here_account.unwrap_or("?"),
        )));
    }
    Ok(())
}

/// The recorded location of a Stage's API (RestApi or WebSocketApi), for
/// `same_location`.
pub async fn stage_api_location(
    ctx: &super::Context,
    namespace: &str,
    stage: &crate::api::Stage,
) -> Result<(String, Option<String>, Option<String>), Error> {
    if let Some(api) = &stage.spec.rest_api_ref {
        let found = ctx
            .api_in::<RestApi>(namespace)
            .get_opt(&api.name)
            .await
            .map_err(Error::kube("get RestApi"))?;
        let status = found.and_then(|a| a.status);
        return Ok((
            format!("RestApi {}", api.name),
            status.as_ref().and_then(|s| s.tenant.account_id.clone()),
            status.and_then(|s| s.tenant.region),
        ));
    }
    if let Some(api) = &stage.spec.web_socket_api_ref {
        let found = ctx
            .api_in::<WebSocketApi>(namespace)
            .get_opt(&api.name)
            .await
            .map_err(Error::kube("get WebSocketApi"))?;
        let status = found.and_then(|a| a.status);
        return Ok((
            format!("WebSocketApi {}", api.name),
            status.as_ref().and_then(|s| s.tenant.account_id.clone()),
            status.and_then(|s| s.tenant.region),
        ));
    }
    Ok((String::new(), None, None))
}
