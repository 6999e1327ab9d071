//! The Helm chart (`charts/apigw-operator`): linted, rendered with default and
//! non-default values, and the rendering applied with `kubectl apply
//! --dry-run=server` to the real API server, which checks every field of every
//! built-in kind exactly. Also: wrong values fail with values.schema.json's
//! message, the chart's CRDs are the repository's, every flag of `apigw-operator
//! run` is wired with the binary's own default, and the RBAC grants exactly what
//! the code uses.
//!
//! Needs `helm` and `kubectl` on PATH and KUBECONFIG (`scripts/test-env install
//! helm`, `scripts/test-env up`, `eval "$(scripts/test-env env)"`; `scripts/test`
//! does all of it).

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{Value, json};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/apigw-operator");
/// helm built from source assumes an old Kubernetes unless told (TEST-PLANE.md).
const KUBE_VERSION: &str = "1.34.0";
const HELM_HINT: &str = "helm tests need helm on PATH: run `scripts/test-env install helm` and \
     `eval \"$(scripts/test-env env)\"`, or run everything with `scripts/test`";

/// Non-default values touching every optional part of the chart.
const CUSTOM_VALUES: &str = r#"
replicas: 2
watchNamespace: WATCH_NS
aws:
  region: eu-west-1
  endpointUrl: http://moto.example:5000
  maxAttempts: 5
  rateLimit: "5/20"
  lambdaRateLimit: "10/10"
  operationLimits:
    CreateDeployment: "0.1/1"
    DeleteRestApi: "0.02/1"
resyncPeriod: 5m
concurrency: 8
leaderElection:
  enabled: true
  namespace: WATCH_NS
  leaseName: apigw-operator-b
  leaseDuration: 20s
logFormat: json
logLevel: info,apigw_operator=debug
metrics:
  port: 9090
  serviceMonitor:
    enabled: true
    labels: {release: kube-prometheus-stack}
serviceAccount:
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/apigw-operator
extraEnv:
  - {name: AWS_STS_REGIONAL_ENDPOINTS, value: regional}
"#;

/// Run a program with optional stdin; (success, stdout, stderr).
fn run(program: &str, args: &[&str], stdin: Option<&str>, hint: &str) -> (bool, String, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; {hint}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `helm template` with values from stdin; the rendered documents, or helm's error.
fn render(release: &str, namespace: &str, values: &str) -> Result<Vec<Value>, String> {
    let (ok, stdout, stderr) = run(
        "helm",
        &[
            "template",
            release,
            CHART,
            "--namespace",
            namespace,
            "--kube-version",
            KUBE_VERSION,
            "--values",
            "-",
        ],
        Some(values),
        HELM_HINT,
    );
    if !ok {
        return Err(format!("{stderr}{stdout}"));
    }
    Ok(serde_yaml::Deserializer::from_str(&stdout)
        .map(|doc| Value::deserialize(doc).expect("helm renders valid YAML"))
        .filter(|v| !v.is_null())
        .collect())
}

fn render_ok(release: &str, namespace: &str, values: &str) -> Vec<Value> {
    render(release, namespace, values).unwrap_or_else(|e| panic!("helm template failed:\n{e}"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(docs: &[Value]) -> Vec<String> {
    container(docs)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// A throwaway namespace on the shared test API server, deleted when dropped.
struct Namespace(String);

impl Namespace {
    fn new(prefix: &str) -> Namespace {
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 1_000_000;
        let name = format!("t-helm-{prefix}-{suffix}");
        let (ok, out, err) = kubectl(&["create", "namespace", &name], None);
        assert!(ok, "kubectl create namespace {name}: {out}{err}");
        Namespace(name)
    }
}

impl Drop for Namespace {
    /// The test control plane runs no namespace controller, so a deleted
    /// namespace would stay Terminating for ever. Nothing was ever stored in
    /// these (dry runs only), so finalizing them directly is what that
    /// controller would do.
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "namespace", &self.0, "--wait=false"], None);
        let finalized = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.0},
            "spec": {"finalizers": []},
        });
        let _ = kubectl(
            &[
                "replace",
                "--raw",
                &format!("/api/v1/namespaces/{}/finalize", self.0),
                "-f",
                "-",
            ],
            Some(&finalized.to_string()),
        );
    }
}

