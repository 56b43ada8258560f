// Package startpages gives back the resident pages of the sdep binary's
// code and read-only data once a long-running command has started.
//
// The binary holds every command, and the Go runtime runs the
// initialisation of every package linked in before main, whichever command
// runs. Each of those inits touches its package's code and tables, and the
// kernel maps the pages around each page touched (fault-around, 64 KiB), so
// a process of sdep starts with about 50 MiB of the binary resident, most
// of it code that will not run again in that process. Release asks the
// kernel to reclaim them (madvise MADV_PAGEOUT over the binary's read-only
// mappings): they are clean copies of the file, so nothing is lost, and a
// page the process uses again is read back the next time it is touched.
// Pages other processes map as well (another replica on the same node) are
// left where they are.
package startpages

// Result is what Release did: the process's file-backed resident memory
// (RssFile) before and after, in bytes.
type Result struct {
	Before, After int64
	// Mappings is how many of the binary's mappings were advised.
	Mappings int
}

// Released is how many bytes of the binary stopped being resident.
func (r Result) Released() int64 { return max(r.Before-r.After, 0) }
