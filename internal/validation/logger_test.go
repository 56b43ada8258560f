package validation_test

import (
	"testing"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/validation/validationtest"
)

// The executor logs payloads: a logger is accepted without a warning, and
// a logger.url that is no http(s) URL is refused.
func TestLogger(t *testing.T) {
	for _, tc := range []struct {
		url       string
		wantError bool
	}{{"", false}, {"http://broker.ns:8080/", false}, {"https://logs.example", false}, {"ftp://x", true}, {"broker", true}} {
		sd := validationtest.Base()
		validationtest.Pred(sd).Graph.Logger = &sdepv1.Logger{Mode: sdepv1.LogAll}
		if tc.url != "" {
			validationtest.Pred(sd).Graph.Logger.URL = &tc.url
		}
		res := validation.Validate(sd)
		if len(res.Warnings) != 0 {
			t.Errorf("url %q: warnings %v", tc.url, res.Warnings)
		}
		gotError := len(res.Errors) == 1 && res.Errors[0].Field == "spec.predictors[0].graph.logger.url"
		if gotError != tc.wantError || !tc.wantError && len(res.Errors) != 0 {
			t.Errorf("url %q: errors %v, want an error on logger.url: %v", tc.url, res.Errors, tc.wantError)
		}
	}
}
