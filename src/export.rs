//! `apigw-operator export`: read a live REST API and print manifests a team can
//! commit (the pure part is `plan::export`). It only reads AWS: GetRestApi,
//! GetResources, GetAuthorizers, GetRequestValidators, GetModels, GetStages,
//! GetGatewayResponses, GetDocumentationParts.

use crate::aws::Aws;
use crate::plan::export::{Export, ExportOptions, LiveApi, export};

/// `apigw-operator export`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    /// Id of the REST API to export (10 letters and digits).
    #[arg(long)]
    pub rest_api_id: String,
    /// Name of the RestApi object; its Routes, Authorizers and Stages are named
    /// after it. Defaults to the API's name made a Kubernetes name.
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace to write into the manifests (omit to apply with `kubectl -n`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Mark the RestApi `managementPolicy: ObserveOnly`: applying the manifests then
    /// changes nothing in AWS and shows what the operator would change in
    /// `status.plannedChanges`.
    #[arg(long, default_value_t = false)]
    pub observe_only: bool,
    /// AWS region of the API; the SDK's chain (AWS_REGION, profile) otherwise.
    #[arg(long, env = "APIGW_AWS_REGION")]
    pub aws_region: Option<String>,
    /// Send AWS calls to this endpoint (an emulator).
    #[arg(long, env = "APIGW_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
}

/// Everything `plan::export` needs of one API, read from AWS.
pub async fn read_live_api(aws: &Aws, id: &str) -> anyhow::Result<LiveApi> {
    let api = aws
        .get_rest_api(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("REST API {id} does not exist in region {}", aws.region))?;
    let mut unread = Vec::new();
    // Read only to be named as not exported: an API whose parts cannot be listed
    // (an emulator without them) is still exported, with a note saying so.
    let documentation_parts = aws.get_documentation_parts(id).await.unwrap_or_else(|e| {
        unread.push(format!(
            "documentation parts, which could not be listed: {e}"
        ));
        Vec::new()
    });
    Ok(LiveApi {
        resources: aws.get_resources(id).await?,
        authorizers: aws.get_authorizers(id).await?,
        validators: aws.get_request_validators(id).await?,
        models: aws.get_models(id).await?,
        stages: aws.get_stages(id).await?,
        gateway_responses: aws.get_gateway_responses(id).await?,
        documentation_parts,
        unread,
        api,
    })
}

/// Read the API and print its manifests; what they do not carry goes first, as
/// YAML comments (and to stderr), so it is committed with them.
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let settings = crate::aws::AwsSettings {
        region: args.aws_region.clone(),
        endpoint_url: args.aws_endpoint_url.clone(),
        max_attempts: 3,
        limits: Default::default(),
    };
    let aws = Aws::connect(&settings).await?;
    let live = read_live_api(&aws, &args.rest_api_id).await?;
    let default_name = crate::plan::export::object_name(&live.api.settings.name);
    let opts = ExportOptions {
        name: args.name.as_deref().unwrap_or(&default_name),
        namespace: args.namespace.as_deref(),
        region: &aws.region,
        observe_only: args.observe_only,
    };
    let exported = export(&live, &opts);
    for note in &exported.notes {
        eprintln!("export: {note}");
    }
    print!("{}", to_yaml(&exported)?);
    Ok(())
}

/// The manifests as one YAML stream, notes first as comments.
pub fn to_yaml(exported: &Export) -> anyhow::Result<String> {
    let mut out = String::new();
    for note in &exported.notes {
        out.push_str(&format!("# not exported: {note}\n"));
    }
    for manifest in &exported.manifests {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(manifest)?);
    }
    Ok(out)
}
