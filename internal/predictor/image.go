package predictor

import "strings"

// ImageRepository strips the registry, the tag and the digest from an image
// reference: "registry.example:5000/seldonio/mock_classifier:1.19" and
// "seldonio/mock_classifier" both give "seldonio/mock_classifier".
func ImageRepository(image string) string {
	name, _ := SplitImage(image)
	// As in the container image reference grammar, a first component with a
	// dot or a port, or "localhost", names a registry.
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		name = rest
	}
	return name
}

// SplitImage splits an image reference into its name (registry and path)
// and its version: the tag, else the digest, else "". A registry port is
// part of the name: "localhost:5000/m" has no version.
func SplitImage(image string) (name, version string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		name, version = image[:i], image[i+1:]
		// A tag before the digest is dropped from the name but the digest is
		// the version: it is what runs.
		if j := strings.LastIndexByte(name, ':'); j > strings.LastIndexByte(name, '/') {
			name = name[:j]
		}
		return name, version
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i], image[i+1:]
	}
	return image, ""
}
