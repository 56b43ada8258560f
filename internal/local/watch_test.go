package local

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A live edit that does not validate is refused with the same
// FILE:LINE: FIELD: MESSAGE lines sdep validate prints.
func TestLiveEditProblemsKeepTheirLines(t *testing.T) {
	seed, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(seed, []byte(`"name": "my-dep"`), []byte(`"name": "my-depp"`), 1)
	if bytes.Equal(edited, seed) {
		t.Fatal("the seed has no my-dep componentSpec to misname")
	}
	var rt *Runtime // an invalid edit never reaches the runtime
	err = rt.ApplyEdit("seed.json", edited, Mappings{})
	if err == nil {
		t.Fatal("an invalid edit was accepted")
	}
	line := 0
	for i, l := range strings.Split(string(edited), "\n") {
		if strings.Contains(l, `"my-depp"`) {
			line = i + 1 // the hpaSpecs target that now names nothing
		}
	}
	want := "seed.json:" + strconv.Itoa(line) + ": spec.predictors[0].hpaSpecs[0].scaleTargetRef.name:"
	if line == 0 || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\nwant a line starting %q", err, want)
	}
}
