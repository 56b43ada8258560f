package local

import "fmt"

// directPortOffset is how far above the front ports the predictors' own
// ports start: with the defaults (front 8000 and 5001, status 8001),
// predictor i serves REST on 8010+i and gRPC on 5011+i.
const directPortOffset = 10

// directPorts chooses each predictor's own REST and gRPC ports: counting up
// from the front port plus directPortOffset, skipping the front REST and
// gRPC ports, the status port and ports already given to a predictor, so
// that no choice of the three flags makes two servers want one port. A
// front port of 0 (free ports) gives every predictor free ports too (0).
func directPorts(httpPort, grpcPort, statusPort, n int) (rest, grpc []int, err error) {
	taken := map[int]bool{}
	for _, p := range []int{httpPort, grpcPort, statusPort} {
		if p > 0 {
			taken[p] = true
		}
	}
	next := func(base int, flag string) ([]int, error) {
		out := make([]int, n)
		if base <= 0 {
			return out, nil
		}
		p := base + directPortOffset
		for i := range out {
			for taken[p] {
				p++
			}
			if p > 65535 {
				return nil, fmt.Errorf("%s %d: the predictors' own ports (from %d up) run past 65535: choose a lower port",
					flag, base, base+directPortOffset)
			}
			out[i], taken[p] = p, true
			p++
		}
		return out, nil
	}
	if rest, err = next(httpPort, "--http-port"); err != nil {
		return nil, nil, err
	}
	if grpc, err = next(grpcPort, "--grpc-port"); err != nil {
		return nil, nil, err
	}
	return rest, grpc, nil
}
