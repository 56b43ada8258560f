// Package servers is the prepackaged-server table: which image serves an
// implementation (SKLEARN_SERVER, ...) under a protocol, and the storage
// initializer and explainer defaults. Its shape is that of Seldon Core's
// seldon-config ConfigMap (keys predictor_servers, storageInitializer,
// explainer), so an installation's ConfigMap can be used as it is. The
// compiled-in defaults are Seldon Core 1.18.2's.
package servers

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// ConfigMapName is the ConfigMap the operator reads from its own namespace.
const ConfigMapName = "seldon-config"

// Keys of the ConfigMap sdep reads. Other keys (credentials, ...) are ignored.
const (
	KeyPredictorServers   = "predictor_servers"
	KeyStorageInitializer = "storageInitializer"
	KeyExplainer          = "explainer"
)

// Protocol keys of a server entry.
const (
	ProtocolSeldon     = "seldon"
	ProtocolTensorflow = "tensorflow"
	ProtocolKFServing  = "kfserving"
	ProtocolV2         = "v2"
)

// Config is the whole table.
type Config struct {
	// PredictorServers maps an implementation name to its images.
	PredictorServers map[string]Server
	// StorageInitializer is the init container that fetches modelUri.
	StorageInitializer StorageInitializer
	// Explainer holds the explainer images.
	Explainer Explainer
}

// Server is one entry of predictor_servers.
type Server struct {
	Protocols map[string]ProtocolImage `json:"protocols"`
	// Legacy (before Seldon Core 1.5) entries had rest/grpc objects instead
	// of protocols; they are read only to warn about them.
	Rest *json.RawMessage `json:"rest,omitempty"`
	GRPC *json.RawMessage `json:"grpc,omitempty"`
}

// ProtocolImage is the image of one protocol of a server.
type ProtocolImage struct {
	Image               string `json:"image"`
	DefaultImageVersion string `json:"defaultImageVersion"`
}

// Ref is the image reference: image:defaultImageVersion, or image alone
// when the version is empty.
func (p ProtocolImage) Ref() string {
	if p.DefaultImageVersion == "" {
		return p.Image
	}
	return p.Image + ":" + p.DefaultImageVersion
}

// Storage initializer kinds.
const (
	// InitializerRclone runs the image's own entrypoint (upstream's rclone
	// image: `rclone copy URI DIR`) with args [URI, DIR].
	InitializerRclone = "rclone"
	// InitializerSdep runs `sdep storage-initializer URI DIR` in sdep's own
	// image (the executor image unless image is set).
	InitializerSdep = "sdep"
)

// StorageInitializer is the storageInitializer key. Kind is sdep's own
// addition; the other fields are upstream's.
type StorageInitializer struct {
	Image         string `json:"image,omitempty"`
	CPURequest    string `json:"cpuRequest,omitempty"`
	CPULimit      string `json:"cpuLimit,omitempty"`
	MemoryRequest string `json:"memoryRequest,omitempty"`
	MemoryLimit   string `json:"memoryLimit,omitempty"`
	// Kind is InitializerRclone (the default) or InitializerSdep.
	Kind string `json:"kind,omitempty"`
}

// Explainer is the explainer key.
type Explainer struct {
	Image   string `json:"image,omitempty"`
	ImageV2 string `json:"image_v2,omitempty"`
}

