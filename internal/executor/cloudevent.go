package executor

import "net/http"

// A request that is itself a CloudEvent (it has Ce-Specversion) gets an
// answer carrying CloudEvents headers, as upstream's executor sends them:
// Ce-Id (the puid), Ce-Specversion 0.3, Ce-Path (the request's path),
// Ce-Type seldon.<sdep>.<namespace>.response and Ce-Source seldon.<sdep>.

var ceAnswerSpecVersion = []string{"0.3"}

// isCloudEvent reports whether the request is a CloudEvent in binary mode.
func isCloudEvent(r *http.Request) bool {
	return len(r.Header["Ce-Specversion"]) > 0
}

// setCloudEventAnswer sets the answer's Ce-* headers; id is the request's
// puid (predictions replace it with the puid they settle on).
func (e *Executor) setCloudEventAnswer(h http.Header, r *http.Request, id string) {
	h["Ce-Id"] = []string{id}
	h["Ce-Specversion"] = ceAnswerSpecVersion
	h["Ce-Path"] = []string{r.URL.Path}
	h["Ce-Type"] = []string{"seldon." + e.cfg.deployment + "." + e.cfg.namespace + ".response"}
	h["Ce-Source"] = []string{"seldon." + e.cfg.deployment}
}
