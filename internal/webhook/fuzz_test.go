package webhook

import (
	"context"
	"net/http"
	"os"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/validation"
)

// FuzzAdmission sends fuzzed objects through controller-runtime's admission
// handler (its decoder, then the Validator), as the API server's requests
// arrive, with panics not recovered. Every answer allows, denies (403) or
// refuses to decode (400), never fails (500); create and update of the same
// object agree; and RefusePrivileged only ever turns warnings into a denial:
// what it admits the default policy admits with the same warnings, and what
// the default policy denies or admits without warnings, it treats the same.
func FuzzAdmission(f *testing.F) {
	for _, file := range []string{"../../examples/seed-v1.yaml", "../../examples/seed-hpaspecs.json"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"apiVersion":"machinelearning.seldon.io/v1","kind":"SeldonDeployment","metadata":{"name":"m"},"spec":{"predictors":[{"name":"p","graph":{"name":"c"},"componentSpecs":[{"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"i","securityContext":{"privileged":true}}],"volumes":[{"name":"v","hostPath":{"path":"/"}}]}}]}]}}`))
	f.Add([]byte(`{"apiVersion":"machinelearning.seldon.io/v1","kind":"SeldonDeployment","metadata":{"name":"m"},"spec":{"protocol":"v2","predictors":[{"name":"p","graph":{"name":"c"},"explainer":{"type":"x"},"componentSpecs":[{"spec":{"hostPID":true,"containers":[{"name":"c"}]}}]}]}}`))
	f.Add([]byte(`{"apiVersion":"machinelearning.seldon.io/v1","kind":"SeldonDeployment","metadata":{"name":"M"},"spec":{}}`))
	f.Add([]byte(`{"apiVersion":"machinelearning.seldon.io/v1","kind":"SeldonDeployment","spec":{"predictors":[{"replicas":"x"}]}}`))
	f.Add([]byte(`{"kind":"Pod"}`))
	f.Add([]byte(`null`))

	scheme := runtime.NewScheme()
	utilruntime.Must(sdepv1.AddToScheme(scheme))
	handler := func(v *Validator) *admission.Webhook {
		wh := admission.WithValidator[*sdepv1.SeldonDeployment](scheme, v)
		wh.RecoverPanic = new(false)
		return wh
	}
	lenient := handler(&Validator{})
	strict := handler(&Validator{Policy: validation.Policy{RefusePrivileged: true}})
	gvk := metav1.GroupVersionKind{Group: "machinelearning.seldon.io", Version: "v1", Kind: "SeldonDeployment"}
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, object []byte) {
		request := func(op admissionv1.Operation) admission.Request {
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "uid", Kind: gvk, Operation: op, Name: "m", Namespace: "ns",
				Object: runtime.RawExtension{Raw: object},
			}}
			if op == admissionv1.Update {
				req.OldObject = runtime.RawExtension{Raw: object}
			}
			return req
		}
		code := func(r admission.Response) int32 {
			if r.Allowed {
				return http.StatusOK
			}
			return r.Result.Code
		}
		check := func(what string, r admission.Response) {
			t.Helper()
			if c := code(r); c != http.StatusOK && c != http.StatusForbidden && c != http.StatusBadRequest {
				t.Fatalf("%s: answer %d: %+v", what, c, r.Result)
			}
			if r.UID != "uid" {
				t.Fatalf("%s: answer UID %q", what, r.UID)
			}
		}
		create := lenient.Handle(ctx, request(admissionv1.Create))
		check("create", create)
		update := lenient.Handle(ctx, request(admissionv1.Update))
		check("update", update)
		// Update lets a document being deleted through; otherwise it
		// answers as create does.
		var sd sdepv1.SeldonDeployment
		deleting := admission.NewDecoder(scheme).DecodeRaw(runtime.RawExtension{Raw: object}, &sd) == nil && !sd.DeletionTimestamp.IsZero()
		if !deleting && (code(create) != code(update) || !slices.Equal(create.Warnings, update.Warnings)) {
			t.Fatalf("create answers %d %q, update %d %q", code(create), create.Warnings, code(update), update.Warnings)
		}

		refused := strict.Handle(ctx, request(admissionv1.Create))
		check("create under RefusePrivileged", refused)
		switch {
		case refused.Allowed:
			if !create.Allowed || !slices.Equal(create.Warnings, refused.Warnings) {
				t.Fatalf("RefusePrivileged admits with %q what the default policy answers %d %q", refused.Warnings, code(create), create.Warnings)
			}
		case !create.Allowed || len(create.Warnings) == 0:
			if code(create) != code(refused) {
				t.Fatalf("RefusePrivileged answers %d, the default policy %d with no warnings", code(refused), code(create))
			}
		}
	})
}
