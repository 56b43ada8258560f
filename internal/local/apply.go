package local

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// Apply makes a running Runtime serve an edited document, as `kubectl
// apply` of the edit would on a cluster:
//
//   - a changed hpaSpec (bounds, metrics, behavior) takes effect at the
//     next sync; the autoscaler keeps its history;
//   - a changed replica count of a component without hpaSpec is applied at
//     once;
//   - a changed pod template (image, command, env, ports, requests) replaces
//     the component's replicas one by one, each new replica ready before an
//     old one is drained, so no request is dropped.
//
// Changes the executor would have to be rebuilt for (the graph, predictors
// or componentSpecs added, removed or renamed) are refused: restart sdep
// serve for those.
func (rt *Runtime) Apply(plan *Plan) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(plan.Predictors) != len(rt.plan.Predictors) {
		return fmt.Errorf("the document now has %d predictors instead of %d: restart sdep serve to apply that",
			len(plan.Predictors), len(rt.plan.Predictors))
	}
	byDeployment := map[string]*ComponentPlan{}
	count := 0
	for i, p := range plan.Predictors {
		old := rt.plan.Predictors[i].Spec
		if p.Spec.Name != old.Name || !equality.Semantic.DeepEqual(withoutHosts(p.Spec.Graph), withoutHosts(old.Graph)) {
			return fmt.Errorf("predictor %s: the graph changed: restart sdep serve to apply that", old.Name)
		}
		for _, c := range p.Components {
			byDeployment[c.Deployment] = c
			count++
		}
	}
	if count != len(rt.components) {
		return fmt.Errorf("componentSpecs were added or removed: restart sdep serve to apply that")
	}
	for _, c := range rt.components {
		if byDeployment[c.deployment] == nil {
			return fmt.Errorf("componentSpec %s is gone or renamed: restart sdep serve to apply that", c.name)
		}
	}
	if err := rt.checkExternalUnchanged(byDeployment); err != nil {
		return err
	}
	for _, c := range rt.components {
		next := byDeployment[c.deployment]
		prev := c.plan
		if !equality.Semantic.DeepEqual(prev.HPA, next.HPA) {
			rt.eventf("%s: autoscaling spec changed; applies at the next sync", c.label())
		}
		templateChanged := !equality.Semantic.DeepEqual(prev.Containers, next.Containers) ||
			prev.GracePeriod != next.GracePeriod
		c.plan = next
		if prev.ScaleToZero && !next.ScaleToZero && next.HPA != nil && c.desired == 0 {
			// The HPA leaves a target at zero alone: start its minimum.
			rt.eventf("%s: replicas 0→%d (minReplicas is no longer 0)", c.label(), next.Replicas)
			c.wokeAt = time.Time{}
			if err := c.scaleToLocked(next.Replicas); err != nil {
				return err
			}
		}
		if next.HPA == nil && (prev.HPA != nil || prev.Replicas != next.Replicas) {
			rt.eventf("%s: replicas %d→%d (document)", c.label(), c.desired, next.Replicas)
			if err := c.scaleToLocked(next.Replicas); err != nil {
				return err
			}
		}
		if templateChanged {
			rt.eventf("%s: pod template changed; replacing replicas one by one", c.label())
			c.rollGeneration++
			gen := c.rollGeneration
			rt.wg.Add(1)
			go func() {
				defer rt.wg.Done()
				c.roll(gen)
			}()
		}
	}
	rt.plan = plan
	rt.notifyLocked() // a new traffic split, if traffic changed
	return nil
}

// checkExternalUnchanged refuses edits to --endpoint containers' places in
// the document: their endpoints were added once at start.
func (rt *Runtime) checkExternalUnchanged(next map[string]*ComponentPlan) error {
	for _, c := range rt.components {
		n := next[c.deployment]
		if len(n.Containers) != len(c.plan.Containers) {
			return fmt.Errorf("componentSpec %s: containers were added or removed: restart sdep serve to apply that", c.name)
		}
		for i := range n.Containers {
			if n.Containers[i].Name != c.plan.Containers[i].Name || n.Containers[i].External != c.plan.Containers[i].External {
				return fmt.Errorf("componentSpec %s: containers were renamed: restart sdep serve to apply that", c.name)
			}
		}
	}
	return nil
}

// roll replaces every replica made from an older plan: start one from the
// current plan, wait until it is ready, drain and stop one old replica,
// repeat (a Deployment's rolling update with maxSurge 1, maxUnavailable 0).
// A newer Apply starts a newer roll, which this one then leaves to.
func (c *component) roll(gen int) {
	rt := c.rt
	for {
		rt.mu.Lock()
		if gen != c.rollGeneration || c.stopped {
			rt.mu.Unlock()
			return
		}
		var old *replica
		for _, r := range c.replicas {
			if r.plan != c.plan {
				old = r
				break
			}
		}
		if old == nil {
			rt.mu.Unlock()
			rt.eventf("%s: all replicas run the new pod template", c.label())
			return
		}
		c.nextID++
		fresh, err := c.newReplica(c.nextID)
		if err != nil {
			rt.mu.Unlock()
			rt.eventf("%s: replacing replicas: %v", c.label(), err)
			return
		}
		c.replicas = append(c.replicas, fresh)
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			fresh.start()
		}()
		rt.notifyLocked()

		// Wait for the new replica's readiness (or its end) to be signalled.
		for !fresh.ready && c.has(fresh) && !c.stopped {
			changed := rt.changed
			rt.mu.Unlock()
			<-changed
			rt.mu.Lock()
		}
		if c.has(old) && c.has(fresh) && !c.stopped {
			c.removeLocked(old)
		}
		rt.mu.Unlock()
	}
}

func (c *component) has(r *replica) bool {
	for _, x := range c.replicas {
		if x == r {
			return true
		}
	}
	return false
}

// removeLocked takes one replica out of the live set and stops it in the
// background, after draining. The count stays as the autoscaler set it.
func (c *component) removeLocked(r *replica) {
	for i, x := range c.replicas {
		if x == r {
			c.replicas = append(c.replicas[:i:i], c.replicas[i+1:]...)
			break
		}
	}
	c.terminating = append(c.terminating, r)
	c.rt.notifyLocked()
	c.rt.wg.Add(1)
	go func() {
		defer c.rt.wg.Done()
		r.shutdown(max(r.plan.GracePeriod, 10*time.Second))
		c.rt.mu.Lock()
		defer c.rt.mu.Unlock()
		for i, t := range c.terminating {
			if t == r {
				c.terminating = append(c.terminating[:i], c.terminating[i+1:]...)
				break
			}
		}
		c.rt.notifyLocked()
	}()
}

// withoutHosts is a copy of a graph with every endpoint's service_host
// cleared. Defaulting picks the hosts (localhost, or the Service's name
// when the executor runs in a Deployment of its own, as it does once a
// componentSpec may scale to zero), and sdep serve never dials them: its
// executors get each replica's address. So a host is not a graph change.
func withoutHosts(u sdepv1.PredictiveUnit) sdepv1.PredictiveUnit {
	out := *u.DeepCopy()
	var blank func(*sdepv1.PredictiveUnit)
	blank = func(n *sdepv1.PredictiveUnit) {
		if n.Endpoint != nil {
			n.Endpoint.ServiceHost = ""
		}
		for i := range n.Children {
			blank(&n.Children[i])
		}
	}
	blank(&out)
	return out
}
