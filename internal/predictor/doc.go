// Package predictor owns the facts about a SeldonDeployment predictor that
// every part of sdep needs and none may decide on its own: the shape of its
// inference graph (one compiled form that the validator checks and the
// executor runs), the ports each graph container gets, the executor
// container's name, place and resources, how a graph node finds its
// container, which implementations are built in or prepackaged, and how an
// image reference splits into repository and version.
//
// Everything here is a pure function of its arguments: no API calls, no
// clock, no environment. internal/validation, internal/resources,
// internal/executor, internal/local and internal/controller import it; it
// imports only the API types.
package predictor
