//! The Helm chart (`charts/apigw-operator`): linted, rendered with default and
//! non-default values, and the rendering applied with `kubectl apply
//! --dry-run=server` to the real API server, which checks every field of every
//! built-in kind exactly. Also: wrong values fail with values.schema.json's
//! message, the chart's CRDs are the repository's, every flag of `apigw-operator
//! run` is wired with the binary's own default, and the RBAC grants exactly what
//! the code uses, in each of the three watch modes: all namespaces (a
//! ClusterRole), one namespace (`watchNamespace`) and a list of them
//! (`watchNamespaces`), the last two with a Role per watched namespace and a
//! ClusterRole for cluster-scoped reads only.
//!
//! Needs `helm` and `kubectl` on PATH and KUBECONFIG (`scripts/test-env install
//! helm`, `scripts/test-env up`, `eval "$(scripts/test-env env)"`; `scripts/test`
//! does all of it).

mod common;

use common::checkout;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{Value, json};

fn chart() -> String {
    checkout("/charts/apigw-operator")
}
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
  quotaMargin: 0.1
  operationLimits:
    CreateDeployment: "0.1/1"
    DeleteRestApi: "0.02/1"
resyncPeriod: 5m
maxBackoff: 2m
concurrency: 8
workerThreads: 2
leaderElection:
  enabled: true
  namespace: WATCH_NS
  leaseName: apigw-operator-b
  leaseDuration: 20s
requireAccountBinding: true
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

