// Package webhook serves the SeldonDeployment validating admission webhook:
// a thin wrapper that runs internal/validation, the same checks and messages
// as `sdep validate`, and returns its warnings as admission warnings.
package webhook

import (
	"context"
	"errors"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/validation"
)

// Path is where the webhook is served; config/webhook names the same path.
const Path = "/validate-machinelearning-seldon-io-v1-seldondeployment"

// +kubebuilder:webhook:path=/validate-machinelearning-seldon-io-v1-seldondeployment,mutating=false,failurePolicy=fail,sideEffects=None,groups=machinelearning.seldon.io,resources=seldondeployments,verbs=create;update,versions=v1,name=vseldondeployment.sdep.dev,admissionReviewVersions=v1,matchPolicy=Equivalent

// Validator admits a SeldonDeployment when internal/validation finds no
// errors under Policy.
type Validator struct {
	// Policy is what this installation refuses beyond the validator's
	// rules (--refuse-privileged); the zero value refuses nothing more.
	Policy validation.Policy
}

var _ admission.Validator[*sdepv1.SeldonDeployment] = (*Validator)(nil)

// SetupWithManager serves the validator on the manager's webhook server.
func (v *Validator) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &sdepv1.SeldonDeployment{}).
		WithValidator(v).
		WithValidatorCustomPath(Path).
		Complete()
}

// ValidateCreate checks a new SeldonDeployment.
func (v *Validator) ValidateCreate(_ context.Context, sd *sdepv1.SeldonDeployment) (admission.Warnings, error) {
	return v.validate(sd)
}

// ValidateUpdate checks the new version of a SeldonDeployment. A document
// being deleted is let through so its finalizers (if any) can be removed.
func (v *Validator) ValidateUpdate(_ context.Context, _, sd *sdepv1.SeldonDeployment) (admission.Warnings, error) {
	if !sd.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return v.validate(sd)
}

// ValidateDelete admits every deletion.
func (v *Validator) ValidateDelete(context.Context, *sdepv1.SeldonDeployment) (admission.Warnings, error) {
	return nil, nil
}

func (v *Validator) validate(sd *sdepv1.SeldonDeployment) (admission.Warnings, error) {
	res := validation.ValidateWith(sd, v.Policy)
	var warnings admission.Warnings
	for _, w := range res.Warnings {
		warnings = append(warnings, w.Error())
	}
	if len(res.Errors) > 0 {
		// One line per problem, "field: message", exactly as sdep validate prints them.
		return warnings, errors.New(res.Errors.Error())
	}
	return warnings, nil
}
