package startpages

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Release in this test binary: its code and tables were resident (the
// runtime and every package's init ran), and afterwards fewer of its
// pages are; the process goes on running code that was paged out.
func TestReleaseGivesBackTheBinarysPages(t *testing.T) {
	res, err := Release()
	if err != nil {
		t.Skipf("this kernel cannot page out (%v): nothing to measure", err)
	}
	if res.Mappings == 0 {
		t.Fatal("no read-only mapping of the test binary was found in /proc/self/maps")
	}
	if res.Before <= 0 || res.After >= res.Before {
		t.Fatalf("resident file-backed memory %d bytes before and %d after: nothing was given back", res.Before, res.After)
	}
	t.Logf("released %d KiB of %d KiB in %d mappings", res.Released()>>10, res.Before>>10, res.Mappings)
	// Code that was paged out runs again (it is read back from the file).
	if got := strings.Repeat("ab", 3); got != "ababab" {
		t.Fatalf("after the release strings.Repeat gave %q", got)
	}
}

func TestReadOnlyMappingsTakesOnlyTheBinarysReadOnlyPrivateMappings(t *testing.T) {
	exe := "/opt/sdep dir/sdep"
	maps := strings.Join([]string{
		"00400000-02aaf000 r-xp 00000000 fe:00 9979122    " + exe,
		"02aaf000-05950000 r--p 026af000 fe:00 9979122    " + exe,
		"05950000-05a2f000 rw-p 05550000 fe:00 9979122    " + exe, // writable data: left alone
		"05a2f000-05b00000 r--s 00000000 fe:00 9979122    " + exe, // shared: left alone
		"7ff343f46000-7ff34409c000 r-xp 00026000 fe:00 326269  /usr/lib/x86_64-linux-gnu/libc.so.6",
		"7ff34409c000-7ff3440ef000 r--p 0017c000 fe:00 9979122    " + exe + ".old",
		"2e6455c00000-2e6456800000 rw-p 00000000 00:00 0",
		"zzzz-02aaf000 r-xp 00000000 fe:00 9979122    " + exe,     // not an address
		"02aaf000-00400000 r-xp 00000000 fe:00 9979122    " + exe, // ends before it starts
		"",
	}, "\n")
	path := filepath.Join(t.TempDir(), "maps")
	if err := os.WriteFile(path, []byte(maps), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readOnlyMappings(path, exe)
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{{0x400000, 0x2aaf000}, {0x2aaf000, 0x5950000}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mappings %x, want %x", got, want)
	}
}
