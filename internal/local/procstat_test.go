package local

import "testing"

func TestParseStatCountsFromLastParenthesis(t *testing.T) {
	// A command name with a space and a ')' must not shift the fields.
	line := []byte("4242 (my ) model) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1234 0 0\n")
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3.0; got != want { // (250+50) ticks at 100 per second
		t.Errorf("parseStat = %v, want %v", got, want)
	}
}

func TestParseStatRejectsShortLines(t *testing.T) {
	if _, err := parseStat([]byte("1 (init) S 0 1")); err == nil {
		t.Error("parseStat accepted a line without utime and stime")
	}
}
