package startpages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is Linux's MADV_PAGEOUT (5.4 and later): reclaim the range.
const madvPageout = 21

// Release reclaims the resident pages of the running binary's code and
// read-only data. On a kernel without MADV_PAGEOUT it changes nothing and
// returns the error.
func Release() (Result, error) {
	var r Result
	before, err := rssFile()
	if err != nil {
		return r, err
	}
	r.Before, r.After = before, before
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return r, err
	}
	ranges, err := readOnlyMappings("/proc/self/maps", exe)
	if err != nil {
		return r, err
	}
	for _, m := range ranges {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, madvPageout); errno != 0 {
			return r, fmt.Errorf("madvise(MADV_PAGEOUT) of the binary's pages: %w", errno)
		}
		r.Mappings++
	}
	if r.After, err = rssFile(); err != nil {
		return r, err
	}
	return r, nil
}

type mapping struct{ start, end uintptr }

// readOnlyMappings lists the mappings of path in a /proc/<pid>/maps file
// that are private and not writable: the binary's code and read-only data.
// Its writable data is not touched.
func readOnlyMappings(mapsFile, path string) ([]mapping, error) {
	raw, err := os.ReadFile(mapsFile)
	if err != nil {
		return nil, err
	}
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || strings.Join(f[5:], " ") != path {
			continue
		}
		if perms := f[1]; len(perms) != 4 || perms[1] == 'w' || perms[3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end)})
	}
	return out, sc.Err()
}

// rssFile is the process's file-backed resident memory in bytes.
func rssFile() (int64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("RssFile in /proc/self/status: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no RssFile in /proc/self/status")
}