fn kubectl(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let kubeconfig = common::env("KUBECONFIG");
    let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
    all.extend_from_slice(args);
    run(
        "kubectl",
        &all,
        stdin,
        "kubectl must be on PATH: eval \"$(scripts/test-env env)\"",
    )
}

/// `kubectl apply --dry-run=server` of documents as one List: the API server
/// validates every field (strict field validation), RBAC escalation rules,
/// namespaces and the PDB/Service/Deployment specs, and persists nothing.
fn server_dry_run(docs: &[&Value]) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    let (ok, out, err) = kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=helm-test",
            "--dry-run=server",
            "-f",
            "-",
        ],
        Some(&list.to_string()),
    );
    assert!(ok, "server dry run rejected the chart:\n{err}\n{out}");
    let applied = out
        .lines()
        .filter(|l| l.ends_with(" serverside-applied (server dry run)"))
        .count();
    assert_eq!(applied, docs.len(), "every object in the dry run:\n{out}");
}

/// The chart's CRDs must exist on the server before anything refers to them;
/// the shared harness applies the same CRDs (equal to crds/ by
/// `chart_crds_are_the_repository_crds` and tests/crds.rs).
async fn ensure_crds() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    // And the chart's crds/ file itself is what the server accepts as a CRD update.
    let crds = std::fs::read_to_string(format!("{CHART}/crds/apigw.rs.yaml")).unwrap();
    let (ok, out, err) = kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=helm-test",
            "--dry-run=server",
            "-f",
            "-",
        ],
        Some(&crds),
    );
    assert!(ok, "chart CRDs rejected:\n{err}\n{out}");
}

#[test]
fn chart_lints_strictly() {
    for (what, values) in [("default", ""), ("custom", CUSTOM_VALUES)] {
        let values = values.replace("WATCH_NS", "team-a");
        let (ok, out, err) = run(
            "helm",
            &[
                "lint",
                "--strict",
                "--kube-version",
                KUBE_VERSION,
                CHART,
                "--values",
                "-",
            ],
            Some(&values),
            HELM_HINT,
        );
        assert!(ok, "helm lint --strict ({what} values):\n{out}{err}");
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_values_pass_a_server_dry_run() {
    ensure_crds().await;
    let ns = Namespace::new("default");
    let docs = render_ok("apigw-operator", &ns.0, "");
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        "default values: no PodDisruptionBudget with one replica, no ServiceMonitor"
    );
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = container(&docs);
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(
        c["image"],
        format!("apigw-operator:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        c["env"][0],
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    );
    assert!(c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object());
    let service = one(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    server_dry_run(&docs.iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_values_pass_a_server_dry_run() {
    ensure_crds().await;
    let release_ns = Namespace::new("ops");
    let watch_ns = Namespace::new("team");
    let docs = render_ok(
        "apigw",
        &release_ns.0,
        &CUSTOM_VALUES.replace("WATCH_NS", &watch_ns.0),
    );
    // A watch namespace means no cluster-wide grant at all.
    let k = kinds(&docs);
    assert!(
        !k.contains("ClusterRole") && !k.contains("ClusterRoleBinding"),
        "{k:?}"
    );
    let roles = of_kind(&docs, "Role");
    assert!(
        roles
            .iter()
            .any(|r| r["metadata"]["namespace"] == watch_ns.0.as_str()),
        "a Role in the watched namespace"
    );

    let a = args(&docs);
    for expected in [
        format!("--namespace={}", watch_ns.0),
        "--aws-region=eu-west-1".into(),
        "--aws-endpoint-url=http://moto.example:5000".into(),
        "--aws-operation-limits=CreateDeployment=0.1/1,DeleteRestApi=0.02/1".into(),
        "--metrics-addr=0.0.0.0:9090".into(),
        "--log-format=json".into(),
        "--log-level=info,apigw_operator=debug".into(),
    ] {
        assert!(a.contains(&expected), "{expected} not in {a:?}");
    }
    let c = container(&docs);
    assert_eq!(c["ports"][0]["containerPort"], 9090);
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "AWS_STS_REGIONAL_ENDPOINTS"),
        "extraEnv"
    );

    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert!(
        deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"].is_object(),
        "two replicas prefer different nodes"
    );
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    let sa = one(&docs, "ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/apigw-operator"
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        sa["metadata"]["name"]
    );

    // The ServiceMonitor's CRD is not on the test server: check it by hand and
    // leave it out of the dry run.
    let service = one(&docs, "Service");
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([release_ns.0])
    );
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "the ServiceMonitor selects the metrics Service ({key})"
        );
    }
    assert_eq!(service["spec"]["ports"][0]["name"], "metrics");

    let rest: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] != "ServiceMonitor")
        .collect();
    server_dry_run(&rest);
}

