package webhook

import (
	"context"
	"strings"
	"testing"

	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/validation/validationtest"
)

// A pod with access to its node is admitted with a warning naming the field
// by default, and denied with the same field under RefusePrivileged, on
// create and on update.
func TestValidatorNodeAccess(t *testing.T) {
	ctx := context.Background()
	for _, tc := range validationtest.NodeAccessCases() {
		t.Run(tc.Name, func(t *testing.T) {
			sd := validationtest.Base()
			tc.Mutate(sd)
			want := tc.Want.Field + ": " + tc.Want.Message

			lenient := &Validator{}
			for op, call := range map[string]func() ([]string, error){
				"create": func() ([]string, error) { return lenient.ValidateCreate(ctx, sd) },
				"update": func() ([]string, error) { return lenient.ValidateUpdate(ctx, validationtest.Base(), sd) },
			} {
				warnings, err := call()
				if err != nil {
					t.Errorf("%s: denied by default: %v", op, err)
				}
				if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
					t.Errorf("%s: warnings %q, want one starting %q", op, warnings, want)
				}
			}

			strict := &Validator{Policy: validation.Policy{RefusePrivileged: true}}
			for op, call := range map[string]func() ([]string, error){
				"create": func() ([]string, error) { return strict.ValidateCreate(ctx, sd) },
				"update": func() ([]string, error) { return strict.ValidateUpdate(ctx, validationtest.Base(), sd) },
			} {
				warnings, err := call()
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("%s: RefusePrivileged: error %v, want one starting %q", op, err, want)
				}
				if len(warnings) != 0 {
					t.Errorf("%s: RefusePrivileged: warnings %q besides the error", op, warnings)
				}
			}
		})
	}
	// The base document passes under either policy.
	for _, v := range []*Validator{{}, {Policy: validation.Policy{RefusePrivileged: true}}} {
		if w, err := v.ValidateCreate(ctx, validationtest.Base()); err != nil || len(w) != 0 {
			t.Errorf("policy %+v: base document: %q, %v", v.Policy, w, err)
		}
	}
}