/// CUSTOM_VALUES watching a list of namespaces instead of one.
fn custom_list_values(first: &str, second: &str) -> String {
    let values = CUSTOM_VALUES.replace(
        "watchNamespace: WATCH_NS",
        &format!("watchNamespaces: [{first}, {second}]"),
    );
    assert_ne!(values, CUSTOM_VALUES, "CUSTOM_VALUES sets watchNamespace");
    values.replace("WATCH_NS", first)
}

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
            &chart(),
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
    let crds = std::fs::read_to_string(format!("{}/crds/apigw.rs.yaml", chart())).unwrap();
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
    for (what, values) in [
        ("default", String::new()),
        ("custom", CUSTOM_VALUES.replace("WATCH_NS", "team-a")),
        ("custom list", custom_list_values("team-a", "team-b")),
    ] {
        let (ok, out, err) = run(
            "helm",
            &[
                "lint",
                "--strict",
                "--kube-version",
                KUBE_VERSION,
                &chart(),
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
    // A watch namespace: the namespaced rules in a Role there, and cluster-wide
    // only the reads of cluster-scoped objects.
    check_rbac(&docs, &release_ns.0, Some(&[watch_ns.0.as_str()]));

    let a = args(&docs);
    for expected in [
        format!("--namespace={}", watch_ns.0),
        "--require-account-binding=true".into(),
        "--aws-region=eu-west-1".into(),
        "--aws-endpoint-url=http://moto.example:5000".into(),
        "--aws-quota-margin=0.1".into(),
        "--worker-threads=2".into(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_namespaces_list_passes_a_server_dry_run() {
    ensure_crds().await;
    let release_ns = Namespace::new("ops");
    let team_a = Namespace::new("team-a");
    let team_b = Namespace::new("team-b");
    let docs = render_ok(
        "apigw",
        &release_ns.0,
        &custom_list_values(&team_a.0, &team_b.0),
    );
    check_rbac(&docs, &release_ns.0, Some(&[&team_a.0, &team_b.0]));
    let a = args(&docs);
    assert!(
        a.contains(&format!("--namespaces={},{}", team_a.0, team_b.0)),
        "{a:?}"
    );
    assert!(
        !a.iter().any(|a| a.starts_with("--namespace=")),
        "--namespace and --namespaces together: {a:?}"
    );
    // Every object, the Roles in both watched namespaces and the ClusterRole of
    // cluster-scoped reads included (the ServiceMonitor's CRD is not on the
    // test server).
    let rest: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] != "ServiceMonitor")
        .collect();
    server_dry_run(&rest);
}

/// watchNamespace is the one-namespace shorthand of watchNamespaces: both set
/// is refused at render time (also with RBAC off: the Deployment's flags would
/// be ambiguous too), naming both values.
#[test]
fn watch_namespace_and_watch_namespaces_together_fail() {
    for values in [
        "watchNamespace: team-a\nwatchNamespaces: [team-b, team-c]",
        "watchNamespace: team-a\nwatchNamespaces: [team-a]",
        "watchNamespace: team-a\nwatchNamespaces: [team-b]\nrbac: {create: false}",
    ] {
        match render("apigw-operator", "apigw-system", values) {
            Ok(_) => panic!("{values:?} was accepted"),
            Err(e) => assert!(
                e.contains(
                    "set watchNamespace (one namespace) or watchNamespaces (a list), not both"
                ) && e.contains("watchNamespace=team-a"),
                "{values:?}: not the chart's message:\n{e}"
            ),
        }
    }
    // Either alone renders; an empty list is the default (all namespaces).
    for values in [
        "watchNamespace: team-a",
        "watchNamespaces: [team-a]",
        "watchNamespace: team-a\nwatchNamespaces: []",
        "watchNamespace: ''\nwatchNamespaces: [team-a, team-b]",
    ] {
        render("apigw-operator", "apigw-system", values)
            .unwrap_or_else(|e| panic!("{values:?} rejected: {e}"));
    }
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
            "watchNamespaces: [team-a, Team_B]",
            "at '/watchNamespaces/1'",
        ),
        ("watchNamespaces: ['']", "at '/watchNamespaces/0'"),
        (
            "watchNamespaces: [team-a, team-a]",
            "at '/watchNamespaces': items at 0 and 1 are equal",
        ),
        (
            "watchNamespaces: team-a,team-b",
            "at '/watchNamespaces': got string, want array",
        ),
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
    let repo = std::fs::read(checkout("/crds/apigw.rs.yaml")).unwrap();
    let in_chart = std::fs::read(format!("{}/crds/apigw.rs.yaml", chart())).unwrap();
    assert!(
        repo == in_chart,
        "charts/apigw-operator/crds/apigw.rs.yaml differs from crds/apigw.rs.yaml: \
         cp crds/apigw.rs.yaml charts/apigw-operator/crds/"
    );
    let entries: Vec<_> = std::fs::read_dir(format!("{}/crds", chart()))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, ["apigw.rs.yaml"], "nothing else in crds/");
}

/// The chart deploys the operator version of this checkout by default.
#[test]
fn chart_app_version_is_the_crate_version() {
    let chart_yaml: Value =
        serde_yaml::from_str(&std::fs::read_to_string(format!("{}/Chart.yaml", chart())).unwrap())
            .unwrap();
    assert_eq!(
        chart_yaml["appVersion"],
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
    // --namespace and --namespaces exclude each other, so the list mode is a
    // rendering of its own.
    let custom_list = args(&render_ok(
        "apigw-operator",
        "apigw-system",
        &custom_list_values("team-a", "team-b"),
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
            assert!(value_of(&custom_list, flag).is_none());
            continue;
        }
        assert!(
            value_of(&custom, flag).is_some() || value_of(&custom_list, flag).is_some(),
            "--{flag} cannot be set from the chart's values (custom args: {custom:?}, \
             with watchNamespaces: {custom_list:?})"
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
    assert_eq!(custom_list[0], "run");
    assert!(
        custom_list.contains(&"--namespaces=team-a,team-b".to_string()),
        "{custom_list:?}"
    );
    for a in defaults[1..]
        .iter()
        .chain(&custom[1..])
        .chain(&custom_list[1..])
    {
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

/// What src/controller asks of the API server about namespaced objects, per
/// (API group, resource), and why. The chart's RBAC must grant exactly this, in
/// the ClusterRole when watching all namespaces, else in a Role in each watched
/// namespace (and nowhere else).
///
/// - list, watch: every kind is watched (`watcher` in controller/mod.rs:
///   the RestApi controller, the shared watches of Routes, Authorizers and Stages,
///   `reference_controller`); list also
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
/// - events: `controller::events::Publisher` creates an events.k8s.io Event and
///   patches its series when the same note repeats.
/// - secrets (controller/api_key.rs): get reads the value of the Secret an ApiKey
///   names (`read_secret_value`) and the generated Secret (`write_generated_secret`);
///   list and watch are the metadata-only watch that wakes ApiKeys when a value
///   changes (`api_key_controller` in controller/mod.rs); create writes a value AWS
///   generated into a new Secret owned by the ApiKey, patch corrects it. No update
///   or delete: the generated Secret goes with its ApiKey by garbage collection.
/// - configmaps (controller/document.rs): get reads the OpenAPI document a RestApi
///   names (`spec.openapi.configMapRef`); list and watch are the metadata-only watch
///   that wakes the RestApi when the ConfigMap changes (`document_changes` in
///   controller/mod.rs). Never written.
fn namespaced_uses() -> BTreeSet<(String, String, String)> {
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
    add("", "configmaps", &["get", "list", "watch"]);
    uses
}

/// What the operator asks of cluster-scoped objects, per (API group, resource):
/// granted by a ClusterRole in every mode (a Role cannot), and in no Role.
///
/// - awsaccountbindings (apigw.rs, cluster-scoped): list and watch, the
///   `watcher`s of `Api::<AwsAccountBinding>::all` in controller/account_binding.rs
///   (the reflector tenancy resolves namespaces with, and the status controller),
///   list also by `ensure_crd` (limit 1) in controller/mod.rs; get, as for the
///   namespaced kinds, so a single-object read never fails at run time. Never
///   create, update, patch or delete: their spec is the platform team's.
/// - awsaccountbindings/status: patch, the server-side apply of the status
///   (`patch_status` in controller/account_binding.rs: account id, the
///   namespaces matched, Ready). update is granted as the tenancy issue asks,
///   though no code replaces a binding's status today.
/// - namespaces: list and watch, the metadata-only `watcher` of
///   `PartialObjectMeta<Namespace>` that resolves the label selectors of
///   bindings (and follows label changes); get as above. Read only.
fn cluster_scoped_uses() -> BTreeSet<(String, String, String)> {
    let mut uses = BTreeSet::new();
    let mut add = |group: &str, resource: &str, verbs: &[&str]| {
        for verb in verbs {
            uses.insert((group.to_string(), resource.to_string(), verb.to_string()));
        }
    };
    add("apigw.rs", "awsaccountbindings", &["get", "list", "watch"]);
    add(
        "apigw.rs",
        "awsaccountbindings/status",
        &["patch", "update"],
    );
    add("", "namespaces", &["get", "list", "watch"]);
    uses
}

/// Leader election on the Lease `lease` (`apigw-operator` by default) in the
/// release namespace (or leaderElection.namespace): create it once, then get
/// and update (renew, take over) that one Lease.
/// (group, resource, verb, resourceNames)
fn leader_election_uses(lease: &str) -> BTreeSet<(String, String, String, Vec<String>)> {
    let name = lease;
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
        lease("get", &[name]),
        lease("update", &[name]),
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

/// The RBAC of one rendering, checked whole: `watched` None means all
/// namespaces. Every Role and ClusterRole is bound to the chart's
/// ServiceAccount and grants exactly its table; Secrets (like every namespaced
/// rule) only in the watched namespaces' Roles when namespaces are watched; one
/// ClusterRole in every mode, with the cluster-scoped reads (and, watching all
/// namespaces, the namespaced rules too); no two objects of a kind share a
/// name in a namespace.
fn check_rbac(docs: &[Value], release_ns: &str, watched: Option<&[&str]>) {
    let sa = one(docs, "ServiceAccount");
    let subjects = json!([{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": release_ns}]);
    let mut names = BTreeSet::new();
    for d in docs {
        let key = (
            d["kind"].as_str().unwrap().to_string(),
            d["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            d["metadata"]["name"].as_str().unwrap().to_string(),
        );
        assert!(names.insert(key.clone()), "two objects {key:?}");
    }
    let bound_by = |role: &Value, binding_kind: &str| -> Value {
        let found: Vec<_> = of_kind(docs, binding_kind)
            .into_iter()
            .filter(|b| {
                b["roleRef"]["name"] == role["metadata"]["name"]
                    && b["metadata"]["namespace"] == role["metadata"]["namespace"]
            })
            .collect();
        assert_eq!(found.len(), 1, "one {binding_kind} of {}", role["metadata"]);
        assert_eq!(found[0]["roleRef"]["kind"], role["kind"]);
        assert_eq!(
            found[0]["subjects"], subjects,
            "{binding_kind} of {}",
            role["metadata"]["name"]
        );
        found[0].clone()
    };

    // The ClusterRole: one in every mode.
    let cluster_role = one(docs, "ClusterRole");
    let expected: BTreeSet<_> = match watched {
        None => namespaced_uses()
            .union(&cluster_scoped_uses())
            .cloned()
            .collect(),
        Some(_) => cluster_scoped_uses(),
    };
    assert_exactly(
        &without_names(grants(cluster_role)),
        &expected,
        "ClusterRole",
    );
    if watched.is_some() {
        // Tenants install one release per namespace, under the same name.
        assert!(
            cluster_role["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with(&format!("-{release_ns}")),
            "ClusterRole name {} carries the release namespace",
            cluster_role["metadata"]["name"]
        );
    }
    bound_by(cluster_role, "ClusterRoleBinding");
    assert_eq!(of_kind(docs, "ClusterRoleBinding").len(), 1);

    // Roles: the leader election's in the Lease's namespace, and one in each
    // watched namespace.
    let roles = of_kind(docs, "Role");
    let watched = watched.unwrap_or(&[]);
    assert_eq!(roles.len(), 1 + watched.len(), "Roles: {roles:?}");
    assert_eq!(of_kind(docs, "RoleBinding").len(), roles.len());
    let is_lease = |r: &Value| {
        r["metadata"]["name"]
            .as_str()
            .unwrap()
            .ends_with("-leader-election")
    };
    let lease_roles: Vec<&Value> = roles.iter().copied().filter(|r| is_lease(r)).collect();
    assert_eq!(lease_roles.len(), 1);
    // The Lease's namespace: --lease-namespace, else the release namespace.
    let lease_ns = args(docs)
        .iter()
        .find_map(|a| a.strip_prefix("--lease-namespace=").map(str::to_string))
        .unwrap_or_else(|| release_ns.to_string());
    assert_eq!(lease_roles[0]["metadata"]["namespace"], lease_ns.as_str());
    let lease_name = args(docs)
        .iter()
        .find_map(|a| a.strip_prefix("--lease-name=").map(str::to_string))
        .expect("--lease-name");
    assert_exactly(
        &grants(lease_roles[0]),
        &leader_election_uses(&lease_name),
        "leader-election Role",
    );
    bound_by(lease_roles[0], "RoleBinding");
    for ns in watched {
        let in_ns: Vec<_> = roles
            .iter()
            .filter(|r| r["metadata"]["namespace"] == *ns && !is_lease(r))
            .collect();
        assert_eq!(in_ns.len(), 1, "one Role in watched namespace {ns}");
        assert_exactly(
            &without_names(grants(in_ns[0])),
            &namespaced_uses(),
            &format!("Role in watched namespace {ns}"),
        );
        bound_by(in_ns[0], "RoleBinding");
    }

    // Secrets: only where they are watched.
    for role in of_kind(docs, "ClusterRole")
        .into_iter()
        .chain(of_kind(docs, "Role"))
    {
        let secrets = grants(role)
            .iter()
            .any(|(g, r, _, _)| g.is_empty() && r == "secrets");
        let may = match role["kind"].as_str().unwrap() {
            "ClusterRole" => watched.is_empty(),
            _ => watched
                .iter()
                .any(|ns| role["metadata"]["namespace"] == *ns && !is_lease(role)),
        };
        assert!(
            !secrets || may,
            "{} {} grants Secrets",
            role["kind"],
            role["metadata"]
        );
    }
}

/// The operator's --namespace / --namespaces flags in a rendering.
fn namespace_flags(docs: &[Value]) -> Vec<String> {
    args(docs)
        .into_iter()
        .filter(|a| a.starts_with("--namespace=") || a.starts_with("--namespaces="))
        .collect()
}

#[test]
fn rbac_grants_exactly_what_the_code_uses() {
    let release_ns = "apigw-system";
    // All namespaces: one ClusterRole for the watched kinds and the cluster-scoped
    // reads, the Lease in a Role.
    let docs = render_ok("apigw-operator", release_ns, "");
    check_rbac(&docs, release_ns, None);
    assert_eq!(
        one(&docs, "ClusterRole")["metadata"]["name"],
        "apigw-operator"
    );
    assert!(namespace_flags(&docs).is_empty());

    // One namespace: the namespaced rules in a Role there; cluster-wide only the
    // cluster-scoped reads.
    let docs = render_ok("apigw-operator", release_ns, "watchNamespace: team-a");
    check_rbac(&docs, release_ns, Some(&["team-a"]));
    assert_eq!(namespace_flags(&docs), ["--namespace=team-a"]);

    // A list: a Role and RoleBinding in each, --namespaces with all of them.
    let docs = render_ok(
        "apigw-operator",
        release_ns,
        "watchNamespaces: [team-a, team-b, team-c]",
    );
    check_rbac(&docs, release_ns, Some(&["team-a", "team-b", "team-c"]));
    assert_eq!(
        namespace_flags(&docs),
        ["--namespaces=team-a,team-b,team-c"]
    );
    // A list of one is still the list flag.
    let docs = render_ok("apigw-operator", release_ns, "watchNamespaces: [team-a]");
    check_rbac(&docs, release_ns, Some(&["team-a"]));
    assert_eq!(namespace_flags(&docs), ["--namespaces=team-a"]);
    // The release namespace among the watched ones: its Role and the Lease's
    // are two Roles with names of their own.
    let docs = render_ok(
        "apigw-operator",
        release_ns,
        "watchNamespaces: [apigw-system, team-b]",
    );
    check_rbac(&docs, release_ns, Some(&["apigw-system", "team-b"]));

    // Two releases of the same name for two teams, each in its own namespace:
    // their cluster-wide objects do not collide.
    let cluster_names = |ns: &str, values: &str| -> BTreeSet<String> {
        let docs = render_ok("apigw-operator", ns, values);
        of_kind(&docs, "ClusterRole")
            .into_iter()
            .chain(of_kind(&docs, "ClusterRoleBinding"))
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let a = cluster_names("ops-a", "watchNamespaces: [team-a]");
    let b = cluster_names("ops-b", "watchNamespace: team-b");
    assert!(a.is_disjoint(&b), "{a:?} and {b:?}");

    // rbac.create=false leaves RBAC to the platform, in every mode.
    for values in [
        "rbac: {create: false}",
        "rbac: {create: false}\nwatchNamespace: team-a",
        "rbac: {create: false}\nwatchNamespaces: [team-a, team-b]",
    ] {
        let docs = render_ok("apigw-operator", release_ns, values);
        for kind in ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"] {
            assert!(of_kind(&docs, kind).is_empty(), "{kind} with {values:?}");
        }
    }
}
