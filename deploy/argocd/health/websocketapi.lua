-- Argo CD health check for WebSocketApi (group apigw.rs), Lua 5.1.
-- argocd-cm key: resource.customizations.health.apigw.rs_WebSocketApi (see docs/argocd.md).
-- From here on this file is the same in restapi.lua, route.lua,
-- authorizer.lua, stage.lua, domainname.lua, usageplan.lua, apikey.lua and
-- websocketapi.lua (tests/argocd_health.rs checks it).
--
-- Healthy:     Ready=True, computed for the current metadata.generation.
-- Progressing: no status yet, the operator has not seen the current
--              generation, or Ready=False for a reason that resolves without
--              anyone acting (the operator retries, or waits for something
--              already on its way).
-- Degraded:    Ready=False for a reason that stays until someone edits a spec
--              or fixes the AWS account; also any reason not listed here.
-- Suspended:   managementPolicy Paused: the operator makes no AWS call.
-- The message is always the Ready condition's own message.

-- Every Ready=False reason the operator writes, decided once for all kinds.
local verdicts = {
  -- Transient: the operator retries with backoff, nobody has to act.
  AwsThrottled = "Progressing",       -- AWS said "too many requests"
  AwsUnavailable = "Progressing",     -- 5xx, timeout, connection failure, conflict
  AwsNotFound = "Progressing",        -- something vanished between a read and a write; the next pass repairs it
  KubernetesError = "Progressing",    -- a status write or list failed
  -- Waiting for something on its way: the object converges by itself.
  RestApiNotReady = "Progressing",    -- its RestApi is converging; the RestApi's own health says why
  WebSocketApiNotReady = "Progressing", -- a Stage's WebSocketApi is converging; its own health says why
  AuthorizerNotReady = "Progressing", -- the route waits for its Authorizer rather than exist unprotected
  Applying = "Progressing",           -- a pass is making the API or writing its structure; the message names the new id, or counts the changes and the routes in effect
  DeploymentPending = "Progressing",  -- an Automatic stage debouncing a burst of edits
  WaitingForRoutes = "Progressing",   -- the stage deploys once every Route and Authorizer is in effect
  InUse = "Progressing",              -- only while deleting: the Authorizer waits for its routes to drop it
  StageNotReady = "Progressing",      -- a DomainName's or UsagePlan's Stage has no deployment yet; it follows once it has
  UsagePlanNotReady = "Progressing",  -- the ApiKey is attached once its UsagePlan exists in AWS
  -- Terminal: nothing changes until a spec is edited or the account is fixed.
  InvalidSpec = "Degraded",           -- the spec cannot be turned into AWS settings
  AwsRejected = "Degraded",           -- AWS refused the request as invalid
  AdoptTargetMissing = "Degraded",    -- retried slowly, but only a corrected spec.restApiId helps
  AwsAccessDenied = "Degraded",       -- retried slowly, but only an IAM change (or a role that can be assumed) helps
  MethodConflict = "Degraded",        -- another Route holds this method and path
  PathConflict = "Degraded",          -- two variable names at one path level
  AuthorizerNotFound = "Degraded",    -- spec.authorization names no Authorizer
  RestApiNotFound = "Degraded",       -- spec.restApiRef names no RestApi
  WebSocketApiNotFound = "Degraded",  -- a Stage's spec.webSocketApiRef names no WebSocketApi
  StageNameConflict = "Degraded",     -- another Stage already manages this stage name of the API
  DeploymentNotFound = "Degraded",    -- a Pinned stage names a deployment its REST API does not have
  RouteSettingsUnmatched = "Degraded", -- a Stage's routeSettings name a method and path no Route of the API declares
  AdoptTargetOwned = "Degraded",      -- the adopted API or domain is managed by another live object
  MappingNotAllowed = "Degraded",     -- a DomainName mixes WebSocket and REST stages, or maps WebSocket on EDGE
  RestApiDeleted = "Degraded",        -- the RestApi and its REST API are gone
  UserPoolNotFound = "Degraded",      -- a Cognito user pool of the Authorizer does not exist
  LambdaFunctionNotFound = "Degraded", -- the function must be deployed before the permission can be granted
  StageNotFound = "Degraded",         -- a DomainName's mapping or a UsagePlan names no Stage (bound once one is created)
  CertificateNotFound = "Degraded",   -- the DomainName's ACM certificate does not exist (retried slowly)
  CertificateWrongRegion = "Degraded", -- EDGE needs a us-east-1 certificate, REGIONAL one in the operator's region
  UsagePlanNotFound = "Degraded",     -- spec.usagePlanRefs names no UsagePlan (attached once one is created)
  SecretNotFound = "Degraded",        -- the ApiKey's Secret or key is missing
  DocumentNotFound = "Degraded",      -- spec.openapi.configMapRef names no ConfigMap, or a key it does not have
  InvalidDocument = "Degraded",       -- spec.openapi is not an OpenAPI 3 or Swagger 2 document, or too large to import
  ApiDefinedByDocument = "Degraded",  -- a Route or Authorizer names a RestApi whose structure comes from an OpenAPI document
  SecretNotUsable = "Degraded",       -- the value is too short or not text, or the generated Secret's name is taken
  AdoptTargetOrphaned = "Degraded",   -- the API or domain was made by an object that is gone: set adoptOrphaned to take it over
  AdoptionNotRequested = "Degraded",  -- a DomainName of that name exists and spec.adopt is not set
  AdoptionNotAllowed = "Degraded",    -- the namespace's AwsAccountBinding forbids adoption
  ReferenceNotAllowed = "Degraded",   -- a function, role, user pool or certificate outside the AwsAccountBinding's allow-lists
  RegionNotAllowed = "Degraded",      -- spec.region is not among the AwsAccountBinding's regions
  NoAccountBinding = "Degraded",      -- the operator requires an AwsAccountBinding and none matches the namespace
  AccountBindingConflict = "Degraded", -- two AwsAccountBindings match the namespace
  AccountChanged = "Degraded",        -- the binding now points elsewhere than where the object's resources are
  LocationMismatch = "Degraded",      -- a Stage or UsagePlan it refers to is in another account or region than the object
  -- Deliberately not converging: nothing is written until someone changes managementPolicy.
  DriftDetected = "Suspended",        -- managementPolicy ObserveOnly: AWS differs from the spec (status.plannedChanges); nothing is changed by design
  Paused = "Suspended",               -- managementPolicy Paused
}

local hs = {}

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local ready = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = ready.observedGeneration
if observed == nil then
  observed = status.observedGeneration
end
if generation ~= nil and observed ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local message = ready.message
if message == nil or message == "" then
  message = ready.reason or ""
end
hs.message = message

if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" then
  hs.status = verdicts[ready.reason] or "Degraded"
else
  hs.status = "Progressing"
end
return hs
