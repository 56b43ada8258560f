// Package v1 holds the SeldonDeployment API (group machinelearning.seldon.io), the storage version.
//
// The schema is the Seldon Core 1.x one, plus what sdep adds for autoscaling:
// the legacy predictor-level hpaSpecs list (autoscaling/v2beta1 shaped, as in
// the original "Autoscaling Seldon Deployments" document), and metricsv2 and
// behavior on componentSpecs[].hpaSpec. The v1alpha2 and v1alpha3 packages
// serve the very same schema under their own version names.
//
// +kubebuilder:object:generate=true
// +groupName=machinelearning.seldon.io
package v1