#[test]
fn wrong_values_fail_with_the_schema_message() {
    let cases = [
        ("replicas: -1", "at '/replicas': minimum: got -1, want 0"),
        (
            "logFormat: xml",
            "at '/logFormat': value must be one of 'text', 'json'",
        ),
        ("replcas: 2", "additional properties 'replcas' not allowed"),
        (
            "resyncPeriod: 1m30s",
            "at '/resyncPeriod': '1m30s' does not match pattern",
        ),
        (
            "resyncPeriod: 0s",
            "at '/resyncPeriod': '0s' does not match pattern",
        ),
        (
            "aws: {rateLimit: '0/5'}",
            "at '/aws/rateLimit': '0/5' does not match pattern",
        ),
        (
            "aws: {operationLimits: {CreateDeployment: fast}}",
            "at '/aws/operationLimits/CreateDeployment'",
        ),
        ("aws: {region: Europe}", "at '/aws/region'"),
        ("aws: {endpointUrl: 'moto:5000'}", "at '/aws/endpointUrl'"),
        ("watchNamespace: Team_A", "at '/watchNamespace'"),
        (
            "concurrency: 0",
            "at '/concurrency': minimum: got 0, want 1",
        ),
        ("metrics: {port: 70000}", "at '/metrics/port': maximum"),
        (
            "serviceAccount: {annotations: {eks.amazonaws.com/role-arn: 12}}",
            "got number, want string",
        ),
    ];
    for (values, message) in cases {
        match render("apigw-operator", "apigw-system", values) {
            Ok(_) => panic!("{values:?} was accepted"),
            Err(e) => {
                assert!(
                    e.contains("values don't meet the specifications of the schema"),
                    "{values:?} failed, but not by the schema: {e}"
                );
                assert!(
                    e.contains(message),
                    "{values:?}: expected {message:?} in:\n{e}"
                );
            }
        }
    }
    // And the boundary values the schema must accept.
    for values in [
        "replicas: 0",
        "resyncPeriod: '30'",
        "resyncPeriod: 500ms",
        "resyncPeriod: 1.5h",
        "aws: {rateLimit: '0.5', region: us-gov-west-1, endpointUrl: 'https://apigateway.eu-west-1.amazonaws.com'}",
        "aws: {operationLimits: {CreateDeployment: '.2/1'}}",
    ] {
        render("apigw-operator", "apigw-system", values)
            .unwrap_or_else(|e| panic!("{values:?} rejected: {e}"));
    }
}

