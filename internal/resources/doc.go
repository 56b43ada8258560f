// Package resources turns a SeldonDeployment into the Kubernetes objects it
// asks for: one apps/v1 Deployment per componentSpec (the executor injected
// into the first, or in a Deployment of its own where
// predictor.ExecutorComponent says so), Services for each predictor and
// graph container,
// autoscaling/v2 HorizontalPodAutoscalers, policy/v1 PodDisruptionBudgets
// and KEDA ScaledObjects.
//
// Everything here is pure: a function of the SeldonDeployment and Options,
// with no API calls, clock or environment. The operator reconciles these
// objects, `sdep render` prints them, and the local runtime reads the same
// pod templates, so every runtime agrees on what a document means.
//
// Build is the entry point. The Make* functions build one object each and
// expect a SeldonDeployment that validation.Default has already filled in.
//
// Where this package departs from Seldon Core 1.x on purpose:
//
//   - A Deployment selects its pods by seldon-deployment-id and
//     app: <deployment name> only. The selector cannot change after creation,
//     so it uses the two labels that are stable for the Deployment's whole
//     life (upstream also selected on the per-container Service labels, which
//     made adding a container a delete-and-recreate). The selectors of two
//     Deployments never overlap, and the PodDisruptionBudget uses the same
//     selector, so it covers only that componentSpec's pods (upstream's
//     selected every pod of the SeldonDeployment).
//   - The predictor Service is a normal ClusterIP Service unless
//     seldon.io/headless-svc is "true" (upstream made it headless unless the
//     annotation was "false"). Behind a headless Service a client with a
//     long-lived connection stays on one pod, so pods an HPA adds receive no
//     traffic; kube-proxy's per-connection balancing spreads it.
//   - The executor's ENGINE_PREDICTOR leaves out every autoscaling and
//     replica field and traffic, so editing them never changes a pod template
//     and never restarts pods (but for minReplicas 0, which the executor
//     acts on).
//   - hpaSpec.minReplicas 0 (scale to zero) renders an HPA with minReplicas
//     1 and a Deployment created with 0 replicas; a scaler outside the
//     operator moves it between 0 and 1.
//   - Fields the API server fills in identically (restartPolicy, dnsPolicy,
//     schedulerName, terminationMessagePath/Policy, Service type and
//     sessionAffinity) are left out: the controller compares desired objects
//     with server-defaulted ones, and the rendered YAML stays short.
package resources
