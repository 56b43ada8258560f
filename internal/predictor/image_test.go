package predictor

import "testing"

func TestImageReferences(t *testing.T) {
	for _, tc := range []struct{ image, name, version, repo string }{
		{"seldonio/mock_classifier:1.0", "seldonio/mock_classifier", "1.0", "seldonio/mock_classifier"},
		{"seldonio/mock_classifier", "seldonio/mock_classifier", "", "seldonio/mock_classifier"},
		{"registry.example:5000/seldonio/mock_classifier:1.19", "registry.example:5000/seldonio/mock_classifier", "1.19", "seldonio/mock_classifier"},
		{"localhost:5000/model", "localhost:5000/model", "", "model"},
		{"localhost/team/model:v2", "localhost/team/model", "v2", "team/model"},
		{"model@sha256:abc", "model", "sha256:abc", "model"},
		{"team/model:v1@sha256:abc", "team/model", "sha256:abc", "team/model"},
		{"docker.io/library/python:3", "docker.io/library/python", "3", "library/python"},
	} {
		name, version := SplitImage(tc.image)
		if name != tc.name || version != tc.version {
			t.Errorf("SplitImage(%q) = %q, %q; want %q, %q", tc.image, name, version, tc.name, tc.version)
		}
		if got := ImageRepository(tc.image); got != tc.repo {
			t.Errorf("ImageRepository(%q) = %q, want %q", tc.image, got, tc.repo)
		}
	}
}