// Defaults returns Seldon Core 1.18.2's table (its Helm chart's values).
func Defaults() *Config {
	seldon := func(img string) ProtocolImage { return ProtocolImage{Image: img, DefaultImageVersion: "1.18.2"} }
	ml := func(suffix string) ProtocolImage {
		return ProtocolImage{Image: "seldonio/mlserver", DefaultImageVersion: "1.3.5-" + suffix}
	}
	return &Config{
		PredictorServers: map[string]Server{
			"SKLEARN_SERVER": {Protocols: map[string]ProtocolImage{
				ProtocolSeldon: seldon("seldonio/sklearnserver"), ProtocolV2: ml("sklearn")}},
			"XGBOOST_SERVER": {Protocols: map[string]ProtocolImage{
				ProtocolSeldon: seldon("seldonio/xgboostserver"), ProtocolV2: ml("xgboost")}},
			"MLFLOW_SERVER": {Protocols: map[string]ProtocolImage{
				ProtocolSeldon: seldon("seldonio/mlflowserver"), ProtocolV2: ml("mlflow")}},
			"TENSORFLOW_SERVER": {Protocols: map[string]ProtocolImage{
				ProtocolSeldon:     seldon("seldonio/tfserving-proxy"),
				ProtocolTensorflow: {Image: "tensorflow/serving", DefaultImageVersion: "2.1.0"}}},
			"TRITON_SERVER": {Protocols: map[string]ProtocolImage{
				ProtocolV2: {Image: "nvcr.io/nvidia/tritonserver", DefaultImageVersion: "21.08-py3"}}},
			"HUGGINGFACE_SERVER": {Protocols: map[string]ProtocolImage{ProtocolV2: ml("huggingface")}},
			"TEMPO_SERVER":       {Protocols: map[string]ProtocolImage{ProtocolV2: ml("slim")}},
		},
		StorageInitializer: DefaultStorageInitializer(),
		Explainer: Explainer{
			Image:   "seldonio/alibiexplainer:1.18.2",
			ImageV2: "seldonio/mlserver:1.3.5-alibi-explain",
		},
	}
}

// DefaultStorageInitializer is upstream's rclone initializer with its
// Helm chart's resources.
func DefaultStorageInitializer() StorageInitializer {
	return StorageInitializer{
		Image:      "seldonio/rclone-storage-initializer:1.18.2",
		CPURequest: "100m", CPULimit: "1", MemoryRequest: "100Mi", MemoryLimit: "1Gi",
		Kind: InitializerRclone,
	}
}

// Lookup returns the server entry of impl.
func (c *Config) Lookup(impl string) (Server, bool) {
	if c == nil {
		c = Defaults()
	}
	s, ok := c.PredictorServers[impl]
	return s, ok
}

// Image returns the image of impl under protocol ("" means seldon), as
// upstream resolves it: the protocol's entry, with v2 and kfserving each
// standing in for the other; "" when there is none.
func (c *Config) Image(impl, protocol string) string {
	s, ok := c.Lookup(impl)
	if !ok {
		return ""
	}
	return s.Image(protocol)
}

// Image is the image of the server under protocol ("" means seldon).
func (s Server) Image(protocol string) string {
	if protocol == "" {
		protocol = ProtocolSeldon
	}
	if p, ok := s.Protocols[protocol]; ok {
		return p.Ref()
	}
	switch protocol {
	case ProtocolV2:
		if p, ok := s.Protocols[ProtocolKFServing]; ok {
			return p.Ref()
		}
	case ProtocolKFServing:
		if p, ok := s.Protocols[ProtocolV2]; ok {
			return p.Ref()
		}
	}
	return ""
}

// Names returns the implementation names of the table, sorted.
func (c *Config) Names() []string {
	if c == nil {
		c = Defaults()
	}
	return slices.Sorted(maps.Keys(c.PredictorServers))
}