/// Helm installs crds/ as they are; they must be the generated CRDs (which
/// tests/crds.rs holds equal to the binary's), byte for byte.
#[test]
fn chart_crds_are_the_repository_crds() {
    let root = env!("CARGO_MANIFEST_DIR");
    let repo = std::fs::read(format!("{root}/crds/apigw.rs.yaml")).unwrap();
    let chart = std::fs::read(format!("{CHART}/crds/apigw.rs.yaml")).unwrap();
    assert!(
        repo == chart,
        "charts/apigw-operator/crds/apigw.rs.yaml differs from crds/apigw.rs.yaml: \
         cp crds/apigw.rs.yaml charts/apigw-operator/crds/"
    );
    let entries: Vec<_> = std::fs::read_dir(format!("{CHART}/crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, ["apigw.rs.yaml"], "nothing else in crds/");
}

/// The chart deploys the operator version of this checkout by default.
#[test]
fn chart_app_version_is_the_crate_version() {
    let chart: Value =
        serde_yaml::from_str(&std::fs::read_to_string(format!("{CHART}/Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion must be Cargo.toml's version"
    );
}

/// Every flag of `apigw-operator run` can be set from values, and with default
/// values the chart passes exactly the binary's own defaults (so the chart's
/// values.yaml documents the real behaviour). Read from clap itself, so a new
/// flag fails here until the chart wires it.
#[test]
fn every_operator_flag_is_wired_with_the_binary_default() {
    use clap::Args;
    let cmd = apigw_operator::config::RunArgs::augment_args(clap::Command::new("run"));
    let defaults = args(&render_ok("apigw-operator", "apigw-system", ""));
    let custom = args(&render_ok(
        "apigw-operator",
        "apigw-system",
        &CUSTOM_VALUES.replace("WATCH_NS", "team-a"),
    ));
    assert_eq!(defaults[0], "run");
    let value_of = |args: &[String], flag: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{flag}=")).map(str::to_string))
    };
    let mut flags = BTreeSet::new();
    for arg in cmd.get_arguments() {
        let Some(flag) = arg.get_long() else { continue };
        if matches!(flag, "help" | "version") {
            continue;
        }
        flags.insert(flag.to_string());
        // In a pod the operator uses its ServiceAccount; a kubeconfig flag is for
        // running outside the cluster.
        if flag == "kubeconfig" {
            assert!(value_of(&custom, flag).is_none());
            continue;
        }
        assert!(
            value_of(&custom, flag).is_some(),
            "--{flag} cannot be set from the chart's values (custom args: {custom:?})"
        );
        let binary_default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        match binary_default.as_slice() {
            [] => assert!(
                value_of(&defaults, flag).is_none(),
                "--{flag} has no default in the binary, so default values must not set it"
            ),
            [d] => assert_eq!(
                value_of(&defaults, flag).as_deref(),
                Some(d.as_str()),
                "--{flag}: values.yaml default differs from the binary's"
            ),
            many => panic!("--{flag} has several defaults {many:?}"),
        }
    }
    assert_eq!(custom[0], "run");
    for a in defaults[1..].iter().chain(&custom[1..]) {
        let flag = a
            .strip_prefix("--")
            .and_then(|a| a.split_once('='))
            .map(|(f, _)| f)
            .unwrap_or_else(|| panic!("argument {a:?} is not --flag=value"));
        assert!(
            flags.contains(flag),
            "the chart passes unknown flag --{flag}"
        );
    }
}

/// What src/controller asks of the API server, per (API group, resource), and
/// why. The chart's RBAC must grant exactly this.
///
/// - list, watch: every kind is watched (`watcher` in controller/mod.rs:
///   the RestApi controller, `child_changes`, `reference_controller`); list also
///   by `ensure_crd` (limit 1) and `children::list_children`.
/// - get: `children.rs` reads the parent RestApi or WebSocketApi (`get_opt`). For the other
///   kinds and for /status, get reaches nothing list does not already return
///   (whole objects, status included); it is granted so a single-object read
///   never fails at run time.
/// - patch: finalizers (kube-runtime `finalizer()` JSON patch for RestApis in
///   controller/rest_api.rs, `children::patch_finalizers` merge patch) and
///   status (server-side apply through `patch_status` in rest_api.rs and
///   children.rs). Never create, update or delete: the operator does not write
///   spec or make objects of these kinds.
/// - events: kube-runtime's `Recorder::publish` creates an events.k8s.io Event
///   and patches it when it repeats.
/// - secrets (controller/api_key.rs): get reads the value of the Secret an ApiKey
///   names (`read_secret_value`) and the generated Secret (`write_generated_secret`);
///   list and watch are the metadata-only watch that wakes ApiKeys when a value
///   changes (`api_key_controller` in controller/mod.rs); create writes a value AWS
///   generated into a new Secret owned by the ApiKey, patch corrects it. No update
///   or delete: the generated Secret goes with its ApiKey by garbage collection.
fn code_uses() -> BTreeSet<(String, String, String)> {
    const KINDS: [&str; 8] = [
        "restapis",
        "routes",
        "authorizers",
        "stages",
        "domainnames",
        "usageplans",
        "apikeys",
        "websocketapis",
    ];
    let mut uses = BTreeSet::new();
    let mut add = |group: &str, resource: &str, verbs: &[&str]| {
        for verb in verbs {
            uses.insert((group.to_string(), resource.to_string(), verb.to_string()));
        }
    };
    for kind in KINDS {
        add("apigw.rs", kind, &["get", "list", "watch", "patch"]);
        add("apigw.rs", &format!("{kind}/status"), &["get", "patch"]);
    }
    add("events.k8s.io", "events", &["create", "patch"]);
    add("", "secrets", &["get", "list", "watch", "create", "patch"]);
    uses
}

/// Leader election on the Lease `apigw-operator` in the release namespace:
/// create it once, then get and update (renew, take over) that one Lease.
/// (group, resource, verb, resourceNames)
fn leader_election_uses() -> BTreeSet<(String, String, String, Vec<String>)> {
    let lease = |verb: &str, names: &[&str]| {
        (
            "coordination.k8s.io".to_string(),
            "leases".to_string(),
            verb.to_string(),
            names.iter().map(|n| n.to_string()).collect(),
        )
    };
    [
        lease("create", &[]),
        lease("get", &["apigw-operator"]),
        lease("update", &["apigw-operator"]),
    ]
    .into_iter()
    .collect()
}

/// Flatten a role's rules to (group, resource, verb, resourceNames); any
/// wildcard or non-resource URL fails the test outright.
fn grants(role: &Value) -> BTreeSet<(String, String, String, Vec<String>)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(rule.get("nonResourceURLs").is_none(), "{rule}");
        let names = strings(&rule["resourceNames"]);
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    assert!(
                        group != "*" && resource != "*" && verb != "*",
                        "wildcard in {rule}"
                    );
                    out.insert((group.clone(), resource.clone(), verb, names.clone()));
                }
            }
        }
    }
    out
}

