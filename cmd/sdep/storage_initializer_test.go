package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdep-dev/sdep/internal/storage/storagetest"
)

// TestStorageInitializerCommand runs `sdep storage-initializer URI DIR` as
// the init container does, with the credentials in its environment (what
// envFrom of the envSecretRefName secret gives it).
func TestStorageInitializerCommand(t *testing.T) {
	s3 := storagetest.StartS3(t, map[string]map[string][]byte{"models": {
		"iris/model.joblib": []byte("model"), "iris/metadata.yaml": []byte("name: iris"),
	}})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(self, append([]string{"storage-initializer"}, args...)...)
		cmd.Env = append(os.Environ(), append(env, asSdepEnv+"=1")...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	creds := []string{
		"RCLONE_CONFIG_S3_TYPE=s3", "RCLONE_CONFIG_S3_ENDPOINT=" + s3.URL,
		"RCLONE_CONFIG_S3_ACCESS_KEY_ID=" + storagetest.AccessKey,
		"RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=" + storagetest.SecretKey,
	}
	dst := filepath.Join(t.TempDir(), "mnt", "models")
	if out, err := run(creds, "s3://models/iris", dst); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, want := range map[string]string{"model.joblib": "model", "metadata.yaml": "name: iris"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", name, b, err)
		}
	}
	// The test's endpoint, no keys: anonymous, refused.
	out, err := run([]string{"AWS_ENDPOINT_URL=" + s3.URL}, "s3://models/iris", t.TempDir())
	if err == nil || !strings.Contains(out, "s3://models/iris") || !strings.Contains(out, "AWS_ACCESS_KEY_ID") {
		t.Errorf("without credentials: %v %s, want a failure naming the URI and the keys", err, out)
	}
	if out, err := run(nil, "only-one-arg"); err == nil {
		t.Errorf("one argument: no error: %s", out)
	}
}
