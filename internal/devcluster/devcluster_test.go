package devcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckBinariesNamesWhatIsMissing(t *testing.T) {
	tests := []struct {
		name    string
		present []string
		opts    Options
		wantErr []string // substrings; none means no error
	}{
		{
			name:    "API server only needs etcd and kube-apiserver",
			present: []string{"etcd", "kube-apiserver"},
			opts:    Options{APIServerOnly: true, Metrics: MetricsFake},
		},
		{
			name:    "workloads need the controller manager, scheduler and kwok",
			present: []string{"etcd", "kube-apiserver", "kwok"},
			opts:    Options{Metrics: MetricsFake},
			wantErr: []string{"kube-controller-manager, kube-scheduler, kwok-stages.yaml", "hack/control-plane.sh all"},
		},
		{
			name:    "metrics-server mode needs metrics-server and kwok's metrics stages",
			present: append(append([]string(nil), apiServerBinaries...), workloadBinaries...),
			opts:    Options{Metrics: MetricsServer},
			wantErr: []string{"metrics-server, kwok-metrics-stages.yaml"},
		},
		{
			name:    "an unknown metrics mode is an error",
			present: append(append([]string(nil), apiServerBinaries...), workloadBinaries...),
			opts:    Options{Metrics: "prometheus"},
			wantErr: []string{`unknown metrics mode "prometheus"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tt.present {
				if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			tt.opts.BinDir = dir
			err := checkBinaries(tt.opts)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want one mentioning %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestCheckBinariesWithoutAFolder(t *testing.T) {
	err := checkBinaries(Options{Metrics: MetricsFake})
	if err == nil || !strings.Contains(err.Error(), "KUBEBUILDER_ASSETS is not set") {
		t.Fatalf("got %v, want an error naming KUBEBUILDER_ASSETS", err)
	}
}