/// Equal sets, or a message naming what is granted beyond the code's use and
/// what the code uses but is not granted.
fn assert_exactly<T: Ord + std::fmt::Debug>(granted: &BTreeSet<T>, used: &BTreeSet<T>, what: &str) {
    let extra: Vec<_> = granted.difference(used).collect();
    let missing: Vec<_> = used.difference(granted).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: granted but not used by the code: {extra:?}; used but not granted: {missing:?}"
    );
}

fn without_names(
    g: BTreeSet<(String, String, String, Vec<String>)>,
) -> BTreeSet<(String, String, String)> {
    g.into_iter()
        .map(|(group, resource, verb, names)| {
            assert!(
                names.is_empty(),
                "unexpected resourceNames {names:?} on {resource}"
            );
            (group, resource, verb)
        })
        .collect()
}

#[test]
fn rbac_grants_exactly_what_the_code_uses() {
    // All namespaces: one ClusterRole for the watched kinds, the Lease in a Role.
    let release_ns = "apigw-system";
    let docs = render_ok("apigw-operator", release_ns, "");
    let cluster_role = one(&docs, "ClusterRole");
    assert_exactly(
        &without_names(grants(cluster_role)),
        &code_uses(),
        "ClusterRole",
    );
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], cluster_role["metadata"]["name"]);
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": release_ns}])
    );
    let lease_role = one(&docs, "Role");
    assert_eq!(lease_role["metadata"]["namespace"], release_ns);
    assert_exactly(
        &grants(lease_role),
        &leader_election_uses(),
        "leader-election Role",
    );
    let lease_binding = one(&docs, "RoleBinding");
    assert_eq!(
        lease_binding["roleRef"]["name"],
        lease_role["metadata"]["name"]
    );
    assert_eq!(lease_binding["subjects"], binding["subjects"]);

    // One namespace: the same rules in a Role there, nothing cluster-wide.
    let docs = render_ok("apigw-operator", release_ns, "watchNamespace: team-a");
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());
    let roles = of_kind(&docs, "Role");
    assert_eq!(roles.len(), 2);
    for role in roles {
        let binding = of_kind(&docs, "RoleBinding")
            .into_iter()
            .find(|b| b["roleRef"]["name"] == role["metadata"]["name"])
            .expect("each Role is bound");
        assert_eq!(
            binding["metadata"]["namespace"],
            role["metadata"]["namespace"]
        );
        assert_eq!(binding["subjects"][0]["namespace"], release_ns);
        if role["metadata"]["namespace"] == "team-a" {
            assert_exactly(
                &without_names(grants(role)),
                &code_uses(),
                "Role in the watched namespace",
            );
        } else {
            assert_eq!(role["metadata"]["namespace"], release_ns);
            assert_exactly(
                &grants(role),
                &leader_election_uses(),
                "leader-election Role",
            );
        }
    }

    // rbac.create=false leaves RBAC to the platform.
    let docs = render_ok("apigw-operator", release_ns, "rbac: {create: false}");
    for kind in ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"] {
        assert!(
            of_kind(&docs, kind).is_empty(),
            "{kind} with rbac.create=false"
        );
    }
}