// Parse reads the table from ConfigMap data (key → JSON string). A key
// that is absent keeps the compiled-in default; predictor_servers, when
// present, replaces the whole default table (as upstream, where the
// ConfigMap is the only table); storageInitializer and explainer fields
// left empty keep their defaults. Bad JSON or a bad quantity is an error
// naming the key, never a panic.
func Parse(data map[string]string) (*Config, error) {
	c := Defaults()
	if s, ok := data[KeyPredictorServers]; ok && strings.TrimSpace(s) != "" {
		var table map[string]Server
		if err := json.Unmarshal([]byte(s), &table); err != nil {
			return nil, fmt.Errorf("%s: not a JSON object of servers ({\"SKLEARN_SERVER\": {\"protocols\": {\"seldon\": {\"image\": ..., \"defaultImageVersion\": ...}}}}): %w", KeyPredictorServers, err)
		}
		c.PredictorServers = table
	}
	if s, ok := data[KeyStorageInitializer]; ok && strings.TrimSpace(s) != "" {
		var si StorageInitializer
		if err := json.Unmarshal([]byte(s), &si); err != nil {
			return nil, fmt.Errorf("%s: not a JSON object ({\"image\", \"cpuRequest\", \"cpuLimit\", \"memoryRequest\", \"memoryLimit\"}): %w", KeyStorageInitializer, err)
		}
		c.StorageInitializer = mergeInitializer(si, c.StorageInitializer)
	}
	if s, ok := data[KeyExplainer]; ok && strings.TrimSpace(s) != "" {
		var e Explainer
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("%s: not a JSON object ({\"image\", \"image_v2\"}): %w", KeyExplainer, err)
		}
		if e.Image != "" {
			c.Explainer.Image = e.Image
		}
		if e.ImageV2 != "" {
			c.Explainer.ImageV2 = e.ImageV2
		}
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

func mergeInitializer(si, def StorageInitializer) StorageInitializer {
	if si.Kind == InitializerSdep {
		def.Image = "" // sdep's own: the executor image unless set
	}
	for _, f := range []struct{ v, d *string }{
		{&si.Image, &def.Image}, {&si.CPURequest, &def.CPURequest}, {&si.CPULimit, &def.CPULimit},
		{&si.MemoryRequest, &def.MemoryRequest}, {&si.MemoryLimit, &def.MemoryLimit},
	} {
		if *f.v == "" {
			*f.v = *f.d
		}
	}
	if si.Kind == "" {
		si.Kind = InitializerRclone
	}
	return si
}

// Check reports a storage initializer whose resources do not parse or
// whose kind is unknown.
func (c *Config) Check() error {
	si := c.StorageInitializer
	for _, f := range []struct{ name, v string }{
		{"cpuRequest", si.CPURequest}, {"cpuLimit", si.CPULimit},
		{"memoryRequest", si.MemoryRequest}, {"memoryLimit", si.MemoryLimit},
	} {
		if f.v == "" {
			continue
		}
		if _, err := resource.ParseQuantity(f.v); err != nil {
			return fmt.Errorf("%s.%s: %q is not a quantity (e.g. 100m, 1, 100Mi, 1Gi): %w", KeyStorageInitializer, f.name, f.v, err)
		}
	}
	switch si.Kind {
	case "", InitializerRclone, InitializerSdep:
	default:
		return fmt.Errorf("%s.kind: %q: use %q (the image's rclone entrypoint) or %q (sdep storage-initializer)", KeyStorageInitializer, si.Kind, InitializerRclone, InitializerSdep)
	}
	return nil
}

// Warnings lists entries sdep reads but cannot use: the legacy rest/grpc
// shape of Seldon Core before 1.5.
func (c *Config) Warnings() []string {
	var out []string
	for _, name := range c.Names() {
		s := c.PredictorServers[name]
		if len(s.Protocols) == 0 && (s.Rest != nil || s.GRPC != nil) {
			out = append(out, fmt.Sprintf("%s.%s: the rest/grpc shape of Seldon Core before 1.5 has no images sdep can use: write {\"protocols\": {\"seldon\": {\"image\": ..., \"defaultImageVersion\": ...}}}", KeyPredictorServers, name))
		}
	}
	return out
}

// relatedImages maps RELATED_IMAGE_* variables to the entry they replace.
var relatedImages = []struct{ env, impl, protocol string }{
	{"RELATED_IMAGE_SKLEARNSERVER", "SKLEARN_SERVER", ProtocolSeldon},
	{"RELATED_IMAGE_SKLEARNSERVER_V2", "SKLEARN_SERVER", ProtocolV2},
	{"RELATED_IMAGE_XGBOOSTSERVER", "XGBOOST_SERVER", ProtocolSeldon},
	{"RELATED_IMAGE_XGBOOSTSERVER_V2", "XGBOOST_SERVER", ProtocolV2},
	{"RELATED_IMAGE_MLFLOWSERVER", "MLFLOW_SERVER", ProtocolSeldon},
	{"RELATED_IMAGE_MLFLOWSERVER_V2", "MLFLOW_SERVER", ProtocolV2},
	// Upstream means these two for TENSORFLOW_SERVER but they have no
	// effect there; sdep applies them.
	{"RELATED_IMAGE_TENSORFLOW", "TENSORFLOW_SERVER", ProtocolTensorflow},
	{"RELATED_IMAGE_TFPROXY", "TENSORFLOW_SERVER", ProtocolSeldon},
}

// Environment variables for the storage initializer and explainer images.
const (
	EnvStorageInitializerImage = "RELATED_IMAGE_STORAGE_INITIALIZER"
	EnvExplainerImage          = "RELATED_IMAGE_EXPLAINER"
	EnvExplainerImageV2        = "RELATED_IMAGE_EXPLAINER_V2"
)

// WithRelatedImages returns a copy of c with the non-empty RELATED_IMAGE_*
// variables getenv returns applied: each replaces its whole protocol entry
// (the value is used verbatim and carries its own tag or digest).
func (c *Config) WithRelatedImages(getenv func(string) string) *Config {
	out := c.Clone()
	for _, r := range relatedImages {
		v := getenv(r.env)
		if v == "" {
			continue
		}
		s := out.PredictorServers[r.impl]
		if s.Protocols == nil {
			s.Protocols = map[string]ProtocolImage{}
		}
		s.Protocols[r.protocol] = ProtocolImage{Image: v}
		out.PredictorServers[r.impl] = s
	}
	if v := getenv(EnvStorageInitializerImage); v != "" {
		out.StorageInitializer.Image = v
	}
	if v := getenv(EnvExplainerImage); v != "" {
		out.Explainer.Image = v
	}
	if v := getenv(EnvExplainerImageV2); v != "" {
		out.Explainer.ImageV2 = v
	}
	return out
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	out := *c
	out.PredictorServers = make(map[string]Server, len(c.PredictorServers))
	for k, s := range c.PredictorServers {
		s.Protocols = maps.Clone(s.Protocols)
		out.PredictorServers[k] = s
	}
	return &out
}

// ReadFile reads a table from a file: a ConfigMap (YAML or JSON, its data
// is used), or a plain object whose keys are the ConfigMap's, each value a
// JSON string as in the ConfigMap or the object itself.
func ReadFile(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseDocument(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseDocument is ReadFile on bytes.
func ParseDocument(raw []byte) (*Config, error) {
	var doc map[string]json.RawMessage
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a YAML or JSON object: %w", err)
	}
	if d, ok := doc["data"]; ok {
		if err := json.Unmarshal(d, &doc); err != nil {
			return nil, fmt.Errorf("data: not an object: %w", err)
		}
	}
	data := map[string]string{}
	for k, v := range doc {
		var s string
		if json.Unmarshal(v, &s) == nil {
			data[k] = s
			continue
		}
		data[k] = string(v)
	}
	known := 0
	for _, k := range []string{KeyPredictorServers, KeyStorageInitializer, KeyExplainer} {
		if _, ok := data[k]; ok {
			known++
		}
	}
	if known == 0 {
		return nil, fmt.Errorf("none of %s, %s, %s is set: write the seldon-config ConfigMap, or an object with those keys", KeyPredictorServers, KeyStorageInitializer, KeyExplainer)
	}
	return Parse(data)
}

// Source holds the table in use; the operator replaces it when the
// ConfigMap changes. A Source never set gives Defaults; a nil Source gives
// the process's table (SetProcessTable), which is Defaults unless a
// command's --config flag set it.
type Source struct {
	cur atomic.Pointer[Config]
}

var process Source

// SetProcessTable sets the table of nil Sources, for the commands (sdep
// render, validate, serve) whose --config flag reads one.
func SetProcessTable(c *Config) { process.Set(c) }

// NewSource returns a Source holding c (nil: Defaults).
func NewSource(c *Config) *Source {
	s := &Source{}
	s.Set(c)
	return s
}

// Current returns the table in use; callers must not change it.
func (s *Source) Current() *Config {
	if s == nil {
		s = &process
	}
	if c := s.cur.Load(); c != nil {
		return c
	}
	return builtin
}

// builtin is the table of Sources never set; Current's result is read,
// never changed.
var builtin = Defaults()

// Set replaces the table (nil: Defaults).
func (s *Source) Set(c *Config) {
	if c == nil {
		c = Defaults()
	}
	s.cur.Store(c)
}
