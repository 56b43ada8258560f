package operator

import "time"

// SetCertPollInterval shortens how often the cert-dir writer rereads the
// Secret, so a test sees a rotation in seconds; it returns the restore.
func SetCertPollInterval(d time.Duration) func() {
	old := certPollInterval
	certPollInterval = d
	return func() { certPollInterval = old }
}
