package local

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func editedSeed(t *testing.T, edit func(sd *seedDoc)) *Plan {
	t.Helper()
	sd := seedDocument(t, "")
	edit(&seedDoc{sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers, sd.Spec.Predictors[0].HpaSpecs[0].MinReplicas})
	plan, err := NewPlan(sd, Mappings{
		Run: map[string]string{"classifier": fmt.Sprintf("env %s=1 '%s'", modelEnv, os.Args[0])},
	})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// seedDoc points at the parts of the seed the tests edit.
type seedDoc struct {
	containers  []corev1.Container
	minReplicas *int32
}

func TestApplyNewMinReplicasTakesEffectAtTheNextSync(t *testing.T) {
	rt, log := startRuntime(t, seedPlan(t), 500*time.Millisecond, time.Hour)
	waitFor(t, rt, 60*time.Second, "first replica ready", func(c ComponentStatus) bool { return c.Ready == 1 })
	if err := rt.Apply(editedSeed(t, func(d *seedDoc) { *d.minReplicas = 2 })); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, 60*time.Second, "2 replicas ready", func(c ComponentStatus) bool { return c.Ready == 2 })
	if !strings.Contains(log.String(), "1→2: ") {
		t.Errorf("no 1→2 decision in the log")
	}
}

func TestApplyNewPodTemplateReplacesReplicasWithoutFailures(t *testing.T) {
	rt, log := startRuntime(t, seedPlan(t), time.Hour, time.Hour)
	waitFor(t, rt, 60*time.Second, "first replica ready", func(c ComponentStatus) bool { return c.Ready == 1 })
	g := newLoadGen(rt.Addrs()[0].HTTP)
	ctx, stop := context.WithCancel(context.Background())
	wg := g.run(ctx, 2, 10*time.Millisecond)

	if err := rt.Apply(editedSeed(t, func(d *seedDoc) {
		d.containers[0].Env = append(d.containers[0].Env, corev1.EnvVar{Name: "EDITED", Value: "1"})
	})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, 60*time.Second, "replica replaced", func(c ComponentStatus) bool {
		return c.Replicas == 1 && c.Ready == 1 && c.Terminating == 0 &&
			c.ReplicaList[0].Name == "seldon-model-example-0-my-dep-2"
	})
	before := g.ok.Load()
	waitForRequests(t, g, before+20)
	stop()
	wg.Wait()
	if n := g.fail.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the replacement; first: %v", n, n+g.ok.Load(), g.firstErr.Load())
	}
	if !strings.Contains(log.String(), "all replicas run the new pod template") {
		t.Errorf("no end-of-replacement event in the log")
	}
}

func TestApplyRefusesAGraphChange(t *testing.T) {
	plan := seedPlan(t)
	rt, err := New(plan, Options{})
	if err != nil {
		t.Fatal(err)
	}
	edited := seedPlan(t)
	edited.Predictors[0].Spec.Graph.Name = "other"
	if err := rt.Apply(edited); err == nil || !strings.Contains(err.Error(), "restart sdep serve") {
		t.Errorf("Apply = %v, want a refusal that says to restart", err)
	}
}
